# sanitize-file as operators and scripts use it (audit log, report, directory walking).
add_test(NAME cli_sanitize_file
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli.py ${CMAKE_BINARY_DIR}
          ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_clamdb.py)
