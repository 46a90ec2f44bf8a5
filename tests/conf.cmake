# Configuration: the parser's unit tests and the generated sample being current.
add_executable(test_conf unit/test_conf.c)
target_link_libraries(test_conf PRIVATE mg_conf PkgConfig::CMOCKA)
add_test(NAME unit_conf COMMAND test_conf)

add_test(NAME conf_sample_current
  COMMAND sh -c "$<TARGET_FILE:mugai-config> --sample | diff -u ${CMAKE_SOURCE_DIR}/conf/mugai.conf - && $<TARGET_FILE:mugai-config> -c ${CMAKE_SOURCE_DIR}/conf/mugai.conf --check")
