//! What `collect` prints: the plan for `--dry-run` ([`Prepared::describe`]) and a line per
//! source once done ([`CollectSummary::describe`]).

use std::fmt::Write as _;

use stormwatch_model::pricing::{LOG_BYTES_PER_INVOCATION, PRICES_AS_OF, Usage, usd_text};
use stormwatch_model::text_table::thousands;

use super::{CollectOptions, CollectSummary, Prepared};
use crate::{logs, xray};

impl Prepared {
    /// The AWS usage this collection is expected to cost: the planned GetMetricData metrics
    /// (one round; `--wait` repeats them), our traces to retrieve and those GetTraceSummaries
    /// scans, and the log bytes Logs Insights scans for the REPORT lines (estimated from the
    /// run's answered requests; twice with traces, for the cold starts' lines read first).
    pub fn estimate(&self, opts: &CollectOptions) -> Usage {
        let traced = self.target.sent_traces.len() as f64;
        let invocations = self.target.answered_requests.unwrap_or(0) as f64;
        Usage {
            traces_recorded: 0.0,
            traces_retrieved_or_scanned: if opts.xray {
                traced.min(opts.max_traces as f64) + traced
            } else {
                0.0
            },
            metrics_requested: if opts.metrics {
                self.calls
                    .iter()
                    .map(|c| (c.queries.len() * c.expected_pages.max(1)) as f64)
                    .sum()
            } else {
                0.0
            },
            // With traces, the cold starts' lines are read first: a second scan of the logs.
            logs_bytes_scanned: if opts.logs && !self.target.resources.functions.is_empty() {
                invocations * LOG_BYTES_PER_INVOCATION * if opts.xray { 2.0 } else { 1.0 }
            } else {
                0.0
            },
        }
    }

    /// The estimate as one line, said before collecting.
    pub fn cost_line(&self, opts: &CollectOptions) -> String {
        let u = self.estimate(opts);
        format!(
            "estimated AWS cost: {} ({} metrics requested per round, {} traces retrieved or scanned{}, ~{:.3} GB of logs scanned{}; list prices of {})",
            usd_text(u.usd()),
            thousands(u.metrics_requested as u64),
            thousands(u.traces_retrieved_or_scanned as u64),
            if opts.xray {
                format!(
                    " plus up to {} traces we did not start",
                    thousands(opts.max_other_traces as u64)
                )
            } else {
                String::new()
            },
            u.logs_bytes_scanned / 1e9,
            if self.target.answered_requests.is_none() && opts.logs {
                ", unknown without a run"
            } else {
                ""
            },
            PRICES_AS_OF
        )
    }

    /// What `--dry-run` prints: the rendered queries and the planned API calls.
    pub fn describe(&self, opts: &CollectOptions) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "windows:");
        for w in &self.target.windows {
            let _ = writeln!(
                s,
                "  {:<12} {} .. {}",
                w.name,
                w.window.start.to_rfc3339(),
                w.window.end.to_rfc3339()
            );
        }
        let _ = writeln!(s, "metric queries ({}):", self.series.len());
        for c in &self.calls {
            for q in &c.queries {
                if let Some(series) = self.series.get(q.series) {
                    let _ = writeln!(s, "  {:<6} {:>5}s  {}", q.id, q.period, series.name());
                }
            }
        }
        for k in &self.skipped {
            let _ = writeln!(s, "  skipped {} ({}): {}", k.metric, k.source, k.reason);
        }
        let _ = writeln!(s, "planned API calls:");
        for (i, c) in self.calls.iter().enumerate() {
            let _ = writeln!(
                s,
                "  GetMetricData #{}: {} queries, {} .. {}, up to {} datapoints, {} page(s)",
                i + 1,
                c.queries.len(),
                c.start.to_rfc3339(),
                c.end.to_rfc3339(),
                c.max_datapoints,
                c.expected_pages
            );
        }
        if opts.xray {
            let traced = self.target.sent_traces.len();
            let n = traced.min(opts.max_traces);
            let _ = writeln!(
                s,
                "  BatchGetTraces: {n} of the run's {traced} traced requests (--max-traces {}) in {} call(s) of <= {}, {} in flight",
                opts.max_traces,
                n.div_ceil(xray::IDS_PER_CALL),
                xray::IDS_PER_CALL,
                opts.xray_concurrency
            );
            let _ = writeln!(
                s,
                "  GetTraceSummaries: {} chunk(s) of <= 1 h, then BatchGetTraces for traces we did not start (<= {})",
                xray::summary_chunks(&self.target.phase_windows(), xray::SUMMARY_CHUNK).len(),
                opts.max_other_traces
            );
        }
        if opts.logs && !self.target.resources.functions.is_empty() {
            let groups: Vec<String> = self
                .target
                .resources
                .functions
                .iter()
                .map(|f| format!("/aws/lambda/{}", f.split(':').next().unwrap_or(f)))
                .collect();
            if opts.xray {
                let _ = writeln!(
                    s,
                    "  Logs Insights, first the cold starts' REPORT lines (their trace ids join the trace choice) in chunks of {} min on {}:",
                    logs::CHUNK.as_secs() / 60,
                    groups.join(", ")
                );
                for line in self.cold_logs_query.lines() {
                    let _ = writeln!(s, "      {line}");
                }
            }
            let chunk = logs::chunk_for(
                self.target.answered_requests,
                &super::report_lines::padded_hull(&self.target.phase_windows(), opts.pad),
            );
            let _ = writeln!(
                s,
                "  Logs Insights, every REPORT line in chunks of {} s (split at {} rows; FilterLogEvents as fallback) on {}:",
                chunk.as_secs(),
                thousands(logs::INSIGHTS_ROW_LIMIT as u64),
                groups.join(", ")
            );
            for line in self.logs_query.lines() {
                let _ = writeln!(s, "      {line}");
            }
        }
        let _ = writeln!(s, "{}", self.cost_line(opts));
        s
    }
}

