# SPDX-License-Identifier: MIT
# lc_set_warnings(<target>): the project's warning set, applied per target so that
# third-party headers (Poco, Qt) are not forced through it.
function(lc_set_warnings target)
    if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
    endif()
endfunction()
