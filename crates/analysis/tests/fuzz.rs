//! Fuzzing the request-record reader: mutated `requests/part-NNNNNN.csv` segments (from the
//! committed corpus in `tests/fuzz-corpus/requests/`) must be read around — bad lines
//! skipped and reported — or refused with an error, never panic. See
//! `stormwatch_model::fuzz`.

use std::path::Path;

use stormwatch_model::fuzz;

#[test]
fn the_request_reader_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpus = fuzz::corpus_dir(&root.join("tests/fuzz-corpus/requests"));
    let dictionary = [
        ",",
        "\"",
        "\n",
        "\r\n",
        "-1",
        "18446744073709551616",
        "9223372036854775807",
        "-9223372036854775808",
        "NaN",
        "true",
        "maybe",
        ",,,,,,,,,,,,,,",
        "sequence,flow",
    ];
    let dir = tempfile::tempdir().unwrap();
    let segment = dir.path().join("part-000001.csv");
    fuzz::run("requests", &corpus, &dictionary, |input| {
        std::fs::write(&segment, input).unwrap();
        let _ = stormwatch_analysis::read_requests(dir.path(), true);
    });
}
