# Harnesses of the parsers the trusted side runs on sender or renderer bytes: mail header
# values and file names, charset detection and the worker's charset gate, the configuration
# file, HTML to text, CSV neutralization, and the reader of the renderer's wire format with
# the PDF and PNG/JPEG writers behind it.
mugai_fuzzer(mailhdr SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_mailhdr.c LIBS san)
mugai_fuzzer(charset SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_charset.c LIBS san)
mugai_fuzzer(conf SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_conf.c LIBS mg_conf)
mugai_fuzzer(html SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_html.c LIBS rnd_conv)
mugai_fuzzer(csv SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_csv.c LIBS rnd_text)
mugai_fuzzer(wire SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_wire.c LIBS san)
