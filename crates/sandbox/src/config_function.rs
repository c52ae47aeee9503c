//! `[functions.NAME]`: the Lambda-like functions, checked into [`FunctionConfig`]s (errors
//! name the file, line and field like the rest of the config), and what Lambda's control
//! plane says about each ([`FunctionConfig::info`], for the registry the sandbox serves).
//! The runtime is one of Lambda's identifiers; SnapStart only where Lambda offers it.

use std::collections::BTreeMap;
use std::time::Duration;

use stormwatch_aws_emulator::lambda_functions::{
    self as lambda, Architecture, FunctionInfo, MAX_TAGS, PackageType, check_tag, is_runtime,
    supports_snap_start,
};
use toml::Spanned;

use crate::config_check::{NameKind, brief, key_path};
use crate::config_ctx::Ctx;
use crate::config_limits::MAX_CONCURRENCY;
use crate::config_raw::{LogFormat, RawFunction, TracingMode};
use crate::dist::Dist;
use crate::error::SandboxError;

/// The runtime of a function that names none.
pub const DEFAULT_RUNTIME: &str = "nodejs20.x";
/// The code size of a function that names none, bytes (1 MiB).
pub const DEFAULT_CODE_SIZE: u64 = 1 << 20;
/// Largest code size: a container image of 10 GiB, Lambda's image limit.
const MAX_CODE_SIZE: u64 = 10 << 30;

/// One Lambda-like function.
#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// Lambda runtime identifier, e.g. `nodejs20.x` (REPORT lines' memory, the control plane).
    pub runtime: String,
    /// Memory size in MB.
    pub memory_mb: u32,
    /// Init (cold start) duration distribution; with SnapStart, the restore duration.
    pub init: Dist,
    /// Fraction of invocations that fail with a function error, 0..=1.
    pub error_rate: f64,
    /// Function timeout.
    pub timeout: Duration,
    /// Concurrency cap (reserved concurrency); the account default of 1000 when unset.
    pub reserved_concurrency: Option<u32>,
    /// Pre-initialised environments that never cold start.
    pub provisioned_concurrency: u32,
    /// How long an idle environment is kept before it is reaped.
    pub idle_timeout: Duration,
    /// How START/END/REPORT records are written.
    pub log_format: LogFormat,
    /// X-Ray tracing mode.
    pub tracing: TracingMode,
    /// Instruction set architecture.
    pub architecture: Architecture,
    /// `.zip` archive or container image.
    pub package_type: PackageType,
    /// Deployment package size, bytes (`CodeSize`).
    pub code_size: u64,
    /// SnapStart: a cold start restores a snapshot (REPORT `Restore Duration`, X-Ray
    /// `Restore`) instead of running init.
    pub snapstart: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl Default for FunctionConfig {
    /// A function with every field at its documented default (docs/sandbox.md).
    fn default() -> Self {
        Self {
            runtime: DEFAULT_RUNTIME.to_owned(),
            memory_mb: 512,
            init: Dist::Fixed(Duration::from_millis(150)),
            error_rate: 0.0,
            timeout: Duration::from_secs(3),
            reserved_concurrency: None,
            provisioned_concurrency: 0,
            idle_timeout: Duration::from_secs(600),
            log_format: LogFormat::Text,
            tracing: TracingMode::Active,
            architecture: Architecture::X86_64,
            package_type: PackageType::Zip,
            code_size: DEFAULT_CODE_SIZE,
            snapstart: false,
            tags: BTreeMap::new(),
        }
    }
}

impl FunctionConfig {
    /// What the Lambda control plane says about the function `name` (its timeout in whole
    /// seconds, rounded up, at least 1).
    pub fn info(&self, name: &str) -> FunctionInfo {
        let timeout_secs = self.timeout.as_secs_f64().ceil().max(1.0) as u32;
        FunctionInfo {
            name: name.to_owned(),
            runtime: self.runtime.clone(),
            memory_mb: self.memory_mb,
            timeout_secs,
            architecture: self.architecture,
            package_type: self.package_type,
            code_size_bytes: self.code_size,
            snap_start: self.snapstart,
            provisioned_concurrency: self.provisioned_concurrency,
            reserved_concurrency: self.reserved_concurrency,
            tags: self.tags.clone(),
            log_format: match self.log_format {
                LogFormat::Text => lambda::LogFormat::Text,
                LogFormat::Json => lambda::LogFormat::Json,
            },
            tracing: match self.tracing {
                TracingMode::Active => lambda::TracingMode::Active,
                TracingMode::PassThrough => lambda::TracingMode::PassThrough,
            },
        }
    }
}

/// Checks every `[functions.NAME]` table.
pub(crate) fn check_functions(
    cx: &Ctx<'_>,
    raw: BTreeMap<String, RawFunction>,
) -> Result<BTreeMap<String, FunctionConfig>, SandboxError> {
    let mut functions = BTreeMap::new();
    for (name, f) in raw {
        cx.name(NameKind::Function, "functions", &name)?;
        let config = check_function(cx, &name, f)?;
        functions.insert(name, config);
    }
    Ok(functions)
}

