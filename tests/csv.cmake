# CSV formula neutralization (common/csv.c): the table of cases, and the trusted side of
# sanitize-file against csv_probe, a renderer that sends the formulas back as they are.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_csv unit/test_csv.c)
  target_link_libraries(test_csv PRIVATE mg_common PkgConfig::CMOCKA)
  add_test(NAME unit_csv COMMAND test_csv)
endif()

add_executable(csv_probe unit/csv_probe.c)
if(MUGAI_SANITIZERS)
  # Runs in the jail under an address-space limit, as mugai-render does.
  target_compile_options(csv_probe PRIVATE -fno-sanitize=all)
  target_link_options(csv_probe PRIVATE -fno-sanitize=all)
endif()
add_test(NAME csv_trusted
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/csv/test_csv_trusted.py
          --build ${CMAKE_BINARY_DIR} --probe $<TARGET_FILE:csv_probe>)
set_tests_properties(csv_trusted PROPERTIES TIMEOUT 300)
