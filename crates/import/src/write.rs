//! Writing an import as an ordinary run directory: `requests/`, `histograms.json`,
//! `series.csv` and `manifest.json`, the files `stormwatch run` writes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use stormwatch_model::percentile::percentile_of_sorted;
use stormwatch_model::request_ids::RequestIdWriter;
use stormwatch_model::run_dir::write_json_atomic;
use stormwatch_model::{
    AwsResources, EncodedHistogram, HistogramEntry, HistogramFile, MANIFEST_SCHEMA_VERSION, Phase,
    PhaseModel, PhaseWindow, RequestLogWriter, RequestRecord, RunDir, RunManifest, RunStatus,
    ScenarioCopy, UnixNanos,
};

use crate::{ImportError, Imported, Row};

/// What the caller adds to the manifest.
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    /// The AWS resources behind the target (`--function`, `--aws-from`).
    pub aws: Option<AwsResources>,
    /// The scenario copy to store; by default the first input file's path and hash.
    pub scenario: Option<ScenarioCopy>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds")
}

/// Writes `imported` into the (new, empty) run directory `dir`; returns the manifest.
pub fn write_run(
    dir: &RunDir,
    imported: &Imported,
    meta: RunMeta,
) -> Result<RunManifest, ImportError> {
    let manifest = manifest(dir, imported, meta);
    let mut log = RequestLogWriter::create(dir.requests_dir())?;
    let mut stats: BTreeMap<(u32, &str), Histogram<u64>> = BTreeMap::new();
    let samples = &imported.samples;
    // Created at the first request with an id: a run without any has no file.
    let mut request_ids: Option<RequestIdWriter> = None;
    for (i, (s, phase)) in samples.rows().iter().zip(&imported.phase_of).enumerate() {
        let start = UnixNanos(s.start_ns);
        let endpoint = samples.endpoint(s);
        let trace = s.trace();
        if let Some((id, kind)) = samples.request_id(s) {
            if request_ids.is_none() {
                request_ids = Some(RequestIdWriter::create(&dir.request_ids_path())?);
            }
            if let Some(w) = request_ids.as_mut() {
                w.append(i as u64 + 1, id, kind)?;
            }
        }
        log.append(&RequestRecord {
            sequence: i as u64 + 1,
            flow: samples.flow(s).to_string(),
            endpoint: endpoint.to_string(),
            phase: *phase,
            vu: s.actor().unwrap_or(0),
            intended: start,
            sent: start,
            end: UnixNanos(s.end_ns),
            status: s.status,
            error: s.error,
            bytes: s.bytes,
            trace_id: trace.as_ref().map(|t| t.0.clone()),
            sampled: trace.as_ref().is_some_and(|t| t.1),
        })?;
        let micros = u64::try_from((s.end_ns - s.start_ns) / 1_000)
            .unwrap_or(0)
            .max(1);
        stats
            .entry((*phase, endpoint))
            .or_insert_with(histogram)
            .saturating_record(micros);
    }
    log.finish()?;
    if let Some(w) = request_ids {
        w.finish()?;
    }
    let mut file = HistogramFile::new();
    for ((phase, endpoint), h) in &stats {
        let encoded = EncodedHistogram::encode(h);
        file.entries.push(HistogramEntry {
            phase: *phase,
            endpoint: (*endpoint).to_string(),
            corrected: encoded.clone(),
            raw: encoded,
        });
    }
    write_json_atomic(&dir.histograms_path(), &file)?;
    let series = if imported.source.per_request {
        series_from_samples(imported, &manifest)
    } else {
        series_from_rows(imported, &manifest)
    };
    let path = dir.root().join("series.csv");
    std::fs::write(&path, series).map_err(|e| stormwatch_model::ModelError::io(&path, e))?;
    dir.write_manifest(&manifest)?;
    Ok(manifest)
}

fn manifest(dir: &RunDir, imported: &Imported, meta: RunMeta) -> RunManifest {
    let phases: Vec<Phase> = imported
        .phases
        .iter()
        .enumerate()
        .map(|(i, (name, window))| {
            let users = users_in_phase(imported, i as u32);
            Phase {
                index: i as u32,
                name: name.clone(),
                model: PhaseModel::Closed {
                    start_users: users,
                    end_users: users,
                },
                planned: *window,
                actual: Some(*window),
                dropped: 0,
            }
        })
        .collect();
    let first = imported.source.files.first();
    let scenario = meta.scenario.unwrap_or_else(|| ScenarioCopy {
        path: first.map(|f| f.path.clone()).unwrap_or_default(),
        sha256: first.map(|f| f.sha256.clone()).unwrap_or_default(),
        content: String::new(),
    });
    let traced = imported
        .samples
        .rows()
        .iter()
        .filter(|s| s.has_trace())
        .count();
    let overall = PhaseWindow {
        start: phases
            .first()
            .map_or_else(chrono::Utc::now, |p| p.planned.start),
        end: phases
            .iter()
            .map(|p| p.planned.end)
            .max()
            .unwrap_or_else(chrono::Utc::now),
    };
    let mut labels = BTreeMap::new();
    labels.insert("imported_from".to_string(), imported.source.tool.clone());
    RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: dir.id(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario,
        target: imported.target.clone(),
        aws: meta.aws,
        status: RunStatus::Completed,
        trace_sampling: if imported.samples.is_empty() {
            0.0
        } else {
            traced as f64 / imported.samples.len() as f64
        },
        trace_budget_per_sec: None,
        started_at: overall.start,
        ended_at: Some(overall.end),
        phases,
        thresholds: Vec::new(),
        labels,
        distribution: None,
        source: Some(imported.source.clone()),
    }
}

