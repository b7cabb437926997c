# SPDX-License-Identifier: MIT
# Fan-out engine unit tests (owned by server-fanout); included by tests/server/CMakeLists.txt.
# The engine has no Poco dependency, so these run whether or not the server binary builds.
if(TARGET lc_fanout)
    # TSan options and suppressions come from lc_add_test (cmake/LcTesting.cmake).
    lc_add_test(tst_fanout_engine
        SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_fanout_engine.cpp
        LIBS lc_fanout
        TIMEOUT 120
        LABELS server fanout)
endif()
