"""Newman's part of the import check (issue 15), called by scripts/import_check.py.

Newman (the npm package, pinned and installed by scripts/import-check into a cache folder;
its path comes in $STORMWATCH_NEWMAN) runs a small Postman collection ITERATIONS times
against a `stormwatch sandbox` of its own on 127.0.0.1: a folder `Cart` with `Get cart`
(`GET /prod/carts/{id}`, a `{{$randomInt}}` id) and `Add item` (`POST /prod/carts/{id}/items`,
a JSON body), each with a status test, written with `-r json --reporter-json-export`.

`stormwatch import newman` must import as many requests as Newman itself reports
(`run.stats.requests.total`) and as the sandbox's ground truth received on the two routes;
every imported request must carry the trace id the sandbox answered with (Newman records the
response headers, `X-Amzn-Trace-Id` among them), and the two endpoints must keep their counts;
the times are flagged approximate (Newman logs absolute times only for the run) and fall in
the run, in the order the sandbox received them. `collect` (from the sandbox) and `analyze` work on the imported run and join its
traces. The same collection also converts with `stormwatch convert postman` into a scenario
that passes `run --dry-run`. Exits (through import_check.check) on the first failure.
"""

import json
import os
import signal
import subprocess
import time

import import_check as ic

NEWMAN = os.environ.get("STORMWATCH_NEWMAN", "newman")
ITERATIONS = 25
CART_ROUTE = "GET /prod/carts/{id}"
ITEMS_ROUTE = "POST /prod/carts/{id}/items"

SANDBOX = f"""
[api]
kind = "rest"
name = "import-check-newman"
stage = "prod"

[telemetry]
resolution = "1s"
sampling_reservoir = 1000
sampling_rate = 1.0

[functions.carts]
memory_mb = 256
init = "fixed 50ms"
timeout = "3s"
idle_timeout = "60s"

[[routes]]
route = "{CART_ROUTE}"
function = "carts"
handler = "uniform 2ms..8ms"
response_bytes = 300

[[routes]]
route = "{ITEMS_ROUTE}"
function = "carts"
handler = "uniform 4ms..12ms"
response_bytes = 100
"""


