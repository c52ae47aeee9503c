//! The Lambda functions the control-plane API answers for ([`LambdaFunctions`]), and the
//! rules Lambda applies to what describes them: its runtime identifiers ([`RUNTIMES`]),
//! which runtimes take SnapStart ([`supports_snap_start`]) and its tag rules
//! ([`check_tag`]). The stormwatch sandbox fills the registry from its config; the
//! functions live in the emulator's region ([`crate::REGION`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Lambda's runtime identifiers, current and deprecated (a deprecated runtime still
/// describes existing functions): the values of the `Runtime` enum of the Lambda API model
/// (aws-sdk-lambda 1.156, `types::Runtime`).
pub const RUNTIMES: &[&str] = &[
    "dotnet10",
    "dotnet6",
    "dotnet8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "go1.x",
    "java11",
    "java11.al2023",
    "java17",
    "java17.al2023",
    "java21",
    "java25",
    "java8",
    "java8.al2",
    "java8.al2023",
    "nodejs",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "nodejs26.x",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "provided",
    "provided.al2",
    "provided.al2023",
    "python2.7",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "python3.15",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
];

/// Whether `id` is one of Lambda's runtime identifiers ([`RUNTIMES`]).
pub fn is_runtime(id: &str) -> bool {
    RUNTIMES.contains(&id)
}

/// Whether Lambda offers SnapStart for `runtime`: the managed Java 11 and later, Python
/// 3.12 and later and .NET 8 and later runtimes (Lambda developer guide, "Improving startup
/// performance with Lambda SnapStart", supported features). Custom runtimes (`provided*`),
/// Node.js, Ruby and Go do not.
pub fn supports_snap_start(runtime: &str) -> bool {
    let major = |rest: &str| -> Option<u32> {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
    };
    if let Some(rest) = runtime.strip_prefix("java") {
        return major(rest).is_some_and(|v| v >= 11);
    }
    if let Some(rest) = runtime.strip_prefix("python3.") {
        return major(rest).is_some_and(|v| v >= 12);
    }
    if let Some(rest) = runtime.strip_prefix("dotnet") {
        // `dotnetcore*` are the .NET Core runtimes, before .NET 5.
        return major(rest).is_some_and(|v| v >= 8);
    }
    false
}

/// Most tags on one function (tags with the reserved `aws:` prefix aside).
pub const MAX_TAGS: usize = 50;

/// Checks one tag against Lambda's rules (the AWS tagging rules Lambda applies): a key of
/// 1–128 characters not starting with `aws:` (any case), a value of 0–256 characters, both
/// of letters, digits, spaces and `_ . : / = + - @`. The error says which rule.
pub fn check_tag(key: &str, value: &str) -> Result<(), String> {
    let allowed = |c: char| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
    };
    let key_len = key.chars().count();
    if !(1..=128).contains(&key_len) {
        return Err(format!("a tag key is 1-128 characters, not {key_len}"));
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err("tag keys starting with `aws:` are reserved for AWS".to_owned());
    }
    let value_len = value.chars().count();
    if value_len > 256 {
        return Err(format!("a tag value is 0-256 characters, not {value_len}"));
    }
    if let Some(c) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Err(format!(
            "{c:?} is not allowed in tags (letters, digits, spaces and `_ . : / = + - @`)"
        ));
    }
    Ok(())
}

/// A function's instruction set architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Architecture {
    /// `x86_64`, Lambda's default.
    #[default]
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Architecture {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }

    /// The architecture named `s` as the API names it.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::X86_64, Self::Arm64]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// How a function's code is deployed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PackageType {
    /// A .zip file archive, Lambda's default.
    #[default]
    Zip,
    /// A container image.
    Image,
}

impl PackageType {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zip => "Zip",
            Self::Image => "Image",
        }
    }

    /// The package type named `s` as the API names it.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::Zip, Self::Image]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// The format of the platform's log records (`LoggingConfig.LogFormat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Text lines, Lambda's default.
    #[default]
    Text,
    /// JSON records.
    Json,
}

impl LogFormat {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Json => "JSON",
        }
    }
}

/// X-Ray tracing mode (`TracingConfig.Mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TracingMode {
    /// Samples incoming requests.
    #[default]
    Active,
    /// Traces only when the caller sampled.
    PassThrough,
}

impl TracingMode {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::PassThrough => "PassThrough",
        }
    }
}

/// What the control plane says about one function (its unpublished version, `$LATEST`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Function name (Lambda's rule: 1–64 characters of `A-Za-z0-9_-`).
    pub name: String,
    /// Runtime identifier, e.g. `nodejs20.x` (see [`RUNTIMES`]).
    pub runtime: String,
    /// `MemorySize`, MB.
    pub memory_mb: u32,
    /// `Timeout`, whole seconds.
    pub timeout_secs: u32,
    /// Instruction set architecture.
    pub architecture: Architecture,
    /// `.zip` archive or container image.
    pub package_type: PackageType,
    /// `CodeSize`, bytes.
    pub code_size_bytes: u64,
    /// SnapStart on published versions.
    pub snap_start: bool,
    /// Provisioned concurrency on the alias `live` (0: none).
    pub provisioned_concurrency: u32,
    /// Reserved concurrency, when set.
    pub reserved_concurrency: Option<u32>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Log record format.
    pub log_format: LogFormat,
    /// X-Ray tracing mode.
    pub tracing: TracingMode,
}

