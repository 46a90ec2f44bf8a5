# Hostile inputs (tests/gen/make_hostile.py): nesting across messages and archives
# that tries to restart the limits, compressions libarchive would hand to an external
# program, and names hiding bidi controls; sanitize-file runs on each
# (tests/hostile/test_hostile.py).
add_test(NAME hostile_inputs
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_hostile.py
                 ${CMAKE_BINARY_DIR}/hostile)
set_tests_properties(hostile_inputs PROPERTIES FIXTURES_SETUP hostile TIMEOUT 120
                     LABELS "archive;mail")

add_test(NAME hostile_sanitize
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hostile/test_hostile.py
                 --build ${CMAKE_BINARY_DIR} --inputs ${CMAKE_BINARY_DIR}/hostile)
set_tests_properties(hostile_sanitize PROPERTIES FIXTURES_REQUIRED hostile TIMEOUT 600
                     LABELS "archive;mail;e2e")
