# SPDX-License-Identifier: MIT
# Fan-out engine unit tests (owned by server-fanout); included by tests/server/CMakeLists.txt.
# The engine has no Poco dependency, so these run whether or not the server binary builds.
if(TARGET lc_fanout)
    set(_lc_fanout_env "")
    if(LC_SANITIZE MATCHES "thread")
        # Qt is not built with TSan: the QtTest watchdog thread's QWaitCondition teardown is
        # synchronised inside uninstrumented libQt6Core, which TSan reports as a race at exit
        # (exit code 66 in about half the runs). These entries match only frames inside Qt
        # (TSan's stacks for our code never contain them), so real races are still reported.
        set(_lc_fanout_supp ${CMAKE_CURRENT_BINARY_DIR}/fanout_tsan.supp)
        file(WRITE ${_lc_fanout_supp} "race:QWaitCondition::~QWaitCondition\nrace:QTest::qRun\n")
        set(_lc_fanout_env "TSAN_OPTIONS=suppressions=${_lc_fanout_supp}")
    endif()
    lc_add_test(tst_fanout_engine
        SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_fanout_engine.cpp
        LIBS lc_fanout
        TIMEOUT 120
        LABELS server fanout
        ENV ${_lc_fanout_env})
endif()
