//! Collection on a trace budget: the load engine traces on its default budget, the
//! collector fetches at most `--max-traces` of those traces, failed ones first, and the
//! counts that matter stay exact: cold starts (from REPORT lines) equal the sandbox's ground
//! truth, and the waterfall says from how many of how many requests it was estimated.

use stormwatch_model::RequestLog;

use crate::accuracy::{cold_start_case, run_and_collect_with, truth_lines};

/// Fewer than the run traces, so the budget cuts.
const MAX_TRACES: usize = 40;

#[test]
fn a_budget_fetches_failures_first_and_keeps_cold_start_counts_exact() {
    let tmp = tempfile::tempdir().unwrap();
    // warm 20/s for 3 s, idle 4 s (environments reaped), burst 100/s for 3 s with the
    // function capped at 3 concurrent executions: throttled requests (500) in the burst.
    let (config, scenario) = cold_start_case("active", 1.0);
    let config = format!(
        "{config}\n[[faults]]\nat = \"6s\"\nduration = \"6s\"\nfunction = \"orders\"\nreserved_concurrency = 3\n"
    );
    // The engine's default budget (20 traced requests a second plus 1 % of the rest).
    let scenario = scenario.replace("[trace]\nsampling = 1.0\n", "");
    assert!(!scenario.contains("[trace]"), "{scenario}");
    let (report, run) = run_and_collect_with(tmp.path(), &config, &scenario, |o| {
        o.xray = true;
        o.logs = true;
        o.max_traces = MAX_TRACES;
    });

    let records = RequestLog::read(&run.requests_dir()).unwrap().records;
    let answered: Vec<_> = records.iter().filter(|r| r.status != 0).collect();
    let traced: Vec<_> = answered.iter().filter(|r| r.sampled).collect();
    let traced_failed = traced.iter().filter(|r| r.status >= 400).count();
    // The budget held: far fewer traced than sent in the 100/s burst.
    assert!(
        traced.len() < answered.len() * 3 / 4 && traced.len() > MAX_TRACES,
        "{} traced of {} answered",
        traced.len(),
        answered.len()
    );
    assert!(
        traced_failed > 0,
        "the burst should throttle traced requests"
    );

    let collected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.telemetry_dir().join("collect.json")).unwrap())
            .unwrap();
    let sel = &collected["xray"]["selection"];
    eprintln!("selection: {sel}");
    assert_eq!(sel["traced_requests"], traced.len());
    assert_eq!(sel["max_traces"], MAX_TRACES);
    assert_eq!(collected["xray"]["requested"], MAX_TRACES);
    let tier = |k: &str| sel[k].as_u64().unwrap() as usize;
    assert_eq!(
        tier("failed_or_slow") + tier("server_flagged") + tier("cold") + tier("sample"),
        MAX_TRACES
    );
    // Every failed traced request is fetched before anything else (up to the budget).
    assert!(
        tier("failed_or_slow") >= traced_failed.min(MAX_TRACES),
        "{} failed traced, {} fetched as failed or slow",
        traced_failed,
        tier("failed_or_slow")
    );

    // Cold starts come from every REPORT line, not from the fetched traces: exact.
    let truth = truth_lines(tmp.path());
    let true_cold = truth.iter().filter(|l| l["cold"] == true).count() as u64;
    let c = report.cold_starts.as_ref().expect("a cold-start summary");
    assert!(true_cold > 0);
    assert_eq!(c.count, true_cold, "{c:#?}");

    // The waterfall of the burst is an estimate from a few traced requests for all of them.
    let burst = report.phases.iter().find(|p| p.name == "burst").unwrap();
    let w = burst.waterfall.as_ref().expect("a waterfall for the burst");
    let burst_requests = records.iter().filter(|r| r.phase == burst.index).count() as u64;
    assert_eq!(w.of_requests, burst_requests);
    assert!(w.traced_requests < w.of_requests, "{w:?}");
}
