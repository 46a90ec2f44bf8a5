# The render jail fails closed, seen through sanitize-file and mugai-quarantine.
add_test(NAME e2e_jail_failclosed
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/jail/test_failclosed.py ${CMAKE_BINARY_DIR}
          ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_clamdb.py
          ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_mail_corpus.py)
set_tests_properties(e2e_jail_failclosed PROPERTIES LABELS e2e TIMEOUT 600)
