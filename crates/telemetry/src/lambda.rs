//! Lambda's control plane for `coldstarts`: which functions a region has (`ListFunctions`,
//! every page), narrowed by name, prefix or regex and tags (`ListTags`), and what explains
//! their init time: the configuration `ListFunctions` (or `GetFunctionConfiguration`, for a
//! named function) returns, and `ListProvisionedConcurrencyConfigs`.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{FunctionConfiguration, LogFormat, SnapStartApplyOn};
use stormwatch_model::coldstarts_report::FunctionContext;

use crate::TelemetryError;
use crate::aws::{ApiStats, AwsClients};
use crate::error::Api;
use crate::pacing::{Pacer, paced};

/// How function names are narrowed (`--filter`).
#[derive(Clone, Debug)]
pub enum NameFilter {
    /// Names starting with this.
    Prefix(String),
    /// Names the regex matches (anywhere; anchor it with `^…$`).
    Regex(regex::Regex),
}

impl NameFilter {
    /// `--filter TEXT`: a regex when it holds a regex metacharacter, else a prefix.
    ///
    /// # Errors
    /// The text looks like a regex and does not compile.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().any(|c| "^$.*+?()[]{}|\\".contains(c)) {
            regex::Regex::new(text)
                .map(Self::Regex)
                .map_err(|e| format!("not a valid regex: {e}"))
        } else {
            Ok(Self::Prefix(text.to_string()))
        }
    }

    /// True when `name` passes.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Prefix(p) => name.starts_with(p.as_str()),
            Self::Regex(r) => r.is_match(name),
        }
    }
}

/// Which functions to cover.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// `--function`: exactly these (no listing).
    pub names: Vec<String>,
    /// `--filter`.
    pub filter: Option<NameFilter>,
    /// `--tag key=value`: every one must match.
    pub tags: Vec<(String, String)>,
}

/// A function found, with what the cold-start queries and the report need.
#[derive(Clone, Debug, PartialEq)]
pub struct Discovered {
    /// Function name.
    pub name: String,
    /// The log group its platform lines go to (`LoggingConfig.LogGroup`, by default
    /// `/aws/lambda/<name>`).
    pub log_group: String,
    /// True when it logs in the JSON format (`platform.report` records).
    pub json_logs: bool,
    /// Configuration and provisioned concurrency.
    pub context: FunctionContext,
}

