//! Fuzzing the emulator's parsers of untrusted input: the CBOR decoder of CloudWatch's RPC
//! v2 protocol and the three query languages (Logs Insights, X-Ray filter
//! expressions, CloudWatch metric math). Mutations of the committed corpus
//! (`tests/fuzz-corpus/`) must parse or be refused, never panic. See
//! `stormwatch_model::fuzz` for the mutator and how to run it longer.

use std::path::Path;

use stormwatch_model::fuzz;

use super::cbor;
use super::cloudwatch::math as cloudwatch_math;
use super::logs::query as logs_query;
use super::xray::filter as xray_filter;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz-corpus");
    fuzz::corpus_dir(&root.join(name))
}

const EXPRESSION_TOKENS: [&str; 22] = [
    "(",
    ")",
    "[",
    "]",
    "\"",
    "'",
    "/",
    "*",
    ",",
    "|",
    " AND ",
    " OR ",
    "!",
    "-",
    ">=",
    "1e308",
    "-1e308",
    "NaN",
    "99999999999999999999",
    "((((((((((",
    "\\",
    "\n",
];

#[test]
fn the_cbor_decoder_never_panics() {
    let seeds: Vec<Vec<u8>> = corpus("cbor-json")
        .iter()
        .map(|j| cbor::encode(&cbor::from_json(&serde_json::from_slice(j).unwrap())))
        .collect();
    // Raw bytes come from the mutator's flips and insertions (huge lengths, indefinite
    // lengths, tags and breaks among them).
    fuzz::run("cbor", &seeds, &[], |input| {
        if let Ok(v) = cbor::decode(input) {
            let _ = cbor::to_json(&v);
        }
    });
}

#[test]
fn the_logs_insights_parser_never_panics() {
    fuzz::run(
        "logs-insights",
        &corpus("logs-insights"),
        &EXPRESSION_TOKENS,
        |input| {
            let _ = logs_query::parse(&String::from_utf8_lossy(input));
        },
    );
}

#[test]
fn the_xray_filter_parser_never_panics() {
    fuzz::run(
        "xray-filter",
        &corpus("xray-filter"),
        &EXPRESSION_TOKENS,
        |input| {
            let _ = xray_filter::parse(&String::from_utf8_lossy(input));
        },
    );
}

#[test]
fn the_metric_math_parser_never_panics() {
    fuzz::run(
        "metric-math",
        &corpus("metric-math"),
        &EXPRESSION_TOKENS,
        |input| {
            let _ = cloudwatch_math::parse(&String::from_utf8_lossy(input));
        },
    );
}
