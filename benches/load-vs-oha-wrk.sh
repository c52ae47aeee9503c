#!/usr/bin/env bash
# Client-side cost of stormwatch's load engine next to oha and wrk (issue 5, item 7).
#
# nginx on 127.0.0.1 returns a 2-byte body, pinned to CPU 1; every client is pinned to
# CPU 0 and runs 10 s with 64 keep-alive connections, for several rounds. Prints
# requests/s and client CPU µs per request (user+sys of the client process / requests)
# side by side. stormwatch runs with full per-request recording (CSV segments,
# histograms, series). Then an open phase at 10,000 req/s checks the rate is held.
#
# Installs Debian nginx and wrk (apt-get) and oha (cargo install) when missing.
# Usage: benches/load-vs-oha-wrk.sh [ROUNDS] [SECONDS]
set -euo pipefail

ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=64
PORT=${PORT:-18080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap '[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
install_nginx_wrk
command -v oha >/dev/null || cargo install oha --locked
build_stormwatch
start_nginx
URL="http://127.0.0.1:$PORT/"
write_closed_scenario

printf '%-6s %-11s %12s %14s\n' round tool 'req/s' 'cpu µs/req'
for r in $(seq 1 "$ROUNDS"); do
  measure wrk -t1 -c$CONNS -d${SECS}s "$URL"
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/out")
  printf '%-6s %-11s %12.0f %14.2f\n' "$r" wrk "$rps" "$(awk -v c="$CPU" -v r="$rps" -v s="$SECS" 'BEGIN{print c*1e6/(r*s)}')"

  measure oha --no-tui --worker-threads 1 -c $CONNS -z ${SECS}s "$URL"
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/out")
  printf '%-6s %-11s %12.0f %14.2f\n' "$r" oha "$rps" "$(awk -v c="$CPU" -v r="$rps" -v s="$SECS" 'BEGIN{print c*1e6/(r*s)}')"

  rm -rf "$WORK/runs"
  measure "$SW" --quiet run "$WORK/closed.toml" --out "$WORK/runs"
  n=$(count_records "$WORK"/runs/*)
  printf '%-6s %-11s %12.0f %14.2f\n' "$r" stormwatch "$(awk -v n="$n" -v s="$SECS" 'BEGIN{print n/s}')" "$(awk -v c="$CPU" -v n="$n" 'BEGIN{print c*1e6/n}')"
done

# An open phase at 10,000 req/s: achieved rate vs plan, scheduling lateness, peak RSS.
RATE=${RATE:-10000}
cat > "$WORK/open.toml" <<TOML
[target]
url = "$URL"
[[flows]]
name = "get"
steps = [{ path = "/" }]
[[phases]]
name = "open"
model = "open"
rate = $RATE
duration = "${SECS}s"
TOML
rm -rf "$WORK/runs"
# GNU time for the peak RSS (Debian package `time`).
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
/usr/bin/time -f '%M' -o "$WORK/rss" taskset -c 0 "$SW" --quiet run "$WORK/open.toml" --out "$WORK/runs" >"$WORK/out" 2>&1
n=$(count_records "$WORK"/runs/*)
echo
echo "open phase at $RATE/s for ${SECS}s: $n requests, achieved $(awk -v n="$n" -v s="$SECS" 'BEGIN{printf "%.1f", n/s}')/s ($(awk -v n="$n" -v s="$SECS" -v r="$RATE" 'BEGIN{printf "%+.2f", (n/s-r)/r*100}') % vs plan)"
grep 'scheduling lateness' "$WORK/out" || true
echo "peak RSS: $(( $(tail -1 "$WORK/rss") / 1024 )) MB"
