"""JMeter's part of the import check (issue 15), called by scripts/import_check.py.

Debian's `jmeter` package (JMeter 2.13, installed by scripts/import-check) runs the plan
scripts/jmeter/import-check.jmx three times at once against a `stormwatch sandbox` of its own
on 127.0.0.1, each run with the JTL settings of one output, against routes of its own
(`GET /prod/RUN/items/{id}` and `GET /prod/RUN/orders/{id}`, function `jmeter-RUN`):

- `csv`: JTL CSV with a header (`jmeter.save.saveservice.print_field_names=true`) and the
  response's X-Amzn-Trace-Id as a column (`sample_variables=trace_id`, filled by the plan's
  Regular Expression Extractor);
- `xml`: JTL XML with the response headers (`output_format=xml`, `responseHeaders=true`);
- `plain`: JTL CSV as JMeter 2.13 writes it by default: no header line;
- `ids`: JTL CSV with a header and the response's x-amzn-RequestId as a column
  (`sample_variables=request_id`) but no trace id: `collect` joins each request to its trace
  through the stage segment's `aws.api_gateway.request_id`, checked against the ground
  truth's `response_request_id` → `trace_id`.

The plan's two thread groups, `warm` and `burst` (a Transaction Controller `checkout` around
two requests), start at absolute times after the sandbox is ready, so JMeter's start-up time
does not move them; the sandbox's `[[faults]]` window (every function fails) falls inside
`burst`. For each JTL: `stormwatch import jmeter --jtl-timestamp start` (the version's
shipped jmeter.properties has `sampleresult.timestamp.start=true`) imports as many requests
as the JTL holds apart from the transaction parents (counted here), as JMeter's summariser
counted (`summary = N`, which counts the parents too) and as the sandbox's ground truth
received on the run's routes, in the phases `warm` and `burst`, with start and end times that
bracket the sandbox's arrival and finish and, where headers were saved, the sandbox's trace
ids; after `collect` and `analyze`, the fault's errors and the `function_errors` finding are in
`burst` and nothing in `warm`. Exits (through import_check.check) on the first failure.
"""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import import_check as ic

HERE = os.path.dirname(os.path.abspath(__file__))
PLAN = os.path.join(HERE, "jmeter", "import-check.jmx")
LAUNCHER = os.path.join(HERE, "jmeter", "StormwatchJMeter.java")
JMETER_HOME = os.environ.get("STORMWATCH_JMETER_HOME", "/usr/share/jmeter")

# Seconds after the sandbox is ready (absolute start and end times for JMeter's thread
# groups, so the time its three JVMs take to start does not move them; a late start only
# shortens warm). The fault window lies inside burst, two seconds from either end of it.
WARM_AT, BURST_AT, BURST_END = 6, 12, 18
FAULT_AT, FAULT_FOR = BURST_AT + 2, 2
# C1 only and the serial collector: the JVMs start about a third faster.
JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
THREADS = 2 + 4  # warm + burst threads: at most this many requests in flight at the end
LOOPS = 100  # per thread: a bound on the count besides the durations
SLACK_MS = 2.0  # JMeter's times are whole milliseconds
# JMeter 2.13's shipped jmeter.properties sets sampleresult.timestamp.start=true.
JTL_TIMESTAMP = "start"

# Run name -> (JTL file, the -J properties that make JMeter write it).
RUNS = {
    "csv": ("csv.jtl", ["jmeter.save.saveservice.print_field_names=true", "sample_variables=trace_id"]),
    "xml": ("xml.jtl", ["jmeter.save.saveservice.output_format=xml",
                        "jmeter.save.saveservice.responseHeaders=true"]),
    "plain": ("plain.jtl", []),
    "ids": ("ids.jtl", ["jmeter.save.saveservice.print_field_names=true", "sample_variables=request_id"]),
}
# JMeter 2.13's CSV columns with its default jmeter.properties (CSVSaveService's order with
# the fields saved by default; no failureMessage, sentBytes, URL, IdleTime or Connect).
PLAIN_COLUMNS = ["timeStamp", "elapsed", "label", "responseCode", "responseMessage", "threadName",
                 "dataType", "success", "bytes", "grpThreads", "allThreads", "Latency"]
TRANSACTION = "Number of samples in transaction"


