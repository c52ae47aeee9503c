//! The analyzer: reads a run directory (manifest, request records, histograms and, when the
//! collector has run, CloudWatch metrics and X-Ray spans), aligns client and server data in
//! polars, runs the detectors and produces the [`AnalysisReport`] every renderer consumes.
//!
//! Reads files only through `stormwatch-model`'s layout; writes nothing itself (the CLI
//! writes `analysis.json`).

mod assemble;
mod detect;
pub mod error;
mod inputs;
mod outcome;
mod phase_stats;
mod server;
mod thresholds;
mod timeline;
mod traces;

use stormwatch_model::{AnalysisReport, RunDir};

pub use crate::error::AnalysisError;
pub use crate::inputs::{Dictionary, Requests, RunInputs};

/// Analyzes the run in `run`.
pub fn analyze(run: &RunDir) -> Result<AnalysisReport, AnalysisError> {
    let inputs = RunInputs::read(run)?;
    report_from(&inputs)
}

/// Builds the report from inputs already read (lets tests feed synthetic data).
pub fn report_from(inputs: &RunInputs) -> Result<AnalysisReport, AnalysisError> {
    let mut phases = phase_stats::phase_stats(inputs)?;
    let traces = traces::breakdowns(&inputs.spans);
    let traced = traces::join(inputs, &traces)?;
    for p in &mut phases {
        p.server = inputs.server.phase_stats(&p.window);
        p.waterfall = traces::waterfall(traced.iter().filter(|t| t.phase == p.index));
    }
    let mut timeline = timeline::timeline(inputs)?;
    timeline::add_server_series(&mut timeline, &inputs.server);
    timeline::add_cold_starts(&mut timeline, traces.values());
    let distributions = timeline::distributions(inputs)?;
    let cold_starts = detect::cold_start_summary(&traced, &inputs.spans, &inputs.server, &phases);
    let findings = detect::detect(&detect::Context {
        phases: &phases,
        timeline: &timeline,
        traced: &traced,
        api_kind: inputs
            .manifest
            .aws
            .as_ref()
            .and_then(|a| a.api.as_ref())
            .map(|a| a.kind),
        cold_starts: cold_starts.as_ref(),
    });
    let thresholds = thresholds::evaluate(inputs, cold_starts.as_ref())?;
    Ok(assemble::assemble(
        inputs,
        assemble::Parts {
            phases,
            timeline,
            distributions,
            findings,
            cold_starts,
            thresholds,
            traced: traced.iter().filter(|t| t.trace.xray).count() as u64,
        },
    ))
}
