//! `stormwatch coldstarts` account-wide: a sandbox with 13 functions of several runtimes and
//! memory sizes (one never invoked), driven into cold starts by rounds of requests with
//! idle gaps past their idle timeout; the command discovers the functions through the
//! Lambda API, has Logs Insights aggregate their REPORT lines, and its counts per function
//! are checked against the sandbox's ground truth. Filters, tags, relative ranges, several
//! regions, the recommendation for the function that cold-starts at a steady concurrency
//! and the files `--out` writes are covered. Nothing leaves 127.0.0.1.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::util::{http_get, start_sandbox_with, stormwatch};

/// Runtimes and memory sizes of the 12 invoked functions `f00`..`f11`.
const FUNCTIONS: [(&str, u32, &str); 12] = [
    ("nodejs20.x", 128, "fixed 120ms"),
    ("nodejs20.x", 512, "fixed 90ms"),
    ("nodejs22.x", 1024, "fixed 60ms"),
    ("python3.12", 256, "fixed 150ms"),
    ("python3.12", 1024, "fixed 80ms"),
    ("python3.13", 2048, "fixed 50ms"),
    ("java21", 512, "fixed 300ms"),
    ("java21", 1024, "fixed 200ms"),
    ("java17", 2048, "fixed 150ms"),
    ("provided.al2023", 128, "fixed 30ms"),
    ("ruby3.3", 256, "fixed 110ms"),
    ("dotnet8", 512, "fixed 180ms"),
];

fn config() -> String {
    let mut s = String::from(
        "[api]\nkind = \"rest\"\nname = \"fleet\"\nstage = \"prod\"\n\n[telemetry]\nresolution = \"1s\"\n",
    );
    for (i, (runtime, memory, init)) in FUNCTIONS.iter().enumerate() {
        let team = if i % 3 == 0 { "checkout" } else { "search" };
        let _ = write!(
            s,
            "\n[functions.f{i:02}]\nruntime = \"{runtime}\"\nmemory_mb = {memory}\ninit = \"{init}\"\ntimeout = \"3s\"\nidle_timeout = \"2s\"\ntags = {{ team = \"{team}\" }}\n\n[[routes]]\nroute = \"GET /prod/f{i:02}/{{id}}\"\nfunction = \"f{i:02}\"\nhandler = \"uniform 5ms..15ms\"\n"
        );
    }
    s.push_str("\n[functions.unused]\nruntime = \"nodejs20.x\"\n\n[[routes]]\nroute = \"GET /prod/unused\"\nfunction = \"unused\"\n");
    s
}

