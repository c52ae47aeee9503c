//! The summary of `stormwatch coldstarts` (a real account over a time range, no load test),
//! a pure function of the records the collector read: per function the count,
//! invocations, rate and init percentiles (nearest rank), a breakdown by version × memory
//! size and by UTC hour, and the cost — the init (or restore) time cold starts added to
//! requests, plus, from X-Ray, traced cold vs warm function-segment medians. The CLI
//! prints it as a table. (The cold starts of a load-test run are in `cold_starts`.)
//!
//! Counts come from REPORT lines when Logs were read (every invocation has one), else from
//! sampled X-Ray traces (then the report says so). The added latency is the sum of init
//! durations: an on-demand request that lands on a new environment waits for its init.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use stormwatch_model::percentile::percentile_of_sorted;
pub use stormwatch_model::text_table::{percent, thousands};

use chrono::{DateTime, Utc};
use stormwatch_model::Millis;

use stormwatch_model::coldstarts::{
    ColdStartData, CountSource, Invocation, TracedInvocation, version_order,
};

pub use stormwatch_model::coldstarts_report::{
    ColdStartCost, ColdStartReport, ConfigColdStarts, FunctionColdStarts, HourColdStarts,
    InitPercentiles, TracedCost,
};

fn pct(sorted: &[Duration], p: f64) -> Option<Millis> {
    percentile_of_sorted(sorted, p).map(Millis::from_duration)
}

fn sorted_inits<'a>(invocations: impl Iterator<Item = &'a Invocation>) -> Vec<Duration> {
    let mut v: Vec<Duration> = invocations
        .filter(|i| i.cold)
        .filter_map(|i| i.init)
        .collect();
    v.sort_unstable();
    v
}

fn rate(cold: u64, invocations: u64) -> f64 {
    stormwatch_model::coldstarts_report::cold_start_rate(cold, invocations)
}

/// The start of `t`'s UTC hour.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    DateTime::from_timestamp(s - s.rem_euclid(3600), 0).unwrap_or(t)
}

/// [`version_order`], owned, for a map key.
type VersionKey = (bool, u64, String);

fn version_key(v: &str) -> VersionKey {
    let (alias, n, name) = version_order(v);
    (alias, n, name.to_string())
}

/// Analyzes what was read: per function from the server-side aggregates (Logs) or the
/// traced invocations (X-Ray alone), with its configuration when known; account-wide, the
/// functions ranked by the latency cold starts added, the fleet view and recommendations.
pub fn summarize(data: &ColdStartData) -> ColdStartReport {
    let mut functions: Vec<FunctionColdStarts> = data
        .functions
        .iter()
        .map(|f| {
            let traced: Vec<&TracedInvocation> = data
                .traced
                .iter()
                .flatten()
                .filter(|t| t.function == *f)
                .collect();
            let mut summary = match data.counts_from {
                CountSource::Logs => {
                    let aggregate = data.aggregates.iter().find(|a| a.function == *f);
                    let mut s = crate::coldstarts_account::from_aggregate(f, aggregate);
                    s.cost.traced = data.traced.is_some().then(|| traced_cost(&traced));
                    s
                }
                CountSource::Xray => {
                    let invocations: Vec<&Invocation> = data
                        .invocations
                        .iter()
                        .filter(|i| i.function == *f)
                        .collect();
                    function_summary(f, &invocations, &traced, data.traced.is_some())
                }
            };
            summary.context = data.contexts.get(f).cloned();
            summary.headline = headline(&summary, data.counts_from);
            summary
        })
        .collect();
    let note = match data.counts_from {
        CountSource::Logs => "counts from REPORT lines in CloudWatch Logs (one per invocation), \
             aggregated by Logs Insights"
            .to_string(),
        CountSource::Xray => "counts from sampled X-Ray traces, not every invocation: \
             by default X-Ray keeps 1 request a second and 5 % of the rest, so quiet \
             periods, where cold starts happen, weigh more than they should"
            .to_string(),
    };
    let mut fleet = None;
    if data.account_wide {
        let range_secs = (data.range.end - data.range.start).num_seconds().max(1) as f64;
        let recommendations: Vec<_> = functions
            .iter()
            .map(|f| crate::coldstarts_account::recommend(f, &functions, range_secs))
            .collect();
        for (f, r) in functions.iter_mut().zip(recommendations) {
            f.recommendations = r;
        }
        // The most added latency first.
        functions.sort_by(|a, b| {
            b.cost
                .added_total
                .0
                .total_cmp(&a.cost.added_total.0)
                .then_with(|| a.function.cmp(&b.function))
        });
        fleet = Some(crate::coldstarts_account::fleet(&functions));
    }
    ColdStartReport {
        from: data.range.start,
        to: data.range.end,
        counts_from: data.counts_from,
        note,
        functions,
        fleet,
    }
}

