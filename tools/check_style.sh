#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The style gate of `./dev.sh test` (docs/testing.md "Style"):
#   1. clang-format --dry-run -Werror over every tracked C++ file (`git ls-files '*.cpp' '*.h'`),
#      with the repository's .clang-format;
#   2. clang-tidy with ONLY readability-identifier-naming (the naming rules in .clang-tidy), every
#      warning an error, over the .cpp files of server/src, sdk/core, sdk/qt and sdk/cli, using the
#      compile_commands.json of a configured build directory, in parallel on every core.
# Prints every finding and exits non-zero when there is any.
#
# Usage: tools/check_style.sh [BUILD_DIR]      (default: build/ci of this checkout; configure it
#                                               first, e.g. cmake --preset ci)
#   LC_STYLE_JOBS=N   parallel clang-tidy processes (default: nproc)
set -euo pipefail
BUILD_DIR=$(realpath -m "${1:-$(dirname "$0")/../build/ci}")
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${LC_STYLE_JOBS:-$(nproc)}

die() { echo "check_style: $*" >&2; exit 2; }
command -v clang-format >/dev/null || die "clang-format not found (apt-get install clang-format, or ./dev.sh deps)"
command -v clang-tidy >/dev/null || die "clang-tidy not found (apt-get install clang-tidy, or ./dev.sh deps)"
[ -f "$BUILD_DIR/compile_commands.json" ] ||
    die "$BUILD_DIR/compile_commands.json missing: configure first (cmake --preset ci)"

failed=0

# --- 1. formatting ---------------------------------------------------------------------------
# The tracked files; in an exported tree (no .git) the C++ files found under the root instead.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    list() { git ls-files -- "$@"; }
else
    echo "check_style: $ROOT is not a git checkout: checking the files found under it" >&2
    list() {
        local pattern
        for pattern in "$@"; do
            find . -path './build*' -prune -o -path "./${pattern}" -type f -print | sed 's|^\./||'
        done | sort -u
    }
fi
mapfile -t sources < <(list '*.cpp' '*.h')
format_log=$(mktemp)
tidy_log=$(mktemp)
trap 'rm -f "$format_log" "$tidy_log"' EXIT
# -Werror makes every reformatting a diagnostic on stderr; keep going over all files.
format_rc=0
printf '%s\0' "${sources[@]}" |
    xargs -0 -P "$JOBS" -n 40 clang-format --dry-run -Werror --style=file >"$format_log" 2>&1 ||
    format_rc=$?
format_files=$(grep -oE '^[^:]+\.(cpp|h):[0-9]+:[0-9]+: error:' "$format_log" | cut -d: -f1 | sort -u || true)
if [ "$format_rc" != 0 ]; then
    # The exit status is the verdict; the file list is only the summary.
    failed=1
    cat "$format_log"
    echo "check_style: clang-format: $(grep -c . <<<"$format_files") file(s) not formatted" \
        "(fix: clang-format -i FILE):"
    echo "$format_files" | sed 's/^/  /'
fi

# --- 2. naming -------------------------------------------------------------------------------
mapfile -t tidy_sources < <(list 'server/src/*.cpp' 'sdk/core/*.cpp' 'sdk/qt/*.cpp' 'sdk/cli/*.cpp')
# Only the project's own headers are checked (not Qt's, Poco's or generated ones in the build dir);
# -Wno-unknown-warning-option: the compile commands come from GCC, whose flags clang may not know.
tidy_rc=0
printf '%s\0' "${tidy_sources[@]}" |
    xargs -0 -P "$JOBS" -n 1 clang-tidy --quiet -p "$BUILD_DIR" \
        --checks='-*,readability-identifier-naming' --warnings-as-errors='*' \
        --header-filter="^$ROOT/(server|sdk)/" \
        --extra-arg=-Wno-unknown-warning-option >"$tidy_log" 2>&1 || tidy_rc=$?
# One diagnostic per finding; a header seen from several .cpp files is reported once.
findings=$(grep -E '^[^ ]+:[0-9]+:[0-9]+: (error|warning): .*\[readability-identifier-naming' "$tidy_log" |
    sed "s|^$ROOT/||" | sort -u || true)
tidy_errors=$(grep -E ': error: |Error while processing|Compile command not found' "$tidy_log" |
    grep -v 'readability-identifier-naming' | sort -u || true)
if [ -n "$findings" ]; then
    failed=1
    echo "$findings"
    echo "check_style: clang-tidy readability-identifier-naming: $(echo "$findings" | wc -l) finding(s)"
fi
if [ "$tidy_rc" != 0 ] && [ -z "$findings" ] && [ -z "$tidy_errors" ]; then
    failed=1
    cat "$tidy_log"
    echo "check_style: clang-tidy failed (exit $tidy_rc) without a finding: output above"
fi
if [ -n "$tidy_errors" ]; then
    # A file clang-tidy cannot parse is not checked: that is a failure too, not a pass.
    failed=1
    echo "$tidy_errors"
    echo "check_style: clang-tidy could not check every file (errors above)"
fi

if [ "$failed" = 0 ]; then
    echo "check_style: ok (${#sources[@]} files formatted, ${#tidy_sources[@]} files named well)"
fi
exit "$failed"
