# mugai-web's pure helpers (web/util.c): Origin, tokens, JSON bodies, routes, times,
# the listen address.
if(CMOCKA_FOUND)
  add_executable(test_web_util unit/test_web_util.c)
  target_link_libraries(test_web_util PRIVATE web_util PkgConfig::CMOCKA)
  add_test(NAME unit_web_util COMMAND test_web_util)
endif()
