//! The stormwatch load engine: parses a scenario into a checked [`Plan`], runs its phases
//! against a target with one scheduler loop, and records every request into a run
//! directory (see `stormwatch-model`): request segments, histograms, per-second series
//! and the manifest.

mod client;
mod clock;
mod duration;
mod engine;
mod error;
mod h1;
mod live;
pub mod merge;
mod pacing;
mod phase;
mod plan;
mod recorder;
mod redact;
mod scenario;
mod shard;
pub mod sigv4;
mod step;
mod summary;
mod template;
mod threshold;
mod trace;
mod worker;

pub use duration::parse_duration;
pub use engine::{Lateness, RunOptions, RunOutcome, run};
pub use error::LoadError;
pub use phase::PhasePlan;
pub use plan::{Flow, Plan};
pub use recorder::{EndpointStats, Stats};
pub use shard::{Shard, StartAt, parse_start_at, planned_arrivals};
pub use sigv4::{Credentials, SigV4};
pub use summary::{dry_run_text, evaluate_thresholds, summary_table};
pub use trace::TraceIds;
