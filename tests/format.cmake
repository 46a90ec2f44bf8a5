# The tree stays formatted with the committed .clang-format.
find_program(CLANG_FORMAT clang-format)
if(CLANG_FORMAT)
  file(GLOB_RECURSE MUGAI_C_SOURCES CONFIGURE_DEPENDS
    ${CMAKE_SOURCE_DIR}/common/*.[ch] ${CMAKE_SOURCE_DIR}/conf/*.[ch]
    ${CMAKE_SOURCE_DIR}/render/*.[ch] ${CMAKE_SOURCE_DIR}/sanitize/*.[ch]
    ${CMAKE_SOURCE_DIR}/tools/*.[ch] ${CMAKE_SOURCE_DIR}/tests/*.[ch]
    ${CMAKE_SOURCE_DIR}/bench/*.[ch] ${CMAKE_SOURCE_DIR}/milter/*.[ch]
    ${CMAKE_SOURCE_DIR}/quarantine/*.[ch] ${CMAKE_SOURCE_DIR}/fuzz/*.[ch])
  add_test(NAME format_check
    COMMAND ${CLANG_FORMAT} --dry-run -Werror --style=file ${MUGAI_C_SOURCES}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
endif()