impl CollectSummary {
    /// What was collected, a line per source, for a terminal.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "metrics: {} series, {} datapoints ({} filled zeros) in {} GetMetricData request(s)",
            self.metrics.queries.len(),
            self.metrics.datapoints,
            self.metrics.filled_zero,
            self.metrics.requests_total
        );
        if let Some(x) = &self.xray {
            let _ = writeln!(
                s,
                "traces: {} of {} requested found, {} other, {} cold starts, {} malformed documents skipped",
                x.found, x.requested, x.other_traces, x.parse.cold_starts, x.parse.malformed
            );
            let sel = &x.selection;
            if sel.chosen() < sel.traced_requests {
                let _ = writeln!(
                    s,
                    "  requested {} of the run's {} traced requests (--max-traces {}): {} failed or slow, {} flagged by X-Ray, {} cold, {} sampled per phase and endpoint",
                    sel.chosen(),
                    sel.traced_requests,
                    sel.max_traces,
                    sel.failed_or_slow,
                    sel.server_flagged,
                    sel.cold,
                    sel.sample
                );
            }
        }
        if let Some(l) = &self.logs {
            for g in &l.groups {
                let _ = writeln!(
                    s,
                    "logs: {} REPORT lines, {} cold starts from {} ({})",
                    g.reports, g.cold_starts, g.log_group, g.source
                );
            }
            if let Some(c) = &l.cold_lookup {
                let _ = writeln!(
                    s,
                    "  cold starts read ahead for the trace choice: {} lines in {} Insights queries{}",
                    c.cold_starts,
                    c.queries,
                    if c.answered {
                        ""
                    } else {
                        " (incomplete: the choice waited for every REPORT line)"
                    }
                );
            }
        }
        if let Some(j) = &self.trace_joins {
            let _ = writeln!(
                s,
                "request ids: {} imported requests known by request id only: {} joined via API Gateway stage segments, {} via REPORT lines, {} HTTP API ids (no X-Ray trace carries them), {} unresolved{}",
                j.requests,
                j.joined_by_apigw_segment,
                j.joined_by_report_line,
                j.http_api,
                j.unresolved,
                if j.unresolved_examples.is_empty() {
                    String::new()
                } else {
                    format!(" (e.g. {})", j.unresolved_examples.join(", "))
                }
            );
        }
        let u = &self.cost.usage;
        let _ = writeln!(
            s,
            "cost: {} at list prices ({} metrics requested, {} traces retrieved or scanned, {:.3} GB of logs scanned)",
            usd_text(self.cost.usd),
            thousands(u.metrics_requested as u64),
            thousands(u.traces_retrieved_or_scanned as u64),
            u.logs_bytes_scanned / 1e9
        );
        let _ = writeln!(
            s,
            "api: {} throttled attempts, {} retries; clock skew {}",
            self.throttles,
            self.retries,
            self.clock_skew
                .skew_ms
                .map_or_else(|| "unknown".to_string(), |ms| format!("{ms:+.0} ms"))
        );
        let incomplete: Vec<&str> = self
            .windows
            .iter()
            .filter(|w| !w.complete)
            .map(|w| w.name.as_str())
            .collect();
        if !incomplete.is_empty() {
            let _ = writeln!(
                s,
                "may be incomplete (data arrives minutes late; try --wait 10m): {}",
                incomplete.join(", ")
            );
        }
        s
    }
}
