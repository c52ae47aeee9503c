//! Diagnosis on apps built the way teams build them: two functions behind one front where only
//! one is faulted, every front (REST, HTTP API, function URL), a Kinesis-backed write path,
//! function timeout vs integration timeout, and two faults in two phases. Every finding must
//! name its resource, land in the faulted phase, agree with the sandbox's ground truth per
//! phase and resource, and leave the healthy phases at `info` at most.
//!
//! Each case runs the sandbox in-process at 1-second resolution (see `accuracy` for the
//! harness); the 60-second behaviour is covered by `benches/diagnosis-60s.sh`.

use std::collections::BTreeMap;
use std::path::Path;

use stormwatch_model::analysis::{PhaseStats, ResourceKind};
use stormwatch_model::{AnalysisReport, Finding, FindingKind, Severity};

use crate::accuracy::{run_and_collect, run_scenario, truth_lines, utc};

/// Two functions behind one front: `products` (GET, 100 ms) and `orders` (POST, writes to the
/// `orders` table and, with `stream`, puts records on `clicks`). `front` is the `[api]` table's
/// body; `faults` the `[[faults]]` entries.
fn app(front: &str, products_extra: &str, orders_route_extra: &str, faults: &str) -> String {
    format!(
        "[api]\n{front}\n\n[telemetry]\nresolution = \"1s\"\n\n\
         [functions.products]\ninit = \"fixed 30ms\"\ntimeout = \"3s\"\nidle_timeout = \"60s\"\n\
         {products_extra}\n\n\
         [functions.orders]\ninit = \"fixed 30ms\"\ntimeout = \"3s\"\nidle_timeout = \"60s\"\n\n\
         [tables.orders]\nread_capacity = 1000\nwrite_capacity = 500\nmax_retries = 2\n\
         base_backoff = \"20ms\"\n\n\
         [streams.clicks]\nshards = 1\nmax_retries = 1\nbase_backoff = \"20ms\"\n\n\
         [[routes]]\nroute = \"GET /prod/products/{{id}}\"\nfunction = \"products\"\n\
         handler = \"fixed 100ms\"\nresponse_bytes = 200\n\n\
         [[routes]]\nroute = \"POST /prod/orders\"\nfunction = \"orders\"\nhandler = \"fixed 20ms\"\n\
         table = \"orders\"\nwrites = 1\n{orders_route_extra}\n\n{faults}"
    )
}

const REST: &str = "kind = \"rest\"\nname = \"shop\"\nstage = \"prod\"";
const HTTP: &str = "kind = \"http\"\nname = \"shop\"\nstage = \"prod\"";
const URL: &str = "kind = \"function_url\"";

/// 20 browse + 20 order requests per second: `warm` 3 s, `a` 6 s, `b` 6 s. Faults at 4–8 s
/// fall inside `a`, faults at 10–14 s inside `b`.
fn scenario(api: &str) -> String {
    format!(
        "[target]\nurl = \"http://127.0.0.1:9\"\ntimeout = \"5s\"\n\n\
         [aws]\nregion = \"us-east-1\"\nfunctions = [\"products\", \"orders\"]\n\
         api = {api}\ntables = [\"orders\"]\nstreams = [\"clicks\"]\n\n\
         [[flows]]\nname = \"browse\"\n[[flows.steps]]\npath = \"/prod/products/${{random_int(1,9)}}\"\n\
         endpoint = \"GET /prod/products/{{id}}\"\n\n\
         [[flows]]\nname = \"order\"\n[[flows.steps]]\nmethod = \"POST\"\npath = \"/prod/orders\"\n\
         endpoint = \"POST /prod/orders\"\nbody = {{ item = \"x\" }}\n\n\
         [[phases]]\nname = \"warm\"\nmodel = \"open\"\nrate = 40\nduration = \"3s\"\n\n\
         [[phases]]\nname = \"a\"\nmodel = \"open\"\nrate = 40\nduration = \"6s\"\n\n\
         [[phases]]\nname = \"b\"\nmodel = \"open\"\nrate = 40\nduration = \"6s\"\n"
    )
}

const REST_AWS: &str = "{ kind = \"rest\", name = \"shop\", stage = \"prod\" }";
const HTTP_AWS: &str = "{ kind = \"http\", id = \"shop\", stage = \"prod\" }";
const URL_AWS: &str = "{ kind = \"function_url\" }";

