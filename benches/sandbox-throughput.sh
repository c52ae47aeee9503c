#!/usr/bin/env bash
# Sandbox throughput benchmark (not part of the test suite): builds --release, runs the
# sandbox pinned to core 1 with a 0 ms handler and telemetry + ground truth on, drives it from
# core 0 with wrk on 127.0.0.1, and prints requests/s and the sandbox's RSS over time.
# Usage: benches/sandbox-throughput.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
SECS=${1:-20}
CONNS=${2:-64}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
SUDO=(); [ "$(id -u)" -ne 0 ] && SUDO=(sudo)
command -v wrk >/dev/null || { "${SUDO[@]}" apt-get update && "${SUDO[@]}" apt-get install -y wrk; }
cargo build --release --quiet --bin stormwatch
BIN="$CARGO_TARGET_DIR/release/stormwatch"
TMP=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$TMP"' EXIT
cat > "$TMP/bench.toml" <<'TOML'
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
taskset -c 1 "$BIN" sandbox --config "$TMP/bench.toml" --ground-truth "$TMP/truth.jsonl" > "$TMP/out" &
PID=$!
for _ in $(seq 100); do [ -s "$TMP/out" ] && break; sleep 0.05; done
URL=$(sed -E 's/.*"api":"([^"]+)".*/\1/' "$TMP/out")
echo "sandbox at $URL (pid $PID, core 1); wrk on core 0, $CONNS connections, ${SECS}s"
(
  for _ in $(seq "$SECS"); do
    sleep 1
    echo "rss_kib $(awk '/VmRSS/ {print $2}' /proc/$PID/status)"
  done
) &
taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL/prod/zero"
wait %2 2>/dev/null || true
echo "ground-truth lines: $(wc -l < "$TMP/truth.jsonl") (flushed on exit; counted before exit)"
