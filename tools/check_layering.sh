#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the include layering of server/src (docs/architecture.md):
#   app/ (composition root) -> http/ -> service/ -> store, cache, fanout, bus, ... -> model/
# Fails when
#   - anything but app/ and main.cpp includes app/,
#   - http/ includes app/,
#   - service/ includes http/ or app/,
#   - fanout/ includes http/, service/ or app/.
# Usage: tools/check_layering.sh [SERVER_SRC_DIR]   (default: server/src next to this script)
set -u

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
violation "service/ must not include http/ or app/" 'http/|app/' "$src/service"
violation "fanout/ must not include http/, service/ or app/" 'http/|service/|app/' "$src/fanout"

if [ "$status" -eq 0 ]; then
    echo "check_layering: OK ($src)"
fi
exit "$status"
