# SPDX-License-Identifier: MIT
# CPACK_PRE_BUILD_SCRIPTS of the DEB generator. The install rules are prefix-relative (so the
# archives are relocatable); the DEB is staged with prefix /usr, which would put the config in
# /usr/etc and the unit in /usr/lib/systemd. Move both to where dpkg's conffile list and
# systemd expect them: /etc and /lib/systemd/system.
file(GLOB lc_stage_dirs LIST_DIRECTORIES true "${CPACK_TEMPORARY_DIRECTORY}/*")
list(APPEND lc_stage_dirs "${CPACK_TEMPORARY_DIRECTORY}")
foreach(dir IN LISTS lc_stage_dirs)
    foreach(move "usr/etc:etc" "usr/lib/systemd:lib/systemd")
        string(REPLACE ":" ";" move "${move}")
        list(GET move 0 from)
        list(GET move 1 to)
        if(IS_DIRECTORY "${dir}/${from}")
            get_filename_component(parent "${dir}/${to}" DIRECTORY)
            file(MAKE_DIRECTORY "${parent}")
            file(RENAME "${dir}/${from}" "${dir}/${to}")
        endif()
    endforeach()
endforeach()
