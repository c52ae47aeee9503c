//! Merging shards at scale (issue 14's benchmark): 4 shard run directories of 2,500,000
//! requests each (`REQUESTS` per shard to change), written as `run` writes them (request
//! segments, histograms, series), then merged. Prints the merge's seconds and the process's
//! peak resident memory (VmHWM) before and after; targets ≤ 20 s and ≤ 1 GB.
//!
//! Run: `cargo bench -p stormwatch-load --bench merge_shards` (release).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use stormwatch_load::merge::merge;
use stormwatch_model::distribution::{Distribution, plan_hash};
use stormwatch_model::histogram::{EncodedHistogram, HistogramEntry, HistogramFile};
use stormwatch_model::run_dir::write_json_atomic;
use stormwatch_model::{
    Arrivals, MANIFEST_SCHEMA_VERSION, Phase, PhaseModel, PhaseWindow, RequestLogWriter,
    RequestRecord, RunDir, RunManifest, RunStatus, ScenarioCopy, UnixNanos,
};

const SHARDS: u32 = 4;
const RATE_PER_SHARD: u64 = 10_000;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let per_shard: u64 = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_500_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let length = Duration::from_secs(per_shard / RATE_PER_SHARD + 1);
    let window = PhaseWindow::starting_at(start, length);
    let hash = plan_hash("ab", SHARDS, Some(start), "bench");
    let written = Instant::now();
    let mut shards = Vec::new();
    for shard in 0..SHARDS {
        let dir = RunDir::new(tmp.path().join(format!("shard{shard}")));
        let mut w = RequestLogWriter::create(dir.requests_dir()).expect("requests");
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("hist");
        let t0 = UnixNanos::from_datetime(start);
        for i in 0..per_shard {
            let k = i * u64::from(SHARDS) + u64::from(shard);
            let intended = t0.plus(Duration::from_nanos(
                k * 1_000_000_000 / (RATE_PER_SHARD * u64::from(SHARDS)),
            ));
            let latency = Duration::from_micros(5_000 + (k * 7919) % 20_000);
            hist.saturating_record(latency.as_micros() as u64);
            w.append(&RequestRecord {
                sequence: i,
                flow: "browse".into(),
                endpoint: "GET /items/:id".into(),
                phase: 0,
                vu: 0,
                intended,
                sent: intended,
                end: intended.plus(latency),
                status: 200,
                error: None,
                bytes: 100,
                trace_id: Some(format!("1-{:08x}-{k:024x}", intended.0 / 1_000_000_000)),
                sampled: false,
            })
            .expect("record");
        }
        w.finish().expect("finish");
        let mut file = HistogramFile::new();
        file.entries.push(HistogramEntry {
            phase: 0,
            endpoint: "GET /items/:id".into(),
            corrected: EncodedHistogram::encode(&hist),
            raw: EncodedHistogram::encode(&hist),
        });
        write_json_atomic(&dir.histograms_path(), &file).expect("histograms");
        dir.write_manifest(&RunManifest {
            schema_version: MANIFEST_SCHEMA_VERSION,
            run_id: format!("shard{shard}"),
            tool_version: "bench".into(),
            scenario: ScenarioCopy {
                path: "bench.toml".into(),
                sha256: "ab".into(),
                content: String::new(),
            },
            target: "http://127.0.0.1:1".into(),
            aws: None,
            status: RunStatus::Completed,
            trace_sampling: 0.0,
            trace_budget_per_sec: None,
            started_at: start,
            ended_at: Some(window.end),
            phases: vec![Phase {
                index: 0,
                name: "steady".into(),
                model: PhaseModel::Open {
                    start_rate_per_sec: (RATE_PER_SHARD * u64::from(SHARDS)) as f64,
                    end_rate_per_sec: (RATE_PER_SHARD * u64::from(SHARDS)) as f64,
                    arrivals: Arrivals::Uniform,
                    max_in_flight: None,
                },
                planned: window,
                actual: Some(window),
                dropped: 0,
            }],
            thresholds: vec![],
            labels: BTreeMap::new(),
            distribution: Some(Distribution {
                plan_hash: hash.clone(),
                shard_count: SHARDS,
                start_at: Some(start),
                shard_index: Some(shard),
                actual_start: Some(start),
                shards: vec![],
                missing: vec![],
            }),
            source: None,
        })
        .expect("manifest");
        shards.push(dir);
    }
    println!(
        "written: {SHARDS} shards x {per_shard} requests in {:.1} s; peak RSS so far {:.0} MB",
        written.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    let before = peak_rss_mb();
    let began = Instant::now();
    let out = RunDir::new(tmp.path().join("merged"));
    let merged = merge(&shards, &out, false).expect("merge");
    println!(
        "merge: {:.1} s (target <= 20 s) for {} requests; peak RSS {:.0} MB (was {before:.0} MB before merging; target <= 1024 MB)",
        began.elapsed().as_secs_f64(),
        merged.requests,
        peak_rss_mb()
    );
}
