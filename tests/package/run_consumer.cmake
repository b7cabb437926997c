# SPDX-License-Identifier: MIT
# Driver of tst_package (cmake -P). Inputs: BUILD_DIR, WORK_DIR, CONSUMER_DIR, GENERATOR,
# CXX_COMPILER, C_COMPILER, EXTRA_FLAGS.
cmake_minimum_required(VERSION 3.25)

function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
    endif()
    set(LAST_OUTPUT "${out}${err}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

# 1. Install the SDK component of the build.
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component sdk)
if(NOT EXISTS ${prefix}/include/livecomments/client.h)
    message(FATAL_ERROR "client.h was not installed")
endif()

# 2. Public headers must not pull in curl or SQLite, and core's not Qt (livecomments/qt/ is the
# Qt binding, which does).
file(GLOB_RECURSE headers ${prefix}/include/livecomments/*.h)
foreach(h IN LISTS headers)
    set(private_pattern "curl|sqlite3|<Q")
    if(h MATCHES "/livecomments/qt/")
        set(private_pattern "curl|sqlite3")
    endif()
    file(STRINGS ${h} includes REGEX "^#include")
    foreach(line IN LISTS includes)
        if(line MATCHES "${private_pattern}")
            message(FATAL_ERROR "${h} includes a private dependency: ${line}")
        endif()
    endforeach()
endforeach()

set(common_args -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if(EXTRA_FLAGS)
    list(APPEND common_args "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
endif()

# 3. Configure, build and run the consumer.
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer ${common_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run(${WORK_DIR}/consumer/lc_consumer)
if(NOT LAST_OUTPUT MATCHES "consumer ok")
    message(FATAL_ERROR "consumer printed: ${LAST_OUTPUT}")
endif()

# 4. A component this installation lacks is a clean configure error naming it.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/missing ${common_args}
        -DLC_COMPONENTS=NoSuchPart
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
    message(FATAL_ERROR "configuring with a missing component succeeded")
endif()
if(NOT "${out}${err}" MATCHES "NoSuchPart")
    message(FATAL_ERROR "missing component not named in the error:\n${out}${err}")
endif()
message(STATUS "tst_package: ok")