fn function_summary(
    function: &str,
    invocations: &[&Invocation],
    traced: &[&TracedInvocation],
    xray_read: bool,
) -> FunctionColdStarts {
    let total = invocations.len() as u64;
    let cold = invocations.iter().filter(|i| i.cold).count() as u64;
    let inits = sorted_inits(invocations.iter().copied());
    let init = inits.last().map(|&max| InitPercentiles {
        p50: pct(&inits, 50.0).unwrap_or_default(),
        p95: pct(&inits, 95.0).unwrap_or_default(),
        p99: pct(&inits, 99.0).unwrap_or_default(),
        max: Millis::from_duration(max),
    });

    let mut configs: BTreeMap<(VersionKey, Option<u32>), Vec<&Invocation>> = BTreeMap::new();
    for i in invocations {
        configs
            .entry((version_key(&i.version), i.memory_mb))
            .or_default()
            .push(i);
    }
    let by_config = configs
        .into_iter()
        .map(|(((.., version), memory_mb), group)| {
            let inits = sorted_inits(group.iter().copied());
            let n = group.len() as u64;
            let c = group.iter().filter(|i| i.cold).count() as u64;
            ConfigColdStarts {
                version,
                memory_mb,
                invocations: n,
                cold_starts: c,
                rate: rate(c, n),
                init_p50: pct(&inits, 50.0),
                init_p99: pct(&inits, 99.0),
            }
        })
        .collect();

    let mut hours: BTreeMap<DateTime<Utc>, Vec<&Invocation>> = BTreeMap::new();
    for i in invocations {
        hours.entry(hour_of(i.at)).or_default().push(i);
    }
    let by_hour = hours
        .into_iter()
        .map(|(hour, group)| {
            let inits = sorted_inits(group.iter().copied());
            let n = group.len() as u64;
            let c = group.iter().filter(|i| i.cold).count() as u64;
            HourColdStarts {
                hour,
                invocations: n,
                cold_starts: c,
                rate: rate(c, n),
                init_p50: pct(&inits, 50.0),
                mean_concurrency: None,
            }
        })
        .collect();

    let added: Duration = inits.iter().sum();
    let cost = ColdStartCost {
        added_total: Millis::from_duration(added),
        added_mean: (!inits.is_empty()).then(|| Millis::from_duration(added / inits.len() as u32)),
        traced: xray_read.then(|| traced_cost(traced)),
    };
    FunctionColdStarts {
        function: function.to_string(),
        headline: String::new(),
        invocations: total,
        cold_starts: cold,
        rate: rate(cold, total),
        restores: invocations.iter().filter(|i| i.cold && i.restore).count() as u64,
        init,
        by_config,
        by_hour,
        cost,
        context: None,
        peak_hourly_concurrency: None,
        recommendations: Vec::new(),
    }
}

