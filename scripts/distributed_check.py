"""Distributed runs against real tools (run by scripts/distributed-check).

1. `stormwatch k8s` manifests for every example scenario validate with
   `kubernetes-validate --strict` for Kubernetes 1.33 and 1.37 (and a typo is caught, so
   the check can fail).
2. Two shards (`run --shard I/2 --start-at T --upload s3://...`) against a loopback HTTP
   server upload to moto's S3 server; `merge s3://...` downloads and merges them: the
   merged run has both shards, the planned requests, and as many as the server received.

Exits non-zero on the first failure. Every server is on 127.0.0.1; every wait is bounded.
"""

import argparse
import datetime
import glob
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond, message):
    if not cond:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def k8s(stormwatch, venv, tmp):
    validate = os.path.join(venv, "bin", "kubernetes-validate")
    for scenario in sorted(glob.glob("examples/*.toml")):
        out = subprocess.run(
            [stormwatch, "k8s", scenario, "--workers", "4", "--image", "registry.example/stormwatch:1",
             "--upload", "s3://results/load/", "--service-account", "loadgen"],
            check=True, capture_output=True, text=True, timeout=60).stdout
        path = os.path.join(tmp, os.path.basename(scenario) + ".yaml")
        with open(path, "w") as f:
            f.write(out)
        for version in ["1.33.0", "1.37.0"]:
            r = subprocess.run([validate, "--strict", "-k", version, path],
                               capture_output=True, text=True, timeout=120)
            check(r.returncode == 0, f"{scenario}: Indexed Job validates for Kubernetes {version} "
                  f"{r.stdout.strip()} {r.stderr.strip()}")
    typo = out.replace('"parallelism"', '"paralellism"')
    bad = os.path.join(tmp, "typo.yaml")
    with open(bad, "w") as f:
        f.write(typo)
    r = subprocess.run([validate, "--strict", "-k", "1.37.0", bad], capture_output=True, text=True, timeout=120)
    check(r.returncode != 0, "a misspelt field fails strict validation")


class Counting(http.server.BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_GET(self):
        with Counting.lock:
            Counting.count += 1
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def s3(stormwatch, venv, tmp):
    port = free_port()
    moto = subprocess.Popen([os.path.join(venv, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true", HOME=tmp)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        for _ in range(100):
            try:
                client.create_bucket(Bucket="results")
                break
            except Exception:  # moto still starting
                time.sleep(0.1)
        scenario = os.path.join(tmp, "shop.toml")
        with open(scenario, "w") as f:
            f.write('[target]\nurl = "http://127.0.0.1:9"\n[[flows]]\nname = "browse"\n[[flows.steps]]\n'
                    'path = "/items/1"\n[[phases]]\nname = "steady"\nmodel = "open"\nrate = 100\n'
                    'duration = "2s"\n')
        at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4)).isoformat()
        shards = [subprocess.Popen(
            [stormwatch, "--quiet", "run", scenario, "--target", target, "--shard", f"{i}/2",
             "--start-at", at, "--max-start-skew", "2s", "--upload", "s3://results/load/",
             "--out", os.path.join(tmp, f"shard{i}")],
            env=env, stdout=subprocess.DEVNULL) for i in range(2)]
        for p in shards:
            check(p.wait(timeout=120) == 0, "a shard ran and uploaded")
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="results", Prefix="load/").get("Contents", [])]
        manifests = [k for k in keys if k.endswith("/manifest.json")]
        check(len(manifests) == 2, f"both shards' run directories are in S3 ({manifests})")
        merged = os.path.join(tmp, "merged")
        r = subprocess.run([stormwatch, "merge", "s3://results/load/", "--out", merged],
                           env=env, capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"merge s3://results/load/ ({r.stderr.strip()})")
        with open(os.path.join(merged, "manifest.json")) as f:
            m = json.load(f)
        d = m["distribution"]
        requests = sum(s["requests"] for s in d["shards"])
        check(len(d["shards"]) == 2 and m["status"] == "completed", "the merged run has both shards")
        check(requests == 200, f"the merged run has the 200 planned requests ({requests})")
        check(requests == Counting.count, f"and the server received as many ({Counting.count})")
        r = subprocess.run([stormwatch, "merge", "s3://results/nothing-here/", "--out", os.path.join(tmp, "x")],
                           env=env, capture_output=True, text=True, timeout=120)
        check(r.returncode == 2 and "no objects" in r.stderr, "an empty prefix is refused")
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        server.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stormwatch", required=True)
    ap.add_argument("--venv", required=True)
    args = ap.parse_args()
    stormwatch = os.path.abspath(args.stormwatch)
    with tempfile.TemporaryDirectory() as tmp:
        k8s(stormwatch, args.venv, tmp)
        s3(stormwatch, args.venv, tmp)
    print("distributed check passed")


if __name__ == "__main__":
    main()
