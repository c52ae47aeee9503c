//! Declarative metric queries: the `queries/*.toml` files (embedded in the binary, plus a
//! user's `--queries DIR`) parsed into [`QueryFile`]s, then rendered against the run's AWS
//! resources into concrete [`MetricSeries`] — one per metric × statistic × filled-in
//! dimension set.
//!
//! A bad file is refused with the file, the 1-based line and the field, before any network
//! I/O. A metric whose placeholders the resources cannot fill (no API stage, no tables...)
//! is not an error: it is skipped and reported as such in `collect.json`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stormwatch_model::parse::line_of;
use stormwatch_model::{ApiKind, AwsResources};
use toml::Spanned;

use crate::TelemetryError;

/// The built-in query files, embedded at compile time: (file name, text).
pub const BUILTIN: [(&str, &str); 8] = [
    ("lambda.toml", include_str!("../../../queries/lambda.toml")),
    (
        "apigateway-rest.toml",
        include_str!("../../../queries/apigateway-rest.toml"),
    ),
    (
        "apigateway-http.toml",
        include_str!("../../../queries/apigateway-http.toml"),
    ),
    (
        "function-url.toml",
        include_str!("../../../queries/function-url.toml"),
    ),
    (
        "dynamodb.toml",
        include_str!("../../../queries/dynamodb.toml"),
    ),
    (
        "kinesis.toml",
        include_str!("../../../queries/kinesis.toml"),
    ),
    ("sqs.toml", include_str!("../../../queries/sqs.toml")),
    (
        "lambda-insights.toml",
        include_str!("../../../queries/lambda-insights.toml"),
    ),
];

/// The Logs Insights query that fetches REPORT lines (comments stripped).
pub fn report_lines_query() -> String {
    strip_comments(include_str!("../../../queries/logs/cold-starts.insights"))
}

/// The Logs Insights query that fetches only the REPORT lines of cold starts (comments
/// stripped).
pub fn cold_report_lines_query() -> String {
    strip_comments(include_str!(
        "../../../queries/logs/cold-report-lines.insights"
    ))
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a missing datapoint means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// Nothing is known: the period stays absent.
    #[default]
    Gap,
    /// The metric publishes only non-zero values: a missing period is a 0.
    Zero,
}

/// Storage resolution of a metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// 1-minute (every AWS service metric).
    #[default]
    Standard,
    /// 1-second custom metric.
    High,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    namespace: Spanned<String>,
    #[serde(default)]
    api_kind: Option<Spanned<String>>,
    #[serde(default)]
    metric: Vec<RawMetric>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    name: Spanned<String>,
    stats: Spanned<Vec<String>>,
    #[serde(default)]
    dimensions: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    missing: Missing,
    #[serde(default)]
    resolution: Resolution,
    #[serde(default)]
    period: Option<Spanned<u32>>,
    #[serde(default)]
    expand: Option<Spanned<BTreeMap<String, Vec<String>>>>,
}

/// One parsed query file.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryFile {
    /// Where it came from (`builtin:lambda.toml` or a path).
    pub source: String,
    /// CloudWatch namespace.
    pub namespace: String,
    /// Only applies when the API is of this kind.
    pub api_kind: Option<ApiKind>,
    /// The metrics.
    pub metrics: Vec<MetricSpec>,
}

/// One `[[metric]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSpec {
    /// Metric name.
    pub name: String,
    /// Statistics to ask for.
    pub stats: Vec<String>,
    /// Dimension name → template.
    pub dimensions: BTreeMap<String, String>,
    /// What a gap means.
    pub missing: Missing,
    /// Storage resolution.
    pub resolution: Resolution,
    /// A minimum period in seconds, if the file asks for one.
    pub period: Option<u32>,
    /// Extra placeholders and their values.
    pub expand: BTreeMap<String, Vec<String>>,
}

/// Placeholders the resources provide (besides a metric's own `expand` keys).
pub const PLACEHOLDERS: [&str; 8] = [
    "function",
    "function_qualified",
    "api_name",
    "api_id",
    "stage",
    "table",
    "stream",
    "queue",
];

