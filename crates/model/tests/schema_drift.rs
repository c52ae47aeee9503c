//! Fails when the types and the checked-in JSON Schemas under `docs/schema/` disagree.
//! Run with `STORMWATCH_BLESS=1` to rewrite the checked-in files after an intended change
//! (and bump the matching schema version if old files no longer parse).

use std::path::PathBuf;

fn check(file: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema")
        .join(file);
    if std::env::var_os("STORMWATCH_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with STORMWATCH_BLESS=1", path.display()));
    assert!(
        checked_in == generated,
        "docs/schema/{file} is out of date with the types; \
         rerun with STORMWATCH_BLESS=1 and review the diff"
    );
}

#[test]
fn manifest_schema_matches_checked_in_copy() {
    check(
        "manifest.schema.json",
        &stormwatch_model::schema::manifest_schema_json(),
    );
}

#[test]
fn analysis_schema_matches_checked_in_copy() {
    check(
        "analysis.schema.json",
        &stormwatch_model::schema::analysis_schema_json(),
    );
}