fn fault_in_a(keys: &str) -> String {
    format!("[[faults]]\nat = \"4s\"\nduration = \"4s\"\n{keys}\n")
}

fn fault_in_b(keys: &str) -> String {
    format!("[[faults]]\nat = \"10s\"\nduration = \"4s\"\n{keys}\n")
}

/// Ground-truth requests per (phase, function) matching `pred`, phases by arrival.
fn truth_per_phase(
    dir: &Path,
    report: &AnalysisReport,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for l in truth_lines(dir).iter().filter(|l| pred(l)) {
        let at = i64::try_from(l["arrival_unix_ns"].as_u64().unwrap()).unwrap();
        let at = utc(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(at as u64));
        let Some(p) = report.phases.iter().find(|p| p.window.contains(at)) else {
            continue;
        };
        let f = l["function"].as_str().unwrap_or("").to_string();
        *out.entry((p.name.clone(), f)).or_default() += 1;
    }
    out
}

fn phase<'a>(r: &'a AnalysisReport, name: &str) -> &'a PhaseStats {
    r.phases.iter().find(|p| p.name == name).unwrap()
}

fn serious(r: &AnalysisReport, phase: &str) -> Vec<Finding> {
    r.findings
        .iter()
        .filter(|f| f.phase.as_deref() == Some(phase) && f.severity > Severity::Info)
        .cloned()
        .collect()
}

/// Metric counts agree with the ground truth within 5 % (or one request at a boundary).
fn close(metric: u64, truth: u64) -> bool {
    metric.abs_diff(truth) <= 1.max(truth / 20)
}

/// Lambda throttling of `products` only, in phase `a`, behind `front`: the finding names
/// `products` (never `orders`), lands in `a`, counts what the truth counts, and `warm`/`b`
/// stay at `info`.
fn only_products_throttled(front: &str, aws: &str, throttle_status: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let config = app(
        front,
        "",
        "",
        &fault_in_a("function = \"products\"\nreserved_concurrency = 1"),
    );
    let (report, _) = run_scenario(tmp.path(), &config, &scenario(aws));
    let truth = truth_per_phase(tmp.path(), &report, |l| l["throttled_by"] == "lambda");
    let throttled_in_a = truth
        .get(&("a".into(), "products".into()))
        .copied()
        .unwrap_or(0);
    assert!(throttled_in_a > 10, "the fault should throttle: {truth:?}");
    assert!(
        truth.keys().all(|(p, f)| p == "a" && f == "products"),
        "only products in a is throttled: {truth:?}"
    );
    let lambda: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::LambdaThrottling && f.severity > Severity::Info)
        .collect();
    assert_eq!(lambda.len(), 1, "{:#?}", report.findings);
    let f = lambda[0];
    assert_eq!(f.phase.as_deref(), Some("a"));
    assert!(
        f.title.starts_with("`products` (Lambda) throttled"),
        "{}",
        f.title
    );
    assert!(!f.title.contains("orders"), "{}", f.title);
    assert!(
        f.recommendation.contains("`products`"),
        "{}",
        f.recommendation
    );
    // The title's count is the client's exact count of throttle statuses in `a`.
    let client = phase(&report, "a")
        .endpoints
        .iter()
        .filter_map(|e| e.outcomes.get(throttle_status))
        .sum::<u64>();
    assert_eq!(client, throttled_in_a, "client {throttle_status}s vs truth");
    assert!(
        f.title.contains(&format!("throttled {client} requests")),
        "{} (client {client})",
        f.title
    );
    // Per phase and resource, the metric counts match the truth.
    for p in &report.phases {
        let server = p.server.as_ref().expect("server stats");
        let products = server.resource(ResourceKind::Function, "products").unwrap();
        let want = truth
            .get(&(p.name.clone(), "products".into()))
            .copied()
            .unwrap_or(0);
        assert!(
            close(products.throttles.unwrap_or(0), want),
            "{}: products throttles {:?} vs truth {want}",
            p.name,
            products.throttles
        );
        let orders = server.resource(ResourceKind::Function, "orders").unwrap();
        assert_eq!(orders.throttles.unwrap_or(0), 0, "{}: orders", p.name);
    }
    // A function URL's 429 is Lambda's, not an API Gateway throttle; behind an API, no 429.
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::ApiThrottling),
        "{:#?}",
        report.findings
    );
    for healthy in ["warm", "b"] {
        assert!(
            serious(&report, healthy).is_empty(),
            "{healthy}: {:#?}",
            serious(&report, healthy)
        );
    }
}