def sandbox_config():
    parts = ['[api]\nkind = "rest"\nname = "import-check-jmeter"\nstage = "prod"\n',
             '[telemetry]\nresolution = "1s"\nsampling_reservoir = 1000\nsampling_rate = 1.0\n']
    for run in RUNS:
        parts.append(f'[functions.jmeter-{run}]\nmemory_mb = 256\ninit = "fixed 50ms"\n'
                     f'timeout = "3s"\nidle_timeout = "60s"\n')
        for what in ("items", "orders"):
            parts.append(f'[[routes]]\nroute = "GET /prod/{run}/{what}/{{id}}"\nfunction = "jmeter-{run}"\n'
                         f'handler = "uniform 2ms..8ms"\nresponse_bytes = 200\n')
    parts.append(f'[[faults]]\nat = "{FAULT_AT}s"\nduration = "{FAULT_FOR}s"\nerror_rate = 1.0\n')
    return "\n".join(parts)


def start_sandbox(stormwatch, tmp):
    """The sandbox of this check; returns (process, API URL, ground-truth path, ready epoch s)."""
    proc, api, truth, _ = ic.start_sandbox(stormwatch, tmp, sandbox_config(), "JMeter: the sandbox")
    return proc, api, truth, time.time()


def launch(tmp, url, ready_epoch):
    """Compiles the launcher and starts the three JMeter runs; returns {run: process}."""
    classes = os.path.join(tmp, "launcher")
    r = subprocess.run(["javac", "-d", classes, LAUNCHER], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
    ic.check(r.returncode == 0, "JMeter: the launcher compiled (javac)")
    port = url.rsplit(":", 1)[1]

    def at(seconds):
        """An absolute time for the plan's scheduler: epoch milliseconds."""
        return str(int((ready_epoch + seconds) * 1000))

    procs = {}
    for run, (jtl, props) in RUNS.items():
        cmd = ["java", *JVM_FLAGS, f"-Djmeter.home={JMETER_HOME}", "-cp",
               os.pathsep.join([os.path.join(JMETER_HOME, "bin", "ApacheJMeter.jar"), classes]),
               "StormwatchJMeter", "-n", "-t", PLAN, "-l", os.path.join(tmp, jtl),
               "-j", os.path.join(tmp, f"{run}.log"),
               "-Jhost=127.0.0.1", f"-Jport={port}", f"-Jprefix=/prod/{run}",
               f"-Jwarm_at={at(WARM_AT)}", f"-Jwarm_end={at(BURST_AT)}",
               f"-Jburst_at={at(BURST_AT)}", f"-Jburst_end={at(BURST_END)}", f"-Jloops={LOOPS}",
               # The summariser (off by default in 2.13) prints JMeter's own count; no UDP
               # shutdown port.
               "-Jsummariser.name=summary", "-Jjmeterengine.nongui.port=0"]
        cmd += [f"-J{p}" for p in props]
        procs[run] = subprocess.Popen(cmd, cwd=tmp, stdout=open(os.path.join(tmp, f"{run}.out"), "w"),
                                      stderr=subprocess.STDOUT)
    return procs


def jmeter_log(tmp, run, ready_epoch):
    """JMeter's own figures from its log: (version, test start s after ready, summary count)."""
    with open(os.path.join(tmp, f"{run}.log")) as f:
        log = f.read()
    with open(os.path.join(tmp, f"{run}.out")) as f:
        out = f.read()
    version = re.search(r"Version (\S+)", log)
    started = re.search(r"Starting the test @ .*\((\d+)\)", out)
    summary = re.findall(r"summary =\s+(\d+) in", log)
    if not summary:
        print(out[-3000:])
    ic.check(bool(summary), f"JMeter {run}: its log has the summariser's `summary = N` line")
    start = int(started.group(1)) / 1000 - ready_epoch if started else float("nan")
    return (version.group(1) if version else "?"), start, int(summary[-1])


def trace_root(value):
    """`Root=1-...;Sampled=1` or a bare `1-...` -> the trace id."""
    m = re.search(r"(1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24})", value or "")
    return m.group(1) if m else None


def jtl_samples(path, run):
    """The JTL's samples as read here: (requests, transaction parents); each request a dict
    with ts, elapsed, label, group, failed and trace (or None)."""
    rows = []
    if run == "xml":
        root = ET.parse(path).getroot()
        nested = sum(c.tag in ("httpSample", "sample") for e in root for c in e)
        ic.check(nested == 0, f"JMeter {run}: the XML JTL has no sub-results (the plan makes none)")
        for e in root:
            header = e.findtext("responseHeader") or ""
            trace = next((trace_root(line.split(":", 1)[1]) for line in header.splitlines()
                          if line.lower().startswith("x-amzn-trace-id:")), None)
            rows.append(dict(ts=e.get("ts"), elapsed=e.get("t"), label=e.get("lb"), thread=e.get("tn"),
                             dt=e.get("dt"), message=e.get("rm"), success=e.get("s"), trace=trace,
                             request_id=None))
    else:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            names = next(reader) if run in ("csv", "ids") else PLAIN_COLUMNS
            for r in reader:
                d = dict(zip(names, r))
                rows.append(dict(ts=d["timeStamp"], elapsed=d["elapsed"], label=d["label"],
                                 thread=d["threadName"], dt=d["dataType"], message=d["responseMessage"],
                                 success=d["success"], trace=trace_root(d.get("trace_id")),
                                 request_id=d.get("request_id")))
    requests, parents = [], 0
    for r in rows:
        if r["dt"] == "" and r["message"].startswith(TRANSACTION):
            parents += 1
            continue
        requests.append(dict(ts=int(r["ts"]), elapsed=int(r["elapsed"]), label=r["label"],
                             group=r["thread"].rsplit(" ", 1)[0], failed=r["success"] != "true",
                             trace=r["trace"], request_id=r["request_id"] or None))
    return requests, parents


def check_run(stormwatch, tmp, env, run, ready_epoch):
    """Counts, phases, transaction parents, trace ids, collect and analyze of one JTL;
    returns the checks that need the ground truth."""
    jtl = os.path.join(tmp, RUNS[run][0])
    version, start, summary = jmeter_log(tmp, run, ready_epoch)
    requests, parents = jtl_samples(jtl, run)
    groups = {g: sum(r["group"] == g for r in requests) for g in ("warm", "burst")}
    print(f"  JMeter {version} {run}: test started {start:.1f} s after the sandbox (warm at {WARM_AT} s); "
          f"JTL: {len(requests)} requests ({groups}), {parents} transaction parents; summary = {summary}")
    ic.check(start < BURST_AT - 2, f"JMeter {run}: started its test at least 2 s before burst's start "
             f"(warm sends from max(start, {WARM_AT} s) to {BURST_AT} s)")
    ic.check(summary == len(requests) + parents and parents > 0 and groups["warm"] and groups["burst"]
             and len(requests) == sum(groups.values()),
             f"JMeter {run}: its summariser's {summary} samples = the JTL's {len(requests)} requests + "
             f"{parents} transaction parents, in warm and burst")
    run_dir = ic.import_run(stormwatch, "jmeter", [jtl], os.path.join(tmp, "runs"),
                            ["--jtl-timestamp", JTL_TIMESTAMP, "--function", f"jmeter-{run}",
                             "--name", f"jmeter-{run}"])
    m = ic.load(os.path.join(run_dir, "manifest.json"))
    imported = m["source"]["records"]
    ic.check(imported == len(requests),
             f"JMeter {run}: imported {imported} requests = the JTL's samples less its transaction parents "
             f"({len(requests)}) = JMeter's summary less the parents ({summary - parents})")
    names = [p["name"] for p in m["phases"]]
    ic.check(names == ["warm", "burst"], f"JMeter {run}: the phases are the thread groups ({names})")
    recs = ic.records(run_dir)
    per_phase = {n: sum(r["phase"] == i for r in recs) for i, n in enumerate(names)}
    ic.check(per_phase == groups and not any(r["endpoint"] == "checkout" for r in recs),
             f"JMeter {run}: each phase has its thread group's requests ({per_phase}), no `checkout` parent")
    notes = "\n".join(m["source"]["notes"])
    ic.check(f"{parents} transaction-controller parent" in notes,
             f"JMeter {run}: the manifest notes the {parents} transaction parents left out")
    expected_ids = sorted(r["trace"] for r in requests if r["trace"])
    if run in ("csv", "xml"):
        ic.check(len(expected_ids) == len(requests), f"JMeter {run}: every JTL sample has a trace id")
    if run == "ids":
        ic.check(all(r["request_id"] for r in requests), f"JMeter {run}: every JTL sample has a request id")
    ids = sorted(r["trace_id"] for r in recs if r["trace_id"])
    ic.check(ids == expected_ids and m["source"]["trace_ids_from_headers"] == len(expected_ids),
             f"JMeter {run}: the import has the JTL's {len(expected_ids)} trace ids")

    a = ic.collect_and_analyze(stormwatch, run_dir, env)
    if run == "ids":
        recs = joined_records(run, run_dir, recs, a)
    phases = {p["name"]: p for p in a["phases"]}
    warm, burst = phases["warm"], phases["burst"]
    failed = sum(r["failed"] and r["group"] == "burst" for r in requests)
    print(f"  {run}: warm {warm['requests']} requests, {warm['errors']} errors; "
          f"burst {burst['requests']} requests, {burst['errors']} errors (JTL: {failed} failed in burst)")
    ic.check(burst["errors"] == failed > 0 and warm["errors"] == 0
             and not any(r["failed"] for r in requests if r["group"] == "warm"),
             f"JMeter {run}: the fault's failures are in burst ({burst['errors']}), none in warm")
    server = {r["name"]: r for r in (burst.get("server") or {}).get("resources", [])}
    fn = f"jmeter-{run}"
    ic.check((server.get(fn, {}).get("errors") or 0) > 0, f"JMeter {run}: collected Lambda Errors of {fn} in burst")
    errs = [f for f in a["findings"] if f["kind"] == "function_errors"]
    ic.check(errs and all(f["phase"] == "burst" and fn in f["title"] for f in errs),
             f"JMeter {run}: the function_errors finding names {fn} in burst ({[f['title'] for f in errs]})")

    def with_truth(truth_path):
        truth = truths(truth_path, run)
        ic.check(imported <= len(truth) <= imported + THREADS,
                 f"JMeter {run}: the sandbox's ground truth received {len(truth)} (imported {imported} + at "
                 f"most {THREADS} in flight at the stop)")
        server_5xx = sum(t["status"] >= 500 for t in truth)
        ic.check(server_5xx == failed, f"JMeter {run}: the ground truth's 5xx ({server_5xx}) = burst's failures")
        if run == "plain":
            check_times_by_order(run, recs, truth)
            return
        by_id = {t["trace_id"]: t for t in truth}
        if run == "ids":
            # The independent answer: the trace the sandbox gave the request id it answered.
            trace_of = {t["response_request_id"]: t["trace_id"] for t in truth}
            exact = sum(trace_of.get(r["request_id"]) == r["trace_id"] for r in recs)
            ic.check(exact == imported, f"JMeter {run}: every request joined the trace the sandbox gave its "
                     f"request id ({exact} of {imported})")
        joined = sum(r["trace_id"] in by_id for r in recs)
        ic.check(joined == imported, f"JMeter {run}: every request has the trace id the sandbox saw ({joined})")
        check_times(run, [(r, by_id[r["trace_id"]]) for r in recs])
        phase_of = {r["trace_id"]: names[r["phase"]] for r in recs}
        faulted = sorted({phase_of[t["trace_id"]] for t in truth if t["fault_active"] and t["trace_id"] in phase_of})
        ic.check(faulted == ["burst"], f"JMeter {run}: the requests in the fault window are all in burst ({faulted})")

    return with_truth


def joined_records(run, run_dir, recs, analysis):
    """The records with the trace ids `collect` joined by request id (telemetry/
    trace_joins.csv), after checking every request was joined through its stage segment and
    the analysis note says so; each record also gets its `request_id` (request_ids.csv)."""
    with open(os.path.join(run_dir, "request_ids.csv"), newline="") as f:
        ids = {r["sequence"]: r["request_id"] for r in csv.DictReader(f)}
    with open(os.path.join(run_dir, "telemetry", "trace_joins.csv"), newline="") as f:
        joins = {r["sequence"]: r for r in csv.DictReader(f)}
    via = {j["via"] for j in joins.values()}
    print(f"  JMeter {run}: {len(ids)} request ids imported, {len(joins)} joined ({sorted(via)})")
    ic.check(len(ids) == len(recs) and set(joins) == set(ids) and via == {"apigw-segment"},
             f"JMeter {run}: every request's x-amzn-RequestId joined a trace through its stage segment")
    notes = "\n".join(analysis["sources"]["notes"])
    n = len(recs)
    ic.check(f"{n} imported request(s) had a request id but no trace id: {n} joined" in notes,
             f"JMeter {run}: the analysis notes {n} requests joined by request id")
    return [dict(r, trace_id=joins[r["sequence"]]["trace_id"], request_id=ids[r["sequence"]]) for r in recs]


def truths(path, run):
    with open(path) as f:
        return [t for t in map(json.loads, f) if t["route"].startswith(f"GET /prod/{run}/")]


def check_times(run, pairs):
    """Each imported request (start, end) brackets its sandbox request's arrival and finish:
    the time base was read right. JMeter logs whole milliseconds (timeStamp and elapsed
    truncated), so its end may read up to SLACK_MS before the sandbox's finish."""
    lead = sorted((t["arrival_unix_ns"] - int(r["sent_ns"])) / 1e6 for r, t in pairs)
    lag = sorted((int(r["end_ns"]) - t["finish_unix_ns"]) / 1e6 for r, t in pairs)
    mid = len(pairs) // 2
    print(f"  JMeter {run}: sandbox arrival - imported start: min {lead[0]:.2f} ms, median {lead[mid]:.2f} ms, "
          f"max {lead[-1]:.2f} ms; imported end - sandbox finish: min {lag[0]:.2f} ms, median "
          f"{lag[mid]:.2f} ms, max {lag[-1]:.2f} ms")
    ic.check(lead[0] > -SLACK_MS and lag[0] > -SLACK_MS and lead[mid] < 50 and lag[mid] < 50,
             f"JMeter {run}: each imported request spans the sandbox's arrival..finish of its request")


def check_times_by_order(run, recs, truth):
    """Without trace ids: each imported request is paired with a sandbox request of its
    route whose arrival and finish lie within its start..end (SLACK_MS either side), one to
    one (a maximum bipartite matching); every one must find one, and the pairs must pass
    check_times. Had the time base been read wrong (timeStamp as the end), the sandbox's
    requests would lie one elapsed time later than the imported ones."""
    slack = int(SLACK_MS * 1e6)
    by_route = {}
    for i, t in enumerate(truth):
        by_route.setdefault(t["route"], []).append(i)
    candidates = []
    for r in recs:
        lo, hi = int(r["sent_ns"]) - slack, int(r["end_ns"]) + slack
        route = f"GET /prod/{run}{r['endpoint'].removeprefix('GET ')}"
        candidates.append([i for i in by_route.get(route, [])
                           if truth[i]["arrival_unix_ns"] >= lo and truth[i]["finish_unix_ns"] <= hi])
    owner = {}  # truth index -> record index

    def augment(k, seen):
        for i in candidates[k]:
            if i not in seen:
                seen.add(i)
                if i not in owner or augment(owner[i], seen):
                    owner[i] = k
                    return True
        return False

    for k in range(len(recs)):
        augment(k, set())
    ic.check(len(owner) == len(recs),
             f"JMeter {run}: every imported request spans its own sandbox request on its route "
             f"({len(owner)} of {len(recs)})")
    check_times(run, [(recs[k], truth[i]) for i, k in owner.items()])


def check_jmeter(stormwatch, tmp_root):
    """Runs the JMeter check in its own folder and sandbox."""
    tmp = os.path.join(tmp_root, "jmeter")
    os.makedirs(tmp, exist_ok=True)
    ic.check(os.path.isfile(os.path.join(JMETER_HOME, "bin", "ApacheJMeter.jar")) and shutil.which("javac"),
             f"JMeter: {JMETER_HOME}/bin/ApacheJMeter.jar and javac are installed")
    sandbox, procs = None, {}
    started = time.monotonic()
    try:
        sandbox, url, truth, ready_epoch = start_sandbox(stormwatch, tmp)
        print(f"JMeter: sandbox at {url}")
        procs = launch(tmp, url, ready_epoch)
        for run, p in procs.items():
            rc = p.wait(timeout=90)
            if rc != 0:
                with open(os.path.join(tmp, f"{run}.out")) as f:
                    print(f.read()[-3000:])
            ic.check(rc == 0, f"JMeter {run} ran")
        print(f"  JMeter runs took {time.monotonic() - started:.1f} s")
        env = ic.aws_env(url, tmp)
        with_truth = [check_run(stormwatch, tmp, env, run, ready_epoch) for run in RUNS]
        ic.stop(sandbox)
        ic.check(sandbox.returncode == 0, "JMeter: the sandbox stopped and wrote its ground truth")
        for f in with_truth:
            f(truth)
    finally:
        for p in procs.values():
            ic.stop(p, signal.SIGINT)
        ic.stop(sandbox)
    print(f"JMeter check passed in {time.monotonic() - started:.1f} s")
