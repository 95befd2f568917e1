# stream/tests/CMakeLists.fuzz.cmake - fuzzing of message validation and row
# building (fuzz_rows.c), included from stream/CMakeLists.txt after the
# ecom_stream library is defined.
#
# Always: stream_fuzz_replay (fuzz_replay.c + fuzz_rows.c, any compiler)
# replays tests/fuzz-corpus/ (seeds and regressions/) as the unit test
# stream_fuzz_corpus, and under valgrind when available and not sanitizing.
#
# With -DECOM_FUZZ=ON and clang: stream_fuzz_rows, the libFuzzer binary.
# It compiles the code under test from source with -fsanitize=fuzzer-no-link
# so that only that code carries coverage instrumentation, and links nothing
# but jansson, so it builds even when other daemons' files are broken:
#   cmake --build build-fuzz --target stream_fuzz_rows   (see scripts/fuzz.sh)

option(ECOM_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

set(ECOM_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz-corpus)

add_executable(stream_fuzz_replay tests/fuzz_replay.c tests/fuzz_rows.c)
target_link_libraries(stream_fuzz_replay PRIVATE ecom_stream)
set_target_properties(stream_fuzz_replay PROPERTIES
  OUTPUT_NAME fuzz_replay
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/tests)

add_test(NAME stream_fuzz_corpus
  COMMAND stream_fuzz_replay ${ECOM_FUZZ_CORPUS})
set_tests_properties(stream_fuzz_corpus PROPERTIES LABELS unit TIMEOUT 120)

if(VALGRIND_EXECUTABLE AND NOT ECOM_SANITIZE)
  add_test(NAME valgrind_stream_fuzz_corpus
    COMMAND ${VALGRIND_EXECUTABLE} --error-exitcode=99 --leak-check=full
            --errors-for-leak-kinds=definite,indirect --track-origins=yes
            --quiet $<TARGET_FILE:stream_fuzz_replay> ${ECOM_FUZZ_CORPUS})
  set_tests_properties(valgrind_stream_fuzz_corpus PROPERTIES
    LABELS valgrind TIMEOUT 300)
endif()

if(ECOM_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ECOM_FUZZ=ON needs clang (libFuzzer), not ${CMAKE_C_COMPILER_ID}; configure with CC=clang")
  endif()
  set(common_dir ${PROJECT_SOURCE_DIR}/common)
  add_executable(stream_fuzz_rows
    tests/fuzz_rows.c batch.c rows.c
    ${common_dir}/buf.c ${common_dir}/js.c ${common_dir}/schema.c ${common_dir}/ts.c
    ${common_dir}/utf8.c)
  target_include_directories(stream_fuzz_rows PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR} ${common_dir})
  target_compile_options(stream_fuzz_rows PRIVATE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer -g)
  target_link_options(stream_fuzz_rows PRIVATE
    -fsanitize=fuzzer,address,undefined)
  target_link_libraries(stream_fuzz_rows PRIVATE PkgConfig::JANSSON m)
  set_target_properties(stream_fuzz_rows PROPERTIES
    OUTPUT_NAME fuzz_rows
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/tests)
endif()