impl QueryFile {
    /// Parses `text`; `source` names it in errors (`queries/lambda.toml`).
    pub fn parse(source: &str, text: &str) -> Result<Self, TelemetryError> {
        let err = |span: Range<usize>, field: &str, message: String| TelemetryError::QueryFile {
            path: PathBuf::from(source),
            line: line_of(text, span.start),
            field: field.to_string(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            let field = message
                .split('`')
                .nth(1)
                .map_or_else(|| "(syntax)".to_string(), str::to_string);
            err(e.span().unwrap_or(0..0), &field, message)
        })?;
        let api_kind = match &raw.api_kind {
            None => None,
            Some(k) => Some(match k.get_ref().as_str() {
                "rest" => ApiKind::Rest,
                "http" => ApiKind::Http,
                "function_url" => ApiKind::FunctionUrl,
                other => {
                    return Err(err(
                        k.span(),
                        "api_kind",
                        format!(
                            "unknown API kind \"{other}\" (expected rest, http or function_url)"
                        ),
                    ));
                }
            }),
        };
        if raw.namespace.get_ref().trim().is_empty() {
            return Err(err(raw.namespace.span(), "namespace", "is empty".into()));
        }
        let mut metrics = Vec::with_capacity(raw.metric.len());
        for (i, m) in raw.metric.into_iter().enumerate() {
            let field = |f: &str| format!("metric[{i}].{f}");
            if m.name.get_ref().trim().is_empty() {
                return Err(err(m.name.span(), &field("name"), "is empty".into()));
            }
            if m.stats.get_ref().is_empty() {
                return Err(err(
                    m.stats.span(),
                    &field("stats"),
                    "lists no statistic".into(),
                ));
            }
            for s in m.stats.get_ref() {
                if !is_valid_stat(s) {
                    return Err(err(
                        m.stats.span(),
                        &field("stats"),
                        format!(
                            "unknown statistic \"{s}\" (expected Sum, Average, Minimum, Maximum, SampleCount, pNN, pNN.N, tmNN, wmNN, tcNN, tsNN, IQM)"
                        ),
                    ));
                }
            }
            let expand = m
                .expand
                .as_ref()
                .map(|e| e.get_ref().clone())
                .unwrap_or_default();
            let dimensions = m
                .dimensions
                .as_ref()
                .map(|d| d.get_ref().clone())
                .unwrap_or_default();
            for template in dimensions.values() {
                for name in placeholders(template) {
                    if !PLACEHOLDERS.contains(&name.as_str()) && !expand.contains_key(&name) {
                        let span = m.dimensions.as_ref().map_or(0..0, Spanned::span);
                        return Err(err(
                            span,
                            &field("dimensions"),
                            format!(
                                "unknown placeholder {{{name}}} (expected one of {}, or a key of `expand`)",
                                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                            ),
                        ));
                    }
                }
            }
            if let Some(p) = &m.period {
                let v = *p.get_ref();
                let ok = match m.resolution {
                    Resolution::High => [1, 5, 10, 20, 30].contains(&v) || (v > 0 && v % 60 == 0),
                    Resolution::Standard => v > 0 && v % 60 == 0,
                };
                if !ok {
                    return Err(err(
                        p.span(),
                        &field("period"),
                        format!(
                            "{v} s is not a valid CloudWatch period (a multiple of 60; 1, 5, 10, 20 or 30 also for resolution = \"high\")"
                        ),
                    ));
                }
            }
            metrics.push(MetricSpec {
                name: m.name.into_inner(),
                stats: m.stats.into_inner(),
                dimensions,
                missing: m.missing,
                resolution: m.resolution,
                period: m.period.map(Spanned::into_inner),
                expand,
            });
        }
        Ok(Self {
            source: source.to_string(),
            namespace: raw.namespace.into_inner(),
            api_kind,
            metrics,
        })
    }
}

/// The built-in files, parsed.
pub fn builtin() -> Result<Vec<QueryFile>, TelemetryError> {
    BUILTIN
        .iter()
        .map(|(name, text)| QueryFile::parse(&format!("queries/{name}"), text))
        .collect()
}

/// Every `*.toml` in `dir` (sorted by name), parsed.
pub fn load_dir(dir: &Path) -> Result<Vec<QueryFile>, TelemetryError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TelemetryError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| TelemetryError::io(p, e))?;
            QueryFile::parse(&p.display().to_string(), &text)
        })
        .collect()
}

/// Whether CloudWatch accepts `s` as a statistic (the standard ones and the extended
/// percentile-style ones with a numeric argument).
pub fn is_valid_stat(s: &str) -> bool {
    if ["Sum", "Average", "Minimum", "Maximum", "SampleCount", "IQM"].contains(&s) {
        return true;
    }
    for prefix in ["p", "tm", "wm", "tc", "ts", "TM", "WM", "TC", "TS", "PR"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            // `p99`, `p99.9`, `tm99`, `TM(10%:90%)`, `PR(:300)`.
            if rest.starts_with('(') && rest.ends_with(')') {
                return true;
            }
            return !rest.is_empty()
                && rest
                    .parse::<f64>()
                    .is_ok_and(|v| (0.0..=100.0).contains(&v))
                && rest.chars().all(|c| c.is_ascii_digit() || c == '.');
        }
    }
    false
}

