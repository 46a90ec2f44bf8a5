# mugai-milter: unit tests of the typed pool messages (cmocka) and miltertest
# scripts that drive the real daemon over its milter socket.
if(CMOCKA_FOUND)
  add_executable(test_milter_proto unit/test_milter_proto.c)
  target_link_libraries(test_milter_proto PRIVATE milter_proto PkgConfig::CMOCKA)
  add_test(NAME unit_milter_proto COMMAND test_milter_proto)
endif()

find_program(MILTERTEST miltertest)
if(MILTERTEST)
  foreach(case "headers.lua" "headers.lua tag" "abort.lua" "busy.lua busy" "unsafe.lua")
    separate_arguments(args UNIX_COMMAND "${case}")
    string(REPLACE " " "_" name "${case}")
    string(REPLACE ".lua" "" name "${name}")
    add_test(NAME miltertest_${name}
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/miltertest/run.sh ${CMAKE_BINARY_DIR}
                     ${CMAKE_SOURCE_DIR} ${args})
    set_tests_properties(miltertest_${name} PROPERTIES TIMEOUT 240 LABELS "milter;e2e")
  endforeach()
endif()

# The pool supervisor: worker restart, SIGHUP reload, SIGTERM, spool clean-up, bad config.
add_test(NAME milter_supervisor
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/milter/test_supervisor.py ${CMAKE_BINARY_DIR}
          ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_clamdb.py)
set_tests_properties(milter_supervisor PROPERTIES TIMEOUT 300 LABELS milter)
# A clean message larger than one milter packet, seen from the MTA's side: the test speaks
# the milter protocol itself, since miltertest reads every reply at end of message into a
# 1 KiB buffer and so cannot take a replacement body larger than that.
add_test(NAME milter_replbody
  COMMAND ${MUGAI_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/milter/test_replbody.py ${CMAKE_BINARY_DIR}
          ${CMAKE_CURRENT_SOURCE_DIR}/gen/make_clamdb.py)
set_tests_properties(milter_replbody PROPERTIES TIMEOUT 300 LABELS milter)
