"""Cross-check of the sandbox's AWS APIs against an independent implementation, moto.

Starts ``moto_server`` and ``stormwatch sandbox`` on 127.0.0.1, then through boto3 (which
speaks awsJson1_0 to CloudWatch and restJson1 to X-Ray):

* CloudWatch: puts the same metric data (``Value``, ``Values`` + ``Counts``,
  ``StatisticValues``) into both and compares ``GetMetricData`` Sum, Average, Minimum,
  Maximum and SampleCount for 60 s periods with a period-aligned StartTime, against each
  other and against the values computed here from what was put; compares ``ListMetrics``
  with dimension filters. Percentiles are checked on the sandbox against the nearest-rank
  value computed here; moto is known to answer percentile statistics wrongly (a 500, or no
  values), which is printed as KNOWN-MOTO-DIFFERENCE, never skipped silently.
* X-Ray: ``scripts/moto_crosscheck_xray.check`` (BatchGetTraces compared; GetTraceSummaries
  differences reported as KNOWN-MOTO-DIFFERENCE).

Usage (normally through ``scripts/moto-crosscheck``, which makes the venv and builds the
binary): ``python scripts/moto_crosscheck.py --stormwatch target/debug/stormwatch``.
Exits 1 on any mismatch that is not a known moto difference.
"""

import argparse
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_crosscheck_xray  # noqa: E402

REGION = "us-east-1"
NAMESPACE = "Stormwatch/CrossCheck"
PERIOD = 60
STATS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")

