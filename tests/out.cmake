# Unit tests of the trusted-side output writers (sanitize/pdfout.c, sanitize/imgout.c).
if(CMOCKA_FOUND)
  add_executable(test_pdfout unit/test_pdfout.c)
  target_link_libraries(test_pdfout PRIVATE san PkgConfig::CMOCKA PkgConfig::POPPLER m)
  add_test(NAME unit.pdfout COMMAND test_pdfout)
endif()
