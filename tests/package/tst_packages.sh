#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tst_packages: builds the four packages of this build (cpack -G DEB and -G TGZ) and checks them
# the way an installer meets them (see docs/packaging.md):
#   1. contents (dpkg-deb -c), control fields, conffiles, versions, lintian without errors;
#   2. the server unpacked into a scratch root (dpkg -x) starts with its packaged config and the
#      secret the package's setup helper generates, answers /healthz and accepts only tokens
#      signed with that secret; systemd-analyze verify accepts the unit;
#   3. dpkg --root=DIR --force-script-chrootless: install, upgrade to a rebuilt package with a
#      higher version, remove, purge, reinstall, purge, with the maintainer scripts honouring
#      $DPKG_ROOT (config kept on remove and gone on purge, user and secret handled);
#   4. consumers outside the tree build against the unpacked livecomments-sdk-dev
#      (find_package Core; Core+Qt with QML; pkg-config on the relocated TGZ tree) and receive a
#      comment from a running server.
# Usage: tst_packages.sh BUILD_DIR SOURCE_DIR WORK_DIR CXX_COMPILER
set -euo pipefail
BUILD=$1 SRC=$2 WORK=$3 CXX=$4
VERSION=$(sed -nE 's/^set\(CPACK_PACKAGE_VERSION "([^"]+)"\)/\1/p' "$BUILD/CPackConfig.cmake")
ARCH=$(dpkg --print-architecture)
[ -n "$VERSION" ] || { echo "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "tst_packages needs root (dpkg --root, chown to the service user)"; exit 1; }

step_start=$SECONDS
step() { echo "== [$((SECONDS - step_start))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
# listening_port LOG PID: waits for the server's "listening on HOST:PORT" line (it is started
# on port 0, so no port is guessed) and prints PORT.
listening_port() {
    local i port
    for i in $(seq 200); do
        port=$(sed -nE 's/^listening on [^ ]*:([0-9]+).*/\1/p' "$1" | head -n1)
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    cat "$1" >&2
    return 1
}
wait_healthy() { # URL
    local i
    for i in $(seq 200); do
        curl -fs "$1/healthz" >/dev/null && return 0
        sleep 0.05
    done
    return 1
}

rm -rf "$WORK"
mkdir -p "$WORK/out"
OUT=$WORK/out
deb() { echo "$OUT/$1_${VERSION}-${2:-1}_${ARCH}.deb"; }

# ---------------------------------------------------------------------------------------------
step "1. cpack -G DEB and -G TGZ"
(cd "$WORK" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$OUT" >"$WORK/cpack-deb.log" 2>&1) ||
    { cat "$WORK/cpack-deb.log"; fail "cpack -G DEB"; }
(cd "$WORK" && cpack -G TGZ --config "$BUILD/CPackConfig.cmake" -B "$OUT" >"$WORK/cpack-tgz.log" 2>&1) ||
    { cat "$WORK/cpack-tgz.log"; fail "cpack -G TGZ"; }
PKGS=(livecomments-server livecomments-cli livecomments-player livecomments-sdk-dev)
for p in "${PKGS[@]}"; do
    [ -f "$(deb "$p")" ] || fail "missing $(deb "$p") (have: $(ls "$OUT"))"
    [ -f "$OUT/$p-$VERSION-Linux-$(uname -m).tar.gz" ] || fail "missing TGZ of $p (have: $(ls "$OUT"))"
done

# expect_files PACKAGE PATH... : every PATH is in the package (dpkg-deb -c).
expect_files() {
    local p=$1 f list
    shift
    list=$(dpkg-deb -c "$(deb "$p")" | awk '{print $6}' | sed 's|^\.||; s|/$||')
    for f in "$@"; do
        grep -qxE "$f" <<<"$list" || fail "$p lacks $f; it has:
$list"
    done
}
expect_files livecomments-server /usr/bin/livecomments-server \
    /etc/livecomments/livecomments.properties /etc/default/livecomments-server \
    /lib/systemd/system/livecomments-server.service \
    /usr/lib/livecomments-server/livecomments-server-setup \
    /usr/share/doc/livecomments-server/examples/livecomments-cluster.conf \
    /usr/share/doc/livecomments-server/operations.md \
    /usr/share/doc/livecomments-server/copyright /usr/share/man/man1/livecomments-server.1.gz
expect_files livecomments-cli /usr/bin/livecomments /usr/share/doc/livecomments-cli/copyright \
    /usr/share/man/man1/livecomments.1.gz
expect_files livecomments-player /usr/bin/livecomments-demo \
    /usr/share/applications/livecomments-demo.desktop \
    /usr/share/icons/hicolor/scalable/apps/livecomments-demo.svg \
    /usr/share/man/man1/livecomments-demo.1.gz
expect_files livecomments-sdk-dev /usr/include/livecomments/client.h \
    /usr/include/livecomments/qt/live_session.h '/usr/lib/(.*/)?liblivecomments-core.a' \
    '/usr/lib/(.*/)?liblivecomments_qt.a' '/usr/lib/(.*/)?cmake/LiveComments/LiveCommentsConfig.cmake' \
    '/usr/lib/(.*/)?cmake/LiveComments/LiveCommentsQtTargets.cmake' \
    '/usr/lib/(.*/)?pkgconfig/livecomments-core.pc' '/usr/lib/(.*/)?qt6/qml/LiveComments/qmldir' \
    '/usr/lib/(.*/)?qt6/qml/LiveComments/livecomments_qt.qmltypes'
# Nothing from one package in another; nothing under /usr/local, /usr/etc or /usr/lib/systemd.
for p in "${PKGS[@]}"; do
    if dpkg-deb -c "$(deb "$p")" | awk '{print $6}' | grep -E '^\./usr/(local|etc|lib/systemd)(/|$)'; then
        fail "$p has files in the wrong place"
    fi
done
# The archives: the same trees, prefix-relative under one top directory.
expect_tgz() {
    local p=$1 f list
    shift
    list=$(tar -tzf "$OUT/$p-$VERSION-Linux-$(uname -m).tar.gz" | sed -E 's|^livecomments-[^/]*/||; s|/$||')
    for f in "$@"; do
        grep -qxE "$f" <<<"$list" || fail "$p archive lacks $f; it has:
$list"
    done
    if grep -E '^(usr|/)' <<<"$list"; then fail "$p archive is not prefix-relative"; fi
}
expect_tgz livecomments-server bin/livecomments-server etc/livecomments/livecomments.properties \
    etc/default/livecomments-server lib/systemd/system/livecomments-server.service \
    lib/livecomments-server/livecomments-server-setup
expect_tgz livecomments-cli bin/livecomments
expect_tgz livecomments-player bin/livecomments-demo share/applications/livecomments-demo.desktop
expect_tgz livecomments-sdk-dev include/livecomments/client.h 'lib/(.*/)?liblivecomments-core.a' \
    'lib/(.*/)?pkgconfig/livecomments-core.pc' 'lib/(.*/)?cmake/LiveComments/LiveCommentsConfig.cmake'
[ "$(dpkg-deb -I "$(deb livecomments-server)" conffiles)" = "/etc/livecomments/livecomments.properties
/etc/default/livecomments-server" ] || fail "server conffiles: $(dpkg-deb -I "$(deb livecomments-server)" conffiles)"
for p in "${PKGS[@]}"; do
    [ "$(dpkg-deb -f "$(deb "$p")" Version)" = "$VERSION-1" ] || fail "$p version"
done
depends=$(dpkg-deb -f "$(deb livecomments-server)" Depends)
for d in libpoco passwd init-system-helpers libc6; do
    grep -q "$d" <<<"$depends" || fail "server Depends lacks $d: $depends"
done
grep -q libqt6 <<<"$(dpkg-deb -f "$(deb livecomments-player)" Depends)" || fail "player Depends"
grep -q libcurl <<<"$(dpkg-deb -f "$(deb livecomments-cli)" Depends)" || fail "cli Depends"

step "1. lintian"
lintian --fail-on error $(for p in "${PKGS[@]}"; do deb "$p"; done) >"$WORK/lintian.log" 2>&1 ||
    { cat "$WORK/lintian.log"; fail "lintian reports errors"; }
sed 's/^/  lintian: /' "$WORK/lintian.log"

# ---------------------------------------------------------------------------------------------
step "2. server from a scratch root (dpkg -x) with the generated secret"
S=$WORK/scratch
dpkg -x "$(deb livecomments-server)" "$S"
dpkg -x "$(deb livecomments-cli)" "$S"
mkdir -p "$S/etc"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$S/etc/passwd"
printf 'root:x:0:\n' >"$S/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$S/etc/shadow"
printf 'root:*::\n' >"$S/etc/gshadow"
"$S/usr/lib/livecomments-server/livecomments-server-setup" --root="$S"
"$S/usr/lib/livecomments-server/livecomments-server-setup" --root="$S" # idempotent
grep -q '^livecomments:x:[0-9]*:[0-9]*:.*:/var/lib/livecomments:/usr/sbin/nologin$' "$S/etc/passwd" ||
    fail "no livecomments user in the scratch passwd: $(cat "$S/etc/passwd")"
uid=$(awk -F: '$1=="livecomments"{print $3}' "$S/etc/passwd")
gid=$(awk -F: '$1=="livecomments"{print $3}' "$S/etc/group")
[ "$(stat -c '%a %u %g' "$S/etc/livecomments/jwt-secret.env")" = "640 0 $gid" ] ||
    fail "secret file mode/owner: $(stat -c '%a %u %g' "$S/etc/livecomments/jwt-secret.env")"
[ "$(stat -c '%a %u' "$S/var/lib/livecomments")" = "750 $uid" ] || fail "data dir mode/owner"
secret=$(sed -n 's/^LIVECOMMENTS_JWT_SECRET=//p' "$S/etc/livecomments/jwt-secret.env")
[[ $secret =~ ^[0-9a-f]{64}$ ]] || fail "secret is not 64 hex digits"
[ "$("$S/usr/bin/livecomments" --version)" = "livecomments $VERSION" ] ||
    fail "livecomments --version: $("$S/usr/bin/livecomments" --version)"
[ "$("$S/usr/bin/livecomments-server" --version)" = "livecomments-server $VERSION" ] ||
    fail "livecomments-server --version: $("$S/usr/bin/livecomments-server" --version 2>&1)"
# As the unit runs it: the service user, the data directory as working directory, the secret
# from the EnvironmentFile, options from /etc/default (here: a free port).
(
    set -a
    . "$S/etc/livecomments/jwt-secret.env"
    . "$S/etc/default/livecomments-server"
    set +a
    cd "$S/var/lib/livecomments"
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups "$S/usr/bin/livecomments-server" \
        --config="$S/etc/livecomments/livecomments.properties" $LIVECOMMENTS_OPTS \
        --listen=127.0.0.1:0
) >"$WORK/scratch-server.log" 2>&1 &
pids+=($!)
port=$(listening_port "$WORK/scratch-server.log" "$!") || fail "the packaged server did not start"
wait_healthy "http://127.0.0.1:$port" || { cat "$WORK/scratch-server.log"; fail "no /healthz"; }
good=$(LIVECOMMENTS_JWT_SECRET=$secret "$S/usr/bin/livecomments-server" token --user=1 --name=pkg --role=streamer)
dev=$("$S/usr/bin/livecomments-server" token --dev --user=1 --name=pkg --role=streamer)
code() { curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/videos" \
    -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d '{"title":"pkg"}'; }
[ "$(code "$good")" = 201 ] || fail "a token signed with the generated secret was refused"
[ "$(code "$dev")" = 401 ] || fail "a token signed with the dev secret was accepted"
[ -f "$S/var/lib/livecomments/livecomments.db" ] || fail "the store is not in /var/lib/livecomments"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
step "2. systemd-analyze verify"
# The unit's dependencies (sysinit.target, network-online.target, ...) come from the host's
# systemd; the unit itself and the programs it runs come from the package.
V=$WORK/verify-root
mkdir -p "$V"
cp -a "$S/." "$V/"
cp -an /lib/systemd/system/. "$V/lib/systemd/system/"
systemd-analyze verify --root="$V" --man=no --generators=no \
    /lib/systemd/system/livecomments-server.service >"$WORK/verify.log" 2>&1 ||
    { cat "$WORK/verify.log"; fail "systemd-analyze verify"; }
if grep -v '^$' "$WORK/verify.log"; then fail "systemd-analyze verify printed warnings"; fi

# ---------------------------------------------------------------------------------------------
step "3. dpkg --root lifecycle (install, upgrade, remove, purge, reinstall, purge)"
(cd "$WORK" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$WORK/out2" \
    -D CPACK_COMPONENTS_ALL=server -D CPACK_DEBIAN_PACKAGE_RELEASE=2 >"$WORK/cpack-2.log" 2>&1) ||
    { cat "$WORK/cpack-2.log"; fail "cpack release 2"; }
DEB2=$WORK/out2/livecomments-server_${VERSION}-2_${ARCH}.deb
[ -f "$DEB2" ] || fail "no $DEB2"
R=$WORK/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/etc"
touch "$R/var/lib/dpkg/available"
# The Depends are checked for real (no --force-depends): the scratch database records the
# host's installed versions of exactly the packages the server depends on (their files are not
# copied; the maintainer scripts run on the host, where those packages are installed).
for dep in $(dpkg-deb -f "$(deb livecomments-server)" Depends | tr ',' '\n' | sed -E 's/^ *//; s/[ |(].*//'); do
    # Qualified: with a foreign architecture enabled (the arm64 cross-build) several instances exist.
    dpkg-query -s "$dep:$(dpkg --print-architecture)" 2>/dev/null || dpkg-query -s "$dep" ||
        fail "the host lacks $dep"
    echo
    touch "$R/var/lib/dpkg/info/$dep.list" "$R/var/lib/dpkg/info/$dep:$ARCH.list"
done >"$R/var/lib/dpkg/status"
cp "$S/etc/passwd" "$S/etc/group" "$S/etc/shadow" "$S/etc/gshadow" "$R/etc/"
for f in passwd group shadow gshadow; do sed -i '/^livecomments:/d' "$R/etc/$f"; done
# Maintainer scripts run on the host with DPKG_ROOT=$R.
rdpkg() { dpkg --root="$R" --force-script-chrootless --force-confold "$@"; }
has_user() { grep -q '^livecomments:' "$R/etc/passwd" && grep -q '^livecomments:' "$R/etc/group"; }
wants=$R/etc/systemd/system/multi-user.target.wants/livecomments-server.service
# What the host has before: a script that ignored $DPKG_ROOT would change it.
host_state() {
    getent passwd livecomments
    getent group livecomments
    ls -d /etc/livecomments /var/lib/livecomments \
        /etc/systemd/system/multi-user.target.wants/livecomments-server.service 2>/dev/null
}
host_before=$(host_state || true)
rdpkg -i "$(deb livecomments-server)" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "install"; }
[ -x "$R/usr/bin/livecomments-server" ] || fail "install: no binary"
has_user || fail "install: no user"
[ -s "$R/etc/livecomments/jwt-secret.env" ] || fail "install: no secret"
[ -L "$wants" ] || fail "install: unit not enabled ($wants)"
secret1=$(cat "$R/etc/livecomments/jwt-secret.env")
echo "# local edit" >>"$R/etc/livecomments/livecomments.properties"
echo "data" >"$R/var/lib/livecomments/keep-me"
rdpkg -i "$DEB2" >>"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "upgrade"; }
[ "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Version}' livecomments-server)" = "$VERSION-2" ] ||
    fail "upgrade: version"
grep -q '^# local edit' "$R/etc/livecomments/livecomments.properties" || fail "upgrade lost the local edit"
[ "$(cat "$R/etc/livecomments/jwt-secret.env")" = "$secret1" ] || fail "upgrade changed the secret"
[ -f "$R/var/lib/livecomments/keep-me" ] || fail "upgrade lost data"
rdpkg -r livecomments-server >>"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "remove"; }
[ ! -e "$R/usr/bin/livecomments-server" ] || fail "remove: binary left"
[ -f "$R/etc/livecomments/livecomments.properties" ] || fail "remove: config not kept"
[ -f "$R/etc/default/livecomments-server" ] || fail "remove: /etc/default not kept"
[ "$(cat "$R/etc/livecomments/jwt-secret.env")" = "$secret1" ] || fail "remove: secret not kept"
[ -f "$R/var/lib/livecomments/keep-me" ] || fail "remove: data not kept"
has_user || fail "remove: user not kept"
mask=$R/etc/systemd/system/livecomments-server.service
[ "$(readlink "$mask")" = /dev/null ] || fail "remove: unit not masked (as dh_installsystemd does)"
rdpkg -P livecomments-server >>"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "purge"; }
[ ! -e "$R/etc/livecomments" ] || fail "purge: /etc/livecomments left: $(ls -la "$R/etc/livecomments")"
[ ! -e "$R/etc/default/livecomments-server" ] || fail "purge: /etc/default left"
[ ! -e "$R/var/lib/livecomments" ] || fail "purge: data left"
! has_user || fail "purge: user left"
[ ! -e "$wants" ] && [ ! -L "$mask" ] || fail "purge: enablement or mask symlink left"
rdpkg -i "$DEB2" >>"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "reinstall after purge"; }
has_user && [ -s "$R/etc/livecomments/jwt-secret.env" ] && [ -L "$wants" ] ||
    fail "reinstall after purge: user, secret or enablement missing"
[ ! -L "$mask" ] || fail "reinstall: unit still masked"
[ "$(cat "$R/etc/livecomments/jwt-secret.env")" != "$secret1" ] || fail "reinstall reused the old secret"
rdpkg -P livecomments-server >>"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "second purge"; }
! has_user && [ ! -e "$R/etc/livecomments" ] || fail "second purge left state"
[ "$(host_state || true)" = "$host_before" ] || fail "the maintainer scripts changed the host"

# ---------------------------------------------------------------------------------------------
step "4. consumers of livecomments-sdk-dev against a running server"
D=$WORK/sdk-deb
dpkg -x "$(deb livecomments-sdk-dev)" "$D"
# The archives share one top directory (livecomments-VERSION-SYSTEM): unpacked side by side they
# form one tree. Unpack the SDK somewhere unrelated to the build to prove it relocatable.
T=$WORK/sdk-tgz/some/other/place
mkdir -p "$T"
tar -xzf "$OUT/livecomments-sdk-dev-$VERSION-Linux-$(uname -m).tar.gz" -C "$T"
T=$(echo "$T"/livecomments-*)
[ -f "$T/include/livecomments/client.h" ] || fail "unexpected TGZ layout: $(ls "$WORK/sdk-tgz/some/other/place")"
"$BUILD/server/livecomments-server" --dev --listen=127.0.0.1:0 \
    --store="sqlite:$WORK/consumer.db" >"$WORK/dev-server.log" 2>&1 &
pids+=($!)
port=$(listening_port "$WORK/dev-server.log" "$!") || fail "the dev server did not start"
url=http://127.0.0.1:$port
wait_healthy "$url" || { cat "$WORK/dev-server.log"; fail "dev server"; }
token=$("$BUILD/server/livecomments-server" token --dev --user=7 --name=consumer --role=streamer)
video() { curl -fs -X POST "$url/videos" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"title":"consumer"}' | sed -E 's/^\{"id":([0-9]+).*/\1/'; }
cmake_args=(-G Ninja -DCMAKE_PREFIX_PATH="$D/usr" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=Release)

step "4a. find_package(LiveComments CONFIG COMPONENTS Core)"
cmake -S "$SRC/tests/package/consumer" -B "$WORK/c-core" "${cmake_args[@]}" >"$WORK/c-core.log" 2>&1 &&
    cmake --build "$WORK/c-core" >>"$WORK/c-core.log" 2>&1 || { cat "$WORK/c-core.log"; fail "core consumer build"; }
"$WORK/c-core/lc_consumer" "$url" "$(video)" "$token" || fail "core consumer"

step "4b. COMPONENTS Core Qt with QML importing LiveComments (offscreen)"
cmake -S "$SRC/tests/package/consumer_qt" -B "$WORK/c-qt" "${cmake_args[@]}" >"$WORK/c-qt.log" 2>&1 &&
    cmake --build "$WORK/c-qt" >>"$WORK/c-qt.log" 2>&1 || { cat "$WORK/c-qt.log"; fail "qt consumer build"; }
qmldir=$(dirname "$(find "$D/usr/lib" -path '*/qt6/qml/LiveComments/qmldir')")
QT_QPA_PLATFORM=offscreen "$WORK/c-qt/lc_qt_consumer" "$SRC/tests/package/consumer_qt/consumer.qml" \
    "$(dirname "$qmldir")" "$url" "$(video)" "$token" || fail "qt consumer"

step "4c. pkg-config livecomments-core (relocated TGZ tree)"
pc_dir=$(dirname "$(find "$T" -name livecomments-core.pc)")
flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs livecomments-core)
incdir=$(PKG_CONFIG_PATH=$pc_dir pkg-config --variable=includedir livecomments-core)
[ "$(realpath "$incdir")" = "$(realpath "$T/include")" ] || fail "the .pc is not relocatable: $incdir"
"$CXX" -std=c++17 -O1 "$SRC/tests/package/consumer/main.cpp" -o "$WORK/lc_pc_consumer" $flags ||
    fail "pkg-config consumer build (flags: $flags)"
"$WORK/lc_pc_consumer" "$url" "$(video)" "$token" || fail "pkg-config consumer"

step "done: tst_packages ok"
