# End-to-end tests of sanitize-file: the corpus is generated once into
# ${CMAKE_BINARY_DIR}/corpus by a fixture test, then the e2e test runs the
# real binary over it and checks the results with qpdf, poppler-utils and PIL.
add_test(NAME e2e_corpus
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_corpus.py
                 ${CMAKE_BINARY_DIR}/corpus)
set_tests_properties(e2e_corpus PROPERTIES FIXTURES_SETUP corpus TIMEOUT 300
                     LABELS e2e)

add_test(NAME e2e_sanitize_file
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_sanitize_file.py
                 --build ${CMAKE_BINARY_DIR} --corpus ${CMAKE_BINARY_DIR}/corpus)
set_tests_properties(e2e_sanitize_file PROPERTIES FIXTURES_REQUIRED corpus TIMEOUT 900
                     LABELS e2e)
