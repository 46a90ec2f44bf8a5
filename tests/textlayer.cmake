# The invisible text layer of flattened documents: unit tests of its checks, words and font
# (sanitize/textlayer.c, through the PDF writer), and end-to-end tests of sanitize-file over
# inputs generated once into ${CMAKE_BINARY_DIR}/textlayer by a fixture test.
if(CMOCKA_FOUND)
  add_executable(test_textlayer unit/test_textlayer.c)
  target_link_libraries(test_textlayer PRIVATE san PkgConfig::CMOCKA PkgConfig::POPPLER)
  add_test(NAME unit_textlayer COMMAND test_textlayer)
endif()

add_test(NAME textlayer_inputs
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_textlayer.py
                 ${CMAKE_BINARY_DIR}/textlayer)
set_tests_properties(textlayer_inputs PROPERTIES FIXTURES_SETUP textlayer TIMEOUT 300
                     LABELS e2e)

add_test(NAME textlayer_e2e
         COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/textlayer/test_textlayer.py
                 --build ${CMAKE_BINARY_DIR} --inputs ${CMAKE_BINARY_DIR}/textlayer)
set_tests_properties(textlayer_e2e PROPERTIES FIXTURES_REQUIRED textlayer TIMEOUT 900
                     LABELS e2e)
