# End-to-end tests of mail sanitization: the mail corpus is generated once into
# ${CMAKE_BINARY_DIR}/mail-corpus by a fixture test, then sanitize-file runs
# over every message and the clean copies are checked with Python's email
# package, poppler-utils, qpdf and PIL (and mugai-quarantine for the originals).
add_test(NAME mail_corpus
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_mail_corpus.py
                 ${CMAKE_BINARY_DIR}/mail-corpus)
set_tests_properties(mail_corpus PROPERTIES FIXTURES_SETUP mail_corpus TIMEOUT 300
                     LABELS "mail;e2e")

add_test(NAME mail_sanitize
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mail/test_mail.py
                 --build ${CMAKE_BINARY_DIR} --corpus ${CMAKE_BINARY_DIR}/mail-corpus)
set_tests_properties(mail_sanitize PROPERTIES FIXTURES_REQUIRED mail_corpus TIMEOUT 1500
                     LABELS "mail;e2e")
