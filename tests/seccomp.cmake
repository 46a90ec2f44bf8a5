# The renderer's seccomp allow-list, attacked: a child per call installs the
# filter of render/seccomp.c and tries what a compromised renderer would.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_seccomp unit/test_seccomp.c ${CMAKE_SOURCE_DIR}/render/seccomp.c)
  target_include_directories(test_seccomp PRIVATE ${CMAKE_SOURCE_DIR}/render)
  target_link_libraries(test_seccomp PRIVATE PkgConfig::SECCOMP PkgConfig::CMOCKA)
  if(MUGAI_SANITIZERS)
    # The sanitizer runtimes make calls of their own that the filter kills.
    target_compile_options(test_seccomp PRIVATE -fno-sanitize=all)
    target_link_options(test_seccomp PRIVATE -fno-sanitize=all)
  endif()
  add_test(NAME unit_seccomp COMMAND test_seccomp)
endif()
