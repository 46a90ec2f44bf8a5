# Harnesses of the engine's trusted walk over whole inputs: a mail message (MIME walk,
# classification, header decoding, rebuild of the clean message) and an archive (member
# listing, name normalization, bounds, repacking). Both run the engine against san_stubjail:
# the sanitize sources with the render jail replaced by stub_jail.c, which answers every
# conversion at once, in process. Never linked into a program.
#
# The jail's sources, left out: the jail itself (jail.c, jailns.c), the worker's jail
# spawner (spawn.c) and the worker's own confinement (confine.c). The engine reaches them
# only through the functions stub_jail.c defines.
set(MUGAI_JAIL_SOURCES jail.c jailns.c spawn.c confine.c)
get_target_property(MUGAI_SAN_SOURCES san SOURCES)
get_target_property(MUGAI_SAN_SOURCE_DIR san SOURCE_DIR)
set(MUGAI_STUBJAIL_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stub_jail.c)
foreach(src ${MUGAI_SAN_SOURCES})
  if(NOT src IN_LIST MUGAI_JAIL_SOURCES)
    list(APPEND MUGAI_STUBJAIL_SOURCES ${MUGAI_SAN_SOURCE_DIR}/${src})
  endif()
endforeach()

add_library(san_stubjail STATIC ${MUGAI_STUBJAIL_SOURCES})
get_target_property(MUGAI_SAN_INCLUDES san INCLUDE_DIRECTORIES)
get_target_property(MUGAI_SAN_LIBS san LINK_LIBRARIES)
get_target_property(MUGAI_SAN_LINK_OPTIONS san INTERFACE_LINK_OPTIONS)
target_include_directories(san_stubjail PUBLIC ${MUGAI_SAN_INCLUDES})
target_link_libraries(san_stubjail PUBLIC ${MUGAI_SAN_LIBS})
# charset.c's iconv_open, as for san.
target_link_options(san_stubjail INTERFACE ${MUGAI_SAN_LINK_OPTIONS})

mugai_fuzzer(mail SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_mail.c
  ${CMAKE_CURRENT_SOURCE_DIR}/engine_fixture.c LIBS san_stubjail)
mugai_fuzzer(archive SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_archive.c
  ${CMAKE_CURRENT_SOURCE_DIR}/engine_fixture.c LIBS san_stubjail)
