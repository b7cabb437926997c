#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The project's front door. Two commands do all the set-up on a fresh Debian 12 machine:
#   ./dev.sh run     install what is missing, build, start the server (SQLite under ./var) with a
#                    demo video, print a dev token and curl commands, open the player if a display
#                    exists
#   ./dev.sh test    install what is missing, build everything, check the style
#                    (tools/check_style.sh), run the whole CTest suite, a few seconds of each fuzz
#                    target, sdk/core's unit tests cross-built for arm64 under qemu-user
#                    (LC_SKIP_ARM64=1 skips that), then the suite again under ASan+UBSan and TSan
#                    (LC_SKIP_SANITIZERS=1 skips those)
#   ./dev.sh cluster [N]  Redis + PostgreSQL (data in ./var/cluster) + N nodes (default 3) + nginx
#                    with packaging/nginx/livecomments-cluster.conf, all on loopback; Ctrl-C stops all
#                    (ports: LC_PORT 8080 + nodes above it, LC_PG_PORT 55432, LC_REDIS_PORT 56379;
#                    LC_NODE_ARGS: more options for every node)
# Others: ./dev.sh deps | build [preset] | test-sanitizers | test-arm64 | bench | package
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

# Debian packages the build, the tests and the demo need. Each is justified in docs/dependencies.md.
DEPS=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  libpoco-dev libcurl4-openssl-dev libsqlite3-dev
  qt6-base-dev qt6-declarative-dev qt6-multimedia-dev libqt6opengl6-dev qt6-qpa-plugins
  qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
  qml6-module-qtquick-window qml6-module-qtqml-workerscript qml6-module-qtquick-templates
  qml6-module-qttest qml6-module-qtmultimedia
  chromium xvfb xauth nginx libnginx-mod-nchan openssl gnuplot-nox redis-server postgresql
  nlohmann-json3-dev libzstd-dev libpq-dev clang clang-format clang-tidy libclang-rt-14-dev
  lintian fakeroot dpkg-dev systemd
)

# The arm64 cross-build of sdk/core and its unit tests (preset arm64, run under qemu-user).
# Multiarch: the :arm64 dev packages install beside the amd64 ones (apt upgrades the amd64 twins
# to the same version when the archive has a newer one).
ARM64_DEPS=(
  crossbuild-essential-arm64 qemu-user
  libcurl4-openssl-dev:arm64 libsqlite3-dev:arm64 qt6-base-dev:arm64
)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; exit 1; fi
}

# Installs whichever of the given Debian packages are missing.
install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing missing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

deps() {
  install_missing "${DEPS[@]}"
  # Services some packages start on install are not ours; tests start their own on free ports.
}

deps_arm64() {
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding the arm64 architecture to dpkg"
    as_root dpkg --add-architecture arm64
  fi
  install_missing "${ARM64_DEPS[@]}"
}

# sdk/core and its unit tests cross-built for arm64 and run under qemu-aarch64.
test_arm64() {
  deps_arm64
  local start=$SECONDS
  build arm64
  log "running the arm64 unit tests under qemu-user"
  ctest --preset arm64 --parallel 2
  log "arm64 step: $((SECONDS - start)) s"
}

raise_fd_limit() {
  # Thousands of streams per process: lift the soft open-file limit to the hard one.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

build() {
  local preset=${1:-dev}; shift || true
  log "configuring ($preset)"
  cmake --preset "$preset" >/dev/null
  log "building ($preset)"
  cmake --build --preset "$preset" "$@"
}

run() {
  deps
  build dev --target livecomments-server livecomments $( [ -d demo-app/qml ] && echo livecomments-demo )
  raise_fd_limit
  mkdir -p var
  local bin=build/dev/server/livecomments-server
  local port=${LC_PORT:-8080}
  log "starting livecomments-server on 127.0.0.1:$port (store var/livecomments.db, dev mode)"
  "$bin" --dev --listen="127.0.0.1:$port" --store=sqlite:var/livecomments.db &
  local pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local base="http://127.0.0.1:$port"
  local token
  token=$("$bin" token --dev --user=1 --name=demo --role=streamer)
  local video
  video=$(curl -fs -X POST "$base/videos" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d '{"title":"Demo live video"}' |
      sed -E 's/^\{"id":([0-9]+).*/\1/')
  curl -fs -X POST "$base/videos/$video/comments" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d '{"text":"Welcome to the demo stream!"}' >/dev/null
  cat <<TXT

LiveComments server: $base   (demo video id: $video)
Dev token (user 1 "demo"):
  export TOKEN=$token
Try it:
  curl -N -H 'Accept: text/event-stream' $base/videos/$video/subscriptions
  curl -X POST $base/videos/$video/comments -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"text":"hello"}'
  curl "$base/videos/$video/comments?limit=20"
  build/dev/sdk/cli/livecomments tail --server=$base --video=$video --history=10

TXT
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x build/dev/demo-app/livecomments-demo ]; then
    log "opening the player"
    build/dev/demo-app/livecomments-demo --server="$base" --video="$video" --name=viewer &
  else
    log "no display: the player is not opened (server keeps running; Ctrl-C stops it)"
  fi
  wait $pid
}

