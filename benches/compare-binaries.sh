#!/usr/bin/env bash
# Before/after check for a refactoring: two stormwatch release binaries, measured in
# alternating rounds under the same conditions, on the two figures a restructuring could
# regress.
#   - load engine: client CPU µs per request (user+sys / requests recorded), closed model,
#     64 connections against nginx on 127.0.0.1 pinned to CPU 1, client pinned to CPU 0;
#     wrk in the same round as the yardstick;
#   - sandbox: requests/s on CPU 1 with telemetry and ground truth on, wrk on CPU 0.
# Prints one line per round and tool, then the medians.
#
# Usage: benches/compare-binaries.sh OLD_BIN NEW_BIN [ROUNDS] [SECONDS]
# (build each with `cargo build --release --bin stormwatch` at the two commits).
# Installs Debian nginx and wrk when missing.
set -euo pipefail

OLD=${1:?usage: compare-binaries.sh OLD_BIN NEW_BIN [ROUNDS] [SECONDS]}
NEW=${2:?usage: compare-binaries.sh OLD_BIN NEW_BIN [ROUNDS] [SECONDS]}
ROUNDS=${3:-5}
SECS=${4:-10}
CONNS=64
PORT=${PORT:-18080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap '[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
install_nginx_wrk
start_nginx
URL="http://127.0.0.1:$PORT/"
write_closed_scenario

cat > "$WORK/sandbox.toml" <<'TOML'
[api]
kind = "rest"
[functions.zero]
init = "fixed 0ms"
idle_timeout = "10m"
[[routes]]
route = "GET /prod/zero"
function = "zero"
handler = "fixed 0ms"
TOML

load_cpu() { # binary -> µs per request
  rm -rf "$WORK/runs"
  measure "$1" --quiet run "$WORK/closed.toml" --out "$WORK/runs"
  local n
  n=$(count_records "$WORK"/runs/*)
  awk -v c="$CPU" -v n="$n" 'BEGIN{printf "%.2f", c*1e6/n}'
}

sandbox_rps() { # binary -> requests/s
  local out="$WORK/sandbox.out" pid url
  : > "$out"
  taskset -c 1 "$1" sandbox --config "$WORK/sandbox.toml" --ground-truth "$WORK/truth.jsonl" > "$out" &
  pid=$!
  for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
  url=$(sed -E 's/.*"api":"([^"]+)".*/\1/' "$out")
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" "$url/prod/zero" | awk '/Requests\/sec/ {printf "%.0f", $2}'
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

printf '%-6s %-8s %16s %16s\n' round binary 'load µs/req' 'sandbox req/s'
: > "$WORK/results"
for r in $(seq 1 "$ROUNDS"); do
  measure wrk -t1 -c$CONNS -d${SECS}s "$URL"
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/out")
  printf '%-6s %-8s %16.2f %16s\n' "$r" wrk "$(awk -v c="$CPU" -v r="$rps" -v s="$SECS" 'BEGIN{print c*1e6/(r*s)}')" -
  # Alternate which binary goes first so drift does not favour one.
  if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
  for which in $order; do
    bin=$OLD; [ "$which" = new ] && bin=$NEW
    cpu=$(load_cpu "$bin")
    rps=$(sandbox_rps "$bin")
    printf '%-6s %-8s %16s %16s\n' "$r" "$which" "$cpu" "$rps"
    echo "$which $cpu $rps" >> "$WORK/results"
  done
done

median() { sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo
for which in old new; do
  cpu=$(awk -v w="$which" '$1==w {print $2}' "$WORK/results" | median)
  rps=$(awk -v w="$which" '$1==w {print $3}' "$WORK/results" | median)
  echo "median $which: load $cpu µs/request, sandbox $rps req/s"
done
