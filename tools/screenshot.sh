#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Captures docs/images/player.png: starts the real server (dev mode, temporary store), posts a
# little history, starts the demo under Xvfb (xvfb-run), posts live comments from other users while
# it runs and lets the demo grab its own window (--screenshot, QQuickWindow::grabWindow).
#
#   tools/screenshot.sh [BUILD_DIR]                 -> docs/images/player.png
#   tools/screenshot.sh --measure RATE SECONDS [BUILD_DIR]
#        frame pacing: the demo counts QQuickWindow::frameSwapped (--measure-frames) while a
#        poster loop publishes RATE comments/s; prints the demo's JSON summary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=shot
RATE=0
SECONDS_TO_MEASURE=0
if [ "${1:-}" = "--measure" ]; then
  MODE=measure; RATE=$2; SECONDS_TO_MEASURE=$3; shift 3
fi
BUILD=${1:-$ROOT/build/qt-demo}
SERVER_BIN=${LC_SERVER_BIN:-$BUILD/server/livecomments-server}
DEMO_BIN=${LC_DEMO_BIN:-$BUILD/demo-app/livecomments-demo}
OUT=${LC_SCREENSHOT_OUT:-$ROOT/docs/images/player.png}
for b in "$SERVER_BIN" "$DEMO_BIN"; do
  [ -x "$b" ] || { echo "missing $b (build livecomments-server and livecomments-demo)" >&2; exit 1; }
done

WORK=$(mktemp -d)
SERVER_PID=""
POSTER_PID=""
cleanup() {
  [ -n "$POSTER_PID" ] && kill "$POSTER_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$SERVER_BIN" --listen=127.0.0.1:0 --dev --store="sqlite:$WORK/db.sqlite" --rate-limit=off \
  --stats-ms=1000 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$WORK/server.out" 2>/dev/null && break
  sleep 0.1
done
ADDR=$(sed -n 's/^listening on //p' "$WORK/server.out" | head -1)
[ -n "$ADDR" ] || { echo "server did not start" >&2; cat "$WORK/server.err" >&2; exit 1; }
URL="http://$ADDR"

# The poster: a few "other viewers" with dev tokens, keep-alive HTTP, paced. Writes the video id.
cat >"$WORK/poster.py" <<'PY'
import http.client, json, random, sys, time
host, port = sys.argv[1].split(":")
mode, rate, seconds = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
own_token = sys.argv[5] if len(sys.argv) > 5 else None
conn = http.client.HTTPConnection(host, int(port), timeout=10)
def req(method, path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, json.dumps(body), headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else {})
names = ["mika", "jonas", "ana", "li wei", "sam", "priya", "tomás", "yuki"]
# mika streams the video, ana moderates it (badges in the chat), the others watch.
roles = {0: "streamer", 2: "moderator"}
tokens = [req("POST", "/auth/dev-token", {"user_id": str(100 + i), "name": n,
                                          "role": roles.get(i, "viewer")})[1]["token"]
          for i, n in enumerate(names)]
if mode == "setup":
    st, video = req("POST", "/videos", {"title": "Rocket launch — live from the pad"}, tokens[0])
    vid = video["id"]
    history = ["Who else is here early?", "Greetings from Lisbon!", "T-minus how long?",
               "The weather looks perfect today", "first time watching one of these live",
               "is the audio just me or is it quiet", "the pad camera is so crisp"]
    for i, t in enumerate(history):
        req("POST", "/videos/%d/comments" % vid, {"text": t}, tokens[i % len(tokens)])
    print(vid)
    sys.exit(0)
vid = int(mode)
lines = ["GO GO GO", "that ignition!!", "Engines look nominal", "Chat is moving fast today",
         "hello from São Paulo", "this is history", "look at that plume", "LFG", "so smooth",
         "Max Q soon", "my kids are watching too", "goosebumps", "incredible view from the pad cam",
         "what a moment", "the sound is unreal", "booster separation next"]
period = 1.0 / rate if rate > 0 else 1.0
start = time.time(); n = 0
while time.time() - start < seconds:
    t = lines[n % len(lines)] if rate <= 20 else "%s #%d" % (lines[n % len(lines)], n)
    if own_token and n == 22:   # the player's own user says hi (own-comment highlight)
        req("POST", "/videos/%d/comments" % vid, {"text": "Hi all, watching from Berlin!"}, own_token)
    req("POST", "/videos/%d/comments" % vid, {"text": t}, tokens[n % len(tokens)])
    n += 1
    delay = start + n * period - time.time()
    if delay > 0:
        time.sleep(delay)
print("posted %d in %.1fs" % (n, time.time() - start), file=sys.stderr)
PY
VIDEO=$(python3 "$WORK/poster.py" "$ADDR" setup 0 0)
TOKEN=$(python3 - "$ADDR" <<'PY'
import http.client, json, sys
h, p = sys.argv[1].split(":")
c = http.client.HTTPConnection(h, int(p))
c.request("POST", "/auth/dev-token", json.dumps({"user_id": "42", "name": "you", "role": "viewer"}),
          {"Content-Type": "application/json"})
print(json.loads(c.getresponse().read())["token"])
PY
)

if [ "$MODE" = shot ]; then
  python3 "$WORK/poster.py" "$ADDR" "$VIDEO" 4 12 "$TOKEN" &
  POSTER_PID=$!
  # Default render backend (OpenGL on Mesa llvmpipe under Xvfb), as a player would use.
  xvfb-run -a -s "-screen 0 1280x720x24" "$DEMO_BIN" --server="$URL" --video="$VIDEO" \
    --token="$TOKEN" --size=1280x720 --screenshot="$OUT" --screenshot-delay=7000 ${LC_DEMO_ARGS:-}
  echo "wrote $OUT"
else
  python3 "$WORK/poster.py" "$ADDR" "$VIDEO" "$RATE" $((SECONDS_TO_MEASURE + 4)) &
  POSTER_PID=$!
  xvfb-run -a -s "-screen 0 1280x720x24" "$DEMO_BIN" --server="$URL" --video="$VIDEO" \
    --token="$TOKEN" --size=1280x720 --measure-frames="$SECONDS_TO_MEASURE"
fi
