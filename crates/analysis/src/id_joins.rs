//! Exact trace joins of imported requests known by request id: `request_ids.csv` (what
//! `import` found in `x-amzn-RequestId` / `apigw-requestid`) and `telemetry/trace_joins.csv`
//! (what `collect` resolved them to), filled into the request frame's `trace_id` so the
//! per-request analysis works unchanged, and the analysis note on what joined.

use std::collections::HashMap;

use polars::prelude::*;
use stormwatch_model::RunDir;
use stormwatch_model::request_ids::{RequestIdKind, read_request_ids, read_trace_joins};

use crate::AnalysisError;

/// What came of the joins while reading the requests, and the joined trace ids.
pub type Joined = (RequestIdJoins, Vec<String>);

/// What came of the request-id joins of an imported run, for an analysis note.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestIdJoins {
    /// Requests with a request id and no trace id in the request log (all requests with a
    /// request id when the log's trace ids were not read: no spans).
    pub untraced_with_id: usize,
    /// Of those, HTTP API ids (`apigw-requestid`), which no trace carries.
    pub http_api: usize,
    /// Of those, joined to a trace id by `collect`.
    pub joined: usize,
    /// Of the joined, those whose trace's spans were fetched.
    pub joined_with_spans: usize,
    /// `collect` wrote `telemetry/trace_joins.csv`.
    pub collected: bool,
}

impl RequestIdJoins {
    /// The analysis note: how many joined, and why the others did not.
    pub fn note(&self) -> String {
        let n = self.untraced_with_id;
        if !self.collected {
            return format!(
                "{n} imported request(s) carry an API Gateway/Lambda request id but no trace id: \
                 run `stormwatch collect` to join them to their X-Ray traces"
            );
        }
        let mut parts = vec![format!(
            "{n} imported request(s) had a request id but no trace id: {} joined their X-Ray \
             trace by request id",
            self.joined
        )];
        if self.joined > self.joined_with_spans {
            parts.push(format!(
                "{} of those traces were not fetched (beyond --max-traces, or expired)",
                self.joined - self.joined_with_spans
            ));
        }
        if self.http_api > 0 {
            parts.push(format!(
                "{} are HTTP API ids (apigw-requestid), which no trace carries: X-Ray traces \
                 REST APIs only",
                self.http_api
            ));
        }
        let other = n.saturating_sub(self.joined + self.http_api);
        if other > 0 {
            parts.push(format!(
                "{other} could not be joined: their trace was not sampled, or was not among \
                 the traces fetched (--max-other-traces), or lies outside the windows"
            ));
        }
        parts.join("; ")
    }
}

/// The request ids of an imported run (`request_ids.csv`) by sequence, and the trace ids
/// `collect` joined them to (`telemetry/trace_joins.csv`).
#[derive(Debug, Default)]
pub struct IdJoins {
    pub(crate) kinds: HashMap<u64, RequestIdKind>,
    traces: HashMap<u64, String>,
    pub(crate) collected: bool,
}

impl IdJoins {
    /// Reads both files of `run` (either may be absent).
    pub fn read(run: &RunDir) -> Result<Self, AnalysisError> {
        let kinds = read_request_ids(&run.request_ids_path())?
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.sequence, r.kind))
            .collect();
        let joins = read_trace_joins(&run.trace_joins_path())?;
        let collected = joins.is_some();
        let traces = joins
            .unwrap_or_default()
            .into_iter()
            .map(|j| (j.sequence, j.trace_id))
            .collect();
        Ok(Self {
            kinds,
            traces,
            collected,
        })
    }

    /// Fills the null `trace_id`s of `df` (which has `sequence`) with the joined ones,
    /// counting into `out`; the joined trace ids go to `joined`.
    pub(crate) fn fill(
        &self,
        df: &mut DataFrame,
        out: &mut RequestIdJoins,
        joined: &mut Vec<String>,
    ) -> PolarsResult<()> {
        let sequence = df.column("sequence")?.u64()?.clone();
        let traces = df.column("trace_id")?.str()?.clone();
        let filled: StringChunked = sequence
            .iter()
            .zip(traces.iter())
            .map(|(seq, trace)| {
                if trace.is_some() {
                    return trace.map(str::to_owned);
                }
                let seq = seq?;
                let kind = self.kinds.get(&seq)?;
                out.untraced_with_id += 1;
                out.http_api += usize::from(*kind == RequestIdKind::HttpApi);
                let t = self.traces.get(&seq)?;
                out.joined += 1;
                joined.push(t.clone());
                Some(t.clone())
            })
            .collect();
        df.replace(
            "trace_id",
            filled.with_name("trace_id".into()).into_column(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_says_how_many_joined_and_why_the_others_did_not() {
        let j = RequestIdJoins {
            untraced_with_id: 10,
            http_api: 2,
            joined: 5,
            joined_with_spans: 4,
            collected: true,
        };
        assert_eq!(
            j.note(),
            "10 imported request(s) had a request id but no trace id: 5 joined their X-Ray trace \
             by request id; 1 of those traces were not fetched (beyond --max-traces, or expired); \
             2 are HTTP API ids (apigw-requestid), which no trace carries: X-Ray traces REST APIs \
             only; 3 could not be joined: their trace was not sampled, or was not among the \
             traces fetched (--max-other-traces), or lies outside the windows"
        );
        let before_collect = RequestIdJoins {
            untraced_with_id: 3,
            collected: false,
            ..RequestIdJoins::default()
        };
        assert!(
            before_collect
                .note()
                .ends_with("run `stormwatch collect` to join them to their X-Ray traces"),
            "{}",
            before_collect.note()
        );
    }

    #[test]
    fn null_trace_ids_are_filled_from_the_joins_and_counted() {
        let ids = IdJoins {
            kinds: [
                (1, RequestIdKind::Amzn),
                (2, RequestIdKind::Amzn),
                (3, RequestIdKind::HttpApi),
                (4, RequestIdKind::Amzn),
            ]
            .into(),
            traces: [(2, "1-b".to_string()), (4, "1-d".to_string())].into(),
            collected: true,
        };
        let mut df = df!(
            "sequence" => [1u64, 2, 3, 4, 5],
            "trace_id" => [Some("1-a"), None, None, Some("1-x"), None],
        )
        .unwrap();
        let (mut out, mut joined) = (RequestIdJoins::default(), Vec::new());
        ids.fill(&mut df, &mut out, &mut joined).unwrap();
        let traces: Vec<Option<&str>> = df
            .column("trace_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        // 1 and 4 kept the trace id they had; 2 joined; 3 is an HTTP API id; 5 has no id.
        assert_eq!(traces, [Some("1-a"), Some("1-b"), None, Some("1-x"), None]);
        assert_eq!(joined, ["1-b"]);
        assert_eq!((out.untraced_with_id, out.http_api, out.joined), (2, 1, 1));
    }
}
