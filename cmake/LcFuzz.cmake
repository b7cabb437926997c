# SPDX-License-Identifier: MIT
# lc_add_fuzzer(<name> SOURCES ... [LIBS ...] [INCLUDES ...] [CORPUS dir])
#
# One libFuzzer target (clang's -fsanitize=fuzzer; the `fuzz` preset compiles everything with
# -fsanitize=fuzzer-no-link,address,undefined). Every fuzzer joins the `lc_fuzzers` target, and
# with BUILD_TESTING it is a CTest test labelled `fuzz` that runs LC_FUZZ_SECONDS (default 5) from
# its seed corpus. New inputs go to build/<preset>/fuzz-corpus/<name>, never into the repository.
# docs/security.md has the commands for longer runs.
set(LC_FUZZ_SECONDS 5 CACHE STRING "Seconds each fuzz target runs under CTest (label fuzz)")
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LC_FUZZ needs clang (libFuzzer): configure with the `fuzz` preset")
endif()
if(NOT TARGET lc_fuzzers)
    add_custom_target(lc_fuzzers)
endif()

function(lc_add_fuzzer name)
    cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS;INCLUDES" ${ARGN})
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE ${F_LIBS})
    target_include_directories(${name} PRIVATE ${F_INCLUDES})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    lc_set_warnings(${name})
    add_dependencies(lc_fuzzers ${name})
    if(BUILD_TESTING)
        set(work ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
        file(MAKE_DIRECTORY ${work})
        add_test(NAME ${name}
            COMMAND ${name} -max_total_time=${LC_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
                -print_final_stats=1 ${work} ${F_CORPUS})
        math(EXPR budget "${LC_FUZZ_SECONDS} * 3 + 60")
        set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT ${budget}
            ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    endif()
endfunction()
