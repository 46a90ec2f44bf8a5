# Archives (sanitize/archive.c). The inputs are generated once into
# ${CMAKE_BINARY_DIR}/archives by a fixture test; the unit test runs archive.c
# against a stand-in engine, the end-to-end test runs sanitize-file on them.
add_test(NAME archive_inputs
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_archives.py
                 ${CMAKE_BINARY_DIR}/archives)
set_tests_properties(archive_inputs PROPERTIES FIXTURES_SETUP archives TIMEOUT 120)

if(TARGET PkgConfig::CMOCKA)
  add_executable(test_archive unit/test_archive.c ${CMAKE_SOURCE_DIR}/sanitize/result.c
                 ${CMAKE_SOURCE_DIR}/sanitize/budget.c)
  target_include_directories(test_archive PRIVATE ${CMAKE_SOURCE_DIR}/sanitize
                             ${CMAKE_SOURCE_DIR}/render)
  target_link_libraries(test_archive PRIVATE rnd_text mg_conf quar PkgConfig::ARCHIVE
                        PkgConfig::GLIB PkgConfig::CMOCKA)
  add_test(NAME unit_archive COMMAND test_archive ${CMAKE_BINARY_DIR}/archives)
  set_tests_properties(unit_archive PROPERTIES FIXTURES_REQUIRED archives TIMEOUT 120)
endif()

add_test(NAME e2e_archive
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/archive/test_archive.py
                 --build ${CMAKE_BINARY_DIR} --inputs ${CMAKE_BINARY_DIR}/archives)
set_tests_properties(e2e_archive PROPERTIES FIXTURES_REQUIRED archives TIMEOUT 600 LABELS e2e)
