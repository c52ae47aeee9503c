//! Rows of `telemetry/metrics.parquet`: CloudWatch datapoints in long format.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One CloudWatch datapoint of one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Period start (UTC), as CloudWatch stamps datapoints.
    pub timestamp: DateTime<Utc>,
    /// Namespace, e.g. `AWS/Lambda`.
    pub namespace: String,
    /// Metric name, e.g. `ConcurrentExecutions`.
    pub metric: String,
    /// Dimension name → value, e.g. `FunctionName` → `store-products`.
    pub dimensions: BTreeMap<String, String>,
    /// Statistic: `Sum`, `Maximum`, `p99`...
    pub stat: String,
    /// Period length in seconds.
    pub period_secs: u32,
    /// The value, in the metric's CloudWatch unit.
    pub value: f64,
    /// True when AWS returned no datapoint and the value is a 0 filled in because the
    /// metric publishes only non-zero values (Lambda's `Errors`, `Throttles`...).
    pub filled_zero: bool,
}

impl MetricPoint {
    /// `Namespace/Metric{Dim=Value,...}:Stat`, a stable human-readable series name.
    pub fn series_name(&self) -> String {
        Self::format_series_name(&self.namespace, &self.metric, &self.dimensions, &self.stat)
    }

    /// The series name of any namespace, metric, dimensions and statistic (the collector
    /// names the series it asks for the same way).
    pub fn format_series_name(
        namespace: &str,
        metric: &str,
        dimensions: &BTreeMap<String, String>,
        stat: &str,
    ) -> String {
        let dims: Vec<String> = dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{namespace}/{metric}{{{}}}:{stat}", dims.join(","))
    }
}
