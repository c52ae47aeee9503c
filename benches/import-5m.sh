#!/usr/bin/env bash
# Importing large results (issue 15's benchmark): generates a LINES-line JMeter JTL CSV
# (default 5,000,000) and a k6 NDJSON with as many http_req_duration points (plus k6's other
# metric lines in between, as k6 writes them), then times `stormwatch import` of each and
# reads its peak resident memory (GNU time). Targets: <= 30 s and <= 1 GB per file. A third
# file, a JTL with an x-amzn-RequestId column, measures requests that carry a request id.
#
# Usage: benches/import-5m.sh [LINES]
set -euo pipefail

LINES=${1:-5000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

echo "building stormwatch (release)..." >&2
(cd "$ROOT" && cargo build --release --quiet --bin stormwatch)
SW=${CARGO_TARGET_DIR:-$ROOT/target}/release/stormwatch

python3 - "$WORK" "$LINES" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
t0 = 1768471200000
with open(f"{work}/big.jtl", "w") as f:
    f.write("timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,"
            "failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect\n")
    for i in range(n):
        ok = i % 97 != 0
        f.write(f"{t0 + i // 5},{20 + i % 40},GET /items,{200 if ok else 503},{'OK' if ok else 'Service Unavailable'},"
                f"Load 1-{i % 50 + 1},text,{'true' if ok else 'false'},,512,120,50,50,"
                f"http://127.0.0.1:8080/prod/items,{15 + i % 30},0,1\n")
# The same with a request-id column (JMeter sample_variables=x-amzn-RequestId): every
# request then also holds its id.
with open(f"{work}/big-ids.jtl", "w") as f:
    f.write("timeStamp,elapsed,label,responseCode,success,threadName,bytes,x-amzn-RequestId\n")
    for i in range(n):
        ok = i % 97 != 0
        f.write(f"{t0 + i // 5},{20 + i % 40},GET /items,{200 if ok else 503},{'true' if ok else 'false'},"
                f"Load 1-{i % 50 + 1},512,{i:08x}-{i % 65536:04x}-4abc-8def-{i * 7919 % 10**12:012d}\n")
with open(f"{work}/big.ndjson", "w") as f:
    f.write('{"type":"Metric","data":{"type":"trend","contains":"time","thresholds":[],"submetrics":null},"metric":"http_req_duration"}\n')
    for i in range(n):
        ms = t0 + i // 5
        secs, frac = divmod(ms, 1000)
        import datetime
        if i % 5000 == 0:
            stamp = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        status = "200" if i % 97 else "503"
        tags = ('{"expected_response":"true","group":"","method":"GET","name":"http://127.0.0.1:8080/prod/items",'
                f'"proto":"HTTP/1.1","scenario":"default","status":"{status}","url":"http://127.0.0.1:8080/prod/items"}}')
        f.write(f'{{"metric":"http_reqs","type":"Point","data":{{"time":"{stamp}.{frac:03d}000000Z","value":1,"tags":{tags}}}}}\n')
        f.write(f'{{"metric":"http_req_duration","type":"Point","data":{{"time":"{stamp}.{frac:03d}000000Z",'
                f'"value":{20 + i % 40}.5,"tags":{tags},"metadata":{{"vu":"{i % 50 + 1}","iter":"{i}"}}}}}}\n')
PY
ls -la "$WORK"/big.* | awk '{print $5, $9}'

for fmt in jmeter:big.jtl jmeter:big-ids.jtl k6:big.ndjson; do
  tool=${fmt%%:*}; file=${fmt#*:}
  /usr/bin/time -f "%e s elapsed, %M KB peak resident" -o "$WORK/time" \
    "$SW" import "$tool" "$WORK/$file" --out "$WORK/runs" >/dev/null 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }
  echo "$tool $file ($LINES requests): $(cat "$WORK/time" | tail -1) (targets: <= 30 s, <= 1,048,576 KB)"
done
