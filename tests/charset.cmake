# The charsets the worker converts (common/charset.c, sanitize/charset.c): sender labels
# outside the allow-list never load a gconv module into the worker. The mail case runs the
# real mugai-render in the jail for the bodies in other charsets.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_charset unit/test_charset.c)
  target_link_libraries(test_charset PRIVATE san PkgConfig::CMOCKA)
  target_compile_definitions(test_charset PRIVATE JAIL_RENDER="$<TARGET_FILE:mugai-render>")
  add_dependencies(test_charset mugai-render)
  add_test(NAME unit_charset COMMAND test_charset)
  set_tests_properties(unit_charset PROPERTIES TIMEOUT 300)
endif()
