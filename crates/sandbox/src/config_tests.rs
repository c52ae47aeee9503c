//! Tests of config parsing and checking.

use super::*;

const OK: &str = "[api]\nkind = \"rest\"\n\n[functions.f]\ninit = \"fixed 100ms\"\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"f\"\n";

#[test]
fn parses_and_matches_routes() {
    let c = Config::parse(Path::new("c.toml"), OK).unwrap();
    assert!(c.routes[0].matches("GET", "/prod/items/7"));
    assert!(!c.routes[0].matches("GET", "/prod/items"));
    assert!(!c.routes[0].matches("GET", "/prod/items/7/x"));
    assert!(!c.routes[0].matches("POST", "/prod/items/7"));
}

#[test]
fn unknown_field_names_line_and_field() {
    let src = OK.replace("init = ", "colour = 1\ninit = ");
    let e = Config::parse(Path::new("c.toml"), &src)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("c.toml:5:"), "{e}");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn missing_function_and_negative_duration() {
    let e = Config::parse(
        Path::new("c.toml"),
        &OK.replace("function = \"f\"", "function = \"g\""),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("c.toml:9: field `routes[0].function`"), "{e}");
    let e = Config::parse(
        Path::new("c.toml"),
        &OK.replace("fixed 100ms", "fixed -5ms"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("c.toml:5: field `functions.f.init`"), "{e}");
    let e = Config::parse(
        Path::new("c.toml"),
        &OK.replace("fixed 100ms", "gaussian 5ms"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("functions.f.init"), "{e}");
}

fn err(src: &str) -> String {
    Config::parse(Path::new("c.toml"), src)
        .expect_err("config must be rejected")
        .to_string()
}

/// `OK` with `extra` appended as further lines (line 10 onwards).
fn with(extra: &str) -> String {
    format!("{OK}{extra}\n")
}

#[test]
fn names_follow_aws_naming_rules() {
    // A function name that would write outside --data-dir.
    let e = err(&with("[functions.\"../../../ESCAPED\"]"));
    assert!(
            e.starts_with("c.toml:10: field `functions.\"../../../ESCAPED\"`: `../../../ESCAPED`: a Lambda function name is 1-64"),
            "{e}"
        );
    let e = err(&with(&format!("[functions.{}]", "f".repeat(65))));
    assert!(e.starts_with("c.toml:10: field `functions.ffff"), "{e}");
    let e = err(&with("[tables.ab]\nread_capacity = 1\nwrite_capacity = 1"));
    assert!(
        e.starts_with("c.toml:10: field `tables.ab`: `ab`: a DynamoDB table name is 3-255"),
        "{e}"
    );
    let e = err(&with("[streams.\"a/b\"]"));
    assert!(
        e.starts_with("c.toml:10: field `streams.\"a/b\"`: `a/b`: a Kinesis stream name"),
        "{e}"
    );
    let e = err(&with("[queues.\"jobs.v2\"]\nworker = \"f\""));
    assert!(
        e.starts_with("c.toml:10: field `queues.\"jobs.v2\"`: `jobs.v2`: an SQS queue name"),
        "{e}"
    );
    let e = err(&OK.replace("kind = \"rest\"", "kind = \"rest\"\nname = \"a/b\""));
    assert!(
        e.starts_with("c.toml:3: field `api.name`: `a/b`: must be 1-128"),
        "{e}"
    );
    let e = err(&OK.replace(
        "kind = \"rest\"",
        "kind = \"rest\"\nstage = \"pr\\u0001od\"",
    ));
    assert!(
        e.starts_with("c.toml:3: field `api.stage`: `pr\\u{1}od`"),
        "{e}"
    );
    // Names within the rules, including dots where the service allows them.
    let ok = with(
        "[tables.\"orders.v2\"]\nread_capacity = 1\nwrite_capacity = 1\n\
             [streams.\"clicks.v1\"]\n[queues.\"jobs.fifo\"]\nworker = \"f\"\n\
             [functions.checkout-v2_x]",
    )
    .replace("kind = \"rest\"", "kind = \"rest\"\nstage = \"$default\"");
    let c = Config::parse(Path::new("c.toml"), &ok).unwrap();
    assert!(c.tables.contains_key("orders.v2") && c.queues.contains_key("jobs.fifo"));
    assert_eq!(c.api.stage, "$default");
}

#[test]
fn extreme_numbers_are_rejected_naming_the_field() {
    let fault = |body: &str| {
        with(&format!(
            "[[faults]]\nat = \"0s\"\nduration = \"1s\"\n{body}"
        ))
    };
    let table = |body: &str| with(&format!("[tables.tbl]\n{body}"));
    let cases = [
        (
            OK.replace(
                "function = \"f\"",
                "function = \"f\"\nhandler = \"fixed 1e308ms\"",
            ),
            "routes[0].handler",
        ),
        (
            OK.replace("fixed 100ms", "lognormal median=1e308ms p99=1e309ms"),
            "functions.f.init",
        ),
        (
            OK.replace("fixed 100ms", "uniform 1ms..1441m"),
            "functions.f.init",
        ),
        (
            OK.replace("init = ", "timeout = \"1e308s\"\ninit = "),
            "functions.f.timeout",
        ),
        (
            OK.replace("init = ", "idle_timeout = \"infm\"\ninit = "),
            "functions.f.idle_timeout",
        ),
        (
            OK.replace("init = ", "error_rate = nan\ninit = "),
            "functions.f.error_rate",
        ),
        (
            OK.replace(
                "kind = \"rest\"",
                "kind = \"rest\"\nintegration_timeout = \"1e300m\"",
            ),
            "api.integration_timeout",
        ),
        (
            OK.replace("kind = \"rest\"", "kind = \"rest\"\nrate_limit = nan"),
            "api.rate_limit",
        ),
        (
            OK.replace("kind = \"rest\"", "kind = \"rest\"\nrate_limit = inf"),
            "api.rate_limit",
        ),
        (
            OK.replace("kind = \"rest\"", "kind = \"rest\"\nrate_limit = 1e300"),
            "api.rate_limit",
        ),
        (
            with("[telemetry]\napi_rate_limit = nan"),
            "telemetry.api_rate_limit",
        ),
        (
            with("[telemetry]\nsampling_rate = nan"),
            "telemetry.sampling_rate",
        ),
        (
            with("[telemetry]\nresolution = \"1e308s\""),
            "telemetry.resolution",
        ),
        (
            with("[telemetry]\ntrace_memory_mb = 99999999"),
            "telemetry.trace_memory_mb",
        ),
        (
            table("read_capacity = nan\nwrite_capacity = 1"),
            "tables.tbl.read_capacity",
        ),
        (
            table("read_capacity = 1\nwrite_capacity = inf"),
            "tables.tbl.write_capacity",
        ),
        (
            table("read_capacity = 1\nwrite_capacity = -1"),
            "tables.tbl.write_capacity",
        ),
        (
            table("read_capacity = 1\nwrite_capacity = 1\nmax_retries = 4000000000"),
            "tables.tbl.max_retries",
        ),
        (
            table("read_capacity = 1\nwrite_capacity = 1\nbase_backoff = \"1e308ms\""),
            "tables.tbl.base_backoff",
        ),
        (fault("slowdown = inf"), "faults[0].slowdown"),
        (fault("slowdown = 1e308"), "faults[0].slowdown"),
        (fault("slowdown = nan"), "faults[0].slowdown"),
        (fault("slowdown = 1001"), "faults[0].slowdown"),
        (fault("error_rate = nan"), "faults[0].error_rate"),
        (
            fault("table_capacity_factor = nan"),
            "faults[0].table_capacity_factor",
        ),
        (
            fault("stage_rate_limit = inf"),
            "faults[0].stage_rate_limit",
        ),
        (
            with("[[faults]]\nat = \"1e308s\"\nduration = \"1s\""),
            "faults[0].at",
        ),
        (with("[auth]\ntoken_ttl = \"1e308s\""), "auth.token_ttl"),
        (
            OK.replace(
                "function = \"f\"",
                "function = \"f\"\nresponse_bytes = 1000000000000",
            ),
            "routes[0].response_bytes",
        ),
    ];
    for (src, field) in cases {
        let e = err(&src);
        assert!(e.contains(&format!(": field `{field}`: ")), "{field}: {e}");
        assert!(e.len() < 200, "{field}: {e}");
    }
    // At the limits, accepted.
    let ok = OK.replace(
        "function = \"f\"",
        "function = \"f\"\nhandler = \"fixed 1440m\"",
    ) + "[[faults]]\nat = \"0s\"\nduration = \"1s\"\nslowdown = 1000\n";
    Config::parse(Path::new("c.toml"), &ok).unwrap();
}

#[test]
fn worker_counts_are_capped() {
    let cases = [
        (
            with("[queues.q]\nworker = \"f\"\nconcurrency = 100000000"),
            "queues.q.concurrency",
            "1..=1000",
        ),
        (
            with("[queues.q]\nworker = \"f\"\nconcurrency = 0"),
            "queues.q.concurrency",
            "1..=1000",
        ),
        (
            with("[streams.s]\nshards = 100000"),
            "streams.s.shards",
            "1..=10000",
        ),
        (
            OK.replace("init = ", "reserved_concurrency = 100001\ninit = "),
            "functions.f.reserved_concurrency",
            "0..=100000",
        ),
        (
            OK.replace("init = ", "provisioned_concurrency = 1000000\ninit = "),
            "functions.f.provisioned_concurrency",
            "0..=100000",
        ),
        (
            with("[[faults]]\nat = \"0s\"\nduration = \"1s\"\nreserved_concurrency = 4000000000"),
            "faults[0].reserved_concurrency",
            "0..=100000",
        ),
    ];
    for (src, field, range) in cases {
        let e = err(&src);
        assert!(
            e.contains(&format!(": field `{field}`: must be in {range}, not `")),
            "{e}"
        );
    }
    let ok = with("[queues.q]\nworker = \"f\"\nconcurrency = 1000\n[streams.s]\nshards = 10000");
    Config::parse(Path::new("c.toml"), &ok).unwrap();
}

#[test]
fn type_errors_name_the_field_and_quote_the_value_briefly() {
    let e = err(&OK.replace("init = ", "memory_mb = -1\ninit = "));
    assert_eq!(
        e,
        "c.toml:5: field `functions.f.memory_mb`: invalid value: integer `-1`, expected u32"
    );
    let e = err(&OK.replace(
        "kind = \"rest\"",
        "kind = \"rest\"\nrate_limit = 5.0\nburst = 1e300",
    ));
    assert_eq!(
        e,
        "c.toml:4: field `api.burst`: invalid type: floating point `1e300`, expected u32"
    );
    let e = err(&OK.replace("init = ", "memory_mb = 64\ninit = "));
    assert_eq!(
        e,
        "c.toml:5: field `functions.f.memory_mb`: must be in 128..=10240, not `64`"
    );
    // A missing field: the table it is missing from, plus its name.
    let e = err(&OK.replace("function = \"f\"\n", ""));
    assert!(
        e.starts_with("c.toml:7: field `routes[0].function`: missing field `function`"),
        "{e}"
    );
    let e = err("[functions.f]\n[[routes]]\nroute = \"GET /x\"\nfunction = \"f\"\n");
    assert_eq!(e, "c.toml:1: field `api`: missing field `api`");
    let e = err(&OK.replace("init = ", "memory_mb = \"big\"\ninit = "));
    assert_eq!(
        e,
        "c.toml:5: field `functions.f.memory_mb`: invalid type: string `\"big\"`, expected u32"
    );
    // A long value is cut.
    let long = format!("reads = \"{}\"", "x".repeat(500));
    let e = err(&OK.replace("function = \"f\"", &format!("function = \"f\"\n{long}")));
    assert!(
        e.starts_with("c.toml:10: field `routes[0].reads`: invalid type: string "),
        "{e}"
    );
    assert!(e.len() < 150, "{e}");
    // A syntax error has no field.
    let e = err("[api\nkind = 1");
    assert!(e.starts_with("c.toml:1: field `(syntax)`"), "{e}");
}

/// Mutations of the committed corpus (`tests/fuzz-corpus/sandbox-config`) parse or are
/// refused, never panic; see `stormwatch_model::fuzz`.
mod fuzz {
    use std::path::Path;

    use stormwatch_model::fuzz;

    #[test]
    fn the_config_parser_never_panics() {
        let dictionary = [
            "inf",
            "nan",
            "-1",
            "1e308",
            "18446744073709551616",
            "\"../../x\"",
            "[functions.\"a/b\"]\n",
            "fixed 1e308ms",
            "lognormal median=1ms p99=1e309ms",
            "uniform 5ms..1ms",
            "slowdown = inf",
            "concurrency = 100000000",
            "reserved_concurrency = 0",
            "[[faults]]\n",
            "[[routes]]\n",
            "\"",
            "[",
            "]",
            "=",
            "\n",
        ];
        fuzz::run(
            "sandbox-config",
            &fuzz::corpus_dir(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../tests/fuzz-corpus/sandbox-config"),
            ),
            &dictionary,
            |input| {
                let text = String::from_utf8_lossy(input);
                let _ = crate::Config::parse(Path::new("fuzz.toml"), &text);
            },
        );
    }
}

#[test]
fn telemetry_memory_defaults_hold_a_30_minute_test_at_500_per_second() {
    let c = Config::parse(Path::new("c.toml"), OK).unwrap();
    assert_eq!(c.tracing.trace_memory, DEFAULT_TRACE_MEMORY_MB << 20);
    assert_eq!(c.tracing.log_memory_per_group, DEFAULT_LOG_MEMORY_MB << 20);
    // benches/telemetry_stores.rs: ~615 bytes per traced request, ~115 bytes of log events
    // per invocation; 900,000 requests with a quarter to spare, and both within 1.5 GB.
    assert!(c.tracing.trace_memory >= 900_000 * 615 * 5 / 4);
    assert!(c.tracing.log_memory_per_group >= 900_000 * 115 * 5 / 4);
    assert!(c.tracing.trace_memory + c.tracing.log_memory_per_group <= 1_500_000_000);
}

#[test]
fn route_auth_iam_token_and_errors() {
    let route = |extra: &str| OK.replace("function = \"f\"", &format!("function = \"f\"\n{extra}"));
    let c = Config::parse(Path::new("c.toml"), &route("auth = \"iam\"")).unwrap();
    assert!(c.routes[0].iam && !c.routes[0].protected);
    let c = Config::parse(Path::new("c.toml"), &route("auth = \"token\"")).unwrap();
    assert!(!c.routes[0].iam && c.routes[0].protected);
    let c = Config::parse(Path::new("c.toml"), OK).unwrap();
    assert!(!c.routes[0].iam && !c.routes[0].protected);
    let e = err(&route("auth = \"sigv4\""));
    assert!(e.starts_with("c.toml:10:"), "{e}");
    assert!(e.contains("routes[0].auth") && e.contains("`sigv4`"), "{e}");
    let e = err(&route("protected = true\nauth = \"iam\""));
    assert!(e.starts_with("c.toml:11:"), "{e}");
    assert!(
        e.contains("routes[0].auth") && e.contains("exclude each other"),
        "{e}"
    );
}
