#!/usr/bin/env bash
# Memory of a long open-model run (issue 5, item 7): stormwatch sends RATE requests/s for
# SECONDS to nginx on 127.0.0.1 (2-byte body) with full per-request recording, and this
# script samples the client's resident set every 10 s. A load tester that keeps results in
# memory grows with run length; stormwatch streams records to disk and should stay flat.
# Prints each sample, the peak, the growth from the first minute to the end, and the
# achieved rate.
#
# Installs Debian nginx when missing. Usage: benches/load-memory.sh [SECONDS] [RATE]
set -euo pipefail

SECS=${1:-600}
RATE=${2:-5000}
PORT=${PORT:-18081}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap '[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; }

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
build_stormwatch
start_nginx

cat > "$WORK/open.toml" <<TOML
[target]
url = "http://127.0.0.1:$PORT/"
[[flows]]
name = "get"
steps = [{ path = "/" }]
[[phases]]
name = "open"
model = "open"
rate = $RATE
duration = "${SECS}s"
max_in_flight = 256
TOML

taskset -c 0 "$SW" --quiet run "$WORK/open.toml" --out "$WORK/runs" >"$WORK/out" 2>&1 &
PID=$!
first=""
peak=0
last=0
elapsed=0
while kill -0 "$PID" 2>/dev/null; do
  sleep 10
  elapsed=$((elapsed + 10))
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo "")
  [ -z "$rss" ] && break
  echo "t=${elapsed}s rss=$((rss / 1024)) MB"
  [ "$elapsed" -eq 60 ] && first=$rss
  [ "$rss" -gt "$peak" ] && peak=$rss
  last=$rss
done
wait "$PID" || true
requests=$(cat "$WORK"/runs/*/requests/part-*.csv 2>/dev/null | grep -vc '^sequence,' || true)
echo
echo "open phase at $RATE/s for ${SECS}s: $requests requests recorded ($(awk -v n="$requests" -v s="$SECS" 'BEGIN{printf "%.1f", n/s}')/s)"
echo "peak RSS $((peak / 1024)) MB; at 60 s $(( ${first:-0} / 1024 )) MB, at the end $((last / 1024)) MB"
grep 'scheduling lateness' "$WORK/out" || true