fn traced_cost(traced: &[&TracedInvocation]) -> TracedCost {
    let median = |cold: bool| {
        let mut v: Vec<Duration> = traced
            .iter()
            .filter(|t| t.cold == cold)
            .map(|t| t.segment)
            .collect();
        v.sort_unstable();
        pct(&v, 50.0)
    };
    let mut inits: Vec<Duration> = traced
        .iter()
        .filter(|t| t.cold)
        .filter_map(|t| t.init)
        .collect();
    inits.sort_unstable();
    let (cold_p50, warm_p50) = (median(true), median(false));
    TracedCost {
        cold: traced.iter().filter(|t| t.cold).count() as u64,
        warm: traced.iter().filter(|t| !t.cold).count() as u64,
        init_total: Millis::from_duration(inits.iter().sum()),
        init_p50: pct(&inits, 50.0),
        cold_segment_p50: cold_p50,
        warm_segment_p50: warm_p50,
        cold_minus_warm_p50: cold_p50.zip(warm_p50).map(|(c, w)| Millis(c.0 - w.0)),
    }
}

/// `checkout: 41 cold starts in 3,120 invocations (1.3 %), init p50 380 ms / p99 910 ms,
/// 15.6 s of added latency`.
fn headline(f: &FunctionColdStarts, counts_from: CountSource) -> String {
    let sampled = match counts_from {
        CountSource::Logs => "",
        CountSource::Xray => " (sampled traces)",
    };
    let name = &f.function;
    let n = thousands(f.invocations);
    let invocations = if f.invocations == 1 {
        "invocation"
    } else {
        "invocations"
    };
    if f.invocations == 0 {
        return format!("{name}: no invocations found{sampled}");
    }
    if f.cold_starts == 0 {
        return format!("{name}: no cold starts in {n} {invocations}{sampled}");
    }
    let starts = if f.cold_starts == 1 {
        "cold start"
    } else {
        "cold starts"
    };
    let mut s = format!(
        "{name}: {} {starts} in {n} {invocations}{sampled} ({})",
        thousands(f.cold_starts),
        percent(f.rate)
    );
    if let Some(init) = &f.init {
        let _ = write!(s, ", init p50 {} / p99 {}", init.p50, init.p99);
    }
    let _ = write!(
        s,
        ", {:.1} s of added latency",
        f.cost.added_total.0 / 1000.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use stormwatch_model::PhaseWindow;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn inv(at: &str, init_ms: Option<u64>, version: &str, memory: u32) -> Invocation {
        Invocation {
            function: "checkout".into(),
            at: t(at),
            cold: init_ms.is_some(),
            init: init_ms.map(Duration::from_millis),
            restore: false,
            duration: Duration::from_millis(20),
            memory_mb: Some(memory),
            version: version.into(),
            trace_id: None,
        }
    }

    fn data(invocations: Vec<Invocation>, traced: Vec<TracedInvocation>) -> ColdStartData {
        ColdStartData {
            range: PhaseWindow {
                start: t("2026-11-23T10:00:00Z"),
                end: t("2026-11-23T12:00:00Z"),
            },
            functions: vec!["checkout".into(), "idle".into()],
            // The per-invocation path (X-Ray without Logs); Logs come aggregated.
            counts_from: CountSource::Xray,
            aggregates: Vec::new(),
            invocations,
            // X-Ray was read when the test has traced invocations.
            traced: (!traced.is_empty()).then_some(traced),
            contexts: std::collections::BTreeMap::new(),
            account_wide: false,
        }
    }

    #[test]
    fn counts_rates_percentiles_and_cost() {
        let mut v = vec![
            inv("2026-11-23T10:00:01Z", Some(300), "$LATEST", 256),
            inv("2026-11-23T10:59:59Z", Some(500), "$LATEST", 256),
            inv("2026-11-23T11:00:00Z", Some(400), "12", 512),
        ];
        for s in 0..37 {
            v.push(inv(&format!("2026-11-23T11:30:{s:02}Z"), None, "12", 512));
        }
        let r = summarize(&data(v, Vec::new()));
        assert_eq!(r.functions.len(), 2);
        let f = &r.functions[0];
        assert_eq!((f.cold_starts, f.invocations), (3, 40));
        assert!((f.rate - 0.075).abs() < 1e-12);
        let init = f.init.unwrap();
        assert_eq!(
            (init.p50, init.p95, init.p99, init.max),
            (Millis(400.0), Millis(500.0), Millis(500.0), Millis(500.0))
        );
        assert_eq!(f.cost.added_total, Millis(1200.0));
        assert_eq!(f.cost.added_mean, Some(Millis(400.0)));
        assert_eq!(f.cost.traced, None, "X-Ray not read");
        assert_eq!(
            f.headline,
            "checkout: 3 cold starts in 40 invocations (sampled traces) (7.5 %), init p50 400 ms / p99 500 ms, 1.2 s of added latency"
        );
        // Numbered versions first, then $LATEST; memory sizes apart.
        let configs: Vec<_> = f
            .by_config
            .iter()
            .map(|c| {
                (
                    c.version.as_str(),
                    c.memory_mb,
                    c.invocations,
                    c.cold_starts,
                )
            })
            .collect();
        assert_eq!(
            configs,
            [("12", Some(512), 38, 1), ("$LATEST", Some(256), 2, 2)]
        );
        assert_eq!(f.by_config[1].init_p50, Some(Millis(300.0)));
        assert_eq!(f.by_config[1].init_p99, Some(Millis(500.0)));
        // 10:59:59 is in the 10:00 hour, 11:00:00 in the next.
        let hours: Vec<_> = f
            .by_hour
            .iter()
            .map(|h| (h.hour, h.invocations, h.cold_starts, h.init_p50))
            .collect();
        assert_eq!(
            hours,
            [
                (t("2026-11-23T10:00:00Z"), 2, 2, Some(Millis(300.0))),
                (t("2026-11-23T11:00:00Z"), 38, 1, Some(Millis(400.0)))
            ]
        );
        assert!((f.by_hour[1].rate - 1.0 / 38.0).abs() < 1e-12);
        let idle = &r.functions[1];
        assert_eq!(idle.headline, "idle: no invocations found (sampled traces)");
        assert_eq!(idle.init, None);
    }

    #[test]
    fn traced_cost_compares_cold_and_warm_segments() {
        let traced = |cold: bool, segment_ms: u64| TracedInvocation {
            function: "checkout".into(),
            trace_id: "1-a-b".into(),
            at: t("2026-11-23T10:00:00Z"),
            cold,
            init: cold.then(|| Duration::from_millis(segment_ms - 30)),
            restore: false,
            segment: Duration::from_millis(segment_ms),
            version: "unknown".into(),
        };
        let d = data(
            vec![inv("2026-11-23T10:00:01Z", Some(300), "$LATEST", 256)],
            vec![
                traced(true, 330),
                traced(false, 30),
                traced(false, 40),
                traced(false, 20),
            ],
        );
        let r = summarize(&d);
        let c = r.functions[0].cost.traced.as_ref().unwrap();
        assert_eq!((c.cold, c.warm), (1, 3));
        assert_eq!(c.init_total, Millis(300.0));
        assert_eq!(c.cold_segment_p50, Some(Millis(330.0)));
        assert_eq!(c.warm_segment_p50, Some(Millis(30.0)));
        assert_eq!(c.cold_minus_warm_p50, Some(Millis(300.0)));
    }

    #[test]
    fn sampled_counts_say_so() {
        let mut d = data(
            vec![inv("2026-11-23T10:00:01Z", None, "$LATEST", 256)],
            Vec::new(),
        );
        d.counts_from = CountSource::Xray;
        let r = summarize(&d);
        assert!(r.note.contains("sampled"));
        assert_eq!(
            r.functions[0].headline,
            "checkout: no cold starts in 1 invocation (sampled traces)"
        );
        assert_eq!(thousands(3120), "3,120");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(
            hour_of(t("2026-11-23T10:59:59.9Z")),
            t("2026-11-23T10:00:00Z")
        );
    }
}
