# Unit tests of the text, CSV and HTML converters (render/text.c, render/html.c).
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_text unit/test_text.c)
  target_link_libraries(test_text PRIVATE rnd_conv PkgConfig::CMOCKA)
  add_test(NAME unit_text COMMAND test_text)

  add_executable(test_html unit/test_html.c)
  target_link_libraries(test_html PRIVATE rnd_conv PkgConfig::CMOCKA)
  add_test(NAME unit_html COMMAND test_html)
endif()
