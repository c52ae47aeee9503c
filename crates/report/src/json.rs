//! JSON: the report value itself, pretty-printed (schema: `docs/schema/analysis.schema.json`).

use stormwatch_model::AnalysisReport;

use crate::{Artifact, ReportError};

pub fn render(report: &AnalysisReport) -> Result<Artifact, ReportError> {
    let mut bytes =
        serde_json::to_vec_pretty(report).map_err(|e| ReportError::Json(e.to_string()))?;
    bytes.push(b'\n');
    Ok(Artifact {
        name: "analysis.json".into(),
        bytes,
    })
}
