# Quarantine store: unit tests against both backends, and mugai-quarantine end to end
# against a store built by quar_fixture and an SMTP sink run by the test itself.
if(CMOCKA_FOUND)
  add_executable(test_quar unit/test_quar.c)
  target_link_libraries(test_quar PRIVATE quar PkgConfig::CMOCKA)
  add_test(NAME unit_quar COMMAND test_quar)
  add_executable(test_held unit/test_held.c)
  target_link_libraries(test_held PRIVATE quar PkgConfig::CMOCKA)
  add_test(NAME unit_held COMMAND test_held)
endif()

add_executable(quar_fixture unit/quar_fixture.c)
target_link_libraries(quar_fixture PRIVATE quar)

add_test(NAME e2e_quarantine
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/quarantine/test_mugai_quarantine.py
          ${CMAKE_BINARY_DIR})
add_test(NAME e2e_held_cli
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/quarantine/test_held_cli.py
          ${CMAKE_BINARY_DIR})
