# SPDX-License-Identifier: MIT
# SSE parser and backoff tests (owner: sdk-sse). Included by tests/sdk/CMakeLists.txt.
if(TARGET livecomments::core)
    lc_add_test(tst_sse_parser SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_sse_parser.cpp
        LIBS livecomments::core LABELS sdk unit)
    lc_add_test(tst_backoff SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_backoff.cpp
        LIBS livecomments::core LABELS sdk unit)
endif()
