# End-to-end tests through a real, private Postfix on loopback (run as root):
# the mail corpus over SMTP through mugai-milter to an SMTP sink standing in
# for the LGWAN server; dead milter, killed worker, killed milter mid-burst,
# release through the no-milter listener, and a message that runs past
# [milter] job_timeout (tests/postfix/test_postfix.py).
add_test(NAME postfix_e2e
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/postfix/test_postfix.py
                 --build ${CMAKE_BINARY_DIR} --corpus ${CMAKE_BINARY_DIR}/mail-corpus)
set_tests_properties(postfix_e2e PROPERTIES FIXTURES_REQUIRED mail_corpus TIMEOUT 600
                     RUN_SERIAL TRUE LABELS "postfix;e2e")

# PPAP: encrypted zips held, then opened by the sender's password mail (several real-world
# forms), a recipient's reply to [ppap] submit_address, or `mugai-quarantine unlock`; the
# follow-up through the release listener; lockout, expiry, and no password kept anywhere
# (tests/postfix/test_ppap.py).
add_test(NAME postfix_ppap
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/postfix/test_ppap.py
                 --build ${CMAKE_BINARY_DIR} --corpus ${CMAKE_BINARY_DIR}/corpus)
set_tests_properties(postfix_ppap PROPERTIES FIXTURES_REQUIRED corpus TIMEOUT 900
                     RUN_SERIAL TRUE LABELS "postfix;e2e;ppap")
