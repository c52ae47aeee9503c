//! `telemetry/metrics.parquet` and `telemetry/spans.parquet` to and from polars frames
//! (feature `parquet`).
//!
//! The column layout is the one documented in `docs/run-format.md`; the collector writes
//! these files and the analyzer reads them, so both conversions live here, in the crate
//! that owns the run-directory contract, and are tested as a round trip. Behind a feature
//! so stages that never touch parquet (load, sandbox) do not build polars.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{MetricPoint, Span, SpanKind, UnixNanos};
use polars::prelude::*;

/// Frame of metric points, one row each.
pub fn metrics_to_frame(points: &[MetricPoint]) -> PolarsResult<DataFrame> {
    let ts: Vec<i64> = points
        .iter()
        .map(|p| UnixNanos::from_datetime(p.timestamp).0)
        .collect();
    let timestamp = Int64Chunked::from_vec("timestamp".into(), ts)
        .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC));
    let strings = |f: fn(&MetricPoint) -> String| -> Vec<String> { points.iter().map(f).collect() };
    DataFrame::new_infer_height(vec![
        timestamp.into_column(),
        Column::new("namespace".into(), strings(|p| p.namespace.clone())),
        Column::new("metric".into(), strings(|p| p.metric.clone())),
        Column::new(
            "dimensions".into(),
            strings(|p| serde_json::to_string(&p.dimensions).unwrap_or_default()),
        ),
        Column::new("stat".into(), strings(|p| p.stat.clone())),
        Column::new(
            "period_secs".into(),
            points.iter().map(|p| p.period_secs).collect::<Vec<u32>>(),
        ),
        Column::new(
            "value".into(),
            points.iter().map(|p| p.value).collect::<Vec<f64>>(),
        ),
        Column::new(
            "filled_zero".into(),
            points.iter().map(|p| p.filled_zero).collect::<Vec<bool>>(),
        ),
    ])
}

fn bad(what: &str) -> PolarsError {
    PolarsError::ComputeError(format!("unexpected or missing column `{what}`").into())
}

/// Metric points from a frame with the documented columns.
pub fn metrics_from_frame(df: &DataFrame) -> PolarsResult<Vec<MetricPoint>> {
    let ts = df
        .column("timestamp")?
        .cast(&DataType::Int64)?
        .i64()?
        .clone();
    let s = |n: &str| -> PolarsResult<StringChunked> { Ok(df.column(n)?.str()?.clone()) };
    let (ns, metric, dims, stat) = (s("namespace")?, s("metric")?, s("dimensions")?, s("stat")?);
    let period = df
        .column("period_secs")?
        .cast(&DataType::UInt32)?
        .u32()?
        .clone();
    let value = df.column("value")?.cast(&DataType::Float64)?.f64()?.clone();
    let filled = df.column("filled_zero")?.bool()?.clone();
    (0..df.height())
        .map(|i| {
            let dimensions: BTreeMap<String, String> = dims
                .get(i)
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| bad("dimensions"))?
                .unwrap_or_default();
            Ok(MetricPoint {
                timestamp: UnixNanos(ts.get(i).ok_or_else(|| bad("timestamp"))?).to_datetime(),
                namespace: ns.get(i).unwrap_or_default().into(),
                metric: metric.get(i).unwrap_or_default().into(),
                dimensions,
                stat: stat.get(i).unwrap_or_default().into(),
                period_secs: period.get(i).ok_or_else(|| bad("period_secs"))?,
                value: value.get(i).ok_or_else(|| bad("value"))?,
                filled_zero: filled.get(i).unwrap_or(false),
            })
        })
        .collect()
}

