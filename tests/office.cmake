# The Office service (mugai-office, [office] mode = warm) with the real LibreOffice: warm
# conversions match cold ones for every Office type of the corpus, documents that reach out
# (linked pictures, included files, external references, macros) get nothing in either mode,
# a child that crashes, hangs or runs out of memory fails its document only, and two documents
# at once do not see each other. Built only with LibreOfficeKit's headers.
if(TARGET mugai-office)
  add_test(NAME office_service
           COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/office/test_office.py
                   --build ${CMAKE_BINARY_DIR} --corpus ${CMAKE_BINARY_DIR}/corpus)
  set_tests_properties(office_service PROPERTIES FIXTURES_REQUIRED corpus TIMEOUT 1200
                       LABELS "e2e;office")
endif()