/// The virtual users of a phase: distinct actors when the tool names them, else the most
/// requests in flight at once (for aggregate imports, the tool's user count).
fn users_in_phase(imported: &Imported, phase: u32) -> u32 {
    if !imported.source.per_request {
        return imported
            .series
            .iter()
            .map(|r| r.users)
            .max()
            .map_or(0, |u| u32::try_from(u).unwrap_or(u32::MAX));
    }
    let in_phase = || {
        imported
            .samples
            .rows()
            .iter()
            .zip(&imported.phase_of)
            .filter(move |(_, p)| **p == phase)
            .map(|(s, _)| s)
    };
    let actors: BTreeSet<u32> = in_phase().filter_map(Row::actor).collect();
    if !actors.is_empty() {
        return u32::try_from(actors.len()).unwrap_or(u32::MAX);
    }
    let mut edges: Vec<(i64, i32)> = in_phase()
        .flat_map(|s| [(s.start_ns, 1), (s.end_ns, -1)])
        .collect();
    edges.sort_unstable();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak.unsigned_abs()
}

const SERIES_HEADER: &str =
    "second,phase,requests,errors,p50_ms,p99_ms,in_flight,offered,dropped\n";

fn second_text(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn phase_text(manifest: &RunManifest, secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .and_then(|t| manifest.phase_at(t))
        .map_or_else(String::new, |p| p.to_string())
}

/// One line per second from the first request to the last response, as the load engine's
/// recorder writes it: completions, errors, p50/p99 of the second's raw latencies, requests
/// in flight at the second's start, requests started in it.
fn series_from_samples(imported: &Imported, manifest: &RunManifest) -> String {
    let mut out = String::from(SERIES_HEADER);
    let samples = imported.samples.rows();
    if samples.is_empty() {
        return out;
    }
    let sec = |ns: i64| ns.div_euclid(1_000_000_000);
    let mut done: BTreeMap<i64, (Vec<f64>, u64)> = BTreeMap::new();
    let mut started: BTreeMap<i64, u64> = BTreeMap::new();
    for s in samples {
        let e = done.entry(sec(s.end_ns)).or_default();
        e.0.push((s.end_ns - s.start_ns) as f64 / 1e6);
        e.1 += u64::from(s.error.is_some());
        *started.entry(sec(s.start_ns)).or_default() += 1;
    }
    let mut starts: Vec<i64> = samples.iter().map(|s| s.start_ns).collect();
    let mut ends: Vec<i64> = samples.iter().map(|s| s.end_ns).collect();
    starts.sort_unstable();
    ends.sort_unstable();
    let first = sec(starts[0]);
    let last = sec(*ends.last().unwrap_or(&starts[0]));
    for t in first..=last {
        let at = t * 1_000_000_000;
        let in_flight = starts.partition_point(|x| *x <= at) - ends.partition_point(|x| *x <= at);
        let (mut lat, errors) = done.remove(&t).unwrap_or_default();
        lat.sort_by(f64::total_cmp);
        let p = |q| percentile_of_sorted(&lat, q).unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{},{},{},{errors},{:.3},{:.3},{in_flight},{},0",
            second_text(t),
            phase_text(manifest, t),
            lat.len(),
            p(50.0),
            p(99.0),
            started.get(&t).copied().unwrap_or(0),
        );
    }
    out
}

/// The tool's own per-second rows (aggregate-only imports).
fn series_from_rows(imported: &Imported, manifest: &RunManifest) -> String {
    let mut out = String::from(SERIES_HEADER);
    for r in &imported.series {
        let requests = r.requests_per_sec.round() as u64;
        let _ = writeln!(
            out,
            "{},{},{requests},{},{:.3},{:.3},{},{requests},0",
            second_text(r.second),
            phase_text(manifest, r.second),
            r.failures_per_sec.round() as u64,
            r.p50_ms,
            r.p99_ms,
            r.users,
        );
    }
    out
}