/// The placeholder names in a template (`{function}` → `function`).
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(after[..close].to_string());
        rest = &after[close + 1..];
    }
    out
}

/// One concrete series to fetch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct MetricSeries {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub metric: String,
    /// Dimension name → value.
    pub dimensions: BTreeMap<String, String>,
    /// Statistic.
    pub stat: String,
    /// What a gap means.
    pub missing: Missing,
    /// Storage resolution.
    pub resolution: Resolution,
    /// Minimum period asked for by the query file.
    pub min_period: Option<u32>,
    /// The query file it came from.
    pub source: String,
}

impl MetricSeries {
    /// `Namespace/Metric{Dim=Value,...}:Stat`, as [`stormwatch_model::MetricPoint::series_name`].
    pub fn name(&self) -> String {
        stormwatch_model::MetricPoint::format_series_name(
            &self.namespace,
            &self.metric,
            &self.dimensions,
            &self.stat,
        )
    }
}

/// A metric that was not rendered, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Query file.
    pub source: String,
    /// `Namespace/Metric`.
    pub metric: String,
    /// Why.
    pub reason: String,
}

/// Renders every file against `resources`: the series to fetch, and what was skipped.
pub fn render(files: &[QueryFile], resources: &AwsResources) -> (Vec<MetricSeries>, Vec<Skipped>) {
    let mut series = Vec::new();
    let mut skipped = Vec::new();
    let api = resources.api.as_ref();
    for file in files {
        if let Some(kind) = file.api_kind
            && api.map(|a| a.kind) != Some(kind)
        {
            // Not this run's kind of API: not worth a line in the report either.
            continue;
        }
        for m in &file.metrics {
            let metric = format!("{}/{}", file.namespace, m.name);
            let mut values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            let functions: Vec<String> = resources
                .functions
                .iter()
                .map(|f| f.split(':').next().unwrap_or(f).to_string())
                .collect();
            values.insert("function", functions);
            values.insert("function_qualified", resources.functions.clone());
            values.insert(
                "api_name",
                api.and_then(|a| a.name.clone()).into_iter().collect(),
            );
            values.insert(
                "api_id",
                api.and_then(|a| a.id.clone()).into_iter().collect(),
            );
            values.insert(
                "stage",
                api.and_then(|a| a.stage.clone()).into_iter().collect(),
            );
            values.insert("table", resources.tables.clone());
            values.insert("stream", resources.streams.clone());
            values.insert("queue", resources.queues.clone());
            for (k, v) in &m.expand {
                values.insert(k.as_str(), v.clone());
            }
            let mut used: Vec<String> = m
                .dimensions
                .values()
                .flat_map(|t| placeholders(t))
                .collect();
            used.sort();
            used.dedup();
            if let Some(empty) = used
                .iter()
                .find(|p| values.get(p.as_str()).is_none_or(Vec::is_empty))
            {
                skipped.push(Skipped {
                    source: file.source.clone(),
                    metric,
                    reason: format!("no value for {{{empty}}} in the AWS resources"),
                });
                continue;
            }
            // Cartesian product over the placeholders used (each list is short).
            let mut combos: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
            for p in &used {
                let mut next = Vec::new();
                for c in &combos {
                    for v in &values[p.as_str()] {
                        let mut c = c.clone();
                        c.insert(p.clone(), v.clone());
                        next.push(c);
                    }
                }
                combos = next;
            }
            for c in combos {
                let dimensions: BTreeMap<String, String> = m
                    .dimensions
                    .iter()
                    .map(|(k, t)| (k.clone(), fill(t, &c)))
                    .collect();
                for stat in &m.stats {
                    series.push(MetricSeries {
                        namespace: file.namespace.clone(),
                        metric: m.name.clone(),
                        dimensions: dimensions.clone(),
                        stat: stat.clone(),
                        missing: m.missing,
                        resolution: m.resolution,
                        min_period: m.period,
                        source: file.source.clone(),
                    });
                }
            }
        }
    }
    // A user file may repeat a built-in series: fetch it once.
    let mut seen = std::collections::HashSet::new();
    series.retain(|s| {
        seen.insert((
            s.namespace.clone(),
            s.metric.clone(),
            s.dimensions.clone(),
            s.stat.clone(),
        ))
    });
    (series, skipped)
}

