//! `stormwatch merge`: the shards of one distributed plan into one ordinary run directory
//! that every later stage reads unchanged.
//!
//! Checks first: every input is a shard's run (`distribution.shard_index`), all have the
//! same plan hash and tool version, and every index `0..N` is there exactly once (a missing
//! one is an error unless allowed, then recorded in `distribution.missing`). Then:
//! - phase windows: per phase, the earliest actual start and the latest actual end;
//! - request records: concatenated segment by segment (never all in memory), each record's
//!   `sequence` renumbered `sequence × N + shard` so they stay unique — the shard of a merged
//!   record is `sequence mod N`;
//! - `histograms.json`: the HDR histograms *added* per phase × endpoint (exact: equal
//!   bucket layouts on every shard);
//! - `series.csv`: per second, requests, errors, in-flight, offered and dropped summed, p50
//!   and p99 from the merged records that ended in that second;
//! - `distribution.shards`: one row per shard (requests, errors, p99, start skew, status),
//!   what the report's per-shard table shows.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;

use hdrhistogram::Histogram;
use stormwatch_model::distribution::{Distribution, ShardSummary};
use stormwatch_model::histogram::HistogramFile;
use stormwatch_model::run_dir::write_json_atomic;
use stormwatch_model::{PhaseWindow, RequestLog, RequestLogWriter, RunDir, RunManifest, RunStatus};

use crate::error::LoadError;

/// What [`merge`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The merged manifest (also on disk).
    pub manifest: RunManifest,
    /// Request records written.
    pub requests: u64,
    /// Torn last lines dropped from the shards' segments.
    pub torn_lines: usize,
}

fn bad(message: String) -> LoadError {
    LoadError::Merge(message)
}