def collection():
    status_test = [{"listen": "test", "script": {"exec": [
        "pm.test(\"status 200\", function () {", "    pm.response.to.have.status(200);", "});"]}}]
    return {
        "info": {"name": "Newman import check",
                 "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "variable": [{"key": "baseUrl", "value": "http://127.0.0.1:1"}],
        "item": [{"name": "Cart", "item": [
            {"name": "Get cart", "event": status_test,
             "request": {"method": "GET", "url": "{{baseUrl}}/prod/carts/{{$randomInt}}"}},
            {"name": "Add item", "event": status_test,
             "request": {"method": "POST", "header": [{"key": "Content-Type", "value": "application/json"}],
                         "body": {"mode": "raw", "raw": "{\"sku\": \"SKU-{{$randomInt}}\", \"qty\": 1}",
                                  "options": {"raw": {"language": "json"}}},
                         "url": "{{baseUrl}}/prod/carts/7/items"}},
        ]}],
    }


def start_sandbox(stormwatch, tmp):
    """The sandbox of this check; returns (process, API URL, ground-truth path)."""
    proc, api, truth, _ = ic.start_sandbox(stormwatch, tmp, SANDBOX, "Newman: the sandbox")
    return proc, api, truth


def check_import(stormwatch, tmp, env, report_path):
    """Imports, collects and analyzes the Newman run; returns the checks needing the ground truth."""
    report = ic.load(report_path)
    stats = report["run"]["stats"]
    total = int(stats["requests"]["total"])
    check_total = ITERATIONS * 2
    ic.check(total == check_total and int(stats["requests"]["failed"]) == 0
             and int(stats["assertions"]["failed"]) == 0,
             f"Newman: run.stats.requests.total {total} = {ITERATIONS} iterations x 2, no failures")
    started_ms, completed_ms = report["run"]["timings"]["started"], report["run"]["timings"]["completed"]
    run_dir = ic.import_run(stormwatch, "newman", [report_path], os.path.join(tmp, "runs"),
                            ["--function", "carts", "--name", "newman"])
    m = ic.load(os.path.join(run_dir, "manifest.json"))
    src = m["source"]
    imported = src["records"]
    ic.check(imported == total, f"Newman: imported {imported} requests = Newman's run.stats.requests.total {total}")
    ic.check(src["times_approximate"] is True and src["trace_ids_from_headers"] == total,
             f"Newman: times flagged approximate, {src['trace_ids_from_headers']} trace ids from the "
             "recorded response headers")
    recs = ic.records(run_dir)
    per_endpoint = {}
    for r in recs:
        per_endpoint[r["endpoint"]] = per_endpoint.get(r["endpoint"], 0) + 1
    ic.check(per_endpoint == {"GET Get cart": ITERATIONS, "POST Add item": ITERATIONS},
             f"Newman: {ITERATIONS} requests per item ({per_endpoint})")
    inside = all(started_ms * 1_000_000 <= int(r["sent_ns"]) and int(r["end_ns"]) <= completed_ms * 1_000_000 + 1_000_000
                 for r in recs)
    ic.check(inside, "Newman: every spread request time lies inside Newman's run.timings")
    a = ic.collect_and_analyze(stormwatch, run_dir, env)
    analyzed = sum(p["requests"] for p in a["phases"])
    ic.check(analyzed == imported and a["sources"]["traces"] > 0,
             f"Newman: collected and analyzed ({analyzed} requests, {a['sources']['traces']} traces joined)")

    def with_truth(truth):
        carts, items = ic.truth_of(truth, CART_ROUTE), ic.truth_of(truth, ITEMS_ROUTE)
        # Newman waits for each response before the next request: nothing is in flight.
        ic.check(len(carts) == ITERATIONS and len(items) == ITERATIONS and len(carts) + len(items) == imported,
                 f"Newman: the ground truth received {len(carts)} + {len(items)} = imported on the two routes")
        ids = {t["trace_id"] for t in carts + items}
        got = [r.get("trace_id") for r in recs]
        ic.check(set(got) == ids and len(set(got)) == imported,
                 f"Newman: every imported request carries the trace id the sandbox answered ({len(set(got) & ids)})")
        by_id = {t["trace_id"]: t for t in carts + items}
        routes_match = all(
            by_id[r["trace_id"]]["route"] == (CART_ROUTE if r["endpoint"] == "GET Get cart" else ITEMS_ROUTE)
            for r in recs)
        ic.check(routes_match, "Newman: each joined trace id is the sandbox's request on that item's route")
        # The spread start times keep Newman's order: the k-th imported request is the k-th
        # the sandbox received. How far the spread lies from the real arrivals is printed.
        in_order = [r["trace_id"] for r in sorted(recs, key=lambda r: int(r["sent_ns"]))]
        arrived = [t["trace_id"] for t in sorted(carts + items, key=lambda t: t["arrival_unix_ns"])]
        ic.check(in_order == arrived, "Newman: the imported requests are in the order the sandbox received them")
        off = sorted(abs(int(r["sent_ns"]) - by_id[r["trace_id"]]["arrival_unix_ns"]) / 1e6 for r in recs)
        print(f"  Newman: |spread start - sandbox arrival|: median {off[len(off) // 2]:.1f} ms, max {off[-1]:.1f} ms")

    return with_truth


def check_convert(stormwatch, tmp, coll_path, url):
    """The collection converts into a scenario that passes `run --dry-run`."""
    env_path = os.path.join(tmp, "local.postman_environment.json")
    with open(env_path, "w") as f:
        json.dump({"name": "local", "values": [{"key": "baseUrl", "value": url, "enabled": True}]}, f)
    scenario = os.path.join(tmp, "converted.toml")
    r = subprocess.run([stormwatch, "convert", "postman", coll_path, "--environment", env_path, "--out", scenario],
                       capture_output=True, text=True, timeout=60)
    print("  " + r.stderr.strip().replace("\n", "\n  "))
    ic.check(r.returncode == 0, "Newman: stormwatch convert postman converted the collection")
    ic.run([stormwatch, "run", scenario, "--dry-run"], timeout=60)


def check_newman(stormwatch, tmp_root):
    """Runs the Newman check in its own folder and sandbox."""
    tmp = os.path.join(tmp_root, "newman")
    os.makedirs(tmp, exist_ok=True)
    version = subprocess.run([NEWMAN, "--version"], capture_output=True, text=True, timeout=60)
    ic.check(version.returncode == 0, f"Newman: {NEWMAN} runs (version {version.stdout.strip()})")
    coll_path = os.path.join(tmp, "cart.postman_collection.json")
    with open(coll_path, "w") as f:
        json.dump(collection(), f, indent=2)
    report_path = os.path.join(tmp, "newman.json")
    sandbox, newman = None, None
    started = time.monotonic()
    try:
        sandbox, url, truth = start_sandbox(stormwatch, tmp)
        print(f"Newman: sandbox at {url}")
        newman = subprocess.Popen(
            [NEWMAN, "run", coll_path, "-n", str(ITERATIONS), "--env-var", f"baseUrl={url}",
             "--reporters", "json", "--reporter-json-export", report_path, "--disable-unicode",
             "--timeout-request", "10000"],
            cwd=tmp, stdout=open(os.path.join(tmp, "newman.out"), "w"), stderr=subprocess.STDOUT,
            env=dict(os.environ, HOME=tmp))
        rc = newman.wait(timeout=120)
        if rc != 0:
            with open(os.path.join(tmp, "newman.out")) as f:
                print(f.read()[-3000:])
        ic.check(rc == 0, "Newman ran, every test passed")
        env = ic.aws_env(url, tmp)
        with_truth = check_import(stormwatch, tmp, env, report_path)
        check_convert(stormwatch, tmp, coll_path, url)
        ic.stop(sandbox)
        ic.check(sandbox.returncode == 0, "Newman: the sandbox stopped and wrote its ground truth")
        with_truth(truth)
    finally:
        ic.stop(newman, signal.SIGINT)
        ic.stop(sandbox)
    print(f"Newman check passed in {time.monotonic() - started:.1f} s")