/// The `coldstarts` JSON's functions by name.
fn by_name(report: &Value) -> BTreeMap<String, Value> {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["function"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

#[test]
fn account_wide_counts_filters_ranges_regions_and_recommendations() {
    let tmp = tempfile::tempdir().unwrap();
    let truth_path = tmp.path().join("truth.jsonl");
    let s = start_sandbox_with(&config(), 5, Some(&truth_path));
    let url = s.sandbox.api_url.clone();
    let addr = url.trim_start_matches("http://").to_string();
    // Three rounds, each after the environments were reaped: every function cold-starts
    // (twice when two requests arrive together), then serves warm. f00 gets far more
    // traffic, all of it one request at a time.
    for round in 0..3 {
        if round > 0 {
            thread::sleep(Duration::from_millis(2600));
        }
        let pairs: Vec<_> = (0..FUNCTIONS.len())
            .flat_map(|i| (0..2).map(move |k| (i, k)))
            .map(|(i, k)| {
                let addr = addr.clone();
                thread::spawn(move || http_get(&addr, &format!("/prod/f{i:02}/{k}")))
            })
            .collect();
        for h in pairs {
            assert!(h.join().unwrap().starts_with("HTTP/1.1 200"));
        }
        for i in 0..FUNCTIONS.len() {
            let n = if i == 0 { 20 } else { 2 };
            for k in 0..n {
                assert!(http_get(&addr, &format!("/prod/f{i:02}/{k}")).starts_with("HTTP/1.1 200"));
            }
        }
    }

    let run = |args: &[&str]| -> Value {
        let out = stormwatch(&url, tmp.path())
            .arg("coldstarts")
            .args(args)
            .arg("--json")
            .timeout(Duration::from_secs(180))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    let out_dir = tmp.path().join("out");
    let all = run(&["--since", "10m", "--out", out_dir.to_str().unwrap()]);
    s.runtime.block_on(s.sandbox.stop()).unwrap();

    // Ground truth per function: invocations that reached it, and cold starts.
    let mut truth: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in std::fs::read_to_string(&truth_path).unwrap().lines() {
        let t: Value = serde_json::from_str(line).unwrap();
        let e = truth
            .entry(t["function"].as_str().unwrap().to_string())
            .or_default();
        if t["throttled_by"].is_null() {
            e.0 += 1;
        }
        if t["cold"] == true {
            e.1 += 1;
        }
    }
    let got = by_name(&all);
    assert_eq!(got.len(), 13, "every function discovered: {:?}", got.keys());
    for (name, (invoked, cold)) in &truth {
        let f = &got[name];
        assert!(*cold >= 3, "{name}: each round cold-starts it");
        assert_eq!(f["invocations"], *invoked, "{name}: {f:#}");
        assert_eq!(f["cold_starts"], *cold, "{name}: {f:#}");
    }
    let unused = &got["unused"];
    assert_eq!(unused["invocations"], 0);
    assert_eq!(
        all["sources"]["logs"]["missing_groups"][0],
        "/aws/lambda/unused"
    );
    // Ranked by the latency cold starts added, most first.
    let added: Vec<f64> = all["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cost"]["added_total"].as_f64().unwrap())
        .collect();
    assert!(added.windows(2).all(|w| w[0] >= w[1]), "{added:?}");
    // Context from the Lambda API.
    assert_eq!(got["f06"]["context"]["runtime"], "java21");
    assert_eq!(got["f06"]["context"]["memory_mb"], 512);
    // The fleet: every runtime of the config.
    let runtimes: Vec<&str> = all["fleet"]["by_runtime"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    for (runtime, ..) in FUNCTIONS {
        assert!(runtimes.contains(&runtime), "{runtime} in {runtimes:?}");
    }
    // f00 cold-starts at every round with a steady, small concurrency: provisioned
    // concurrency, priced.
    let pc = got["f00"]["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "provisioned_concurrency")
        .unwrap_or_else(|| panic!("{:#}", got["f00"]));
    assert!(
        pc["action"]
            .as_str()
            .unwrap()
            .contains("provisioned concurrency of 1"),
        "{pc}"
    );
    assert!(pc["arithmetic"].as_str().unwrap().contains('$'), "{pc}");
    assert!(pc["usd_per_month"].as_f64().unwrap() > 0.0, "{pc}");
    // Java gets SnapStart (free); a runtime without SnapStart does not.
    let kinds = |f: &str| -> Vec<String> {
        got[f]["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        kinds("f06").contains(&"snap_start".to_string()),
        "{:?}",
        kinds("f06")
    );
    assert!(
        !kinds("f10").contains(&"snap_start".to_string()),
        "{:?}",
        kinds("f10")
    );
    // --out wrote the JSON, the page and the charts.
    for file in ["coldstarts.json", "coldstarts.html", "coldstarts-fleet.png"] {
        assert!(out_dir.join(file).is_file(), "{file}");
    }
}

#[test]
fn filters_tags_relative_ranges_and_regions_select_what_they_say() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_sandbox_with(&config(), 5, None);
    let url = s.sandbox.api_url.clone();
    let addr = url.trim_start_matches("http://").to_string();
    for i in 0..FUNCTIONS.len() {
        assert!(http_get(&addr, &format!("/prod/f{i:02}/1")).starts_with("HTTP/1.1 200"));
    }
    let run = |args: &[&str]| -> Value {
        let out = stormwatch(&url, tmp.path())
            .arg("coldstarts")
            .args(args)
            .args(["--json", "--no-xray"])
            .timeout(Duration::from_secs(180))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    let names = |v: &Value| -> Vec<String> { by_name(v).into_keys().collect() };
    assert_eq!(
        names(&run(&["--last", "1h", "--filter", "f1"])),
        ["f10", "f11"]
    );
    assert_eq!(
        names(&run(&["--since", "1h", "--filter", "^f0[12]$"])),
        ["f01", "f02"]
    );
    let checkout = names(&run(&["--since", "1h", "--tag", "team=checkout"]));
    assert_eq!(checkout, ["f00", "f03", "f06", "f09"]);
    // An explicit range ending now counts what --since does.
    let from = (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
    let explicit = run(&["--from", &from, "--filter", "f0"]);
    let relative = run(&["--since", "30m", "--filter", "f0"]);
    for (name, f) in by_name(&explicit) {
        assert_eq!(
            f["invocations"],
            by_name(&relative)[&name]["invocations"],
            "{name}"
        );
        assert_eq!(f["invocations"], 1, "{name}");
    }
    // Two regions: the sandbox's functions live in us-east-1 only.
    let two = run(&[
        "--since",
        "1h",
        "--regions",
        "us-east-1,eu-west-1",
        "--filter",
        "f00",
    ]);
    assert_eq!(
        two["sources"]["regions"],
        serde_json::json!(["us-east-1", "eu-west-1"])
    );
    assert_eq!(names(&two), ["us-east-1/f00"]);
    s.runtime.block_on(s.sandbox.stop()).unwrap();

    // Bad flags exit 2 naming the flag.
    let nowhere = "http://127.0.0.1:9";
    stormwatch(nowhere, tmp.path())
        .args(["coldstarts", "--since", "3 weeks"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--since"));
    stormwatch(nowhere, tmp.path())
        .args(["coldstarts", "--since", "1h", "--filter", "f(("])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--filter"));
    stormwatch(nowhere, tmp.path())
        .args(["coldstarts", "--since", "1h", "--tag", "team"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("KEY=VALUE"));
}
