//! What can go wrong while collecting, worded so the user knows what to change: the query
//! file and line, the flag, or the AWS API and the IAM action it needs.

use std::path::{Path, PathBuf};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The AWS operations the collector calls, each with the IAM action that allows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// `cloudwatch:GetMetricData`.
    GetMetricData,
    /// `xray:BatchGetTraces`.
    BatchGetTraces,
    /// `xray:GetTraceSummaries`.
    GetTraceSummaries,
    /// `logs:StartQuery`.
    StartQuery,
    /// `logs:GetQueryResults`.
    GetQueryResults,
    /// `logs:StopQuery`.
    StopQuery,
    /// `logs:FilterLogEvents`.
    FilterLogEvents,
    /// `lambda:ListFunctions`.
    ListFunctions,
    /// `lambda:GetFunctionConfiguration`.
    GetFunctionConfiguration,
    /// `lambda:ListProvisionedConcurrencyConfigs`.
    ListProvisionedConcurrencyConfigs,
    /// `lambda:ListTags`.
    ListTags,
}

impl Api {
    /// The operation name, as AWS spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::GetMetricData => "GetMetricData",
            Self::BatchGetTraces => "BatchGetTraces",
            Self::GetTraceSummaries => "GetTraceSummaries",
            Self::StartQuery => "StartQuery",
            Self::GetQueryResults => "GetQueryResults",
            Self::StopQuery => "StopQuery",
            Self::FilterLogEvents => "FilterLogEvents",
            Self::ListFunctions => "ListFunctions",
            Self::GetFunctionConfiguration => "GetFunctionConfiguration",
            Self::ListProvisionedConcurrencyConfigs => "ListProvisionedConcurrencyConfigs",
            Self::ListTags => "ListTags",
        }
    }

    /// The IAM action a policy must allow for this operation.
    pub fn iam_action(self) -> &'static str {
        match self {
            Self::GetMetricData => "cloudwatch:GetMetricData",
            Self::BatchGetTraces => "xray:BatchGetTraces",
            Self::GetTraceSummaries => "xray:GetTraceSummaries",
            Self::StartQuery => "logs:StartQuery",
            Self::GetQueryResults => "logs:GetQueryResults",
            Self::StopQuery => "logs:StopQuery",
            Self::FilterLogEvents => "logs:FilterLogEvents",
            Self::ListFunctions => "lambda:ListFunctions",
            Self::GetFunctionConfiguration => "lambda:GetFunctionConfiguration",
            Self::ListProvisionedConcurrencyConfigs => "lambda:ListProvisionedConcurrencyConfigs",
            Self::ListTags => "lambda:ListTags",
        }
    }
}

