#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the same SSE fan-out scenarios against livecomments-server and nginx + nchan, one target
# after the other, and writes markdown tables + a PNG plot for docs/performance.md.
#
# usage: bench/compare.sh [--quick|--acceptance] [--only=livecomments|nchan] [--report=RESULTS_DIR]
#        (--report only rebuilds the tables and the plot from an earlier run's JSON files;
#        --acceptance runs only the two runs the latency targets name, 10 videos x 1,000 viewers
#        at 30 comments/s ("moderate") and at 1,000 comments/s ("saturation"), per target;
#        RATES_MULTI=1000 with it runs only the saturation one, e.g. for A/B alternation)
# env:   LC_SERVER_BIN  (default build/dev/server/livecomments-server)
#        LC_BENCH_BIN   (default build/dev/bench/livecomments-bench)
#        OUT            (default bench/results/<UTC date-time>)
#        STORE_DIR      where livecomments-server's SQLite file goes (default a /tmp dir; e.g.
#                       /dev/shm takes the disk's fsync latency out of the comparison)
#        RATES_MULTI    comments/s over 10 videos x 1,000 viewers (default "10 20 50 100 200 300")
#        RATES_HOT      comments/s into 1 video x 10,000 viewers (default "5 10 20 30")
#        LC_SERVER_ARGS extra livecomments-server options (e.g. "--viewer-rate-cap=off"); the
#                       default is the server's defaults plus --rate-limit=off
#        DURATION WARMUP  seconds per measured run (default 4 and 1)
#        SUB_LOOPS      the load tool's subscriber epoll threads (default 1)
#        PUBLISHERS_LC PUBLISHERS_NCHAN  publisher connections (default 8 and 32: livecomments-server
#                       acknowledges a publish after its group commit, before the fan-out, and
#                       nchan only after its fan-out, so nchan needs more in flight)
# Everything runs on loopback, every run is bounded by `timeout`, servers are stopped on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_bin=${LC_SERVER_BIN:-$root/build/dev/server/livecomments-server}
bench_bin=${LC_BENCH_BIN:-$root/build/dev/bench/livecomments-bench}
out=${OUT:-$root/bench/results/$(date -u +%Y%m%d-%H%M%S)}
rates_multi=${RATES_MULTI:-"10 20 50 100 200 300"}
rates_hot=${RATES_HOT:-"5 10 20 30"}
duration=${DURATION:-4}
warmup=${WARMUP:-1}
idle_streams=${IDLE_STREAMS:-15000}
only=""
report_only=""
acceptance=""
for arg in "$@"; do
    case $arg in
    --quick)
        rates_multi="10 100"
        rates_hot="10"
        duration=2
        idle_streams=3000
        ;;
    --acceptance)
        acceptance=1
        rates_multi=${RATES_MULTI:-"30 1000"}
        rates_hot=""
        ;;
    --only=*) only=${arg#--only=} ;;
    --report=*) report_only=${arg#--report=} ;;
    *)
        echo "usage: $0 [--quick|--acceptance] [--only=livecomments|nchan] [--report=DIR]" >&2
        exit 2
        ;;
    esac
done

[[ -n $report_only ]] && out=$report_only
[[ -n $report_only || -x $bench_bin ]] || { echo "no bench binary at $bench_bin (set LC_BENCH_BIN)" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d /tmp/lc-compare.XXXXXX)
store_dir=$(mktemp -d "${STORE_DIR:-/tmp}/lc-compare-store.XXXXXX")
server_pid=""

