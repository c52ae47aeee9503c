"""X-Ray half of the moto cross-check: puts the same segment documents into moto and into
the sandbox through boto3 (restJson1, the protocol every SDK speaks) and compares what
BatchGetTraces returns: which traces, which segments, the documents, UnprocessedTraceIds,
and that NextToken pagination yields every segment once. GetTraceSummaries is compared only
to report: moto's summaries are known to differ from AWS (its output also breaks the Rust
SDK's deserializer), so differences there are printed as KNOWN-MOTO-DIFFERENCE, never
skipped silently and never a failure.

Use as a module (``check(sandbox_url, moto_url) -> list[str]`` of failures) from the main
cross-check script, or alone:

    python scripts/moto_crosscheck_xray.py --sandbox http://127.0.0.1:P --moto http://127.0.0.1:Q

Needs boto3 (and a running ``moto_server``); exits 1 on a BatchGetTraces mismatch.
"""

import argparse
import json
import random
import sys
import time

import boto3

REGION = "us-east-1"
N_TRACES = 12


def client(url):
    return boto3.client(
        "xray",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="AKIDCROSSCHECK",
        aws_secret_access_key="secret",
    )


def fixture(now):
    """N_TRACES requests, each an API Gateway segment and a Lambda function segment; every
    4th is a 502 and the first two are cold (an Init subsegment). Returns (docs, ids)."""
    docs, ids = [], []
    run = random.getrandbits(48) << 16  # fresh ids on servers that outlive one run
    for n in range(N_TRACES):
        start = now - 300 + n * 1.5
        trace = "1-%08x-%024x" % (int(start), run + n)
        ids.append(trace)
        status = 502 if n % 4 == 3 else 200
        gw = {
            "trace_id": trace,
            "id": "%016x" % (2 * n + 1),
            "name": "shop/prod",
            "origin": "AWS::ApiGateway::Stage",
            "start_time": start,
            "end_time": start + 0.25,
            "fault": status >= 500,
            "http": {
                "request": {"method": "GET", "url": "https://api.example/prod/items/%d" % n},
                "response": {"status": status},
            },
            "annotations": {"tenant": "acme" if n % 2 == 0 else "globex"},
        }
        fn = {
            "trace_id": trace,
            "id": "%016x" % (2 * n + 2),
            "parent_id": gw["id"],
            "name": "checkout",
            "origin": "AWS::Lambda::Function",
            "start_time": start + 0.01,
            "end_time": start + 0.2,
        }
        if n < 2:
            fn["subsegments"] = [
                {"id": "%016x" % (1000 + n), "name": "Init", "start_time": start + 0.01, "end_time": start + 0.1}
            ]
        docs += [json.dumps(gw), json.dumps(fn)]
    return docs, ids


def put(xray, docs):
    unprocessed = []
    for i in range(0, len(docs), 10):
        out = xray.put_trace_segments(TraceSegmentDocuments=docs[i : i + 10])
        unprocessed += out.get("UnprocessedTraceSegments", [])
    return unprocessed


def batch_get(xray, ids):
    """{trace id: {segment id: parsed document}}, unprocessed ids, pages read."""
    traces, unprocessed, pages = {}, [], 0
    for i in range(0, len(ids), 5):
        token = None
        for _ in range(100):  # bounded: 100 pages of 5 traces is far more than the fixture
            kwargs = {"TraceIds": ids[i : i + 5]}
            if token:
                kwargs["NextToken"] = token
            out = xray.batch_get_traces(**kwargs)
            pages += 1
            for t in out.get("Traces", []):
                segs = traces.setdefault(t["Id"], {})
                for s in t.get("Segments", []):
                    if s["Id"] in segs:
                        raise AssertionError("segment %s returned twice" % s["Id"])
                    segs[s["Id"]] = json.loads(s["Document"])
            unprocessed += out.get("UnprocessedTraceIds", [])
            token = out.get("NextToken")
            if not token:
                break
    return traces, sorted(set(unprocessed)), pages


def summaries(xray, now):
    out = xray.get_trace_summaries(StartTime=now - 3600, EndTime=now + 60)
    return {s["Id"]: s for s in out.get("TraceSummaries", [])}


def check(sandbox_url, moto_url, log=print):
    """Runs the comparison; returns the list of failures (empty when they agree)."""
    now = time.time()
    docs, ids = fixture(now)
    unknown = "1-%08x-%024x" % (int(now), 0xDEAD)
    failures = []
    results = {}
    for name, url in (("sandbox", sandbox_url), ("moto", moto_url)):
        xray = client(url)
        rejected = put(xray, docs)
        if rejected:
            failures.append("%s rejected segments: %s" % (name, rejected))
        results[name] = batch_get(xray, ids + [unknown]) + (summaries(xray, now),)

    (sb_traces, sb_unprocessed, sb_pages, sb_sum) = results["sandbox"]
    (mo_traces, mo_unprocessed, mo_pages, mo_sum) = results["moto"]
    sent = {}
    for d in docs:
        v = json.loads(d)
        sent.setdefault(v["trace_id"], {})[v["id"]] = v
    for name, traces in (("sandbox", sb_traces), ("moto", mo_traces)):
        if set(traces) != set(ids):
            failures.append("BatchGetTraces %s traces %s != sent %s" % (name, sorted(traces), sorted(ids)))
        for tid, segs in traces.items():
            if segs != sent.get(tid):
                failures.append("BatchGetTraces %s trace %s: segments differ from what was put" % (name, tid))
    if sb_traces != mo_traces:
        failures.append("BatchGetTraces: sandbox and moto return different segment documents")
    log("BatchGetTraces: %d traces, %d segments; sandbox %d pages, moto %d pages"
        % (len(sb_traces), sum(len(s) for s in sb_traces.values()), sb_pages, mo_pages))
    if sb_unprocessed != [unknown]:
        failures.append("BatchGetTraces sandbox UnprocessedTraceIds %s != [%s]" % (sb_unprocessed, unknown))
    if mo_unprocessed != sb_unprocessed:
        # moto does not report unknown ids (it drops them); AWS lists them.
        log("KNOWN-MOTO-DIFFERENCE BatchGetTraces UnprocessedTraceIds: moto %s, sandbox %s"
            % (mo_unprocessed, sb_unprocessed))

    # GetTraceSummaries: report, never fail, on moto's side.
    log("GetTraceSummaries: sandbox %d of the %d traces, moto %d"
        % (len(set(ids) & set(sb_sum)), len(ids), len(set(ids) & set(mo_sum))))
    missing = sorted(set(ids) - set(sb_sum))
    if missing:
        failures.append("GetTraceSummaries sandbox lacks traces %s" % missing)
    for field in ("Duration", "ResponseTime", "HasFault", "HasError", "HasThrottle", "Http"):
        differ = [t for t in ids if sb_sum.get(t, {}).get(field) != mo_sum.get(t, {}).get(field)]
        if differ:
            t = differ[0]
            log("KNOWN-MOTO-DIFFERENCE GetTraceSummaries %s differs on %d/%d traces, e.g. %s: moto %r, sandbox %r"
                % (field, len(differ), len(ids), t, mo_sum.get(t, {}).get(field), sb_sum.get(t, {}).get(field)))
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sandbox", required=True, help="sandbox base URL (its \"xray\" URL)")
    p.add_argument("--moto", required=True, help="moto_server base URL")
    args = p.parse_args()
    failures = check(args.sandbox, args.moto)
    for f in failures:
        print("FAIL " + f)
    print("xray: %d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