/// A collector error.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A query file is malformed.
    #[error("{}:{line}: field `{field}`: {message}", path.display())]
    QueryFile {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Dotted field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The run directory could not be read.
    #[error(transparent)]
    Model(#[from] stormwatch_model::ModelError),
    /// The run names no AWS resources to query.
    #[error(
        "{}: the manifest has no `aws` resources (no functions, API, tables, streams or queues), so there is nothing to collect; name them in the scenario's [aws] section, or use `stormwatch collect --from T --to T --function F --out DIR`",
        path.display()
    )]
    NoResources {
        /// The manifest.
        path: PathBuf,
    },
    /// The run has no phase window to collect for.
    #[error("{}: no phase has a window (did the run start?)", path.display())]
    NoWindows {
        /// The manifest.
        path: PathBuf,
    },
    /// Options that contradict each other or name nothing.
    #[error("{0}")]
    Usage(String),
    /// No region anywhere.
    #[error(
        "no AWS region: pass --region, set AWS_REGION, or set `region` in the profile or the scenario's [aws] section"
    )]
    NoRegion,
    /// AWS refused the call for lack of permission.
    #[error(
        "{} was denied: the credentials need the IAM action `{}` ({message}); see \"IAM policy\" in the README for the minimal policy",
        api.name(),
        api.iam_action()
    )]
    AccessDenied {
        /// The operation.
        api: Api,
        /// AWS's message.
        message: String,
    },
    /// No usable credentials, or AWS did not accept them.
    #[error(
        "{} failed: AWS credentials are missing, invalid or expired ({message}); check --profile / AWS_PROFILE, `aws sso login`, or the AWS_* environment variables",
        api.name()
    )]
    Credentials {
        /// The operation.
        api: Api,
        /// What the SDK said.
        message: String,
    },
    /// Throttling that never cleared, even after retries and slowing down.
    #[error(
        "{} kept being throttled after {attempts} attempts; try again later or collect fewer series",
        api.name()
    )]
    Throttled {
        /// The operation.
        api: Api,
        /// Attempts made.
        attempts: u32,
    },
    /// Something AWS named that does not exist (a log group, a function).
    #[error("{} failed: {what} does not exist in this account and region ({message})", api.name())]
    NotFound {
        /// The operation.
        api: Api,
        /// What was missing.
        what: String,
        /// AWS's message.
        message: String,
    },
    /// Any other AWS error.
    #[error("{} failed: {message}", api.name())]
    Remote {
        /// The operation.
        api: Api,
        /// Error code, when AWS sent one.
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// Writing the output failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TelemetryError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the error came from AWS (or the endpoint standing in for it) rather than
    /// from the user's input: the CLI exits 3 for these, 2 for the others.
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            Self::AccessDenied { .. }
                | Self::Credentials { .. }
                | Self::Throttled { .. }
                | Self::NotFound { .. }
                | Self::Remote { .. }
        )
    }

    /// Whether this is throttling (worth another try after slowing down).
    pub fn is_throttling(&self) -> bool {
        matches!(self, Self::Throttled { .. })
            || matches!(self, Self::Remote { code: Some(c), .. } if is_throttling_code(c))
    }
}

/// Error codes AWS uses for throttling across CloudWatch, X-Ray and Logs.
pub fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
    )
}

fn is_access_denied_code(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError"
    )
}

fn is_credentials_code(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "MissingAuthenticationToken"
            | "IncompleteSignature"
    )
}

/// Maps an error code and message, as AWS sent them, to a [`TelemetryError`].
pub fn classify(api: Api, code: Option<&str>, message: &str) -> TelemetryError {
    let message = message.to_string();
    match code {
        Some(c) if is_access_denied_code(c) => TelemetryError::AccessDenied { api, message },
        Some(c) if is_credentials_code(c) => TelemetryError::Credentials { api, message },
        Some("ResourceNotFoundException") => TelemetryError::NotFound {
            api,
            what: "a named resource".into(),
            message,
        },
        _ => TelemetryError::Remote {
            api,
            code: code.map(str::to_string),
            message,
        },
    }
}

/// Maps an SDK error of operation `api` to a [`TelemetryError`]. When AWS (or whatever
/// answered) sent a response the SDK could not make sense of, the message gives its HTTP
/// status, request id and a short printable excerpt of the body, never raw bytes.
pub fn from_sdk<E>(api: Api, err: &SdkError<E, HttpResponse>) -> TelemetryError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = DisplayErrorContext(err).to_string();
    let response = err.raw_response().map(describe_response);
    match err {
        SdkError::ServiceError(_) if err.code().is_some() => {
            let message = err.message().map_or_else(|| text.clone(), str::to_string);
            classify(api, err.code(), &message)
        }
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => TelemetryError::Remote {
            api,
            code: None,
            message: response.map_or_else(
                || printable(&text, 300),
                |r| format!("unreadable response: {r}"),
            ),
        },
        SdkError::TimeoutError(_) => TelemetryError::Remote {
            api,
            code: None,
            message: format!(
                "no answer in time ({}); raise --operation-timeout or --attempt-timeout if the \
                 endpoint is just slow",
                printable(&text, 300)
            ),
        },
        // Credentials are resolved before sending; a failure there is a construction or
        // dispatch failure whose text says so.
        _ if text.contains("credentials") || text.contains("Credentials") => {
            TelemetryError::Credentials { api, message: text }
        }
        _ => TelemetryError::Remote {
            api,
            code: None,
            message: printable(&text, 300),
        },
    }
}

