#!/usr/bin/env bash
# Distributed load on one machine (issue 14's rate benchmark): SHARDS `stormwatch run
# --shard I/N --start-at T` processes sending a total of RATE requests/s (default 4 x 10,000)
# for SECONDS to nginx on 127.0.0.1, merged with `stormwatch merge`. Prints the merged
# run's achieved rate (requests / phase length), the planned count, each shard's count,
# start skew and p99, and the smoothness of the merged per-second arrivals (intended send
# times: min/max requests in a whole second, and the coefficient of variation of the gaps
# between consecutive intended sends). On 2 cores, with nginx pinned to one, the shards
# share the other: if they cannot carry RATE, the achieved rate is the largest that holds.
#
# Installs Debian nginx when missing. Usage: benches/distributed-rate.sh [SECONDS] [RATE] [SHARDS]
set -euo pipefail

SECS=${1:-30}
RATE=${2:-40000}
SHARDS=${3:-4}
PORT=${PORT:-18082}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
install_nginx_wrk
build_stormwatch
start_nginx

cat > "$WORK/open.toml" <<TOML
[target]
url = "http://127.0.0.1:$PORT/"
[[flows]]
name = "get"
steps = [{ path = "/" }]
[[phases]]
name = "steady"
model = "open"
rate = $RATE
duration = "${SECS}s"
TOML

AT=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%S.%3NZ)
for i in $(seq 0 $((SHARDS - 1))); do
  taskset -c 0 "$SW" --quiet run "$WORK/open.toml" --shard "$i/$SHARDS" --start-at "$AT" \
    --max-start-skew 2s --out "$WORK/shards" >"$WORK/shard$i.out" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
"$SW" merge "$WORK/shards" --out "$WORK/merged"
python3 - "$WORK/merged" "$RATE" "$SECS" <<'PY'
import csv, glob, json, sys, statistics
merged, rate, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
m = json.load(open(f"{merged}/manifest.json"))
w = m["phases"][0]["actual"]
times = {"intended_ns": [], "sent_ns": []}
for path in sorted(glob.glob(f"{merged}/requests/part-*.csv")):
    with open(path) as f:
        for row in csv.DictReader(f):
            for k in times:
                times[k].append(int(row[k]))
n = len(times["sent_ns"])
print(f"planned {int(rate * secs)} requests, merged {n} ({n / secs:.0f}/s over {secs:.0f} s, "
      f"{100 * n / (rate * secs):.2f} % of the plan)")
for k, label in [("intended_ns", "intended"), ("sent_ns", "actual")]:
    ts = sorted(times[k])
    per_sec = {}
    for t in ts:
        per_sec[t // 1_000_000_000] = per_sec.get(t // 1_000_000_000, 0) + 1
    whole = sorted(per_sec.items())[1:-1]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    cv = statistics.pstdev(gaps) / statistics.mean(gaps) if gaps else 0
    lateness = sorted(s - i for s, i in zip(times["sent_ns"], times["intended_ns"]))
    print(f"{label} sends per whole second: min {min(c for _, c in whole)}, max {max(c for _, c in whole)}; "
          f"gaps between consecutive sends: coefficient of variation {cv:.3f} (0 = perfectly even)")
print(f"send lateness (actual - intended): p50 {lateness[len(lateness) // 2] / 1e6:.3f} ms, "
      f"p99 {lateness[int(len(lateness) * 0.99)] / 1e6:.3f} ms")
for s in m["distribution"]["shards"]:
    print(f"shard {s['index']}: {s['requests']} requests, {s['errors']} errors, p99 {s['p99_ms']} ms, "
          f"start skew {s['start_skew_ms']:.1f} ms, {s['status']}")
PY
