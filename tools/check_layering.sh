#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the include layering of server/src (docs/architecture.md):
#   app/ (composition root) -> http/ -> service/ -> store, cache, fanout, bus, ... -> model/
# Fails when
#   - anything but app/ and main.cpp includes app/,
#   - http/ includes app/ (or fanout/: handlers go through the service layer),
#   - service/ includes http/ or app/,
#   - fanout/ includes http/, service/ or app/.
# Usage: tools/check_layering.sh [SERVER_SRC_DIR]   (default: server/src next to this script)
#        tools/check_layering.sh --self-test          (each rule must catch a planted violation)
set -u

if [ "${1:-}" = "--self-test" ]; then
    tmp=$(mktemp -d) || exit 2
    trap 'rm -rf "$tmp"' EXIT
    failures=0
    # tree FILE INCLUDE: a minimal layered tree plus one extra include in FILE.
    tree() {
        rm -rf "$tmp/src"
        mkdir -p "$tmp/src/app" "$tmp/src/http" "$tmp/src/service" "$tmp/src/fanout" \
            "$tmp/src/model"
        echo "#include \"app/server_app.h\"" >"$tmp/src/main.cpp"
        echo "#include \"service/live_service.h\"" >"$tmp/src/app/server_app.cpp"
        echo "#include $2" >>"$tmp/src/$1"
    }
    # plant FILE INCLUDE: that include must make the check fail.
    plant() {
        tree "$1" "$2"
        if sh "$0" "$tmp/src" >/dev/null 2>&1; then
            echo "self-test: $1 including $2 was not caught" >&2
            failures=$((failures + 1))
        fi
    }
    plant http/router.cpp '"app/options.h"'
    plant http/router.cpp '"fanout/fanout_engine.h"'
    plant model/types.h '<app/server_app.h>'
    plant service/live_service.cpp '"http/router.h"'
    plant service/live_service.cpp '"app/options.h"'
    plant fanout/fanout_engine.cpp '"service/live_service.h"'
    plant fanout/fanout_engine.cpp '"http/handlers.h"'
    # And an allowed include passes.
    tree http/router.cpp '"service/live_service.h"'
    if ! sh "$0" "$tmp/src" >/dev/null 2>&1; then
        echo "self-test: a clean tree failed" >&2
        failures=$((failures + 1))
    fi
    [ "$failures" -eq 0 ] && echo "check_layering self-test: OK"
    exit "$failures"
fi

src=${1:-$(dirname "$0")/../server/src}
if [ ! -d "$src" ]; then
    echo "check_layering: no such directory: $src" >&2
    exit 2
fi
status=0

# violation DESCRIPTION DIR_GLOB INCLUDE_REGEX: prints every match and marks failure.
violation() {
    description=$1
    shift
    pattern=$1
    shift
    found=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]($pattern)" "$@" \
        2>/dev/null)
    if [ -n "$found" ]; then
        echo "layering violation: $description" >&2
        echo "$found" >&2
        status=1
    fi
}

# Everything except app/ and main.cpp must leave app/ alone.
others=$(find "$src" -mindepth 1 -maxdepth 1 -type d ! -name app)
# shellcheck disable=SC2086 # word splitting of the directory list is intended
violation "only app/ and main.cpp may include app/" 'app/' $others
violation "http/ must not include app/" 'app/' "$src/http"
violation "http/ must not include fanout/ (call the service layer)" 'fanout/|fanout_engine' "$src/http"
violation "service/ must not include http/ or app/" 'http/|app/' "$src/service"
violation "fanout/ must not include http/, service/ or app/" 'http/|service/|app/' "$src/fanout"

if [ "$status" -eq 0 ]; then
    echo "check_layering: OK ($src)"
fi
exit "$status"
