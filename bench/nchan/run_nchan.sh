#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Starts nginx + nchan in the foreground in a private prefix on a loopback port.
# usage: bench/nchan/run_nchan.sh PREFIX_DIR PORT [WORKERS]
# Prints "pid <nginx master pid>" and then "listening on 127.0.0.1:PORT" once it answers /healthz.
# Stop it with: kill -QUIT <pid> (the pid is also in PREFIX_DIR/nginx.pid while it runs).
set -euo pipefail
prefix=$1
port=$2
workers=${3:-auto}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
mkdir -p "$prefix/tmp" "$prefix/logs"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN@|127.0.0.1:$port|g" -e "s|@WORKERS@|$workers|g" \
    -e "s|@NCHAN_MODULE@|$module|g" "$here/nginx.conf.in" >"$prefix/nginx.conf"
nginx -t -q -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log"
ulimit -n 20000 2>/dev/null || true
nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" &
nginx_pid=$!
for _ in $(seq 1 300); do
    if curl -fsS -m 2 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
        echo "pid $nginx_pid"
        echo "listening on 127.0.0.1:$port"
        wait "$nginx_pid"
        exit $?
    fi
    sleep 0.05
done
echo "nginx did not come up; see $prefix/error.log" >&2
kill "$nginx_pid" 2>/dev/null || true
exit 1