/// One of the two names a field allows (`architecture`, `package_type`).
fn one_of<T>(
    cx: &Ctx<'_>,
    v: Option<&Spanned<String>>,
    field: &str,
    parse: fn(&str) -> Option<T>,
    names: [&str; 2],
    default: T,
) -> Result<T, SandboxError> {
    let Some(v) = v else { return Ok(default) };
    parse(v.get_ref()).ok_or_else(|| {
        cx.err(
            v.span(),
            field,
            format!(
                "must be \"{}\" or \"{}\", not `{}`",
                names[0],
                names[1],
                brief(v.get_ref())
            ),
        )
    })
}

fn check_function(
    cx: &Ctx<'_>,
    name: &str,
    f: RawFunction,
) -> Result<FunctionConfig, SandboxError> {
    let table = key_path("functions", name);
    let field = |k: &str| key_path(&table, k);
    let d = FunctionConfig::default();
    let runtime = match &f.runtime {
        Some(r) if !is_runtime(r.get_ref()) => {
            return Err(cx.err(
                r.span(),
                &field("runtime"),
                format!(
                    "`{}` is not a Lambda runtime identifier (e.g. \"nodejs20.x\", \"python3.12\", \"java21\")",
                    brief(r.get_ref())
                ),
            ));
        }
        Some(r) => r.get_ref().clone(),
        None => d.runtime,
    };
    let mut tags = BTreeMap::new();
    if f.tags.len() > MAX_TAGS {
        let span = cx.key_span(&["functions", name, "tags"]);
        return Err(cx.err(
            span,
            &field("tags"),
            format!("at most {MAX_TAGS} tags per function, not {}", f.tags.len()),
        ));
    }
    for (key, value) in f.tags {
        let tag = key_path(&field("tags"), &key);
        if let Err(m) = check_tag(&key, value.get_ref()) {
            // A bad key is located at the key, a bad value at the value.
            let span = if check_tag(&key, "").is_ok() {
                value.span()
            } else {
                cx.key_span(&["functions", name, "tags", &key])
            };
            return Err(cx.err(span, &tag, m));
        }
        tags.insert(key, value.into_inner());
    }
    let config = FunctionConfig {
        runtime,
        // Lambda's MemorySize range.
        memory_mb: cx.count_or(
            f.memory_mb.as_ref(),
            &field("memory_mb"),
            128..=10_240,
            d.memory_mb,
        )?,
        init: match &f.init {
            Some(v) => cx.dist(v, &field("init"))?,
            None => d.init,
        },
        error_rate: match &f.error_rate {
            Some(e) => cx.float(e, &field("error_rate"), 0.0..=1.0)?,
            None => d.error_rate,
        },
        timeout: match &f.timeout {
            Some(v) => cx.duration(v, &field("timeout"))?,
            None => d.timeout,
        },
        reserved_concurrency: f
            .reserved_concurrency
            .as_ref()
            .map(|v| cx.count(v, &field("reserved_concurrency"), 0..=MAX_CONCURRENCY))
            .transpose()?,
        provisioned_concurrency: cx.count_or(
            f.provisioned_concurrency.as_ref(),
            &field("provisioned_concurrency"),
            0..=MAX_CONCURRENCY,
            0,
        )?,
        idle_timeout: match &f.idle_timeout {
            Some(v) => cx.duration(v, &field("idle_timeout"))?,
            None => d.idle_timeout,
        },
        log_format: f.log_format,
        tracing: f.tracing,
        architecture: one_of(
            cx,
            f.architecture.as_ref(),
            &field("architecture"),
            Architecture::from_name,
            ["x86_64", "arm64"],
            d.architecture,
        )?,
        package_type: one_of(
            cx,
            f.package_type.as_ref(),
            &field("package_type"),
            PackageType::from_name,
            ["Zip", "Image"],
            d.package_type,
        )?,
        code_size: cx.count_or(
            f.code_size.as_ref(),
            &field("code_size"),
            1..=MAX_CODE_SIZE,
            d.code_size,
        )?,
        snapstart: f.snapstart.as_ref().is_some_and(|s| *s.get_ref()),
        tags,
    };
    if let Some(s) = f.snapstart.as_ref().filter(|s| *s.get_ref()) {
        check_snapstart(cx, &config, s.span(), &field("snapstart"))?;
    }
    Ok(config)
}

/// SnapStart only where Lambda offers it: a managed runtime that supports it (Java 11+,
/// Python 3.12+, .NET 8+), a .zip package, and no provisioned concurrency (the developer
/// guide: SnapStart does not support provisioned concurrency or container images).
fn check_snapstart(
    cx: &Ctx<'_>,
    f: &FunctionConfig,
    span: std::ops::Range<usize>,
    field: &str,
) -> Result<(), SandboxError> {
    let problem = if f.package_type == PackageType::Image {
        Some(
            "SnapStart is not available for container images (package_type = \"Image\")".to_owned(),
        )
    } else if !supports_snap_start(&f.runtime) {
        Some(format!(
            "SnapStart is not available for runtime `{}` (Java 11+, Python 3.12+ and .NET 8+ only)",
            brief(&f.runtime)
        ))
    } else if f.provisioned_concurrency > 0 {
        Some(format!(
            "SnapStart cannot be combined with provisioned concurrency (provisioned_concurrency = {})",
            f.provisioned_concurrency
        ))
    } else {
        None
    };
    match problem {
        Some(m) => Err(cx.err(span, field, m)),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "config_function_tests.rs"]
mod tests;
