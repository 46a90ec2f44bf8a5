# Mail header values and attachment file names (sanitize/mailhdr.c).
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_mailhdr unit/test_mailhdr.c)
  target_link_libraries(test_mailhdr PRIVATE san PkgConfig::CMOCKA)
  add_test(NAME unit_mailhdr COMMAND test_mailhdr)
endif()
