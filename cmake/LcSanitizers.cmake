# SPDX-License-Identifier: MIT
# Applies LC_SANITIZE (e.g. "address;undefined" or "thread") to every target of the tree.
if(LC_SANITIZE)
    string(REPLACE ";" "," _lc_san "${LC_SANITIZE}")
    add_compile_options(-fsanitize=${_lc_san} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=${_lc_san})
    message(STATUS "LiveComments: sanitizers ${_lc_san}")
endif()
