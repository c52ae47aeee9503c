//! AWS list prices stormwatch estimates bills with: one table, with the date it was read,
//! used by `run --dry-run` (traces recorded), `collect` (the plan before the calls and what
//! was actually requested) and anything else that prices AWS usage.
//!
//! US East (N. Virginia) list prices, read from the AWS pricing pages (X-Ray, CloudWatch)
//! on 2026-12-02. Other regions differ by a few percent; free tiers are not subtracted.

use serde::{Deserialize, Serialize};

/// When the prices below were read.
pub const PRICES_AS_OF: &str = "2026-12-02 (us-east-1 list prices, free tiers not subtracted)";

/// X-Ray: per trace recorded.
pub const XRAY_TRACE_RECORDED_USD: f64 = 5.00 / 1_000_000.0;
/// X-Ray: per trace retrieved (`BatchGetTraces`) or scanned (`GetTraceSummaries`).
pub const XRAY_TRACE_RETRIEVED_OR_SCANNED_USD: f64 = 0.50 / 1_000_000.0;
/// CloudWatch `GetMetricData`: per metric requested (each metric of each call, pages
/// included).
pub const GET_METRIC_DATA_METRIC_USD: f64 = 0.01 / 1_000.0;
/// CloudWatch Logs Insights: per GB of log data scanned.
pub const LOGS_INSIGHTS_GB_SCANNED_USD: f64 = 0.005;

/// Bytes a Lambda invocation writes to its log group at the least: the `START` (~75), `END`
/// (~55) and `REPORT` (~200 with an X-Ray trace id) platform lines of the text format; the
/// handler's own lines come on top. What Logs Insights scans for the REPORT-line query is
/// estimated from it when the log groups' own size is not known.
pub const LOG_BYTES_PER_INVOCATION: f64 = 330.0;

/// Lambda prices (US East (N. Virginia), the AWS Lambda pricing page), for the cold-start
/// recommendations: what keeping environments warm or snapshotting them costs.
pub const LAMBDA_PRICES_AS_OF: &str =
    "2026-12-02 (us-east-1 list prices of the AWS Lambda pricing page, free tier not subtracted)";

/// Lambda on-demand duration, per GB-second, x86.
pub const LAMBDA_DURATION_GB_S_X86_USD: f64 = 0.000_016_666_7;
/// Lambda on-demand duration, per GB-second, Arm.
pub const LAMBDA_DURATION_GB_S_ARM_USD: f64 = 0.000_013_333_4;
/// Provisioned concurrency, per GB-second configured, x86.
pub const LAMBDA_PROVISIONED_GB_S_X86_USD: f64 = 0.000_004_166_7;
/// Provisioned concurrency, per GB-second configured, Arm.
pub const LAMBDA_PROVISIONED_GB_S_ARM_USD: f64 = 0.000_003_333_4;
/// Duration of invocations served by provisioned concurrency, per GB-second, x86.
pub const LAMBDA_PROVISIONED_DURATION_GB_S_X86_USD: f64 = 0.000_009_722_2;
/// Duration of invocations served by provisioned concurrency, per GB-second, Arm.
pub const LAMBDA_PROVISIONED_DURATION_GB_S_ARM_USD: f64 = 0.000_007_777_8;
/// SnapStart snapshot cache (Python and .NET; free for Java), per GB-second of memory
/// cached while the version is active.
pub const LAMBDA_SNAPSTART_CACHE_GB_S_USD: f64 = 0.000_001_504_6;
/// SnapStart restore (Python and .NET; free for Java), per GB restored.
pub const LAMBDA_SNAPSTART_RESTORE_GB_USD: f64 = 0.000_139_799_8;
/// Seconds in the month the monthly figures use (730 hours).
pub const SECONDS_PER_MONTH: f64 = 730.0 * 3600.0;

/// What a piece of AWS usage costs at the prices above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// X-Ray traces recorded.
    pub traces_recorded: f64,
    /// X-Ray traces retrieved or scanned.
    pub traces_retrieved_or_scanned: f64,
    /// `GetMetricData` metrics requested.
    pub metrics_requested: f64,
    /// Logs Insights bytes scanned.
    pub logs_bytes_scanned: f64,
}

impl Usage {
    /// The estimated cost in US dollars.
    pub fn usd(&self) -> f64 {
        self.traces_recorded * XRAY_TRACE_RECORDED_USD
            + self.traces_retrieved_or_scanned * XRAY_TRACE_RETRIEVED_OR_SCANNED_USD
            + self.metrics_requested * GET_METRIC_DATA_METRIC_USD
            + self.logs_bytes_scanned / 1e9 * LOGS_INSIGHTS_GB_SCANNED_USD
    }
}

/// Dollars for a person: `$0.0042`, `$1.23`, `$1,234.50`.
pub fn usd_text(usd: f64) -> String {
    if usd < 0.01 {
        format!("${usd:.4}")
    } else {
        let cents = (usd * 100.0).round() as u64;
        format!(
            "${}.{:02}",
            crate::text_table::thousands(cents / 100),
            cents % 100
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_priced_from_the_one_table() {
        // 900,000 requests traced at 20/s for 30 minutes: 36,000 recorded (+1 % of the
        // rest), 10,000 retrieved; 50 metrics × 2 pages; 0.3 GB of logs scanned.
        let u = Usage {
            traces_recorded: 36_000.0,
            traces_retrieved_or_scanned: 10_000.0,
            metrics_requested: 100.0,
            logs_bytes_scanned: 0.3e9,
        };
        let expected = 0.18 + 0.005 + 0.001 + 0.0015;
        assert!((u.usd() - expected).abs() < 1e-12, "{}", u.usd());
        assert_eq!(usd_text(u.usd()), "$0.19");
        assert_eq!(usd_text(0.0042), "$0.0042");
        assert_eq!(usd_text(1234.5), "$1,234.50");
    }
}
