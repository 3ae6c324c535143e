# Build helpers shared by every module: the warning set of STYLE.md section 15,
# sanitizers, and the tk_lib / tk_exe / tk_add_test / tk_add_bench wrappers.

set(TK_WARNINGS
  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
  -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition -Wcast-align
  -Wformat=2 -Wimplicit-fallthrough -Wswitch-enum -Wundef -Wvla -Wnull-dereference)
if(TK_WERROR)
  list(APPEND TK_WARNINGS -Werror)
endif()

if(TK_SANITIZE)
  add_compile_options(-fsanitize=${TK_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${TK_SANITIZE})
endif()

# POSIX.1-2008 on top of strict C11 (O_CLOEXEC, gmtime_r, strnlen, ...).
add_compile_definitions(_POSIX_C_SOURCE=200809L)
# Fuzzing (clang only): every library gets coverage instrumentation; fuzz targets link libFuzzer.
if(TK_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TK_FUZZ needs clang (CC=clang)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# TK_DEBUG turns on TK_DASSERT and the 0xAA / 0xDD fills of pools and allocations.
add_compile_definitions($<$<CONFIG:Debug>:TK_DEBUG=1>)
# Keep frame pointers everywhere so that tk_panic's backtrace is useful in release builds.
add_compile_options(-fno-omit-frame-pointer)

# tk_lib(NAME HEADER h SOURCES a.c b.c [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# One module = one static library with one public header. The header is also compiled
# alone (HEADER_CHECK) so that it cannot come to depend on what its includer included first.
function(tk_lib name)
  cmake_parse_arguments(ARG "" "HEADER" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${TK_WARNINGS})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS})
  if(ARG_HEADER)
    set(check_src ${CMAKE_CURRENT_BINARY_DIR}/${name}_header_check.c)
    file(WRITE ${check_src}.in "#include \"${ARG_HEADER}\"\n#include \"${ARG_HEADER}\"\n")
    configure_file(${check_src}.in ${check_src} COPYONLY)
    add_library(${name}_header_check OBJECT ${check_src})
    target_compile_options(${name}_header_check PRIVATE ${TK_WARNINGS})
    target_include_directories(${name}_header_check PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(${name}_header_check PRIVATE ${ARG_PUBLIC_LIBS})
    add_dependencies(${name} ${name}_header_check)
  endif()
endfunction()

# tk_exe(NAME SOURCES ... LIBS ...): an executable with the warning set; symbols are
# exported (-rdynamic) so that tk_panic's backtrace names functions.
function(tk_exe name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${TK_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
endfunction()

# Under ThreadSanitizer every test runs with tests/tsan.supp (races reported inside RocksDB,
# which Debian builds without TSan, so its own synchronisation is invisible) and with
# die_after_fork=0 (tests fork children that check an assertion after RocksDB started threads).
if(TK_SANITIZE MATCHES "thread")
  set(TK_TEST_ENV "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp die_after_fork=0")
elseif(TK_SANITIZE MATCHES "address")
  # Under AddressSanitizer, tests/lsan.supp: libraft 0.15's test fixture cannot be closed
  # after an election (raft_fixture_close frees a pointer it never allocated), so the Raft
  # tests leave it open and its memory is reported at exit (docs/cluster.md).
  set(TK_TEST_ENV "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp")
else()
  set(TK_TEST_ENV "")
endif()

# tk_add_test(NAME SOURCES ... LIBS ... [LABEL unit] [TIMEOUT seconds])
# One cmocka executable per module, registered with CTest under a label and a timeout.
function(tk_add_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_LABEL)
    set(ARG_LABEL unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT ${TK_TEST_TIMEOUT_S})
  endif()
  tk_exe(${name} SOURCES ${ARG_SOURCES} LIBS ${ARG_LIBS} tk_test_support tk::cmocka)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "${TK_TEST_ENV}")
endfunction()

# tk_add_bench(NAME SOURCES ... LIBS ...): a benchmark binary under bench/. Benchmarks print
# figures and ratios against a named peer; they are built by CI and run by `make bench`.
function(tk_add_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  tk_exe(${name} SOURCES ${ARG_SOURCES} LIBS ${ARG_LIBS})
endfunction()

# tk_add_fuzz(NAME SOURCES ... LIBS ...): a libFuzzer target under tests/fuzz/ (TK_FUZZ only).
# Its seed corpus is tests/fuzz/corpus/<NAME without the fuzz_ prefix>/.
function(tk_add_fuzz name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  tk_exe(${name} SOURCES ${ARG_SOURCES} LIBS ${ARG_LIBS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()
