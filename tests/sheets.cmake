# Spreadsheets give one CSV per sheet beside the flat PDF ([office] sheet_csv): the inputs are
# generated once into ${CMAKE_BINARY_DIR}/sheets by a fixture test, then sanitize-file runs on
# the workbook (xlsx and ods), a message carrying it and a zip holding it, with the real jail
# and LibreOffice. The unit test feeds the trusted reader hostile streams.
add_test(NAME sheets_inputs
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_sheets.py
                 ${CMAKE_BINARY_DIR}/sheets)
set_tests_properties(sheets_inputs PROPERTIES FIXTURES_SETUP sheets TIMEOUT 300)

add_test(NAME e2e_sheets
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/sheets/test_sheets.py
                 --build ${CMAKE_BINARY_DIR} --inputs ${CMAKE_BINARY_DIR}/sheets)
set_tests_properties(e2e_sheets PROPERTIES FIXTURES_REQUIRED sheets TIMEOUT 900 LABELS e2e)

if(TARGET PkgConfig::CMOCKA)
  # Linked with the engine: the jail's init is also fed what a taken-over LibreOffice (a
  # shell script in its place) leaves in the work directory.
  add_executable(test_sheets unit/test_sheets.c)
  target_include_directories(test_sheets PRIVATE ${CMAKE_SOURCE_DIR}/sanitize
                             ${CMAKE_SOURCE_DIR}/render)
  target_link_libraries(test_sheets PRIVATE san PkgConfig::GLIB PkgConfig::CMOCKA)
  add_test(NAME unit_sheets COMMAND test_sheets)
  set_tests_properties(unit_sheets PROPERTIES TIMEOUT 300)
endif()