#[test]
fn rest_api_names_the_one_throttled_function() {
    only_products_throttled(REST, REST_AWS, "500");
}

#[test]
fn http_api_names_the_one_throttled_function() {
    only_products_throttled(HTTP, HTTP_AWS, "500");
}

#[test]
fn function_url_429_is_lambda_throttling_of_the_named_function() {
    only_products_throttled(URL, URL_AWS, "429");
}

/// A table fault in `a`, a function fault in `b`, behind `front` (whose function-error
/// status is `error_status`): each finding names its resource, in its own phase only.
fn table_then_function_faults(front: &str, aws: &str, error_status: u16) {
    let tmp = tempfile::tempdir().unwrap();
    // `a`: the orders table keeps 2 % of its write capacity; `b`: products errors half the
    // time.
    let faults = format!(
        "{}{}",
        fault_in_a("table = \"orders\"\ntable_capacity_factor = 0.02"),
        fault_in_b("function = \"products\"\nerror_rate = 0.5")
    );
    let config = app(front, "", "", &faults);
    let (report, _) = run_scenario(tmp.path(), &config, &scenario(aws));
    let a = serious(&report, "a");
    let table = a
        .iter()
        .find(|f| f.kind == FindingKind::DownstreamThrottling)
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert!(
        table.title.starts_with("DynamoDB table `orders` throttled"),
        "{}",
        table.title
    );
    assert!(table.recommendation.contains("`orders`"));
    assert!(
        a.iter().all(|f| !f.title.contains("products")),
        "products is healthy in a: {a:#?}"
    );
    let b = serious(&report, "b");
    let errors = b
        .iter()
        .find(|f| f.kind == FindingKind::FunctionErrors)
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert!(
        errors.title.starts_with("`products` (Lambda) failed"),
        "{}",
        errors.title
    );
    assert!(
        b.iter()
            .all(|f| f.kind != FindingKind::DownstreamThrottling),
        "the table recovered before b: {b:#?}"
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::LambdaThrottling),
        "nothing was throttled by Lambda: {:#?}",
        report.findings
    );
    // Function errors per phase agree with the truth (products' error statuses).
    let truth = truth_per_phase(tmp.path(), &report, |l| l["status"] == error_status);
    let products_b = truth
        .get(&("b".into(), "products".into()))
        .copied()
        .unwrap_or(0);
    assert!(products_b > 10, "the fault should fail requests: {truth:?}");
    let metric = phase(&report, "b")
        .server
        .as_ref()
        .unwrap()
        .resource(ResourceKind::Function, "products")
        .unwrap()
        .errors
        .unwrap_or(0);
    assert!(
        close(metric, products_b),
        "errors {metric} vs truth {products_b}"
    );
    assert!(
        serious(&report, "warm").is_empty(),
        "{:#?}",
        serious(&report, "warm")
    );
}

#[test]
fn rest_api_table_then_function_faults_each_named_in_its_phase() {
    table_then_function_faults(REST, REST_AWS, 502);
}

#[test]
fn http_api_table_then_function_faults_each_named_in_its_phase() {
    table_then_function_faults(HTTP, HTTP_AWS, 500);
}

#[test]
fn function_url_table_then_function_faults_each_named_in_its_phase() {
    table_then_function_faults(URL, URL_AWS, 502);
}

#[test]
fn http_api_stage_throttle_names_the_api_not_lambda() {
    let tmp = tempfile::tempdir().unwrap();
    let config = app(
        &format!("{HTTP}\nrate_limit = 1000.0\nburst = 1000"),
        "",
        "",
        &fault_in_a("stage_rate_limit = 10.0"),
    );
    let (report, _) = run_scenario(tmp.path(), &config, &scenario(HTTP_AWS));
    let a = serious(&report, "a");
    let api = a
        .iter()
        .find(|f| f.kind == FindingKind::ApiThrottling)
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert!(
        api.title.starts_with("API Gateway `shop/prod` throttled"),
        "{}",
        api.title
    );
    let truth = truth_per_phase(tmp.path(), &report, |l| l["throttled_by"] == "api");
    let in_a: u64 = truth
        .iter()
        .filter(|((p, _), _)| p == "a")
        .map(|(_, n)| n)
        .sum();
    assert!(
        api.title.contains(&format!("throttled {in_a} requests")),
        "{} vs truth {in_a}",
        api.title
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::LambdaThrottling),
        "{:#?}",
        report.findings
    );
    assert!(serious(&report, "warm").is_empty() && serious(&report, "b").is_empty());
}

