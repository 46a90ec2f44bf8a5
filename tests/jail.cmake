# The render jail: a misbehaving probe program and the launcher's unit tests,
# which also drive the real mugai-render (its seccomp allow-list is on).
add_executable(jail_probe unit/jail_probe.c)
if(MUGAI_SANITIZERS)
  # Runs in the jail under an address-space limit, as mugai-render does.
  target_compile_options(jail_probe PRIVATE -fno-sanitize=all)
  target_link_options(jail_probe PRIVATE -fno-sanitize=all)
endif()

if(TARGET PkgConfig::CMOCKA)
  add_executable(test_jail unit/test_jail.c)
  target_link_libraries(test_jail PRIVATE san PkgConfig::POPPLER PkgConfig::PIXBUF
    PkgConfig::CMOCKA)
  target_compile_definitions(test_jail PRIVATE
    JAIL_PROBE="$<TARGET_FILE:jail_probe>"
    JAIL_RENDER="$<TARGET_FILE:mugai-render>")
  add_dependencies(test_jail jail_probe mugai-render)
  add_test(NAME unit_jail COMMAND test_jail)
  set_tests_properties(unit_jail PROPERTIES TIMEOUT 600)
endif()

# Opening held encrypted attachments ([ppap]): encrypted zips and PDFs through the jail's
# unlock mode, then the engine. Needs root (the jail) and LibreOffice (a docx member).
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_unlock unit/test_unlock.c)
  target_link_libraries(test_unlock PRIVATE san PkgConfig::POPPLER PkgConfig::CMOCKA)
  target_compile_definitions(test_unlock PRIVATE JAIL_RENDER="$<TARGET_FILE:mugai-render>")
  add_dependencies(test_unlock mugai-render)
  add_test(NAME unit_unlock COMMAND test_unlock)
  set_tests_properties(unit_unlock PROPERTIES TIMEOUT 600)
endif()
