# The review console's page in a real browser: Chromium, headless, driven by
# chromium-driver and python3-selenium, against a real mugai-web and store
# (tests/web/test_browser.py; about two minutes). Included by tests/web.cmake.
add_test(NAME web_browser
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_browser.py ${CMAKE_BINARY_DIR})
set_tests_properties(web_browser PROPERTIES TIMEOUT 600 LABELS "web;e2e;browser")
