# A sanitizer worker's confinement (Landlock, seccomp, no capabilities), attacked from a
# confined child, and its jail spawner: a confined child converts through it with the real
# mugai-render, and what a worker may ask the spawner for is checked row by row.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_confine unit/test_confine.c)
  target_link_libraries(test_confine PRIVATE san PkgConfig::CMOCKA)
  target_compile_definitions(test_confine PRIVATE JAIL_RENDER="$<TARGET_FILE:mugai-render>")
  add_dependencies(test_confine mugai-render)
  add_test(NAME unit_confine COMMAND test_confine)
  set_tests_properties(unit_confine PROPERTIES TIMEOUT 120 LABELS jail)
endif()
