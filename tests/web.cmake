# The review console mugai-web: its JSON API over real HTTP against a real store
# filled by sanitize-file, with releases to an SMTP listener run by the test
# (tests/web/test_api.py; about 70 seconds, most of them a real wait, taken
# while the other cases run, for a session and a lock to expire).
add_test(NAME web_api
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/web/test_api.py ${CMAKE_BINARY_DIR})
set_tests_properties(web_api PROPERTIES TIMEOUT 600 LABELS "web;e2e")

# The page in Chromium (tests/web/browser.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/web/browser.cmake)