impl FunctionInfo {
    /// A function with Lambda's defaults: `nodejs20.x`, 128 MB, 3 s, `x86_64`, a 1 MiB .zip,
    /// no SnapStart, no concurrency settings, no tags, text logs, active tracing.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            runtime: "nodejs20.x".to_owned(),
            memory_mb: 128,
            timeout_secs: 3,
            architecture: Architecture::X86_64,
            package_type: PackageType::Zip,
            code_size_bytes: 1 << 20,
            snap_start: false,
            provisioned_concurrency: 0,
            reserved_concurrency: None,
            tags: BTreeMap::new(),
            log_format: LogFormat::Text,
            tracing: TracingMode::Active,
        }
    }
}

/// The functions of the account in the emulator's region, by name, and when they were last
/// modified (all at once: when the registry was built).
#[derive(Clone, Debug)]
pub struct LambdaFunctions {
    functions: BTreeMap<String, FunctionInfo>,
    last_modified: SystemTime,
}

impl Default for LambdaFunctions {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl LambdaFunctions {
    /// A registry of `functions` (a later one of the same name replaces an earlier one),
    /// last modified now.
    pub fn new(functions: impl IntoIterator<Item = FunctionInfo>) -> Self {
        Self {
            functions: functions.into_iter().map(|f| (f.name.clone(), f)).collect(),
            last_modified: SystemTime::now(),
        }
    }

    /// The same registry, last modified at `at`.
    #[must_use]
    pub fn with_last_modified(mut self, at: SystemTime) -> Self {
        self.last_modified = at;
        self
    }

    /// The function named `name`.
    pub fn get(&self, name: &str) -> Option<&FunctionInfo> {
        self.functions.get(name)
    }

    /// Every function, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &FunctionInfo> {
        self.functions.values()
    }

    /// The functions whose names are at or after `name`, in name order.
    pub fn from_name(&self, name: &str) -> impl Iterator<Item = &FunctionInfo> {
        self.functions
            .range::<str, _>((std::ops::Bound::Included(name), std::ops::Bound::Unbounded))
            .map(|(_, f)| f)
    }

    /// How many functions there are.
    pub fn len(&self) -> usize {
        self.functions.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// When the functions were last modified (`LastModified`).
    pub fn last_modified(&self) -> SystemTime {
        self.last_modified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_start_runtimes_follow_the_developer_guide() {
        for r in [
            "java11",
            "java17",
            "java21",
            "java25",
            "java11.al2023",
            "python3.12",
            "python3.13",
            "dotnet8",
            "dotnet10",
        ] {
            assert!(supports_snap_start(r), "{r}");
            assert!(is_runtime(r), "{r}");
        }
        for r in [
            "java8",
            "java8.al2",
            "python3.11",
            "python3.9",
            "python2.7",
            "dotnet6",
            "dotnetcore3.1",
            "nodejs20.x",
            "provided.al2023",
            "ruby3.3",
            "go1.x",
        ] {
            assert!(!supports_snap_start(r), "{r}");
        }
        assert!(!is_runtime("node20") && !is_runtime("Python3.12") && !is_runtime(""));
    }

    #[test]
    fn tags_follow_aws_rules() {
        assert!(check_tag("team", "payments").is_ok());
        assert!(check_tag("cost-center/id", "a b:c=d+e@f_g.h").is_ok());
        assert!(check_tag("k", "").is_ok());
        assert!(check_tag("équipe", "été").is_ok());
        assert!(check_tag("", "v").unwrap_err().contains("1-128"));
        assert!(
            check_tag(&"k".repeat(129), "v")
                .unwrap_err()
                .contains("1-128")
        );
        assert!(check_tag(&"k".repeat(128), &"v".repeat(256)).is_ok());
        assert!(
            check_tag("k", &"v".repeat(257))
                .unwrap_err()
                .contains("0-256")
        );
        assert!(
            check_tag("AWS:stack", "v")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(check_tag("a#b", "v").unwrap_err().contains("'#'"));
        assert!(check_tag("k", "line\nbreak").is_err());
    }

    #[test]
    fn registry_orders_by_name_and_resumes_at_a_name() {
        let r = LambdaFunctions::new(["b", "a", "c"].map(FunctionInfo::new));
        let names: Vec<_> = r.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let rest: Vec<_> = r.from_name("b").map(|f| f.name.as_str()).collect();
        assert_eq!(rest, ["b", "c"]);
        assert_eq!(r.len(), 3);
        assert!(LambdaFunctions::default().is_empty());
    }
}
