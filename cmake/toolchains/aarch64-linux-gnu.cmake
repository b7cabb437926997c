# SPDX-License-Identifier: MIT
# Cross-build for 64-bit ARM Linux with Debian's cross toolchain (crossbuild-essential-arm64) and
# multiarch :arm64 dev packages (libcurl4-openssl-dev:arm64, libsqlite3-dev:arm64, and Qt 6 for
# the Qt Test based unit tests). Tests run through qemu-user (see CMAKE_CROSSCOMPILING_EMULATOR).
# Used by the `arm64` preset in CMakePresets.json; see docs/sdk.md "Other platforms".
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(LC_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${LC_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${LC_CROSS_TRIPLE}-g++)
# Multiarch: target libraries live in /usr/lib/aarch64-linux-gnu, headers are shared in
# /usr/include (+ /usr/include/aarch64-linux-gnu); host programs (moc) are used as they are.
set(CMAKE_LIBRARY_ARCHITECTURE ${LC_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${LC_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# pkg-config must see the arm64 .pc files only (FindCURL asks pkg-config first).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${LC_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
# Qt's host tools (moc) come from the build machine's Qt.
set(QT_HOST_PATH /usr CACHE PATH "host Qt prefix (moc, rcc)")
# ctest runs every test binary under user-mode emulation. No `-L /usr/aarch64-linux-gnu`: the
# :arm64 dev packages bring the multiarch libc6:arm64 (/lib/ld-linux-aarch64.so.1), and mixing
# the cross toolchain's libc from that prefix with the multiarch Qt/curl libraries made the Qt
# Test executables hang at their first test; the multiarch loader alone runs them.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-${CMAKE_SYSTEM_PROCESSOR})
