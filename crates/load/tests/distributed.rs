//! Distributed runs in one process: three shards of one plan started at one instant against
//! a loopback server, merged. The merged run has exactly the planned open-model arrivals
//! (uniform and Poisson, the latter equal to the single sequence the seed gives), its
//! merged histograms give the percentiles of the concatenated records, closed users add up,
//! the shards' arrivals interleave (striping), and `merge` refuses mismatched plans, a
//! duplicated shard and a missing one (merging it with `allow_missing`, recorded).

mod server;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stormwatch_load::merge::{merge, shard_dirs, shard_of_sequence};
use stormwatch_load::{Plan, RunOptions, Shard, StartAt, run};
use stormwatch_model::histogram::HistogramFile;
use stormwatch_model::{RequestLog, RunDir, RunStatus};

use server::{Reply, start};

const SCENARIO: &str = r#"
[target]
url = "http://unused"
[[flows]]
name = "browse"
[[flows.steps]]
path = "/items/${random_int(1,50)}"
[[phases]]
name = "steady"
model = "open"
rate = 300
duration = "1s"
[[phases]]
name = "poisson"
model = "open"
rate = 200
arrivals = "poisson"
duration = "1s"
[[phases]]
name = "users"
model = "closed"
users = 5
duration = "500ms"
"#;

async fn run_shard(
    text: &str,
    url: &str,
    root: &Path,
    shard: Shard,
    start_at: chrono::DateTime<chrono::Utc>,
) -> RunDir {
    let plan = Plan::parse(Path::new("dist.toml"), text, &[], Some(url), &|_| None).unwrap();
    let dir = RunDir::new(root.join(format!("shard-{}", shard.index)));
    run(
        Arc::new(plan),
        RunOptions {
            dir: dir.clone(),
            run_id: format!("shard-{}", shard.index),
            labels: BTreeMap::new(),
            quiet: true,
            handle_signals: false,
            shard,
            start_at: Some(StartAt {
                at: start_at,
                max_skew: Duration::from_secs(1),
            }),
        },
    )
    .await
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_merge_into_exactly_the_planned_run() {
    let srv = start(|_, _| Reply::ok("{}")).await;
    let tmp = tempfile::tempdir().unwrap();
    let start_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let shards = futures_join(SCENARIO, &srv.url, tmp.path(), 3, start_at).await;
    let out = RunDir::new(tmp.path().join("merged"));
    let merged = merge(&shards, &out, false).unwrap();
    let m = &merged.manifest;
    assert_eq!(m.status, RunStatus::Completed);
    let d = m.distribution.as_ref().unwrap();
    assert_eq!(d.shard_count, 3);
    assert_eq!(d.shards.len(), 3);
    assert!(d.missing.is_empty());
    for s in &d.shards {
        let skew = s.start_skew_ms.unwrap();
        // How late it woke after the start instant (its arrivals are planned from the
        // instant itself).
        assert!(
            (0.0..3000.0).contains(&skew),
            "shard {} skew {skew} ms",
            s.index
        );
    }

    let records = RequestLog::read(&out.requests_dir()).unwrap().records;
    let phase = |p: u32| records.iter().filter(|r| r.phase == p).count();
    // Uniform: 300/s for 1 s, exactly.
    assert_eq!(phase(0), 300);
    // Poisson: the one sequence the plan's seed gives, whatever its draw.
    let plan_hash = d.plan_hash.clone();
    let expected_poisson = poisson_count(&plan_hash);
    assert_eq!(phase(1), expected_poisson);
    // Closed: 5 users in total (2 + 2 + 1), each shard's vus distinct.
    let per_shard: Vec<u64> = d.shards.iter().map(|s| s.requests).collect();
    assert_eq!(per_shard.iter().sum::<u64>(), records.len() as u64);
    // Each record's shard is recoverable from its merged sequence.
    for (i, n) in per_shard.iter().enumerate() {
        let from_sequences = records
            .iter()
            .filter(|r| shard_of_sequence(r.sequence, 3) as usize == i)
            .count() as u64;
        assert_eq!(from_sequences, *n, "shard {i}");
    }
    let mut sequences: Vec<u64> = records.iter().map(|r| r.sequence).collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences.len(), records.len(), "sequences stay unique");
    // Striping: in the uniform phase consecutive intended sends come from different shards.
    let mut steady: Vec<(i64, u32)> = records
        .iter()
        .filter(|r| r.phase == 0)
        .map(|r| (r.intended.0, shard_of_sequence(r.sequence, 3)))
        .collect();
    steady.sort_unstable();
    assert!(
        steady.windows(2).all(|w| w[0].1 != w[1].1),
        "consecutive arrivals alternate between shards"
    );
    let gaps: Vec<i64> = steady.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let mean = gaps.iter().sum::<i64>() as f64 / gaps.len() as f64;
    assert!(
        (mean / 1e6 - 1000.0 / 300.0).abs() < 0.2,
        "{mean} ns between arrivals"
    );

    // The merged histograms are the sum: their p50/p99 equal the concatenated records'.
    let hist: HistogramFile =
        serde_json::from_str(&std::fs::read_to_string(out.histograms_path()).unwrap()).unwrap();
    let steady_hist = hist
        .entries
        .iter()
        .find(|e| e.phase == 0)
        .unwrap()
        .corrected
        .decode()
        .unwrap();
    assert_eq!(steady_hist.len(), 300);
    let mut micros: Vec<u64> = records
        .iter()
        .filter(|r| r.phase == 0)
        .map(|r| r.corrected_latency().as_micros() as u64)
        .collect();
    micros.sort_unstable();
    for q in [0.5, 0.99] {
        let exact = micros[((q * micros.len() as f64).ceil() as usize).max(1) - 1];
        let merged = steady_hist.value_at_quantile(q);
        assert!(
            steady_hist.equivalent(exact, merged),
            "q{q}: merged {merged} µs vs records {exact} µs"
        );
    }
    assert!(out.root().join("series.csv").is_file());
}

