//! Fuzzing the scenario parser and planner: mutations of every example scenario (the
//! committed corpus in `tests/fuzz-corpus/scenario/`) must give a plan or an error, never a
//! panic. See `stormwatch_model::fuzz` for the mutator and how to run it longer.

use std::path::Path;

use stormwatch_model::fuzz;

#[test]
fn the_scenario_parser_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpus = fuzz::corpus_dir(&root.join("tests/fuzz-corpus/scenario"));
    let dictionary = [
        "inf",
        "nan",
        "-1",
        "1e308",
        "-0.0",
        "18446744073709551616",
        "99999999999999999h",
        "0s",
        "1e300ms",
        "\"",
        "'",
        "[[phases]]\n",
        "[[flows]]\n",
        "[[thresholds]]\n",
        "${",
        "}",
        "${env:HOME}",
        "${random_int(9,1)}",
        "\\r\\n",
        "\\u0000",
        "[",
        "]",
        "{",
        "=",
        ",",
        "model = \"closed\"",
        "users = 4294967296",
        "rate = 1e9",
        "max_in_flight = 0",
        "check = \"p99 < NaN\"",
        "arrivals = \"poisson\"",
        "from = 10\nto = 0",
    ];
    fuzz::run("scenario", &corpus, &dictionary, |input| {
        let text = String::from_utf8_lossy(input);
        let _ = stormwatch_load::Plan::parse(
            Path::new("fuzz.toml"),
            &text,
            &[],
            Some("http://127.0.0.1:9"),
            &|_| Some("value".into()),
        );
    });
}
