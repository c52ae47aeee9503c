//! Distributed runs through the binary: three `stormwatch run --shard I/3 --start-at T`
//! processes against a loopback server, merged with `stormwatch merge`: the merged run has
//! exactly the planned arrivals, `analyze` and `report` read it, its report has the
//! per-shard table; `--shards N` takes its index from `JOB_COMPLETION_INDEX`; a shard killed
//! with SIGKILL merges as incomplete and a missing one only with `--allow-missing`; a shard
//! past its start instant exits 5; `stormwatch k8s` prints an Indexed Job. Nothing leaves
//! 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::util::{scenario, server, stormwatch, stormwatch_process};

const PHASES: &str = "[[phases]]\nname = \"steady\"\nmodel = \"open\"\nrate = 150\nduration = \"2s\"\n\
                      [[phases]]\nname = \"users\"\nmodel = \"closed\"\nusers = 4\nduration = \"500ms\"\n";

fn start_at(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The only run directory under `dir`.
fn run_dir_in(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// `stormwatch --quiet run SCENARIO` against `url` as a shard starting at `at` (the caller
/// adds `--shard` or `--shards`), its run directory under `out`, its output discarded.
fn shard_command(
    url: &str,
    home: &Path,
    scenario: &Path,
    at: &str,
    out: &Path,
) -> std::process::Command {
    let mut c = stormwatch_process(url, home);
    c.args(["--quiet", "run"])
        .arg(scenario)
        .args(["--target", url, "--start-at", at, "--max-start-skew", "2s"])
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn shards_started_at_one_instant_merge_into_the_planned_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, count) = server();
    let path = scenario(tmp.path(), PHASES, "");
    let at = start_at(4);
    let mut children = Vec::new();
    for i in 0..3 {
        let out = tmp.path().join(format!("shard{i}"));
        let mut c = shard_command(&url, tmp.path(), &path, &at, &out);
        // Shard 2 through an Indexed Job's environment instead of --shard.
        if i == 2 {
            c.args(["--shards", "3"]).env("JOB_COMPLETION_INDEX", "2");
        } else {
            c.args(["--shard", &format!("{i}/3")]);
        }
        children.push(c.spawn().unwrap());
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| run_dir_in(&tmp.path().join(format!("shard{i}"))))
        .collect();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(manifest(s)["distribution"]["shard_index"], i);
    }
    let merged = tmp.path().join("merged");
    let out = stormwatch(&url, tmp.path())
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("merged 3 of 3 shards"), "{text}");
    let m = manifest(&merged);
    assert_eq!(m["status"], "completed");
    let d = &m["distribution"];
    assert_eq!(d["shard_count"], 3);
    let requests: u64 = d["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    // Every request the shards recorded reached the server, once.
    assert_eq!(
        requests,
        count.load(std::sync::atomic::Ordering::SeqCst) as u64
    );

    stormwatch(&url, tmp.path())
        .args(["report"])
        .arg(&merged)
        .args(["--format", "json,md"])
        .assert()
        .success();
    let analysis: Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("analysis.json")).unwrap())
            .unwrap();
    // Exactly the planned open arrivals: 150/s for 2 s.
    assert_eq!(
        analysis["phases"][0]["requests"], 300,
        "{}",
        analysis["phases"][0]
    );
    assert_eq!(analysis["run"]["shards"].as_array().unwrap().len(), 3);
    let md = std::fs::read_to_string(merged.join("report/summary.md")).unwrap();
    assert!(md.contains("### Shards"), "{md}");
}

#[test]
fn killed_missing_and_late_shards_are_reported_not_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, _) = server();
    let long = PHASES.replace("duration = \"2s\"", "duration = \"20s\"");
    let path = scenario(tmp.path(), &long, "");
    let at = start_at(3);
    let spawn = |i: u32| {
        shard_command(
            &url,
            tmp.path(),
            &path,
            &at,
            &tmp.path().join(format!("shard{i}")),
        )
        .args(["--shard", &format!("{i}/2")])
        .spawn()
        .unwrap()
    };
    let mut a = spawn(0);
    let mut b = spawn(1);
    // Both are running phase 0 (20 s long) a few seconds after the start instant.
    std::thread::sleep(Duration::from_secs(6));
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
    let s0 = run_dir_in(&tmp.path().join("shard0"));
    let s1 = run_dir_in(&tmp.path().join("shard1"));
    // Both killed: they merge, as incomplete, each row saying so.
    stormwatch(&url, tmp.path())
        .arg("merge")
        .args([&s0, &s1])
        .arg("--out")
        .arg(tmp.path().join("both"))
        .assert()
        .success();
    let m = manifest(&tmp.path().join("both"));
    assert_eq!(m["status"], "incomplete");
    assert_eq!(m["distribution"]["shards"][1]["status"], "incomplete");
    assert!(m["distribution"]["shards"][1]["requests"].as_u64().unwrap() > 0);
    // One of them gone: refused unless --allow-missing, then recorded.
    stormwatch(&url, tmp.path())
        .arg("merge")
        .arg(&s0)
        .arg("--out")
        .arg(tmp.path().join("one"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("shard(s) 1 of 2 missing"));
    stormwatch(&url, tmp.path())
        .arg("merge")
        .arg(&s0)
        .args(["--allow-missing", "--out"])
        .arg(tmp.path().join("partial"))
        .assert()
        .success()
        .stdout(predicates::str::contains("missing shard(s): 1"));
    assert_eq!(
        manifest(&tmp.path().join("partial"))["distribution"]["missing"],
        serde_json::json!([1])
    );
    // Past its start instant: exit 5, nothing written.
    let late_dir = tmp.path().join("late");
    stormwatch(&url, tmp.path())
        .args(["--quiet", "run"])
        .arg(&path)
        .args(["--target", &url, "--shard", "0/2"])
        .args(["--start-at", &start_at(-10)])
        .arg("--out")
        .arg(&late_dir)
        .assert()
        .code(5)
        .stderr(predicates::str::contains("not starting"));
    assert!(
        std::fs::read_dir(&late_dir).map_or(true, |d| d.count() == 0),
        "no run directory for a shard that did not start"
    );
}