stop_server() {
    if [[ -n $server_pid ]]; then
        # nginx workers are the master's children: if the master has to be killed, kill them too.
        local children
        children=$(pgrep -P "$server_pid" || true)
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 200); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" $children 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
nginx_masters=() # every nginx master this script started, stopped again on exit
cleanup() {
    stop_server
    local m
    for m in "${nginx_masters[@]}"; do
        kill -KILL $(pgrep -P "$m" || true) "$m" 2>/dev/null || true
    done
    rm -rf "$work" "$store_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Sets server_pid, url, token (may be empty) and bench_pids for the target named $1.
start_server() {
    local target=$1
    if [[ $target == livecomments ]]; then
        [[ -x $server_bin ]] || { echo "no server binary at $server_bin (set LC_SERVER_BIN)" >&2; return 1; }
        local secret=bench-secret-$RANDOM$RANDOM
        rm -f "$store_dir"/lc.db*
        "$server_bin" --listen=127.0.0.1:0 --store=sqlite:"$store_dir/lc.db" --jwt-secret="$secret" \
            --rate-limit=off ${LC_SERVER_ARGS:-} >"$work/server.out" 2>"$work/server.err" &
        server_pid=$!
        local line=""
        for _ in $(seq 1 200); do
            line=$(grep -m1 '^listening on ' "$work/server.out" 2>/dev/null || true)
            [[ -n $line ]] && break
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.05
        done
        [[ -n $line ]] || { echo "server did not start:" >&2; cat "$work/server.err" >&2; return 1; }
        url="http://${line#listening on }"
        token=$("$server_bin" token --user=1 --name=bench --role=streamer --ttl=86400 --jwt-secret="$secret")
        # Comments are posted by a viewer: a streamer's comments are never shaped
        # (--viewer-rate-cap), and an audience's are what makes a video hot.
        post_token=$("$server_bin" token --user=2 --name=audience --role=viewer --ttl=86400 --jwt-secret="$secret")
        bench_pids=$server_pid
    else
        local port prefix attempt wrapper
        for attempt in 1 2 3; do
            port=$(free_port)
            # A new prefix per start: an nginx still exiting removes its own pid file on the way out.
            nginx_starts=$((${nginx_starts:-0} + 1))
            prefix="$work/nginx-$nginx_starts"
            # Each start writes to its own file: a wrapper of an earlier nginx may still be running.
            nginx_out="$work/nginx-$nginx_starts.out"
            "$root/bench/nchan/run_nchan.sh" "$prefix" "$port" "$(nproc)" >"$nginx_out" 2>&1 &
            wrapper=$!
            for _ in $(seq 1 400); do
                grep -q '^listening on' "$nginx_out" 2>/dev/null && break
                kill -0 "$wrapper" 2>/dev/null || break
                sleep 0.05
            done
            grep -q '^listening on' "$nginx_out" && break
            echo "nginx did not start (attempt $attempt):" | tee -a "$out/log.txt" >&2
            tee -a "$out/log.txt" <"$nginx_out" >&2
            # Stop whatever this attempt started: nginx (the wrapper's child), its workers, the wrapper.
            local kid
            for kid in $(pgrep -P "$wrapper" || true); do
                kill -KILL $(pgrep -P "$kid" || true) "$kid" 2>/dev/null || true
            done
            kill "$wrapper" 2>/dev/null || true
            wait "$wrapper" 2>/dev/null || true
            [[ $attempt == 3 ]] && return 1
        done
        url="http://127.0.0.1:$port"
        token=""
        post_token=""
        # The bench includes the master's workers through --pid (children are followed).
        bench_pids=$(sed -n 's/^pid //p' "$nginx_out")
        nginx_masters+=("$bench_pids")
        # run_nchan.sh waits on nginx; stop nginx itself (by its pid file) when done.
        server_pid=$bench_pids
    fi
}

# run TARGET SCENARIO RATE VIDEOS SUBSCRIBERS [extra bench args...]
run() {
    local target=$1 scenario=$2 rate=$3 videos=$4 subs=$5
    shift 5
    local json="$out/$target-$scenario-$rate.json"
    local pubs=${PUBLISHERS_LC:-8}
    [[ $target == nchan ]] && pubs=${PUBLISHERS_NCHAN:-32}
    local args=(--quiet --publishers="$pubs" --target="$target" --url="$url" --videos="$videos" --subscribers="$subs"
        --rate="$rate" --duration="$duration" --warmup="$warmup" --pid="$bench_pids"
        --sources=32 --loops="${SUB_LOOPS:-1}" --label="$scenario" --json="$json" "$@")
    [[ -n $token ]] && args+=(--token="$token")
    [[ -n $post_token ]] && args+=(--post-token="$post_token")
    echo "== $target $scenario rate=$rate videos=$videos subscribers=$subs" | tee -a "$out/log.txt"
    timeout 180 "$bench_bin" "${args[@]}" 2>&1 | tee -a "$out/log.txt" || true
}

targets=(livecomments nchan)
[[ -n $only ]] && targets=("$only")
[[ -n $report_only ]] || echo "$(date -u '+%Y-%m-%d %H:%M UTC'): load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs" >>"$out/log.txt"
# Every run gets a freshly started server, so a backlog or memory growth left by one run cannot
# leak into the next (nchan in particular keeps queued messages in shared memory).
fresh_run() {
    local target=$1
    shift
    stop_server
    if ! start_server "$target"; then
        echo "skipping $target $*: server did not start" | tee -a "$out/log.txt"
        return 0
    fi
    run "$target" "$@"
    stop_server
}
for target in "${targets[@]}"; do
    [[ -n $report_only ]] && break
    [[ -n $acceptance ]] || fresh_run "$target" idle 0 10 "$idle_streams" --duration=2 --warmup=0 --settle=2 --connect-timeout=90
    for rate in $rates_multi; do
        fresh_run "$target" multi "$rate" 10 10000
    done
    for rate in $rates_hot; do
        fresh_run "$target" hot "$rate" 1 10000
    done
    [[ -n $acceptance ]] || fresh_run "$target" ack 1000 10 100
done

# ---- tables ------------------------------------------------------------------------------
md="$out/results.md"
# The result files of one target and scenario, by ascending publish rate.
by_rate() {
    for j in "$out/$1-$2-"*.json; do
        [[ -f $j ]] && echo "$(basename "$j" .json | awk -F- '{print $NF}') $j"
    done | sort -n | cut -d' ' -f2-
}
f() { jq -r "$1" "$2" 2>/dev/null || echo "-"; }
{
    stamp=$(grep -m1 'load average' "$out/log.txt" 2>/dev/null || date -u '+%Y-%m-%d %H:%M UTC')
    echo "Run: $stamp; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)."
    echo
    echo "### Idle streams (memory)"
    echo
    echo "| target | streams open | server RSS empty | server RSS with streams | RSS per stream |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for target in "${targets[@]}"; do
        j="$out/$target-idle-0.json"
        [[ -f $j ]] || continue
        echo "| $target | $(f .subscribers.connected "$j") | $(f '(.server.rss_kb_baseline/1024*10|round/10|tostring) + " MB"' "$j") | $(f '(.server.rss_kb_connected/1024*10|round/10|tostring) + " MB"' "$j") | $(f '(.server.rss_bytes_per_stream|round|tostring) + " B"' "$j") |"
    done
    for scenario in multi hot ack; do
        echo
        case $scenario in
        multi) echo "### 10 videos x 1,000 viewers, rising publish rate" ;;
        hot) echo "### One hot video with 10,000 viewers" ;;
        ack) echo "### Publish-ack latency at 1,000 comments/s (10 videos x 10 viewers)" ;;
        esac
        echo
        echo "| target | streams | comments/s target | achieved | offered deliveries/s | sustained deliveries/s | lost | shed | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | ack p50 ms | ack p99 ms | server CPU % | CPU µs/delivery | server run-queue s |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for target in "${targets[@]}"; do
            for j in $(by_rate "$target" "$scenario"); do
                jq -r --arg t "$target" '"| \($t) | \(.subscribers.connected) | \(.rate_target|round) | \(.publish_rate*10|round/10) | \(.offered_per_s|round) | \(.deliveries_per_s|round) | \(.lost) | \(.shed // 0) | \(.latency_ms.p50) | \(.latency_ms.p90) | \(.latency_ms.p99) | \(.latency_ms.p999) | \(.latency_ms.max) | \(.ack_latency_ms.p50) | \(.ack_latency_ms.p99) | \(.server.cpu_pct) | \(.server.cpu_us_per_delivery) | \(.server.run_queue_s // "-") |"' "$j"
            done
        done
    done
} >"$md"
cat "$md"