fn kind_name(k: SpanKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Frame of spans, one row each.
pub fn spans_to_frame(spans: &[Span]) -> PolarsResult<DataFrame> {
    let strings = |f: fn(&Span) -> String| -> Vec<String> { spans.iter().map(f).collect() };
    let bools = |f: fn(&Span) -> bool| -> Vec<bool> { spans.iter().map(f).collect() };
    DataFrame::new_infer_height(vec![
        Column::new("trace_id".into(), strings(|s| s.trace_id.clone())),
        Column::new("id".into(), strings(|s| s.id.clone())),
        Column::new(
            "parent_id".into(),
            spans
                .iter()
                .map(|s| s.parent_id.clone())
                .collect::<Vec<Option<String>>>(),
        ),
        Column::new("kind".into(), strings(|s| kind_name(s.kind))),
        Column::new("origin".into(), strings(|s| s.origin.clone())),
        Column::new("name".into(), strings(|s| s.name.clone())),
        Column::new(
            "start".into(),
            spans.iter().map(|s| s.start.0).collect::<Vec<i64>>(),
        ),
        Column::new(
            "end".into(),
            spans.iter().map(|s| s.end.0).collect::<Vec<i64>>(),
        ),
        Column::new(
            "http_status".into(),
            spans
                .iter()
                .map(|s| s.http_status.map(i32::from))
                .collect::<Vec<Option<i32>>>(),
        ),
        Column::new("error".into(), bools(|s| s.error)),
        Column::new("fault".into(), bools(|s| s.fault)),
        Column::new("throttle".into(), bools(|s| s.throttle)),
        Column::new("cold".into(), bools(|s| s.cold)),
        Column::new(
            "retries".into(),
            spans.iter().map(|s| s.retries).collect::<Vec<u32>>(),
        ),
        Column::new("timed_out".into(), bools(|s| s.timed_out)),
    ])
}

/// Spans from a frame with the documented columns.
pub fn spans_from_frame(df: &DataFrame) -> PolarsResult<Vec<Span>> {
    let s = |n: &str| -> PolarsResult<StringChunked> { Ok(df.column(n)?.str()?.clone()) };
    let b = |n: &str| -> PolarsResult<BooleanChunked> { Ok(df.column(n)?.bool()?.clone()) };
    let i = |n: &str| -> PolarsResult<Int64Chunked> {
        Ok(df.column(n)?.cast(&DataType::Int64)?.i64()?.clone())
    };
    let (trace, id, parent, kind, origin, name) = (
        s("trace_id")?,
        s("id")?,
        s("parent_id")?,
        s("kind")?,
        s("origin")?,
        s("name")?,
    );
    let (start, end, status, retries) = (i("start")?, i("end")?, i("http_status")?, i("retries")?);
    let (error, fault, throttle, cold) = (b("error")?, b("fault")?, b("throttle")?, b("cold")?);
    // Written since analysis schema 2; older files have no such column.
    let timed_out = b("timed_out").ok();
    (0..df.height())
        .map(|r| {
            let kind: SpanKind = kind
                .get(r)
                .and_then(|k| serde_json::from_value(serde_json::Value::String(k.into())).ok())
                .unwrap_or(SpanKind::Other);
            Ok(Span {
                trace_id: trace.get(r).unwrap_or_default().into(),
                id: id.get(r).unwrap_or_default().into(),
                parent_id: parent.get(r).map(str::to_string),
                kind,
                origin: origin.get(r).unwrap_or_default().into(),
                name: name.get(r).unwrap_or_default().into(),
                start: UnixNanos(start.get(r).ok_or_else(|| bad("start"))?),
                end: UnixNanos(end.get(r).ok_or_else(|| bad("end"))?),
                http_status: status.get(r).and_then(|v| u16::try_from(v).ok()),
                error: error.get(r).unwrap_or(false),
                fault: fault.get(r).unwrap_or(false),
                throttle: throttle.get(r).unwrap_or(false),
                cold: cold.get(r).unwrap_or(false),
                retries: retries
                    .get(r)
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0),
                timed_out: timed_out.as_ref().and_then(|c| c.get(r)).unwrap_or(false),
            })
        })
        .collect()
}

/// Writes a frame as a parquet file.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> PolarsResult<()> {
    let file = std::fs::File::create(path)?;
    ParquetWriter::new(file).finish(df)?;
    Ok(())
}

/// Writes `points` to `path` (e.g. `telemetry/metrics.parquet`) atomically: a temporary
/// file, then a rename, so a reader never sees half a file.
pub fn write_metrics(points: &[MetricPoint], path: &Path) -> PolarsResult<()> {
    write_atomic(&mut metrics_to_frame(points)?, path)
}

/// Writes `spans` to `path` (e.g. `telemetry/spans.parquet`) atomically.
pub fn write_spans(spans: &[Span], path: &Path) -> PolarsResult<()> {
    write_atomic(&mut spans_to_frame(spans)?, path)
}

/// Reads `telemetry/metrics.parquet`.
pub fn read_metrics(path: &Path) -> PolarsResult<Vec<MetricPoint>> {
    metrics_from_frame(&read_parquet(path)?)
}

/// Reads `telemetry/spans.parquet`.
pub fn read_spans(path: &Path) -> PolarsResult<Vec<Span>> {
    spans_from_frame(&read_parquet(path)?)
}

fn write_atomic(df: &mut DataFrame, path: &Path) -> PolarsResult<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("parquet.tmp");
    write_parquet(df, &tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Reads a parquet file into a frame.
pub fn read_parquet(path: &Path) -> PolarsResult<DataFrame> {
    let file = std::fs::File::open(path)?;
    ParquetReader::new(file).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_spans_round_trip_through_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let points = vec![MetricPoint {
            timestamp: UnixNanos(1_700_000_040_000_000_000).to_datetime(),
            namespace: "AWS/Lambda".into(),
            metric: "Throttles".into(),
            dimensions: BTreeMap::from([("FunctionName".into(), "f".into())]),
            stat: "Sum".into(),
            period_secs: 60,
            value: 312.0,
            filled_zero: false,
        }];
        let path = dir.path().join("m.parquet");
        write_parquet(&mut metrics_to_frame(&points).unwrap(), &path).unwrap();
        assert_eq!(
            metrics_from_frame(&read_parquet(&path).unwrap()).unwrap(),
            points
        );

        let spans = vec![Span {
            trace_id: "1-5759e988-bd862e3fe1be46a994272793".into(),
            id: "a".into(),
            parent_id: None,
            kind: SpanKind::Init,
            origin: String::new(),
            name: "Init".into(),
            start: UnixNanos(1),
            end: UnixNanos(2),
            http_status: Some(200),
            error: false,
            fault: false,
            throttle: true,
            cold: true,
            retries: 2,
            timed_out: true,
        }];
        let path = dir.path().join("s.parquet");
        write_parquet(&mut spans_to_frame(&spans).unwrap(), &path).unwrap();
        assert_eq!(
            spans_from_frame(&read_parquet(&path).unwrap()).unwrap(),
            spans
        );
    }
}
