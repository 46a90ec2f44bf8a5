# The virus scanner (sanitize/scan.c) with a signature database written by the
# test: what libclamav finds with the parsers the engine lets it run.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_scan unit/test_scan.c ${CMAKE_SOURCE_DIR}/sanitize/scan.c)
  target_include_directories(test_scan PRIVATE ${CMAKE_SOURCE_DIR}/sanitize
                             ${CMAKE_SOURCE_DIR}/render)
  target_link_libraries(test_scan PRIVATE quar mg_conf mg_common PkgConfig::CLAMAV PkgConfig::ZLIB
                        PkgConfig::GLIB PkgConfig::CMOCKA)
  add_test(NAME unit_scan COMMAND test_scan)
endif()
