# The file policy (content type and name to kind and verdict).
add_executable(test_detect unit/test_detect.c ${CMAKE_SOURCE_DIR}/sanitize/detect.c)
target_include_directories(test_detect PRIVATE ${CMAKE_SOURCE_DIR}/sanitize ${CMAKE_SOURCE_DIR}/render)
target_link_libraries(test_detect PRIVATE mg_conf quar PkgConfig::GLIB PkgConfig::CMOCKA)
add_test(NAME unit_detect COMMAND test_detect)
