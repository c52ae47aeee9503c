//! The analyzer: reads a run directory (manifest, request records, histograms and, when the
//! collector has run, CloudWatch metrics and X-Ray spans), aligns client and server data in
//! polars, runs the detectors and produces the [`AnalysisReport`] every renderer consumes.
//!
//! Reads files only through `stormwatch-model`'s layout; writes nothing itself (the CLI
//! writes `analysis.json`).

mod assemble;
mod client_events;
mod cold_starts;
mod coldstarts_account;
pub mod coldstarts_summary;
mod detect;
pub mod error;
mod id_joins;
mod inputs;
mod outcome;
mod phase_stats;
mod server;
mod thresholds;
mod timeline;
mod traces;

use stormwatch_model::{AnalysisReport, RunDir};

pub use crate::error::AnalysisError;
pub use crate::id_joins::{IdJoins, RequestIdJoins};
pub use crate::inputs::{Dictionary, Requests, RunInputs, read_requests, read_requests_joined};

/// Analyzes the run in `run`.
pub fn analyze(run: &RunDir) -> Result<AnalysisReport, AnalysisError> {
    let inputs = RunInputs::read(run)?;
    report_from(&inputs)
}

/// Builds the report from inputs already read (lets tests feed synthetic data).
pub fn report_from(inputs: &RunInputs) -> Result<AnalysisReport, AnalysisError> {
    let mut phases = phase_stats::phase_stats(inputs)?;
    let traces = traces::breakdowns(&inputs.spans);
    let (traced, population) = traces::join(inputs, &traces)?;
    let windows: Vec<_> = phases.iter().map(|p| p.window).collect();
    let server = inputs.server.phase_stats(&windows);
    let timeouts = traces::function_timeouts(&inputs.spans, &windows);
    for (p, mut s) in phases.iter_mut().zip(server) {
        if let Some(s) = &mut s {
            timeouts.fill(p.index, s);
        }
        p.server = s;
        // X-Ray traces decompose a request; requests joined only by their REPORT line (traced
        // but not fetched, or X-Ray not collected) stand in when the phase has no X-Ray trace.
        let xray_in_phase = traced.iter().any(|t| t.phase == p.index && t.trace.xray);
        p.waterfall = traces::waterfall(
            traced
                .iter()
                .filter(|t| t.phase == p.index && (t.trace.xray || !xray_in_phase)),
            p.index,
            &population,
            cold_starts::init_ms_per_request(
                &inputs.spans,
                &p.window,
                population.of_phase(p.index),
            ),
        );
    }
    let mut timeline = timeline::timeline(inputs)?;
    timeline::add_server_series(&mut timeline, &inputs.server);
    timeline::add_cold_starts(&mut timeline, traces.values());
    let distributions = timeline::distributions(inputs)?;
    let cold_starts = cold_starts::summary(&traced, &inputs.spans, &inputs.server, &phases);
    let endpoint_functions = traces::endpoint_functions(&traced);
    let outcome_latency = phase_stats::outcome_latency(inputs)?;
    let thresholds = thresholds::evaluate(inputs, cold_starts.as_ref())?;
    let mut findings = detect::detect(&detect::Context {
        phases: &phases,
        timeline: &timeline,
        traced: &traced,
        api_kind: inputs.api_kind(),
        api_name: api_name(inputs),
        cold_starts: cold_starts.as_ref(),
        endpoint_functions: &endpoint_functions,
        outcome_latency: &outcome_latency,
    });
    detect::escalate_for_failed_thresholds(&mut findings, &thresholds);
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

/// The API as findings name it: `name/stage` (REST) or `id/stage` (HTTP API).
fn api_name(inputs: &RunInputs) -> Option<String> {
    let api = inputs.manifest.aws.as_ref()?.api.as_ref()?;
    let name = api.name.as_ref().or(api.id.as_ref())?;
    Some(match &api.stage {
        Some(stage) => format!("{name}/{stage}"),
        None => name.clone(),
    })
}
