# SPDX-License-Identifier: MIT
# lc_add_test(<name> SOURCES ... [LIBS ...] [TIMEOUT seconds] [LABELS ...] [RESOURCE_LOCK ...])
#
# One Qt Test executable per file, registered with CTest. Every test runs with the offscreen
# platform and a timeout, so a hung test fails instead of stalling CI. Tests find the binaries
# they drive through environment variables (LC_SERVER_BIN, LC_CLI_BIN, LC_BENCH_BIN) when those
# targets exist in this build.
find_package(Qt6 REQUIRED COMPONENTS Core Network Test)

function(lc_add_test name)
    cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS;RESOURCE_LOCK;ENV" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 120)
    endif()
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE Qt6::Core Qt6::Network Qt6::Test ${T_LIBS})
    lc_set_warnings(${name})
    set_target_properties(${name} PROPERTIES AUTOMOC ON)
    add_test(NAME ${name} COMMAND ${name})
    set(env "QT_QPA_PLATFORM=offscreen" "LC_SOURCE_DIR=${PROJECT_SOURCE_DIR}" ${T_ENV})
    if(LC_SANITIZE MATCHES "thread" AND NOT T_ENV MATCHES "TSAN_OPTIONS")
        # die_after_fork=0: tests start the server and tools with QProcess (fork+exec).
        list(APPEND env "TSAN_OPTIONS=die_after_fork=0 suppressions=${PROJECT_SOURCE_DIR}/cmake/sanitizers/tsan.supp")
    endif()
    if(LC_SANITIZE MATCHES "address")
        list(APPEND env "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0"
                        "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/cmake/sanitizers/lsan.supp"
                        "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    endif()
    foreach(pair "LC_SERVER_BIN;livecomments-server" "LC_CLI_BIN;livecomments"
                 "LC_BENCH_BIN;livecomments-bench" "LC_DEMO_BIN;livecomments-demo")
        list(GET pair 0 var)
        list(GET pair 1 tgt)
        if(TARGET ${tgt})
            list(APPEND env "${var}=$<TARGET_FILE:${tgt}>")
        endif()
    endforeach()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${env}")
    if(T_LABELS)
        set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
    endif()
    if(T_RESOURCE_LOCK)
        set_tests_properties(${name} PROPERTIES RESOURCE_LOCK "${T_RESOURCE_LOCK}")
    endif()
endfunction()