# A local cluster (docs/operations.md "Cluster"): every process on loopback, data under ./var/cluster.
cluster() {
  local n=${1:-3} dir=$ROOT/var/cluster pgbin run=() pids=() ports=() i
  local port=${LC_PORT:-8080} pgport=${LC_PG_PORT:-55432} redisport=${LC_REDIS_PORT:-56379}
  deps
  build dev --target livecomments-server
  raise_fd_limit
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$dir/nginx"
  # PostgreSQL refuses to run as root: initdb and the server run as the postgres user then.
  [ "$(id -u)" -eq 0 ] && { chown postgres "$dir"; run=(runuser -u postgres --); }
  [ -d "$dir/pg" ] || "${run[@]}" "$pgbin/initdb" -D "$dir/pg" -U postgres -A trust >/dev/null
  # No errexit in the trap: a node that died already must not keep PostgreSQL running.
  trap 'set +eu; trap - EXIT; kill "${pids[@]}" 2>/dev/null; "${run[@]}" "$pgbin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null; wait; exit 0' EXIT INT TERM
  "${run[@]}" "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
      -o "-p $pgport -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
  "${run[@]}" "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='livecomments'" | grep -q 1 ||
    "${run[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres livecomments
  redis-server --port "$redisport" --bind 127.0.0.1 --save '' --appendonly no >"$dir/redis.log" & pids+=($!)
  for i in $(seq "$n"); do
    ports+=($((port + i)))
    build/dev/server/livecomments-server --dev --listen="127.0.0.1:$((port + i))" \
        --store="postgresql://postgres@127.0.0.1:$pgport/livecomments" \
        --bus="redis://127.0.0.1:$redisport" ${LC_NODE_ARGS:-} >"$dir/node$i.log" 2>&1 & pids+=($!)
  done
  # The operator's site file, with this cluster's node ports and listen port.
  sed -E "/^\s*server 127\.0\.0\.1:[0-9]+/d; s/listen 127\.0\.0\.1:[0-9]+;/listen 127.0.0.1:$port;/; s/^(\s*least_conn;)/\1\n$(printf '    server 127.0.0.1:%s max_fails=1 fail_timeout=2s;\\n' "${ports[@]}")/" \
      packaging/nginx/livecomments-cluster.conf >"$dir/nginx/site.conf"
  printf 'daemon off;\nworker_rlimit_nofile 65536;\npid %s/nginx.pid;\nerror_log %s/error.log;\nevents { worker_connections 16384; }\nhttp { access_log off; include %s/site.conf; }\n' \
      "$dir/nginx" "$dir/nginx" "$dir/nginx" >"$dir/nginx/nginx.conf"
  nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" & pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  log "cluster of $n nodes (ports ${ports[*]}) behind nginx: http://127.0.0.1:$port  (logs in var/cluster; Ctrl-C stops all)"
  wait -n "${pids[@]}" || true
}

test_suite() {
  deps
  raise_fd_limit
  build ci
  # Style gate (docs/testing.md "Style"): formatting of every tracked C++ file, naming in server/
  # and sdk/. A finding fails `./dev.sh test` here, before the long suite runs.
  log "checking style (clang-format, clang-tidy naming)"
  tools/check_style.sh build/ci
  log "running the test suite"
  ctest --preset ci --parallel 2 "$@"
  # A few seconds of each libFuzzer target (docs/security.md has the long runs).
  log "building and running the fuzz targets briefly"
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
  ctest --preset fuzz -L fuzz
  if [ "${LC_SKIP_ARM64:-0}" != 1 ]; then
    test_arm64
  fi
  if [ "${LC_SKIP_SANITIZERS:-0}" != 1 ]; then
    test_sanitizers "$@"
  fi
}

# The same suite built with ASan+UBSan and with TSan (presets asan, tsan; demo and bench off).
# Tests labelled `heavy` (thousands of sockets) run only in the plain build above.
test_sanitizers() {
  deps
  raise_fd_limit
  local p
  for p in asan tsan; do
    build "$p"
    log "running the test suite under $p"
    ctest --preset "$p" --parallel 2 -LE 'heavy|soak|known-defect' "$@"
  done
}

cmd=${1:-help}; shift || true
case "$cmd" in
  deps) deps ;;
  build) deps; build "${1:-dev}" ;;
  run) run "$@" ;;
  cluster) cluster "$@" ;;
  test) test_suite "$@" ;;
  test-sanitizers) test_sanitizers "$@" ;;
  test-arm64) test_arm64 ;;
  bench) deps; build dev --target livecomments-bench livecomments-server; raise_fd_limit; exec bench/compare.sh "$@" ;;
  package)
    # Prefix /usr: the SDK, its .pc file and the QML module land in Debian's multiarch paths.
    deps
    cmake --preset dev -B build/package -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
    cmake --build build/package
    (cd build/package && cpack -G DEB && cpack -G TGZ) ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
