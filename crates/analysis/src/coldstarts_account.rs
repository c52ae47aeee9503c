//! The account-wide part of `stormwatch coldstarts`: a function's summary from its
//! server-side REPORT aggregates, the fleet view (by runtime, memory size, code size) and
//! ranked recommendations with their arithmetic at list prices
//! (`stormwatch_model::pricing`).
//!
//! Monthly figures scale what was observed over the range to 730 hours. Provisioned
//! concurrency is sized from the highest hourly mean concurrency (the invocations' summed
//! duration over the hour, exact from REPORT lines): environments kept for the mean, so
//! bursts above it may still cold-start.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use stormwatch_model::Millis;
use stormwatch_model::coldstarts::FunctionAggregate;
use stormwatch_model::coldstarts_report::{
    ColdStartCost, ConfigColdStarts, Fleet, FleetRow, FunctionColdStarts, FunctionContext,
    HourColdStarts, InitPercentiles, Recommendation, RecommendationKind,
};
use stormwatch_model::pricing::{
    LAMBDA_DURATION_GB_S_ARM_USD, LAMBDA_DURATION_GB_S_X86_USD,
    LAMBDA_PROVISIONED_DURATION_GB_S_ARM_USD, LAMBDA_PROVISIONED_DURATION_GB_S_X86_USD,
    LAMBDA_PROVISIONED_GB_S_ARM_USD, LAMBDA_PROVISIONED_GB_S_X86_USD,
    LAMBDA_SNAPSTART_CACHE_GB_S_USD, LAMBDA_SNAPSTART_RESTORE_GB_USD, SECONDS_PER_MONTH, usd_text,
};
use stormwatch_model::text_table::{percent, thousands};

use stormwatch_model::coldstarts_report::cold_start_rate as rate;

/// Below this cold-start rate and this much added latency a month, cold starts are not
/// worth acting on.
const RARE_RATE: f64 = 0.001;
const RARE_SECONDS_PER_MONTH: f64 = 60.0;
/// A bigger memory size is suggested when same-runtime functions with at least twice the
/// memory initialise in at most this share of the time.
const MEMORY_INIT_RATIO: f64 = 0.7;

/// A function's summary from its aggregates (`None`: no log group, no invocations).
pub(crate) fn from_aggregate(function: &str, a: Option<&FunctionAggregate>) -> FunctionColdStarts {
    let ms = |v: f64| Millis(v);
    let (invocations, cold, restores, init, added) = a.map_or((0, 0, 0, None, 0.0), |a| {
        let o = &a.overall;
        (
            o.invocations,
            o.cold_starts(),
            o.restores,
            o.init_pct_ms.map(|[p50, p95, p99, max]| InitPercentiles {
                p50: ms(p50),
                p95: ms(p95),
                p99: ms(p99),
                max: ms(max),
            }),
            o.init_sum_ms,
        )
    });
    let by_config = a
        .map(|a| {
            a.by_config
                .iter()
                .map(|c| ConfigColdStarts {
                    version: c.version.clone(),
                    memory_mb: c.memory_mb,
                    invocations: c.invocations,
                    cold_starts: c.cold_starts(),
                    rate: rate(c.cold_starts(), c.invocations),
                    init_p50: c.init_pct_ms.map(|p| ms(p[0])),
                    init_p99: c.init_pct_ms.map(|p| ms(p[2])),
                })
                .collect()
        })
        .unwrap_or_default();
    let by_hour: Vec<HourColdStarts> = a
        .map(|a| {
            a.by_hour
                .iter()
                .map(|h| HourColdStarts {
                    hour: h.hour,
                    invocations: h.invocations,
                    cold_starts: h.cold_starts,
                    rate: rate(h.cold_starts, h.invocations),
                    init_p50: h.init_p50_ms.map(ms),
                    mean_concurrency: Some(h.busy_ms / 3_600_000.0),
                })
                .collect()
        })
        .unwrap_or_default();
    let peak = by_hour
        .iter()
        .filter_map(|h| h.mean_concurrency)
        .fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))));
    FunctionColdStarts {
        function: function.to_string(),
        headline: String::new(),
        invocations,
        cold_starts: cold,
        rate: rate(cold, invocations),
        restores,
        init,
        by_config,
        by_hour,
        cost: ColdStartCost {
            added_total: ms(added),
            added_mean: (cold > 0).then(|| ms(added / cold as f64)),
            traced: None,
        },
        context: None,
        peak_hourly_concurrency: peak,
        recommendations: Vec::new(),
    }
}

