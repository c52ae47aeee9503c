//! JSON Schemas generated from the types, checked in under `docs/schema/`.

/// The JSON Schema of `manifest.json`, pretty-printed with a trailing newline.
pub fn manifest_schema_json() -> String {
    let schema = schemars::schema_for!(crate::RunManifest);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// The JSON Schema of `analysis.json`, pretty-printed with a trailing newline.
pub fn analysis_schema_json() -> String {
    let schema = schemars::schema_for!(crate::AnalysisReport);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