/// The SDK's raw HTTP response type.
pub type HttpResponse = aws_smithy_runtime_api::http::Response;

/// `HTTP 500, request id abc: <excerpt>` of a response.
pub(crate) fn describe_response(r: &HttpResponse) -> String {
    let header = |n: &str| r.headers().get(n).map(str::to_string);
    let id = header("x-amzn-requestid")
        .or_else(|| header("x-amz-request-id"))
        .map(|id| format!(", request id {}", printable(&id, 80)))
        .unwrap_or_default();
    let body = r.body().bytes().unwrap_or_default();
    let excerpt = if body.is_empty() {
        "empty body".to_string()
    } else {
        format!(
            "{} bytes: {}",
            body.len(),
            printable(&String::from_utf8_lossy(&body[..body.len().min(400)]), 200)
        )
    };
    format!("HTTP {}{id} ({excerpt})", r.status().as_u16())
}

/// `text` with control and non-ASCII-printable characters replaced by `·`, cut to `max`
/// characters: safe to print on a terminal.
pub fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| {
            if c.is_control() || c == '\u{fffd}' {
                '·'
            } else {
                c
            }
        })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

impl TelemetryError {
    /// Names the endpoint the failing call went to (scheme, host and port) and, when the
    /// message does not already say it, the last failed answer it gave (a call that ran out
    /// of time after answers the SDK retried).
    #[must_use]
    pub fn at_endpoint(self, endpoint: Option<String>, last_failure: Option<String>) -> Self {
        match self {
            Self::Remote { api, code, message } => {
                let mut message = message;
                if let Some(f) = last_failure.filter(|_| !message.contains("HTTP ")) {
                    message = format!("{message}; last answer: {f}");
                }
                if let Some(e) = endpoint {
                    message = format!("{message} [endpoint {e}]");
                }
                Self::Remote { api, code, message }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_names_the_iam_action() {
        let e = classify(
            Api::GetMetricData,
            Some("AccessDenied"),
            "User: arn:aws:iam::1:user/x is not authorized to perform: cloudwatch:GetMetricData",
        );
        assert!(e.is_remote());
        let text = e.to_string();
        assert!(text.contains("`cloudwatch:GetMetricData`"), "{text}");
        assert!(text.contains("IAM policy"), "{text}");
        for (api, action) in [
            (Api::BatchGetTraces, "xray:BatchGetTraces"),
            (Api::GetTraceSummaries, "xray:GetTraceSummaries"),
            (Api::StartQuery, "logs:StartQuery"),
            (Api::GetQueryResults, "logs:GetQueryResults"),
            (Api::FilterLogEvents, "logs:FilterLogEvents"),
        ] {
            let t = classify(api, Some("AccessDeniedException"), "no").to_string();
            assert!(t.contains(action), "{t}");
        }
    }

    #[test]
    fn printable_replaces_control_bytes_and_cuts() {
        assert_eq!(printable("ok\u{0}\u{1b}[31m\u{fffd}", 100), "ok··[31m·");
        assert_eq!(printable("abcdef", 3), "abc…");
    }

    #[test]
    fn codes_map_to_kinds() {
        assert!(matches!(
            classify(Api::GetMetricData, Some("ExpiredToken"), "x"),
            TelemetryError::Credentials { .. }
        ));
        assert!(classify(Api::GetMetricData, Some("Throttling"), "x").is_throttling());
        assert!(matches!(
            classify(Api::FilterLogEvents, Some("ResourceNotFoundException"), "x"),
            TelemetryError::NotFound { .. }
        ));
        let input = TelemetryError::Usage("x".into());
        assert!(!input.is_remote());
    }
}