# The sandbox's store keeps one resolution; 60 s matches CloudWatch's standard resolution.
SANDBOX_CONFIG = """\
[api]
kind = "rest"
name = "crosscheck"
stage = "prod"

[telemetry]
resolution = "60s"

[functions.items]

[[routes]]
route = "GET /prod/items/{id}"
function = "items"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, what, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("%s did not come up at %s within %.0f s" % (what, url, timeout))


def start_moto(venv_bin):
    port = free_port()
    exe = os.path.join(venv_bin, "moto_server") if venv_bin else "moto_server"
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = "http://127.0.0.1:%d" % port
    wait_http(url + "/moto-api/", "moto_server")
    return proc, url


def start_sandbox(stormwatch, workdir):
    cfg = os.path.join(workdir, "sandbox.toml")
    with open(cfg, "w") as f:
        f.write(SANDBOX_CONFIG)
    proc = subprocess.Popen(
        [stormwatch, "sandbox", "--config", cfg, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the sandbox printed no URL line (exit %s)" % proc.wait())
    urls = json.loads(line)
    # Every AWS API shares the application's port; older builds printed only "api".
    for api in ("cloudwatch", "xray"):
        urls.setdefault(api, urls["api"])
    return proc, urls


def cw_client(url):
    return boto3.client(
        "cloudwatch",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="AKIDCROSSCHECK",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 4, "mode": "standard"}),
    )


def fixture(now):
    """Metric data, ten minutes ago onwards, on 60-s boundaries; a fresh Run dimension so
    servers that outlive one run do not mix runs. Returns (run, base, metric_data,
    expected) where expected[metric][period start] is the list of raw values (None when the
    period holds a StatisticValues set) and stats[metric][period start] the aggregates."""
    run = "%012x" % random.getrandbits(48)
    base = int(now) // PERIOD * PERIOD - 10 * PERIOD
    rng = random.Random(7)
    dims = [{"Name": "Run", "Value": run}, {"Name": "FunctionName", "Value": "checkout"}]
    data, raw = [], {}

    def add(metric, t, values, unit):
        raw.setdefault(metric, {}).setdefault(t // PERIOD * PERIOD, []).extend(values)

    for minute in range(5):
        for k in range(7):
            t = base + minute * PERIOD + k * 8 + 1
            v = round(rng.uniform(5, 400), 3)
            data.append({"MetricName": "Latency", "Dimensions": dims, "Timestamp": t,
                         "Value": v, "Unit": "Milliseconds"})
            add("Latency", t, [v], "Milliseconds")
        # Values + Counts: a small distribution per minute.
        t = base + minute * PERIOD + 30
        values = [10.0 + minute, 20.5, 99.25]
        counts = [3.0, 1.0, 2.0]
        data.append({"MetricName": "Latency", "Dimensions": dims, "Timestamp": t,
                     "Values": values, "Counts": counts, "Unit": "Milliseconds"})
        add("Latency", t, [v for v, c in zip(values, counts) for _ in range(int(c))], "Milliseconds")
        # Integer counts, one datum per 20 s.
        for k in range(3):
            t = base + minute * PERIOD + k * 20
            n = float(rng.randint(0, 50))
            data.append({"MetricName": "Requests", "Dimensions": dims, "Timestamp": t,
                         "Value": n, "Unit": "Count"})
            add("Requests", t, [n], "Count")
    stats_sets = {}
    for minute in (1, 3):
        t = base + minute * PERIOD + 5
        s = {"SampleCount": 4.0, "Sum": 100.0, "Minimum": 10.0, "Maximum": 40.0}
        data.append({"MetricName": "Batch", "Dimensions": dims, "Timestamp": t,
                     "StatisticValues": s, "Unit": "Count"})
        stats_sets[t // PERIOD * PERIOD] = s

    expected = {}
    for metric, periods in raw.items():
        expected[metric] = {
            t: {"Sum": sum(v), "Average": sum(v) / len(v), "Minimum": min(v),
                "Maximum": max(v), "SampleCount": float(len(v))}
            for t, v in periods.items()
        }
    expected["Batch"] = {
        t: {"Sum": s["Sum"], "Average": s["Sum"] / s["SampleCount"], "Minimum": s["Minimum"],
            "Maximum": s["Maximum"], "SampleCount": s["SampleCount"]}
        for t, s in stats_sets.items()
    }
    return run, base, dims, data, expected, raw


def put(cw, data):
    for i in range(0, len(data), 20):
        cw.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + 20])


def query(metric, dims, stat, qid):
    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
        "Period": PERIOD, "Stat": stat}}


def get_metric_data(cw, queries, start, end):
    """{id: {timestamp seconds: value}}, following NextToken."""
    out, token = {}, None
    for _ in range(100):
        kwargs = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end,
                  "ScanBy": "TimestampAscending"}
        if token:
            kwargs["NextToken"] = token
        page = cw.get_metric_data(**kwargs)
        for r in page["MetricDataResults"]:
            series = out.setdefault(r["Id"], {})
            for ts, v in zip(r["Timestamps"], r["Values"]):
                series[int(ts.timestamp())] = v
        token = page.get("NextToken")
        if not token:
            break
    return out


def close(a, b):
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def nearest_rank(values, p):
    s = sorted(values)
    return s[max(1, math.ceil(p / 100.0 * len(s))) - 1]


def list_metrics(cw, **kwargs):
    names, token = set(), None
    for _ in range(100):
        if token:
            kwargs["NextToken"] = token
        page = cw.list_metrics(**kwargs)
        for m in page["Metrics"]:
            dims = tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", [])))
            names.add((m["Namespace"], m["MetricName"], dims))
        token = page.get("NextToken")
        if not token:
            break
    return names


def check_cloudwatch(sandbox_url, moto_url, log=print):
    failures = []
    now = time.time()
    run, base, dims, data, expected, raw = fixture(now)
    start, end = base, base + 10 * PERIOD
    queries, ids = [], {}
    for metric in ("Latency", "Requests", "Batch"):
        for stat in STATS:
            qid = "%s_%s" % (metric.lower(), stat.lower())
            ids[qid] = (metric, stat)
            queries.append(query(metric, dims, stat, qid))
    results = {}
    for name, url in (("sandbox", sandbox_url), ("moto", moto_url)):
        cw = cw_client(url)
        try:
            put(cw, data)
            results[name] = get_metric_data(cw, queries, start, end)
        except Exception as e:  # noqa: BLE001 - reported as a failure with the server's name
            failures.append("CloudWatch %s: %s: %s" % (name, type(e).__name__, e))
            results[name] = {}
    compared = agreed = 0
    for qid, (metric, stat) in ids.items():
        want = {t: s[stat] for t, s in expected[metric].items()}
        sb, mo = results["sandbox"].get(qid, {}), results["moto"].get(qid, {})
        compared += 1
        ok_sb = set(sb) == set(want) and all(close(sb[t], want[t]) for t in want)
        ok_mo = set(mo) == set(want) and all(close(mo[t], want[t]) for t in want)
        same = set(sb) == set(mo) and all(close(sb[t], mo[t]) for t in sb)
        if ok_sb and same:
            agreed += 1
            continue
        if not ok_sb:
            failures.append("GetMetricData %s %s: sandbox %s, expected %s" % (metric, stat, sorted(sb.items()), sorted(want.items())))
        if not same:
            failures.append("GetMetricData %s %s: sandbox %s, moto %s" % (metric, stat, sorted(sb.items()), sorted(mo.items())))
        if not ok_mo:
            log("note: moto's %s %s differs from the values put: %s vs %s" % (metric, stat, sorted(mo.items()), sorted(want.items())))
    log("GetMetricData: %d/%d (metric, statistic) series agree between sandbox, moto and the values put"
        % (agreed, compared))

    # Percentiles: the sandbox against nearest-rank over the values put; moto reported.
    pq = [query("Latency", dims, p, "lat_" + p.replace(".", "_")) for p in ("p50", "p90", "p99", "p99.9")]
    try:
        sb = get_metric_data(cw_client(sandbox_url), pq, start, end)
    except Exception as e:  # noqa: BLE001
        failures.append("GetMetricData percentiles: sandbox %s: %s" % (type(e).__name__, e))
        sb = {}
    for q in pq:
        p = float(q["MetricStat"]["Stat"][1:])
        for t, values in raw["Latency"].items():
            want, got = nearest_rank(values, p), sb.get(q["Id"], {}).get(t)
            if got is None or abs(got - want) > 0.01 * abs(want):
                failures.append("GetMetricData Latency %s at %d: sandbox %s, nearest rank %s"
                                % (q["MetricStat"]["Stat"], t, got, want))
    try:
        mo = get_metric_data(cw_client(moto_url), pq, start, end)
        mo_desc = "values %s" % {k: sorted(v.items())[:2] for k, v in mo.items()}
    except Exception as e:  # noqa: BLE001
        mo_desc = "%s: %s" % (type(e).__name__, str(e).split("\n")[0][:200])
    log("KNOWN-MOTO-DIFFERENCE GetMetricData percentiles (p50/p90/p99/p99.9): sandbox matches nearest rank "
        "within 1%%; moto answers %s" % mo_desc)

    # ListMetrics with dimension filters.
    filters = [
        {"Namespace": NAMESPACE, "Dimensions": [{"Name": "Run", "Value": run}]},
        {"Namespace": NAMESPACE, "MetricName": "Latency", "Dimensions": [{"Name": "Run", "Value": run}]},
        {"Namespace": NAMESPACE, "Dimensions": [{"Name": "Run", "Value": run}, {"Name": "FunctionName"}]},
    ]
    want_all = {(NAMESPACE, m, tuple(sorted((d["Name"], d["Value"]) for d in dims)))
                for m in ("Latency", "Requests", "Batch")}
    for f in filters:
        got = {}
        for name, url in (("sandbox", sandbox_url), ("moto", moto_url)):
            try:
                got[name] = list_metrics(cw_client(url), **json.loads(json.dumps(f)))
            except Exception as e:  # noqa: BLE001
                failures.append("ListMetrics %s: %s: %s" % (name, type(e).__name__, e))
                got[name] = set()
        want = {m for m in want_all if "MetricName" not in f or m[1] == f["MetricName"]}
        if got["sandbox"] != want:
            failures.append("ListMetrics %s: sandbox %s, expected %s" % (f, sorted(got["sandbox"]), sorted(want)))
        if got["moto"] != got["sandbox"]:
            failures.append("ListMetrics %s: sandbox %s, moto %s" % (f, sorted(got["sandbox"]), sorted(got["moto"])))
    log("ListMetrics: %d filters compared" % len(filters))
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stormwatch", required=True, help="path to the stormwatch binary")
    p.add_argument("--sandbox", help="use this running sandbox instead of starting one")
    p.add_argument("--moto", help="use this running moto_server instead of starting one")
    args = p.parse_args()
    venv_bin = os.path.dirname(sys.executable)
    procs = []
    failures = []
    with tempfile.TemporaryDirectory() as workdir:
        try:
            if args.moto:
                moto_url = args.moto
            else:
                proc, moto_url = start_moto(venv_bin)
                procs.append(proc)
            if args.sandbox:
                urls = {"cloudwatch": args.sandbox, "xray": args.sandbox}
            else:
                proc, urls = start_sandbox(args.stormwatch, workdir)
                procs.append(proc)
            print("moto %s, sandbox %s" % (moto_url, urls["cloudwatch"]))
            cw = check_cloudwatch(urls["cloudwatch"], moto_url)
            failures += cw
            print("cloudwatch: %s" % ("ok" if not cw else "%d failures" % len(cw)))
            xr = moto_crosscheck_xray.check(urls["xray"], moto_url)
            failures += xr
            print("xray: %s" % ("ok" if not xr else "%d failures" % len(xr)))
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    for f in failures:
        print("FAIL " + f)
    print("moto cross-check: %s" % ("passed" if not failures else "%d failures" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