fn fill(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stormwatch_model::ApiResource;

    fn resources() -> AwsResources {
        AwsResources {
            region: Some("eu-west-1".into()),
            functions: vec!["store-products".into(), "store-orders:live".into()],
            api: Some(ApiResource {
                kind: ApiKind::Rest,
                name: Some("store".into()),
                id: None,
                stage: Some("prod".into()),
            }),
            tables: vec!["orders".into()],
            streams: vec![],
            queues: vec![],
        }
    }

    #[test]
    fn builtins_parse_and_render_for_a_rest_api() {
        let files = builtin().unwrap();
        assert_eq!(files.len(), 8);
        let (series, skipped) = render(&files, &resources());
        let names: Vec<String> = series.iter().map(MetricSeries::name).collect();
        assert!(
            names.contains(&"AWS/Lambda/Throttles{FunctionName=store-products}:Sum".to_string())
        );
        assert!(names.contains(&"AWS/Lambda/Duration{FunctionName=store-orders}:p99".to_string()));
        assert!(
            names.contains(&"AWS/ApiGateway/5XXError{ApiName=store,Stage=prod}:Sum".to_string())
        );
        assert!(names.contains(
            &"AWS/DynamoDB/ThrottledRequests{Operation=PutItem,TableName=orders}:Sum".to_string()
        ));
        // HTTP-API and function-URL files do not apply to a REST API.
        assert!(
            !names
                .iter()
                .any(|n| n.contains("ApiId=") || n.contains("UrlRequestCount"))
        );
        // No streams or queues: skipped with a reason, not an error.
        assert!(skipped.iter().any(|s| s.metric == "AWS/Kinesis/IncomingRecords"
            && s.reason.contains("{stream}")));
        let throttles = series.iter().find(|s| s.metric == "Throttles").unwrap();
        assert_eq!(throttles.missing, Missing::Zero);
        let concurrency = series
            .iter()
            .find(|s| s.metric == "ConcurrentExecutions")
            .unwrap();
        assert_eq!(concurrency.missing, Missing::Gap);
    }

    #[test]
    fn bad_files_name_line_and_field() {
        let e = QueryFile::parse(
            "q.toml",
            "namespace = \"X\"\n[[metric]]\nname = \"M\"\nstats = [\"Sum\", \"p1000\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e.split(": unknown").next().unwrap(),
            "q.toml:4: field `metric[0].stats`"
        );
        let e = QueryFile::parse(
            "q.toml",
            "namespace = \"X\"\n[[metric]]\nname = \"M\"\nstats = [\"Sum\"]\ncolour = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("q.toml:5: field `colour`"), "{e}");
        let e = QueryFile::parse(
            "q.toml",
            "namespace = \"X\"\n\n[[metric]]\nname = \"M\"\nstats = [\"Sum\"]\ndimensions = { F = \"{fnction}\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("q.toml:6: field `metric[0].dimensions`: unknown placeholder {fnction}"),
            "{e}"
        );
        let e = QueryFile::parse(
            "q.toml",
            "namespace = \"X\"\n[[metric]]\nname = \"M\"\nstats = [\"Sum\"]\nperiod = 45\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("q.toml:5: field `metric[0].period`"), "{e}");
        let e = QueryFile::parse("q.toml", "namespace = \n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("q.toml:1: field `(syntax)`"), "{e}");
    }

    #[test]
    fn statistics_are_checked() {
        for ok in [
            "Sum",
            "p99",
            "p99.9",
            "tm99",
            "TM(10%:90%)",
            "IQM",
            "SampleCount",
        ] {
            assert!(is_valid_stat(ok), "{ok}");
        }
        for bad in ["sum", "p", "p101", "pX", "Median", ""] {
            assert!(!is_valid_stat(bad), "{bad}");
        }
    }

    #[test]
    fn user_files_add_series_once() {
        let user = QueryFile::parse(
            "mine.toml",
            "namespace = \"AWS/Lambda\"\n[[metric]]\nname = \"Throttles\"\nstats = [\"Sum\", \"SampleCount\"]\ndimensions = { FunctionName = \"{function_qualified}\" }\n",
        )
        .unwrap();
        let mut files = builtin().unwrap();
        files.push(user);
        let (series, _) = render(&files, &resources());
        let throttles: Vec<&MetricSeries> = series
            .iter()
            .filter(|s| s.metric == "Throttles" && s.dimensions["FunctionName"] == "store-products")
            .collect();
        // Sum from both files once, SampleCount from the user's.
        assert_eq!(throttles.len(), 2);
        assert!(
            series
                .iter()
                .any(|s| s.dimensions.get("FunctionName").map(String::as_str)
                    == Some("store-orders:live"))
        );
    }

    #[test]
    fn logs_query_has_no_comments() {
        let q = report_lines_query();
        assert!(q.starts_with("fields @timestamp"));
        assert!(!q.contains('#'));
    }
}
