# PPAP text: password candidates, the quarantine id in a subject, the follow-up mail
# (sanitize/ppap_text.c).
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_ppap_text unit/test_ppap_text.c)
  target_link_libraries(test_ppap_text PRIVATE san PkgConfig::CMOCKA)
  add_test(NAME unit_ppap_text COMMAND test_ppap_text)
endif()