/// Functions of the region `clients` talk to that `selection` covers, by name.
///
/// # Errors
/// A named function does not exist in the region, or a call failed.
pub async fn discover(
    clients: &AwsClients,
    stats: &ApiStats,
    pacer: &Pacer,
    selection: &Selection,
) -> Result<Vec<Discovered>, TelemetryError> {
    let mut configs: Vec<FunctionConfiguration> = Vec::new();
    if selection.names.is_empty() {
        let mut marker: Option<String> = None;
        for _ in 0..100_000 {
            let page = paced(Api::ListFunctions, pacer, stats, || {
                clients
                    .lambda
                    .list_functions()
                    .max_items(50)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
            configs.extend(page.functions().iter().cloned());
            marker = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
    } else {
        for name in &selection.names {
            let got = paced(Api::GetFunctionConfiguration, pacer, stats, || {
                clients
                    .lambda
                    .get_function_configuration()
                    .function_name(name)
                    .send()
            })
            .await
            .map_err(|e| match e {
                TelemetryError::NotFound { api, message, .. } => TelemetryError::NotFound {
                    api,
                    what: format!("function `{name}` in {}", clients.region),
                    message,
                },
                other => other,
            })?;
            configs.push(to_configuration(&got));
        }
    }
    configs.retain(|c| {
        let name = c.function_name().unwrap_or_default();
        selection.filter.as_ref().is_none_or(|f| f.matches(name))
    });
    let mut out = Vec::new();
    for c in configs {
        let (Some(name), Some(arn)) = (c.function_name(), c.function_arn()) else {
            continue;
        };
        if !selection.tags.is_empty() {
            let tags = paced(Api::ListTags, pacer, stats, || {
                clients.lambda.list_tags().resource(arn).send()
            })
            .await?;
            let have: BTreeMap<&str, &str> = tags
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
                .unwrap_or_default();
            if !selection
                .tags
                .iter()
                .all(|(k, v)| have.get(k.as_str()) == Some(&v.as_str()))
            {
                continue;
            }
        }
        let provisioned = provisioned_concurrency(clients, stats, pacer, name).await?;
        out.push(discovered(&c, &clients.region, provisioned));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// Provisioned concurrency allocated to `function` over all its aliases and versions.
async fn provisioned_concurrency(
    clients: &AwsClients,
    stats: &ApiStats,
    pacer: &Pacer,
    function: &str,
) -> Result<u32, TelemetryError> {
    let mut total: u32 = 0;
    let mut marker: Option<String> = None;
    for _ in 0..10_000 {
        let page = paced(Api::ListProvisionedConcurrencyConfigs, pacer, stats, || {
            clients
                .lambda
                .list_provisioned_concurrency_configs()
                .function_name(function)
                .max_items(50)
                .set_marker(marker.clone())
                .send()
        })
        .await?;
        for c in page.provisioned_concurrency_configs() {
            let n = c
                .allocated_provisioned_concurrent_executions()
                .unwrap_or_default();
            total = total.saturating_add(u32::try_from(n).unwrap_or(0));
        }
        marker = page
            .next_marker()
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    Ok(total)
}

/// `GetFunctionConfiguration`'s answer as the configuration `ListFunctions` lists.
fn to_configuration(
    o: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> FunctionConfiguration {
    FunctionConfiguration::builder()
        .set_function_name(o.function_name().map(str::to_string))
        .set_function_arn(o.function_arn().map(str::to_string))
        .set_runtime(o.runtime().cloned())
        .set_memory_size(o.memory_size())
        .code_size(o.code_size())
        .set_package_type(o.package_type().cloned())
        .set_architectures(Some(o.architectures().to_vec()))
        .set_snap_start(o.snap_start().cloned())
        .set_logging_config(o.logging_config().cloned())
        .build()
}

fn discovered(c: &FunctionConfiguration, region: &str, provisioned: u32) -> Discovered {
    let name = c.function_name().unwrap_or_default().to_string();
    let logging = c.logging_config();
    Discovered {
        log_group: logging
            .and_then(|l| l.log_group())
            .filter(|g| !g.is_empty())
            .map_or_else(|| format!("/aws/lambda/{name}"), str::to_string),
        json_logs: logging.and_then(|l| l.log_format()) == Some(&LogFormat::Json),
        context: FunctionContext {
            region: region.to_string(),
            runtime: c
                .runtime()
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            architecture: c
                .architectures()
                .first()
                .map_or_else(|| "x86_64".to_string(), |a| a.as_str().to_string()),
            memory_mb: c
                .memory_size()
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(128),
            package_type: c
                .package_type()
                .map_or_else(|| "Zip".to_string(), |p| p.as_str().to_string()),
            code_size_bytes: u64::try_from(c.code_size()).unwrap_or(0),
            snap_start: c.snap_start().and_then(|s| s.apply_on())
                == Some(&SnapStartApplyOn::PublishedVersions),
            provisioned_concurrency: provisioned,
        },
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_prefixes_unless_they_look_like_regexes() {
        let p = NameFilter::parse("orders-").unwrap();
        assert!(p.matches("orders-api") && !p.matches("my-orders-api"));
        let r = NameFilter::parse("^(orders|cart)-.*-prod$").unwrap();
        assert!(r.matches("cart-api-prod") && !r.matches("cart-api-dev"));
        let e = NameFilter::parse("orders-(").unwrap_err();
        assert!(e.contains("regex"), "{e}");
    }
}