/// Runs `n` shards side by side, all starting at `start_at`.
async fn futures_join(
    text: &str,
    url: &str,
    root: &Path,
    n: u32,
    start_at: chrono::DateTime<chrono::Utc>,
) -> Vec<RunDir> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (text, url, root) = (text.to_string(), url.to_string(), root.to_path_buf());
        tasks.push(tokio::spawn(async move {
            run_shard(&text, &url, &root, Shard::new(i, n).unwrap(), start_at).await
        }));
    }
    let mut dirs = Vec::new();
    for t in tasks {
        dirs.push(t.await.unwrap());
    }
    dirs
}

/// The planned Poisson phase's arrivals: the seeded sequence a shard walks.
fn poisson_count(plan_hash: &str) -> usize {
    let model = stormwatch_model::PhaseModel::Open {
        start_rate_per_sec: 200.0,
        end_rate_per_sec: 200.0,
        arrivals: stormwatch_model::Arrivals::Poisson,
        max_in_flight: None,
    };
    stormwatch_load::planned_arrivals(&model, Duration::from_secs(1), plan_hash, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_mixed_plans_duplicates_and_gaps_unless_allowed() {
    let srv = start(|_, _| Reply::ok("{}")).await;
    let tmp = tempfile::tempdir().unwrap();
    let quick = SCENARIO.replace("duration = \"1s\"", "duration = \"200ms\"");
    let start_at = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    let a = futures_join(&quick, &srv.url, &tmp.path().join("a"), 2, start_at).await;
    // The same scenario, another start instant: another plan.
    let other = run_shard(
        &quick,
        &srv.url,
        &tmp.path().join("b"),
        Shard::new(1, 2).unwrap(),
        chrono::Utc::now() + chrono::Duration::milliseconds(100),
    )
    .await;
    let out = |name: &str| RunDir::new(tmp.path().join(name));
    let e = merge(&[a[0].clone(), other], &out("x"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another plan"), "{e}");
    let e = merge(&[a[0].clone(), a[0].clone()], &out("y"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("shard 0 is there twice"), "{e}");
    let e = merge(&[a[0].clone()], &out("z"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("shard(s) 1 of 2 missing"), "{e}");
    let partial = merge(&[a[0].clone()], &out("w"), true).unwrap();
    let d = partial.manifest.distribution.unwrap();
    assert_eq!(d.missing, [1]);
    assert_eq!(partial.manifest.status, RunStatus::Incomplete);
    // A folder of shard runs is expanded.
    let found = shard_dirs(&[tmp.path().join("a")]).unwrap();
    assert_eq!(found.len(), 2);
    assert!(merge(&found, &out("v"), false).is_ok());
    // A shard that starts too late refuses.
    let plan = Plan::parse(Path::new("dist.toml"), &quick, &[], Some(&srv.url), &|_| {
        None
    })
    .unwrap();
    let late = run(
        Arc::new(plan),
        RunOptions {
            dir: out("late"),
            run_id: "late".into(),
            labels: BTreeMap::new(),
            quiet: true,
            handle_signals: false,
            shard: Shard::new(0, 2).unwrap(),
            start_at: Some(StartAt {
                at: chrono::Utc::now() - chrono::Duration::seconds(5),
                max_skew: Duration::from_secs(1),
            }),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(late.contains("not starting"), "{late}");
    assert!(!out("late").manifest_path().exists(), "nothing written");
}