/// The first backticked name of a finding's title: the resource it names.
fn named(f: &Finding) -> Option<String> {
    f.title.split('`').nth(1).map(str::to_string)
}

#[test]
fn metrics_only_reaches_the_same_findings_and_an_honest_cold_start_range() {
    let tmp = tempfile::tempdir().unwrap();
    // products is capped at 1 in `a`: its concurrency drops and climbs back, which must not
    // count as new environments.
    let config = app(
        REST,
        "",
        "",
        &fault_in_a("function = \"products\"\nreserved_concurrency = 1"),
    );
    let scenario =
        scenario(REST_AWS).replacen("[[flows]]", "[trace]\nsampling = 1.0\n\n[[flows]]", 1);
    let (full, run) = run_and_collect(tmp.path(), &config, &scenario, true);
    assert_eq!(full.cold_starts.as_ref().unwrap().source, "xray");
    std::fs::remove_file(run.spans_path()).unwrap();
    let metrics_only = stormwatch_analysis::analyze(&run).unwrap();
    let shape = |r: &AnalysisReport| {
        let mut v: Vec<(FindingKind, Option<String>, Option<String>)> = r
            .findings
            .iter()
            .filter(|f| f.kind != FindingKind::ColdStarts)
            .map(|f| (f.kind, f.phase.clone(), named(f)))
            .collect();
        v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        v
    };
    assert_eq!(
        shape(&metrics_only),
        shape(&full),
        "{:#?}",
        metrics_only.findings
    );
    assert!(
        shape(&full)
            .iter()
            .any(|(k, p, n)| *k == FindingKind::LambdaThrottling
                && p.as_deref() == Some("a")
                && n.as_deref() == Some("products")),
        "{:#?}",
        full.findings
    );
    // The estimate per function: within 15 % of the truth, or a range that contains it.
    let estimate = metrics_only.cold_starts.as_ref().expect("an estimate");
    assert_eq!(estimate.source, "estimate");
    let truth = truth_lines(tmp.path());
    for f in &estimate.by_function {
        let true_cold = truth
            .iter()
            .filter(|l| l["cold"] == true && l["function"] == f.function.as_str())
            .count() as u64;
        let (low, high) = (f.low.unwrap(), f.high.unwrap());
        eprintln!(
            "{}: estimate {} ({low}–{high}), ground truth {true_cold}",
            f.function, f.count
        );
        let within = f.count.abs_diff(true_cold) as f64 <= 0.15 * true_cold as f64;
        assert!(
            within || (low..=high).contains(&true_cold),
            "{}: estimate {} ({low}–{high}) vs truth {true_cold}",
            f.function,
            f.count
        );
    }
    assert_eq!(estimate.by_function.len(), 2, "{estimate:#?}");
}

#[test]
fn a_kinesis_backed_route_names_the_stream() {
    let tmp = tempfile::tempdir().unwrap();
    // 20 orders/s × 60 records = 1,200 records/s against one shard's 1,000/s.
    let config = app(
        URL,
        "",
        "stream = \"clicks\"\nrecords = 60\nrecord_bytes = 100",
        "",
    );
    let (report, _) = run_scenario(tmp.path(), &config, &scenario(URL_AWS));
    let stream: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::DownstreamThrottling)
        .collect();
    assert!(!stream.is_empty(), "{:#?}", report.findings);
    for f in &stream {
        assert!(
            f.title.starts_with("Kinesis stream `clicks` throttled"),
            "{}",
            f.title
        );
        assert!(f.recommendation.contains("shards"), "{}", f.recommendation);
    }
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.title.contains("DynamoDB")),
        "the table is healthy: {:#?}",
        report.findings
    );
}

