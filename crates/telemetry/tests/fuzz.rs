//! Fuzzing the parsers of what AWS sends back: Lambda REPORT lines (text and JSON) and X-Ray
//! segment documents. Mutations of the committed corpus (`tests/fuzz-corpus/`) must parse or
//! be refused, never panic. See `stormwatch_model::fuzz`.

use std::path::Path;

use stormwatch_model::{UnixNanos, fuzz};
use stormwatch_telemetry::{report_line, segments};

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz-corpus");
    fuzz::corpus_dir(&root.join(name))
}

#[test]
fn report_lines_never_panic() {
    let dictionary = [
        "\t",
        "REPORT ",
        "Duration: ",
        "Init Duration: ",
        "1e308",
        "-1",
        "NaN",
        "ms",
        "Status: timeout",
        "XRAY TraceId: ",
        "Root=",
        ";",
        "{",
        "}",
        "\"metrics\":{",
        "null",
        "\"durationMs\":1e400",
        "99999999999999999999",
    ];
    fuzz::run(
        "report-lines",
        &corpus("report-lines"),
        &dictionary,
        |input| {
            let text = String::from_utf8_lossy(input);
            if let Some(line) = report_line::parse(&text) {
                let _ = line.spans("f", UnixNanos(i64::MAX));
                let _ = line.spans("f", UnixNanos(i64::MIN));
            }
            let _ = report_line::root_of(&text);
        },
    );
}

#[test]
fn xray_segment_documents_never_panic() {
    let dictionary = [
        "\"start_time\":",
        "1e308",
        "-1e308",
        "\"end_time\":",
        "\"subsegments\":[",
        "]",
        "{",
        "}",
        "null",
        "\"status\":\"99999\"",
        "\"retries\":-5",
        "\"cause\":",
        "\"exceptions\":[",
        "\"origin\":\"AWS::Lambda::Function\"",
        "\"Init\"",
        "NaN",
    ];
    fuzz::run(
        "xray-segments",
        &corpus("xray-segments"),
        &dictionary,
        |input| {
            let text = String::from_utf8_lossy(input);
            let mut spans = Vec::new();
            let mut stats = segments::ParseStats::default();
            segments::parse_document(
                "1-5759e988-bd862e3fe1be46a994272793",
                &text,
                &mut spans,
                &mut stats,
            );
            let _ = segments::function_resource_arn(&text);
        },
    );
}
