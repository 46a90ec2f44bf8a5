# Poison messages: unit tests of the digest, the store's attempt counts and the notice
# (cmocka); and, in builds with the test hook (-DMUGAI_TEST_HOOKS=ON, as run/test makes), a
# message that crashes the worker, sent through a real Postfix until it is quarantined as
# failed and the recipient gets a notice (tests/postfix/test_poison.py).
if(CMOCKA_FOUND AND TARGET milter_poison)
  add_executable(test_poison unit/test_poison.c)
  target_link_libraries(test_poison PRIVATE milter_poison PkgConfig::CMOCKA PkgConfig::SQLITE)
  add_test(NAME unit_poison COMMAND test_poison)
endif()

if(MUGAI_TEST_HOOKS AND TARGET mugai-milter)
  add_test(NAME postfix_poison
           COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/postfix/test_poison.py
                   --build ${CMAKE_BINARY_DIR})
  set_tests_properties(postfix_poison PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE
                       LABELS "postfix;e2e")
endif()