# ---- plot ---------------------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
    plot_cmds=()
    for scenario in multi hot; do
        for target in "${targets[@]}"; do
            dat="$out/$target-$scenario.dat"
            : >"$dat"
            for j in $(by_rate "$target" "$scenario"); do
                jq -r '"\(.rate_target) \(.deliveries_per_s) \(.latency_ms.p99)"' "$j" >>"$dat"
            done
        done
    done
    gnuplot <<GP || echo "gnuplot failed" >&2
set terminal pngcairo size 1100,800 font "sans,10"
set output "$out/throughput.png"
set multiplot layout 2,2 title "livecomments-server vs nginx+nchan ($(date -u '+%Y-%m-%d'), $(nproc) cores, load client on the same machine)"
set grid
set key left top
set xlabel "offered comments/s (target publish rate)"
set title "10 videos x 1,000 viewers: deliveries/s"
set ylabel "deliveries/s"
plot for [t in "${targets[*]}"] "$out/".t."-multi.dat" using 1:2 with linespoints title t
set title "10 videos x 1,000 viewers: delivery p99"
set ylabel "p99 latency (ms)"
set logscale y
plot for [t in "${targets[*]}"] "$out/".t."-multi.dat" using 1:3 with linespoints title t
unset logscale y
set title "1 video x 10,000 viewers: deliveries/s"
set ylabel "deliveries/s"
plot for [t in "${targets[*]}"] "$out/".t."-hot.dat" using 1:2 with linespoints title t
set title "1 video x 10,000 viewers: delivery p99"
set ylabel "p99 latency (ms)"
set logscale y
plot for [t in "${targets[*]}"] "$out/".t."-hot.dat" using 1:3 with linespoints title t
unset multiplot
GP
    echo "plot: $out/throughput.png"
fi
echo "results: $out"