/// True when Lambda offers SnapStart for `runtime` (Java 11+, Python 3.12+, .NET 8+).
pub(crate) fn snapstart_supported(runtime: &str) -> bool {
    let version = |prefix: &str| {
        runtime.strip_prefix(prefix).and_then(|v| {
            v.split('.')
                .map(|p| p.parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()
        })
    };
    if let Some(v) = version("java") {
        return v.first().is_some_and(|&m| m >= 11);
    }
    if let Some(v) = version("python") {
        return v.first() == Some(&3) && v.get(1).is_some_and(|&m| m >= 12);
    }
    if let Some(v) = version("dotnet") {
        return v.first().is_some_and(|&m| m >= 8);
    }
    false
}

/// What to do about `f`'s cold starts, best first, given the rest of the fleet (`all`) and
/// the range's length.
pub(crate) fn recommend(
    f: &FunctionColdStarts,
    all: &[FunctionColdStarts],
    range_secs: f64,
) -> Vec<Recommendation> {
    let month = SECONDS_PER_MONTH / range_secs.max(1.0);
    let cold_month = f.cold_starts as f64 * month;
    let added_month = f.cost.added_total.0 / 1000.0 * month;
    let observed = format!(
        "{} cold starts in {} invocations ({}), {:.1} s of init",
        thousands(f.cold_starts),
        thousands(f.invocations),
        percent(f.rate),
        f.cost.added_total.0 / 1000.0
    );
    if f.cold_starts == 0 || (f.rate < RARE_RATE && added_month < RARE_SECONDS_PER_MONTH) {
        return vec![Recommendation {
            kind: RecommendationKind::NothingToDo,
            action: "nothing to do: cold starts are rare".into(),
            arithmetic: format!(
                "{observed} over the range: {added_month:.1} s of added latency a month"
            ),
            saves_seconds_per_month: 0.0,
            usd_per_month: 0.0,
        }];
    }
    let Some(c) = &f.context else {
        return Vec::new();
    };
    let gb = f64::from(c.memory_mb) / 1024.0;
    let arm = c.architecture == "arm64";
    let mut out = Vec::new();

    // Provisioned concurrency for the busiest hour's mean concurrency.
    if let Some(peak) = f.peak_hourly_concurrency {
        let n = peak.ceil().max(1.0);
        if f64::from(c.provisioned_concurrency) < n {
            let (pc, od, pcd) = if arm {
                (
                    LAMBDA_PROVISIONED_GB_S_ARM_USD,
                    LAMBDA_DURATION_GB_S_ARM_USD,
                    LAMBDA_PROVISIONED_DURATION_GB_S_ARM_USD,
                )
            } else {
                (
                    LAMBDA_PROVISIONED_GB_S_X86_USD,
                    LAMBDA_DURATION_GB_S_X86_USD,
                    LAMBDA_PROVISIONED_DURATION_GB_S_X86_USD,
                )
            };
            let keep = n * gb * SECONDS_PER_MONTH * pc;
            let busy_gb_s = f
                .by_hour
                .iter()
                .filter_map(|h| h.mean_concurrency)
                .sum::<f64>()
                * 3600.0
                * gb
                * month;
            let duration_saved = busy_gb_s * (od - pcd);
            let net = keep - duration_saved;
            let mut arithmetic = format!(
                "{observed}; busiest hour's mean concurrency {peak:.2} → {n} environment(s) × {gb:.3} GB × {} s × ${pc} per GB-s = {} a month",
                thousands(SECONDS_PER_MONTH as u64),
                usd_text(keep)
            );
            let _ = write!(
                arithmetic,
                "; invocations served warm pay ${pcd} instead of ${od} per GB-s: {} less on {:.0} GB-s a month; net {} a month for up to {added_month:.0} s of init ({:.0} cold starts) a month",
                usd_text(duration_saved),
                busy_gb_s,
                usd_text(net),
                cold_month
            );
            out.push(Recommendation {
                kind: RecommendationKind::ProvisionedConcurrency,
                action: format!(
                    "provisioned concurrency of {n} on an alias ({} a month at list prices)",
                    usd_text(net)
                ),
                arithmetic,
                saves_seconds_per_month: added_month,
                usd_per_month: net,
            });
        }
    }

    // SnapStart where the runtime offers it.
    if !c.snap_start && c.package_type != "Image" && snapstart_supported(&c.runtime) {
        let java = c.runtime.starts_with("java");
        let cost = if java {
            0.0
        } else {
            gb * SECONDS_PER_MONTH * LAMBDA_SNAPSTART_CACHE_GB_S_USD
                + cold_month * gb * LAMBDA_SNAPSTART_RESTORE_GB_USD
        };
        let arithmetic = if java {
            format!(
                "{observed}; SnapStart costs nothing for Java: each cold start restores a snapshot instead of running init (the restore time replaces up to {added_month:.0} s of init a month; measure it on a published version)"
            )
        } else {
            format!(
                "{observed}; cache {gb:.3} GB × {} s × ${LAMBDA_SNAPSTART_CACHE_GB_S_USD} + restores {cold_month:.0} × {gb:.3} GB × ${LAMBDA_SNAPSTART_RESTORE_GB_USD} = {} a month; the restore time replaces up to {added_month:.0} s of init a month (measure it on a published version)",
                thousands(SECONDS_PER_MONTH as u64),
                usd_text(cost)
            )
        };
        out.push(Recommendation {
            kind: RecommendationKind::SnapStart,
            action: format!(
                "SnapStart on published versions ({} a month)",
                usd_text(cost)
            ),
            arithmetic,
            saves_seconds_per_month: added_month,
            usd_per_month: cost,
        });
    }

    // More memory where same-runtime functions with more of it initialise faster.
    if let Some(p50) = f.init.map(|i| i.p50.0) {
        let faster = all
            .iter()
            .filter_map(|o| {
                let oc = o.context.as_ref()?;
                let op50 = o.init?.p50.0;
                (o.function != f.function
                    && oc.runtime == c.runtime
                    && oc.memory_mb >= c.memory_mb.saturating_mul(2)
                    && op50 <= p50 * MEMORY_INIT_RATIO)
                    .then_some((oc.memory_mb, op50, o.function.as_str()))
            })
            .min_by_key(|(m, ..)| *m);
        if let Some((memory, op50, other)) = faster {
            let od = if arm {
                LAMBDA_DURATION_GB_S_ARM_USD
            } else {
                LAMBDA_DURATION_GB_S_X86_USD
            };
            let busy_s = f
                .by_hour
                .iter()
                .filter_map(|h| h.mean_concurrency)
                .sum::<f64>()
                * 3600.0
                * month;
            let extra_gb = f64::from(memory - c.memory_mb) / 1024.0;
            let cost = busy_s * extra_gb * od;
            let saves = added_month * (1.0 - op50 / p50);
            out.push(Recommendation {
                kind: RecommendationKind::Memory,
                action: format!(
                    "{memory} MB instead of {} MB (init p50 {op50:.0} ms on `{other}`, same runtime, vs {p50:.0} ms)",
                    c.memory_mb
                ),
                arithmetic: format!(
                    "{observed}; init scales with memory in this fleet: {:.0} % shorter saves {saves:.0} s of {added_month:.0} s a month; at most {busy_s:.0} s a month of duration × {extra_gb:.3} GB more × ${od} = {} a month (less if the handler also speeds up)",
                    (1.0 - op50 / p50) * 100.0,
                    usd_text(cost)
                ),
                saves_seconds_per_month: saves,
                usd_per_month: cost,
            });
        }
    }
    // Cheapest per second of init saved first.
    out.sort_by(|a, b| {
        let per =
            |r: &Recommendation| r.usd_per_month.max(0.0) / r.saves_seconds_per_month.max(1e-9);
        per(a).total_cmp(&per(b))
    });
    out
}

/// The fleet by runtime, memory size and code-size bucket.
pub(crate) fn fleet(functions: &[FunctionColdStarts]) -> Fleet {
    let rows = |key: &dyn Fn(&FunctionContext) -> (u64, String)| {
        let mut groups: BTreeMap<(u64, String), Vec<&FunctionColdStarts>> = BTreeMap::new();
        for f in functions {
            if let Some(c) = &f.context {
                groups.entry(key(c)).or_default().push(f);
            }
        }
        groups
            .into_iter()
            .map(|((_, group), fs)| {
                let invocations = fs.iter().map(|f| f.invocations).sum();
                let cold_starts: u64 = fs.iter().map(|f| f.cold_starts).sum();
                let weighted: f64 = fs
                    .iter()
                    .filter_map(|f| Some(f.init?.p50.0 * f.cold_starts as f64))
                    .sum();
                let weight: u64 = fs
                    .iter()
                    .filter(|f| f.init.is_some())
                    .map(|f| f.cold_starts)
                    .sum();
                FleetRow {
                    group,
                    functions: fs.len() as u64,
                    invocations,
                    cold_starts,
                    rate: rate(cold_starts, invocations),
                    init_p50_weighted: (weight > 0).then(|| Millis(weighted / weight as f64)),
                    init_p99_max: fs
                        .iter()
                        .filter_map(|f| f.init.map(|i| i.p99.0))
                        .reduce(f64::max)
                        .map(Millis),
                }
            })
            .collect()
    };
    Fleet {
        by_runtime: rows(&|c| {
            let r = if c.runtime.is_empty() {
                "container image".to_string()
            } else {
                c.runtime.clone()
            };
            (0, r)
        }),
        by_memory: rows(&|c| (u64::from(c.memory_mb), format!("{} MB", c.memory_mb))),
        by_code_size: rows(&|c| code_size_bucket(c)),
    }
}

/// The code-size bucket: its order and label.
fn code_size_bucket(c: &FunctionContext) -> (u64, String) {
    const MB: u64 = 1 << 20;
    if c.package_type == "Image" {
        return (9, "container image".into());
    }
    match c.code_size_bytes {
        b if b < MB => (0, "< 1 MB".into()),
        b if b < 10 * MB => (1, "1–10 MB".into()),
        b if b < 50 * MB => (2, "10–50 MB".into()),
        _ => (3, "≥ 50 MB".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use stormwatch_model::coldstarts::{HourAggregate, ReportAggregate};

    fn aggregate(
        name: &str,
        invocations: u64,
        cold: u64,
        p50: f64,
        busy_ms: f64,
    ) -> FunctionAggregate {
        let hour = DateTime::from_timestamp(1_780_002_000, 0).unwrap();
        let overall = ReportAggregate {
            version: String::new(),
            memory_mb: None,
            invocations,
            inits: cold,
            restores: 0,
            init_sum_ms: p50 * cold as f64,
            init_pct_ms: (cold > 0).then_some([p50, p50 * 1.2, p50 * 1.5, p50 * 2.0]),
        };
        FunctionAggregate {
            function: name.into(),
            by_config: vec![ReportAggregate {
                version: "$LATEST".into(),
                memory_mb: Some(512),
                ..overall.clone()
            }],
            overall,
            by_hour: vec![HourAggregate {
                hour,
                invocations,
                cold_starts: cold,
                init_p50_ms: Some(p50),
                busy_ms,
            }],
        }
    }

    fn context(runtime: &str, memory_mb: u32) -> FunctionContext {
        FunctionContext {
            region: "us-east-1".into(),
            runtime: runtime.into(),
            architecture: "x86_64".into(),
            memory_mb,
            package_type: "Zip".into(),
            code_size_bytes: 5 << 20,
            snap_start: false,
            provisioned_concurrency: 0,
        }
    }

    #[test]
    fn frequent_cold_starts_at_steady_concurrency_get_priced_provisioned_concurrency() {
        // One hour: 3,600 invocations, 360 cold at 400 ms, 2.5 environments busy on
        // average (9,000 s of duration).
        let mut f = from_aggregate(
            "orders",
            Some(&aggregate("orders", 3600, 360, 400.0, 9_000_000.0)),
        );
        f.context = Some(context("nodejs20.x", 1024));
        assert_eq!(f.peak_hourly_concurrency, Some(2.5));
        let recs = recommend(&f, std::slice::from_ref(&f), 3600.0);
        let pc = recs
            .iter()
            .find(|r| r.kind == RecommendationKind::ProvisionedConcurrency)
            .expect("provisioned concurrency");
        // 3 environments × 1 GB × 2,628,000 s × $0.0000041667 = $32.85 a month, less the
        // duration served warm: 9,000 s × 730 × 1 GB × ($0.0000166667 − $0.0000097222).
        let keep = 3.0 * 2_628_000.0 * 0.000_004_166_7;
        let saved = 9_000.0 * 730.0 * (0.000_016_666_7 - 0.000_009_722_2);
        assert!((pc.usd_per_month - (keep - saved)).abs() < 1e-6, "{pc:?}");
        assert!(
            pc.action.contains("provisioned concurrency of 3"),
            "{}",
            pc.action
        );
        assert!(pc.arithmetic.contains("$32.85"), "{}", pc.arithmetic);
        // 360 × 400 ms = 144 s an hour, 730 hours.
        assert!((pc.saves_seconds_per_month - 144.0 * 730.0).abs() < 1e-6);
        assert!(
            recs.iter().all(|r| r.kind != RecommendationKind::SnapStart),
            "nodejs has none"
        );
    }

    #[test]
    fn rare_cold_starts_need_nothing_and_snapstart_is_offered_where_supported() {
        let mut quiet = from_aggregate(
            "quiet",
            Some(&aggregate("quiet", 100_000, 2, 300.0, 1_000.0)),
        );
        quiet.context = Some(context("python3.12", 512));
        let r = recommend(&quiet, &[], 7.0 * 86_400.0);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, RecommendationKind::NothingToDo);
        let mut java = from_aggregate(
            "java",
            Some(&aggregate("java", 1000, 100, 2_000.0, 60_000.0)),
        );
        java.context = Some(context("java21", 1024));
        let r = recommend(&java, &[], 3600.0);
        let snap = r
            .iter()
            .find(|r| r.kind == RecommendationKind::SnapStart)
            .unwrap();
        assert!(snap.usd_per_month.abs() < f64::EPSILON, "{snap:?}");
        assert_eq!(r[0].kind, RecommendationKind::SnapStart, "free first");
        assert!(snapstart_supported("python3.13") && !snapstart_supported("python3.11"));
        assert!(snapstart_supported("dotnet8") && !snapstart_supported("nodejs22.x"));
    }

    #[test]
    fn memory_is_suggested_when_bigger_functions_of_the_runtime_init_faster() {
        let mut small = from_aggregate(
            "small",
            Some(&aggregate("small", 1000, 100, 1_000.0, 60_000.0)),
        );
        small.context = Some(context("nodejs20.x", 256));
        let mut big = from_aggregate("big", Some(&aggregate("big", 1000, 100, 400.0, 60_000.0)));
        big.context = Some(context("nodejs20.x", 1024));
        let r = recommend(&small, &[small.clone(), big.clone()], 3600.0);
        let m = r
            .iter()
            .find(|r| r.kind == RecommendationKind::Memory)
            .unwrap();
        assert!(
            m.action.starts_with("1024 MB instead of 256 MB"),
            "{}",
            m.action
        );
        // 60 % shorter init: 0.6 × 100 s an hour × 730.
        assert!((m.saves_seconds_per_month - 0.6 * 100.0 * 730.0).abs() < 1e-6);
        let fleet = fleet(&[small, big]);
        assert_eq!(fleet.by_runtime.len(), 1);
        assert_eq!(fleet.by_runtime[0].cold_starts, 200);
        assert_eq!(fleet.by_memory.len(), 2);
        assert_eq!(fleet.by_memory[0].group, "256 MB");
        assert_eq!(fleet.by_code_size[0].group, "1–10 MB");
        assert!((fleet.by_runtime[0].init_p50_weighted.unwrap().0 - 700.0).abs() < 1e-9);
    }
}