/// The shard run directories among `inputs`: each is a run directory, or a folder whose
/// subfolders are.
///
/// # Errors
/// An input that is neither.
pub fn shard_dirs(inputs: &[PathBuf]) -> Result<Vec<RunDir>, LoadError> {
    let mut out = Vec::new();
    for p in inputs {
        let dir = RunDir::new(p);
        if dir.manifest_path().is_file() {
            out.push(dir);
            continue;
        }
        let entries = std::fs::read_dir(p).map_err(|source| LoadError::Io {
            path: p.clone(),
            source,
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|q| q.join("manifest.json").is_file())
            .collect();
        if found.is_empty() {
            return Err(bad(format!(
                "{}: neither a run directory (no manifest.json) nor a folder of them",
                p.display()
            )));
        }
        found.sort();
        out.extend(found.into_iter().map(RunDir::new));
    }
    Ok(out)
}

/// Merges the shard run directories `shards` into `out` (created; must not exist yet).
///
/// # Errors
/// Mismatched plans or versions, a duplicated shard, a missing one (unless
/// `allow_missing`), or unreadable input.
pub fn merge(shards: &[RunDir], out: &RunDir, allow_missing: bool) -> Result<Merged, LoadError> {
    let mut by_index: BTreeMap<u32, (RunDir, RunManifest)> = BTreeMap::new();
    let mut first: Option<(PathBuf, Distribution, String)> = None;
    for dir in shards {
        let m = dir.read_manifest()?;
        let name = dir.root().display().to_string();
        let Some(d) = m.distribution.clone() else {
            return Err(bad(format!(
                "{name} is not a shard's run (its manifest has no `distribution`; run with --shard I/N)"
            )));
        };
        let Some(index) = d.shard_index else {
            return Err(bad(format!("{name} is already a merged run")));
        };
        match &first {
            None => first = Some((dir.root().to_path_buf(), d.clone(), m.tool_version.clone())),
            Some((p, f, version)) => {
                if f.plan_hash != d.plan_hash {
                    return Err(bad(format!(
                        "{name} belongs to another plan than {} (plan hash {} vs {}: a different scenario, shard count, start instant or version)",
                        p.display(),
                        &d.plan_hash[..12.min(d.plan_hash.len())],
                        &f.plan_hash[..12.min(f.plan_hash.len())]
                    )));
                }
                if *version != m.tool_version {
                    return Err(bad(format!(
                        "{name} was run by stormwatch {}, {} by {version}",
                        m.tool_version,
                        p.display()
                    )));
                }
            }
        }
        if let Some((other, _)) = by_index.get(&index) {
            return Err(bad(format!(
                "shard {index} is there twice: {} and {name}",
                other.root().display()
            )));
        }
        by_index.insert(index, (dir.clone(), m));
    }
    let Some((_, plan, _)) = first else {
        return Err(bad("no shard run directories given".into()));
    };
    let n = plan.shard_count;
    let missing: Vec<u32> = (0..n).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() && !allow_missing {
        return Err(bad(format!(
            "shard(s) {} of {n} missing (--allow-missing merges the others and records the gap)",
            missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some(extra) = by_index.keys().find(|i| **i >= n) {
        return Err(bad(format!("shard index {extra} is outside 0..{n}")));
    }

    std::fs::create_dir_all(out.root()).map_err(|source| LoadError::Io {
        path: out.root().to_path_buf(),
        source,
    })?;
    let mut writer = RequestLogWriter::create(out.requests_dir())?;
    let mut histograms = HistogramFile::new();
    let mut summaries = Vec::new();
    let mut per_second: BTreeMap<i64, Second> = BTreeMap::new();
    let (mut requests, mut torn_lines) = (0u64, 0usize);
    for (&index, (dir, m)) in &by_index {
        let mut count = 0u64;
        let mut errors = 0u64;
        for path in RequestLog::segment_paths(&dir.requests_dir())? {
            let (records, torn) = RequestLog::read_segment(&path)?;
            torn_lines += usize::from(torn);
            for mut r in records {
                r.sequence = r.sequence * u64::from(n) + u64::from(index);
                count += 1;
                errors += u64::from(r.error.is_some());
                let s = per_second
                    .entry(r.end.0.div_euclid(1_000_000_000))
                    .or_default();
                s.latencies
                    .saturating_record(r.corrected_latency().as_micros().max(1) as u64);
                writer.append(&r)?;
            }
        }
        requests += count;
        // A shard killed before its end wrote none: its records still count.
        let shard_hist = dir.read_histograms()?.unwrap_or_else(HistogramFile::new);
        let mut all = new_histogram();
        for e in &shard_hist.entries {
            if let Ok(h) = e.corrected.decode() {
                let _ = all.add(&h);
            }
        }
        histograms.merge(&shard_hist)?;
        add_series(dir, &mut per_second)?;
        let d = m.distribution.as_ref();
        summaries.push(ShardSummary {
            index,
            run_id: m.run_id.clone(),
            status: m.status,
            requests: count,
            errors,
            p99_ms: (!all.is_empty()).then(|| all.value_at_quantile(0.99) as f64 / 1000.0),
            start_skew_ms: d.and_then(|d| {
                Some((d.actual_start? - d.start_at?).num_microseconds()? as f64 / 1000.0)
            }),
        });
    }
    writer.finish()?;
    write_json_atomic(&out.histograms_path(), &histograms)?;
    write_series(out, &per_second)?;

    let manifests: Vec<&RunManifest> = by_index.values().map(|(_, m)| m).collect();
    let manifest = merged_manifest(out, &manifests, plan, summaries, missing);
    out.write_manifest(&manifest)?;
    Ok(Merged {
        manifest,
        requests,
        torn_lines,
    })
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// One second of the merged series.
struct Second {
    requests: u64,
    errors: u64,
    in_flight: u64,
    offered: u64,
    dropped: u64,
    phase: String,
    latencies: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            in_flight: 0,
            offered: 0,
            dropped: 0,
            phase: String::new(),
            latencies: new_histogram(),
        }
    }
}

/// Adds a shard's `series.csv` (absent: nothing to add).
fn add_series(dir: &RunDir, into: &mut BTreeMap<i64, Second>) -> Result<(), LoadError> {
    let path = dir.root().join("series.csv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        // A torn last line of a killed shard is skipped, as in request segments.
        if f.len() != 9 {
            continue;
        }
        let second = chrono::DateTime::parse_from_rfc3339(f[0])
            .map_err(|e| bad(format!("{}:{}: second: {e}", path.display(), i + 1)))?
            .timestamp();
        let num = |k: usize| f[k].parse::<u64>().unwrap_or(0);
        let s = into.entry(second).or_default();
        s.requests += num(2);
        s.errors += num(3);
        s.in_flight += num(6);
        s.offered += num(7);
        s.dropped += num(8);
        if s.phase.is_empty() {
            s.phase = f[1].to_string();
        }
    }
    Ok(())
}

fn write_series(out: &RunDir, seconds: &BTreeMap<i64, Second>) -> Result<(), LoadError> {
    let path = out.root().join("series.csv");
    let io = |source| LoadError::Io {
        path: path.clone(),
        source,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    f.write_all(b"second,phase,requests,errors,p50_ms,p99_ms,in_flight,offered,dropped\n")
        .map_err(io)?;
    for (t, s) in seconds {
        // Seconds only the records know (a shard's series missed them) are left out.
        if s.requests == 0 && s.offered == 0 && s.in_flight == 0 {
            continue;
        }
        let q = |p: f64| {
            if s.latencies.is_empty() {
                0.0
            } else {
                s.latencies.value_at_quantile(p) as f64 / 1000.0
            }
        };
        let second = chrono::DateTime::from_timestamp(*t, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        writeln!(
            f,
            "{second},{},{},{},{:.3},{:.3},{},{},{}",
            s.phase,
            s.requests,
            s.errors,
            q(0.5),
            q(0.99),
            s.in_flight,
            s.offered,
            s.dropped
        )
        .map_err(io)?;
    }
    f.flush().map_err(io)
}

fn merged_manifest(
    out: &RunDir,
    shards: &[&RunManifest],
    plan: Distribution,
    summaries: Vec<ShardSummary>,
    missing: Vec<u32>,
) -> RunManifest {
    let base = shards[0];
    let mut m = base.clone();
    m.run_id = out.id();
    m.started_at = shards
        .iter()
        .map(|s| s.started_at)
        .min()
        .unwrap_or(base.started_at);
    m.ended_at = shards
        .iter()
        .map(|s| s.ended_at)
        .collect::<Option<Vec<_>>>()
        .and_then(|e| e.into_iter().max());
    // The worst status of any shard; a gap makes the merged run incomplete.
    m.status = if !missing.is_empty() || shards.iter().any(|s| s.status == RunStatus::Incomplete) {
        RunStatus::Incomplete
    } else if shards.iter().any(|s| s.status == RunStatus::Aborted) {
        RunStatus::Aborted
    } else {
        RunStatus::Completed
    };
    for (i, phase) in m.phases.iter_mut().enumerate() {
        let windows: Vec<PhaseWindow> = shards
            .iter()
            .filter_map(|s| s.phases.get(i)?.actual)
            .collect();
        phase.actual = (!windows.is_empty()).then(|| PhaseWindow {
            start: windows.iter().map(|w| w.start).min().unwrap_or_default(),
            end: windows.iter().map(|w| w.end).max().unwrap_or_default(),
        });
        phase.dropped = shards
            .iter()
            .filter_map(|s| s.phases.get(i).map(|p| p.dropped))
            .sum();
    }
    let dirs: BTreeSet<String> = shards.iter().map(|s| s.run_id.clone()).collect();
    m.labels.insert(
        "merged_from".into(),
        dirs.into_iter().collect::<Vec<_>>().join(","),
    );
    m.distribution = Some(Distribution {
        shard_index: None,
        actual_start: None,
        shards: summaries,
        missing,
        ..plan
    });
    m
}

/// The shard of a merged request's `sequence`.
pub fn shard_of_sequence(sequence: u64, shard_count: u32) -> u32 {
    u32::try_from(sequence % u64::from(shard_count.max(1))).unwrap_or(0)
}
