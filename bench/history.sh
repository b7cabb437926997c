#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# History-page benchmark: p99 of GET /videos/{id}/comments?before=<cursor>&limit=50 with
# 1,000,000 comments stored for one video.
#
# usage: bench/history.sh
# env:   LC_SERVER_BIN, LC_BENCH_BIN (defaults under build/dev), COMMENTS (1000000),
#        READERS (4 closed-loop connections), DURATION (5), OUT (bench/results/<date>)
# The store is filled directly with the sqlite3 CLI using the server's own schema: the server
# creates the schema and the video, is stopped, rows are generated with snowflake ids
# ((ms since 2024-01-01) << 22 | node 1 << 12), and the server is started again on that file.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_bin=${LC_SERVER_BIN:-$root/build/dev/server/livecomments-server}
bench_bin=${LC_BENCH_BIN:-$root/build/dev/bench/livecomments-bench}
comments=${COMMENTS:-1000000}
readers=${READERS:-4}
duration=${DURATION:-5}
out=${OUT:-$root/bench/results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
work=$(mktemp -d /tmp/lc-history.XXXXXX)
secret=history-secret-$RANDOM
server_pid=""
cleanup() {
    if [[ -n $server_pid ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

start() {
    "$server_bin" --listen=127.0.0.1:0 --store=sqlite:"$work/h.db" --jwt-secret="$secret" \
        --rate-limit=off >"$work/out" 2>"$work/err" &
    server_pid=$!
    for _ in $(seq 1 200); do
        grep -q '^listening on ' "$work/out" && break
        sleep 0.05
    done
    url="http://$(grep -m1 '^listening on ' "$work/out" | sed 's/^listening on //')"
}
stop() {
    kill -TERM "$server_pid"
    timeout 30 tail --pid="$server_pid" -f /dev/null || kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

start
token=$("$server_bin" token --user=1 --name=history --role=streamer --jwt-secret="$secret")
video=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"title":"history bench"}' "$url/videos" | jq -r .id)
stop

epoch_2024=1704067200000
now_ms=$(($(date +%s%3N)))
base=$((now_ms - epoch_2024 - comments - 1000)) # one comment per ms, ending a second ago
t_fill=$(date +%s.%N)
sqlite3 "$work/h.db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
PRAGMA synchronous=OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $comments)
INSERT INTO comments (id, video_id, user_id, user_name, text, created_at)
SELECT ((($base + i) << 22) | (1 << 12)), $video, CAST(i % 5000 AS TEXT), 'viewer' || (i % 5000),
       'history comment ' || i || ' lorem ipsum dolor sit amet', $epoch_2024 + $base + i FROM n;
UPDATE videos SET comment_count = $comments WHERE id = $video;
COMMIT;
SQL
fill_s=$(echo "$(date +%s.%N) - $t_fill" | bc)
echo "filled $comments comments in ${fill_s}s ($(du -h "$work/h.db" | cut -f1))"
start
cursor_min=$(((base + 51) << 22))
cursor_max=$(((base + comments) << 22))
"$bench_bin" --mode=history --url="$url" --video-ids="$video" --cursor-min=$cursor_min \
    --cursor-max=$cursor_max --publishers="$readers" --rate=0 --duration="$duration" --warmup=1 \
    --pid="$server_pid" --label="history-$comments" --json="$out/livecomments-history.json" | tee "$out/history.txt"
