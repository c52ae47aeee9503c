//! Exact trace joins for imported requests known only by their request id
//! (`request_ids.csv`): an `x-amzn-RequestId` is a REST API's request id, which its X-Ray
//! stage segment carries as `aws.api_gateway.request_id`, or a function URL's Lambda request
//! id, which the function's `REPORT RequestId: … XRAY TraceId: …` line pairs with its trace.
//! An HTTP API's `apigw-requestid` is in no trace (X-Ray traces REST APIs only).

use std::collections::HashMap;

use serde::Serialize;
use stormwatch_model::request_ids::{JoinVia, RequestIdKind, TraceJoin};

use crate::logs::LoggedReport;
use crate::target::IdRequest;

/// The request-id joins in `collect.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JoinReport {
    /// Imported requests with a request id and no trace id.
    pub requests: usize,
    /// Joined through an API Gateway stage segment's `aws.api_gateway.request_id`.
    pub joined_by_apigw_segment: usize,
    /// Joined through a REPORT line's `RequestId` and `XRAY TraceId`.
    pub joined_by_report_line: usize,
    /// HTTP API request ids (`apigw-requestid`): no X-Ray trace carries them.
    pub http_api: usize,
    /// `x-amzn-RequestId`s found in no fetched stage segment and no REPORT line (not
    /// sampled, or beyond `--max-other-traces`, or outside the windows).
    pub unresolved: usize,
    /// A few of those ids, for looking them up by hand.
    pub unresolved_examples: Vec<String>,
}

/// Lambda request id → X-Ray trace id, from the REPORT lines that carry both.
pub(super) fn report_line_traces(lines: &[LoggedReport]) -> HashMap<String, String> {
    lines
        .iter()
        .filter_map(|r| Some((r.line.request_id.clone(), r.line.trace_id.clone()?)))
        .filter(|(id, _)| !id.is_empty())
        .collect()
}

/// Resolves each request's id: a stage segment's first (a REST API's id), then a REPORT
/// line's (a function URL's Lambda request id).
pub(super) fn join(
    requests: &[IdRequest],
    by_segment: &HashMap<String, String>,
    by_report: &HashMap<String, String>,
) -> (Vec<TraceJoin>, JoinReport) {
    let mut report = JoinReport {
        requests: requests.len(),
        ..JoinReport::default()
    };
    let mut joins = Vec::new();
    for r in requests {
        if r.kind == RequestIdKind::HttpApi {
            report.http_api += 1;
            continue;
        }
        let found = by_segment
            .get(&r.request_id)
            .map(|t| (t, JoinVia::ApigwSegment))
            .or_else(|| {
                by_report
                    .get(&r.request_id)
                    .map(|t| (t, JoinVia::ReportLine))
            });
        if let Some((trace, via)) = found {
            match via {
                JoinVia::ApigwSegment => report.joined_by_apigw_segment += 1,
                JoinVia::ReportLine => report.joined_by_report_line += 1,
            }
            joins.push(TraceJoin {
                sequence: r.sequence,
                request_id: r.request_id.clone(),
                trace_id: trace.clone(),
                via,
            });
        } else {
            report.unresolved += 1;
            if report.unresolved_examples.len() < 5 {
                report.unresolved_examples.push(r.request_id.clone());
            }
        }
    }
    (joins, report)
}

#[cfg(test)]
mod tests {
    use stormwatch_model::UnixNanos;

    use super::*;
    use crate::target::SentTrace;

    fn req(sequence: u64, id: &str, kind: RequestIdKind) -> IdRequest {
        IdRequest {
            sequence,
            request_id: id.into(),
            kind,
            sent: SentTrace {
                sent: UnixNanos(0),
                phase: 0,
                endpoint: "GET /a".into(),
                failed_or_slow: false,
            },
        }
    }

    #[test]
    fn segments_then_report_lines_and_http_api_ids_never() {
        let requests = [
            req(1, "rest-1", RequestIdKind::Amzn),
            req(2, "lambda-2", RequestIdKind::Amzn),
            req(3, "Jx1=", RequestIdKind::HttpApi),
            req(4, "lost-4", RequestIdKind::Amzn),
        ];
        let seg: HashMap<String, String> = [("rest-1".into(), "1-a".into())].into();
        // An HTTP API id that happens to equal a Lambda id still joins nothing.
        let rep: HashMap<String, String> = [
            ("lambda-2".into(), "1-b".into()),
            ("Jx1=".into(), "1-c".into()),
        ]
        .into();
        let (joins, r) = join(&requests, &seg, &rep);
        let got: Vec<(u64, &str, JoinVia)> = joins
            .iter()
            .map(|j| (j.sequence, j.trace_id.as_str(), j.via))
            .collect();
        assert_eq!(
            got,
            [
                (1, "1-a", JoinVia::ApigwSegment),
                (2, "1-b", JoinVia::ReportLine)
            ]
        );
        assert_eq!(
            r,
            JoinReport {
                requests: 4,
                joined_by_apigw_segment: 1,
                joined_by_report_line: 1,
                http_api: 1,
                unresolved: 1,
                unresolved_examples: vec!["lost-4".into()],
            }
        );
    }
}