#[test]
fn k8s_prints_a_configmap_and_an_indexed_job_that_never_retries_a_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let path = scenario(tmp.path(), PHASES, "");
    let out = stormwatch("http://127.0.0.1:9", tmp.path())
        .arg("k8s")
        .arg(&path)
        .args(["--workers", "4", "--image", "registry.example/stormwatch:1"])
        .args(["--upload", "s3://results/load/", "--namespace", "perf"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| {
            let json: String = d
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            serde_json::from_str(&json).unwrap()
        })
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"], "ConfigMap");
    assert_eq!(
        docs[0]["data"]["scenario.toml"],
        std::fs::read_to_string(&path).unwrap()
    );
    let spec = &docs[1]["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    assert_eq!(spec["parallelism"], 4);
    assert_eq!(spec["backoffLimitPerIndex"], 0);
    assert_eq!(spec["podReplacementPolicy"], "Failed");
    let args: Vec<&str> = spec["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.windows(2).any(|w| w == ["--shards", "4"]), "{args:?}");
    assert!(
        args.windows(2)
            .any(|w| w == ["--upload", "s3://results/load/"]),
        "{args:?}"
    );
    let at = args[args.iter().position(|a| *a == "--start-at").unwrap() + 1];
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    // A broken scenario never reaches the cluster.
    std::fs::write(tmp.path().join("bad.toml"), "[[phases]]\nname = 3\n").unwrap();
    stormwatch("http://127.0.0.1:9", tmp.path())
        .arg("k8s")
        .arg(tmp.path().join("bad.toml"))
        .args(["--workers", "2", "--image", "x"])
        .assert()
        .code(2);
}

/// The findings of a merged run are the single process's: the same scenario once as one
/// process and once as three shards, each against its own sandbox of the same config (a
/// function capped at one concurrent execution, so the burst throttles), collected and
/// analyzed; both name the same (kind, resource, phase) at warning or above.
#[test]
fn a_merged_run_reaches_the_single_process_findings() {
    let config =
        crate::util::SANDBOX.replace("reserved_concurrency = 2", "reserved_concurrency = 1");
    let tmp = tempfile::tempdir().unwrap();
    let phases = "[[phases]]\nname = \"warm\"\nmodel = \"open\"\nrate = 10\nduration = \"2s\"\n\
                  [[phases]]\nname = \"burst\"\nmodel = \"open\"\nrate = 120\nduration = \"2s\"\n";
    let text = format!(
        "[target]\nurl = \"http://127.0.0.1:9\"\n\n\
         [aws]\nregion = \"us-east-1\"\nfunctions = [\"items\"]\n\
         api = {{ kind = \"rest\", name = \"fast-test\", stage = \"prod\" }}\n\n\
         [[flows]]\nname = \"browse\"\n[[flows.steps]]\nendpoint = \"GET /items/:id\"\n\
         path = \"/prod/items/${{random_int(1,9)}}\"\n\n{phases}"
    );
    let path = tmp.path().join("items.toml");
    std::fs::write(&path, text).unwrap();
    let findings = |run: &Path| -> std::collections::BTreeSet<String> {
        let a: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("analysis.json")).unwrap())
                .unwrap();
        a["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .map(|f| format!("{} {} {}", f["kind"], f["resource"], f["phase"]))
            .collect()
    };
    let collect_and_analyze = |url: &str, run: &Path| {
        stormwatch(url, tmp.path())
            .arg("collect")
            .arg(run)
            .args(["--period", "1", "--wait", "2s"])
            .timeout(Duration::from_secs(180))
            .assert()
            .success();
        // Exit 0 or 1 (a failed verdict): the findings are what is compared.
        let code = stormwatch(url, tmp.path())
            .arg("analyze")
            .arg(run)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
            .status
            .code();
        assert!(matches!(code, Some(0 | 1)), "{code:?}");
    };

    let single = crate::util::start_sandbox_with(&config, 3, None);
    let url = single.sandbox.api_url.clone();
    stormwatch(&url, tmp.path())
        .args(["--quiet", "run"])
        .arg(&path)
        .args(["--target", &url, "--out"])
        .arg(tmp.path().join("single"))
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    let single_run = run_dir_in(&tmp.path().join("single"));
    collect_and_analyze(&url, &single_run);
    single.runtime.block_on(single.sandbox.stop()).unwrap();

    let sharded = crate::util::start_sandbox_with(&config, 3, None);
    let url = sharded.sandbox.api_url.clone();
    let at = start_at(3);
    let children: Vec<_> = (0..3)
        .map(|i| {
            shard_command(&url, tmp.path(), &path, &at, &tmp.path().join("shards"))
                .args(["--shard", &format!("{i}/3")])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let merged = tmp.path().join("merged");
    stormwatch(&url, tmp.path())
        .arg("merge")
        .arg(tmp.path().join("shards"))
        .arg("--out")
        .arg(&merged)
        .assert()
        .success();
    collect_and_analyze(&url, &merged);
    sharded.runtime.block_on(sharded.sandbox.stop()).unwrap();

    let (one, three) = (findings(&single_run), findings(&merged));
    assert!(
        one.iter()
            .any(|f| f.contains("throttl") && f.contains("burst")),
        "the single process sees the burst throttled: {one:?}"
    );
    assert_eq!(one, three, "single process vs three shards");
}
