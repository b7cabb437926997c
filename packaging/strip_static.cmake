# SPDX-License-Identifier: MIT
# CPACK_PRE_BUILD_SCRIPTS of the DEB and archive generators: CPACK_STRIP_FILES strips programs
# but not static libraries or object files, whose debug info is most of their size (25 MB of
# 26 for liblivecomments-core.a). Strip the debug sections only, as dh_strip does, so symbols
# stay linkable.
find_program(LC_STRIP NAMES strip)
if(NOT LC_STRIP)
    return()
endif()
file(GLOB_RECURSE lc_static_files "${CPACK_TEMPORARY_DIRECTORY}/*.a" "${CPACK_TEMPORARY_DIRECTORY}/*.o")
foreach(f IN LISTS lc_static_files)
    execute_process(COMMAND ${LC_STRIP} --strip-debug --enable-deterministic-archives "${f}"
        RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "strip --strip-debug ${f} failed")
    endif()
endforeach()
