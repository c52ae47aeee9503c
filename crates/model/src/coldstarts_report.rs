//! The answer of `stormwatch coldstarts`, for a few named functions or a whole account:
//! per function the counts, rate, init percentiles, breakdowns by configuration and hour,
//! the latency cold starts added, and (account-wide) the function's configuration, a fleet
//! view and ranked recommendations with their arithmetic. Built by `stormwatch-analysis`,
//! printed by the CLI and rendered by `stormwatch-report`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Millis;
use crate::coldstarts::CountSource;
pub use crate::coldstarts::FunctionContext;

/// `cold_starts / invocations`, 0 without invocations.
pub fn cold_start_rate(cold_starts: u64, invocations: u64) -> f64 {
    if invocations == 0 {
        0.0
    } else {
        cold_starts as f64 / invocations as f64
    }
}

/// The answer for a range: one entry per function.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColdStartReport {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// Where the invocation counts come from.
    pub counts_from: CountSource,
    /// How to read the counts.
    pub note: String,
    /// Per function: in the order asked for, or (account-wide) by the latency cold starts
    /// added, most first.
    pub functions: Vec<FunctionColdStarts>,
    /// The fleet view by runtime, memory size and code size (account-wide reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Fleet>,
}

/// One function's cold starts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionColdStarts {
    /// Function name.
    pub function: String,
    /// One line: count, invocations, rate, init p50/p99, added latency.
    pub headline: String,
    /// Invocations seen.
    pub invocations: u64,
    /// Of those, cold starts.
    pub cold_starts: u64,
    /// `cold_starts / invocations` (0 without invocations).
    pub rate: f64,
    /// Cold starts that were SnapStart restores (their restore duration counts as init).
    pub restores: u64,
    /// Init duration percentiles over the cold starts.
    pub init: Option<InitPercentiles>,
    /// Per function version × memory size.
    pub by_config: Vec<ConfigColdStarts>,
    /// Per UTC hour with invocations.
    pub by_hour: Vec<HourColdStarts>,
    /// The latency cold starts added.
    pub cost: ColdStartCost,
    /// Region, configuration and provisioned concurrency (account-wide reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<FunctionContext>,
    /// The highest hourly mean concurrency (busy time over the hour, from REPORT
    /// durations), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_hourly_concurrency: Option<f64>,
    /// What to do, best first (account-wide reports).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<Recommendation>,
}

/// Nearest-rank percentiles of init durations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct InitPercentiles {
    /// Median.
    pub p50: Millis,
    /// 95th percentile.
    pub p95: Millis,
    /// 99th percentile.
    pub p99: Millis,
    /// Longest.
    pub max: Millis,
}

/// One version × memory size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigColdStarts {
    /// Function version (`$LATEST`, `12`...) or `unknown`.
    pub version: String,
    /// Configured memory, MB (unknown from X-Ray alone).
    pub memory_mb: Option<u32>,
    /// Invocations.
    pub invocations: u64,
    /// Cold starts.
    pub cold_starts: u64,
    /// Cold-start rate.
    pub rate: f64,
    /// Init median.
    pub init_p50: Option<Millis>,
    /// Init 99th percentile.
    pub init_p99: Option<Millis>,
}

/// One UTC hour.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HourColdStarts {
    /// Start of the hour.
    pub hour: DateTime<Utc>,
    /// Invocations.
    pub invocations: u64,
    /// Cold starts.
    pub cold_starts: u64,
    /// Cold-start rate.
    pub rate: f64,
    /// Init median.
    pub init_p50: Option<Millis>,
    /// Mean concurrency over the hour (the invocations' summed duration / 1 h), when
    /// known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_concurrency: Option<f64>,
}

/// The latency cold starts added.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColdStartCost {
    /// Sum of the init (or restore) durations of every cold start counted.
    pub added_total: Millis,
    /// `added_total / cold_starts`.
    pub added_mean: Option<Millis>,
    /// From X-Ray traces, when read.
    pub traced: Option<TracedCost>,
}

/// What the sampled traces say about the cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TracedCost {
    /// Traced cold invocations.
    pub cold: u64,
    /// Traced warm invocations.
    pub warm: u64,
    /// Sum of the traced cold starts' `Init`/`Initialization` (or `Restore`) subsegments.
    pub init_total: Millis,
    /// Their median.
    pub init_p50: Option<Millis>,
    /// Median function-segment duration of traced cold invocations.
    pub cold_segment_p50: Option<Millis>,
    /// Median function-segment duration of traced warm invocations.
    pub warm_segment_p50: Option<Millis>,
    /// `cold_segment_p50 − warm_segment_p50`, when both exist.
    pub cold_minus_warm_p50: Option<Millis>,
}

/// What a recommendation proposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    /// Keep environments initialised.
    ProvisionedConcurrency,
    /// Restore from a snapshot instead of initialising.
    SnapStart,
    /// More memory (and so CPU) for a shorter init.
    Memory,
    /// Cold starts are rare or cheap: leave it.
    NothingToDo,
}

/// One ranked recommendation with the arithmetic behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// What it proposes.
    pub kind: RecommendationKind,
    /// One line: what to change.
    pub action: String,
    /// How the numbers were reached, from the observed figures and the price table.
    pub arithmetic: String,
    /// User-facing seconds of init a month it would save (at the observed rate).
    pub saves_seconds_per_month: f64,
    /// What it would cost a month at list prices (0 when free; negative when it saves).
    pub usd_per_month: f64,
}

/// The fleet: cold starts grouped by what explains init time.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fleet {
    /// By runtime identifier.
    pub by_runtime: Vec<FleetRow>,
    /// By configured memory.
    pub by_memory: Vec<FleetRow>,
    /// By deployment package size bucket.
    pub by_code_size: Vec<FleetRow>,
}

/// One group of functions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FleetRow {
    /// The group (`python3.12`, `1024 MB`, `< 1 MB`).
    pub group: String,
    /// Functions in it.
    pub functions: u64,
    /// Their invocations.
    pub invocations: u64,
    /// Their cold starts.
    pub cold_starts: u64,
    /// `cold_starts / invocations`.
    pub rate: f64,
    /// The functions' init medians averaged, weighted by their cold starts (percentiles
    /// of different functions do not combine exactly).
    pub init_p50_weighted: Option<Millis>,
    /// The largest of the functions' init 99th percentiles.
    pub init_p99_max: Option<Millis>,
}
