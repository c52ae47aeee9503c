//! Fails when the manifest types and the checked-in `docs/schema/manifest.schema.json`
//! disagree. Run with `STORMWATCH_BLESS=1` to rewrite the checked-in file after an
//! intended change (and bump `MANIFEST_SCHEMA_VERSION` if old manifests no longer parse).

use std::path::PathBuf;

#[test]
fn manifest_schema_matches_checked_in_copy() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema/manifest.schema.json");
    let generated = stormwatch_model::schema::manifest_schema_json();
    if std::env::var_os("STORMWATCH_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with STORMWATCH_BLESS=1", path.display()));
    assert!(
        checked_in == generated,
        "docs/schema/manifest.schema.json is out of date with the RunManifest types; \
         rerun with STORMWATCH_BLESS=1 and review the diff"
    );
}