#[test]
fn a_function_timeout_is_not_a_function_error_and_not_an_integration_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    // products' 100 ms handler slows 20× in `a`: 2 s against its 1 s timeout. REPORT lines
    // (collected) say `Status: timeout`.
    let config = app(
        REST,
        "",
        "",
        &fault_in_a("function = \"products\"\nslowdown = 20.0"),
    )
    .replacen("timeout = \"3s\"", "timeout = \"1s\"", 1);
    let (report, _) = run_and_collect(tmp.path(), &config, &scenario(REST_AWS), false);
    let timeouts: Vec<Finding> = serious(&report, "a")
        .into_iter()
        .filter(|f| f.kind == FindingKind::Timeouts)
        .collect();
    assert_eq!(timeouts.len(), 1, "{:#?}", report.findings);
    let t = &timeouts[0];
    assert!(
        t.title.starts_with("`products` (Lambda) timed out") && t.title.contains("1.00 s timeout"),
        "{}",
        t.title
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::FunctionErrors || f.severity == Severity::Info),
        "timeouts are not reported as function errors: {:#?}",
        report.findings
    );
    let products = phase(&report, "a")
        .server
        .as_ref()
        .unwrap()
        .resource(ResourceKind::Function, "products")
        .unwrap()
        .clone();
    let truth = truth_per_phase(tmp.path(), &report, |l| l["status"] == 502);
    assert_eq!(
        products.timeouts,
        truth.get(&("a".into(), "products".into())).copied(),
        "timeouts from REPORT lines vs truth"
    );
}

#[test]
fn an_integration_timeout_names_the_api_and_its_limit() {
    let tmp = tempfile::tempdir().unwrap();
    // The front gives up after 1 s; products' handler slows to 2 s (its timeout is 3 s).
    let config = app(
        &format!("{REST}\nintegration_timeout = \"1s\""),
        "",
        "",
        &fault_in_a("function = \"products\"\nslowdown = 20.0"),
    );
    let (report, _) = run_scenario(tmp.path(), &config, &scenario(REST_AWS));
    let a = serious(&report, "a");
    let t = a
        .iter()
        .find(|f| f.kind == FindingKind::Timeouts)
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert!(
        t.title
            .starts_with("API Gateway `shop/prod`'s integration timeout cut off")
            && t.title.contains("504 after 1."),
        "{}",
        t.title
    );
    assert!(
        a.iter().all(|f| !f.title.contains("timed out")),
        "no function timeout: {a:#?}"
    );
}

/// The same diagnosis at AWS's 60-second metric resolution with minute-long phases: every
/// metric period straddles phases here, so the split by the client's outcomes decides.
/// About four minutes: run by `benches/diagnosis-60s.sh`, not by the default suite.
#[test]
#[ignore = "4 minutes of load at 60 s resolution; run benches/diagnosis-60s.sh"]
fn sixty_second_periods_keep_findings_in_their_phases_and_counts_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = "[[faults]]\nat = \"70s\"\nduration = \"70s\"\nfunction = \"products\"\n\
                  reserved_concurrency = 1\n\n\
                  [[faults]]\nat = \"160s\"\nduration = \"70s\"\ntable = \"orders\"\n\
                  table_capacity_factor = 0.02\n";
    let config = app(REST, "", "", faults).replace("resolution = \"1s\"", "resolution = \"60s\"");
    let scenario = scenario(REST_AWS)
        .replace("duration = \"3s\"", "duration = \"60s\"")
        .replace("duration = \"6s\"", "duration = \"90s\"");
    let (report, _) = run_scenario(tmp.path(), &config, &scenario);
    let a = serious(&report, "a");
    let lambda = a
        .iter()
        .find(|f| f.kind == FindingKind::LambdaThrottling)
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert!(
        lambda.title.starts_with("`products` (Lambda) throttled"),
        "{}",
        lambda.title
    );
    let b = serious(&report, "b");
    let table = b
        .iter()
        .find(|f| f.kind == FindingKind::DownstreamThrottling)
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert!(
        table.title.starts_with("DynamoDB table `orders`"),
        "{}",
        table.title
    );
    assert!(
        b.iter().all(|f| f.kind != FindingKind::LambdaThrottling),
        "products recovered before b: {b:#?}"
    );
    assert!(
        serious(&report, "warm").is_empty(),
        "{:#?}",
        serious(&report, "warm")
    );
    let truth = truth_per_phase(tmp.path(), &report, |l| l["throttled_by"] == "lambda");
    for p in &report.phases {
        let got = p
            .server
            .as_ref()
            .and_then(|s| s.resource(ResourceKind::Function, "products"))
            .and_then(|f| f.throttles)
            .unwrap_or(0);
        let want = truth
            .get(&(p.name.clone(), "products".into()))
            .copied()
            .unwrap_or(0);
        eprintln!("{}: products throttles {got}, ground truth {want}", p.name);
        assert!(close(got, want), "{}: {got} vs {want}", p.name);
    }
}
