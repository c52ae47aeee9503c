//! The one place that builds AWS clients (like vector's `src/aws`): aws-config's default
//! credential chain (environment, profile, process, SSO, web identity, instance role),
//! `--profile`/`--region`, the standard `AWS_ENDPOINT_URL*` overrides, the SDK's standard
//! retry mode — and an interceptor on every client that counts attempts, throttles and
//! retries per operation and samples response `Date` headers for the clock-skew estimate.
//!
//! Credentials stay inside the SDK: nothing here reads, logs or writes them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::Serialize;

use crate::TelemetryError;
use crate::skew::SkewSample;

/// How to reach AWS.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// Named profile (`--profile`); `None` uses the default chain's choice.
    pub profile: Option<String>,
    /// Region (`--region`, else the manifest's, else the chain's).
    pub region: Option<String>,
    /// Attempts per call in the SDK's standard retry mode (first try included).
    pub max_attempts: u32,
    /// Initial retry backoff (the SDK doubles it, with jitter, up to 20 s).
    pub initial_backoff: Duration,
    /// One endpoint for all three services (the standard `AWS_ENDPOINT_URL*` variables
    /// work without it; this is for programs and tests that cannot set the environment).
    pub endpoint_url: Option<String>,
    /// Fixed credentials instead of the default chain (tests against a local endpoint).
    pub credentials: Option<aws_sdk_cloudwatch::config::Credentials>,
    /// Time limits of every call.
    pub timeouts: Timeouts,
}

/// Time limits of every AWS call: an endpoint that accepts a connection and never answers
/// ends in a clear error, never a hang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection (the SDK's own default is 3.1 s).
    pub connect: Duration,
    /// One attempt: sending the request and reading the whole response.
    pub attempt: Duration,
    /// The whole call, retries included.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(30),
            operation: Duration::from_secs(120),
        }
    }
}

impl AwsOptions {
    /// Points every client at a local AWS imitation such as `stormwatch sandbox`: one
    /// endpoint for all three services, region `us-east-1` and fixed dummy credentials
    /// (never a real key), so no AWS configuration on the machine is read or needed.
    /// Retry settings are kept.
    pub fn use_local_endpoint(&mut self, endpoint_url: &str) {
        self.region = Some("us-east-1".into());
        self.endpoint_url = Some(endpoint_url.to_string());
        self.credentials = Some(aws_sdk_cloudwatch::config::Credentials::new(
            "AKIDLOCALSANDBOX",
            "local-sandbox-secret",
            None,
            None,
            "stormwatch-local",
        ));
    }
}

/// Counters of one operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OperationStats {
    /// Calls made by the collector (each may take several attempts).
    pub calls: u64,
    /// HTTP attempts sent (calls + retries).
    pub attempts: u64,
    /// Attempts answered with a throttling error.
    pub throttles: u64,
    /// Attempts answered with any other error status.
    pub errors: u64,
}

impl OperationStats {
    /// Retries = attempts beyond the first of each call.
    pub fn retries(&self) -> u64 {
        self.attempts.saturating_sub(self.calls)
    }
}

/// What every client's interceptor recorded.
#[derive(Debug, Default)]
pub struct ApiStats {
    operations: Mutex<BTreeMap<String, OperationStats>>,
    skew: Mutex<Vec<SkewSample>>,
    /// Scheme, host and port of the last request sent: what an error names.
    endpoint: Mutex<Option<String>>,
    /// The last answer with a 4xx/5xx status, described for a person.
    last_failure: Mutex<Option<String>>,
}

impl ApiStats {
    /// Throttled attempts recorded for `api` so far (what its pacer slows down on).
    pub fn throttles_of(&self, api: crate::Api) -> u64 {
        self.operations().get(api.name()).map_or(0, |o| o.throttles)
    }

    /// Scheme, host and port of the last request sent, if any.
    pub fn endpoint(&self) -> Option<String> {
        self.endpoint.lock().ok().and_then(|e| e.clone())
    }

    /// The last answer with a 4xx/5xx status (status, request id, body excerpt), if any.
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().ok().and_then(|e| e.clone())
    }

    /// Counters per operation (`GetMetricData`...).
    pub fn operations(&self) -> BTreeMap<String, OperationStats> {
        self.operations
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Total throttled attempts over every operation.
    pub fn throttles(&self) -> u64 {
        self.operations().values().map(|o| o.throttles).sum()
    }

    /// The `Date`-header samples.
    pub fn skew_samples(&self) -> Vec<SkewSample> {
        self.skew.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn with_op(&self, cfg: &ConfigBag, f: impl FnOnce(&mut OperationStats)) {
        let name = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_string(), |m| m.name().to_string());
        if let Ok(mut ops) = self.operations.lock() {
            f(ops.entry(name).or_default());
        }
    }
}

#[derive(Clone, Debug)]
struct SentAt(SystemTime);

impl Storable for SentAt {
    type Storer = StoreReplace<Self>;
}

/// The interceptor installed on every client.
#[derive(Debug, Clone)]
struct Recorder(Arc<ApiStats>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "stormwatch-recorder"
    }

    // Counted once per call at its end: the operation's `Metadata` is not yet in the
    // config bag before execution.
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.with_op(cfg, |o| o.calls += 1);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(SentAt(SystemTime::now()));
        // Scheme, host and port only: the path and query may carry request details.
        let uri = context.request().uri();
        let endpoint = uri
            .find("://")
            .and_then(|i| uri[i + 3..].find('/').map(|j| &uri[..i + 3 + j]))
            .unwrap_or(uri);
        if let Ok(mut e) = self.0.endpoint.lock() {
            e.clone_from(&Some(endpoint.to_string()));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let received = SystemTime::now();
        let sent = cfg.load::<SentAt>().map(|s| s.0);
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        let throttled = response.is_some_and(|r| {
            let header = |n: &str| r.headers().get(n).unwrap_or_default().to_string();
            let body = r.body().bytes().unwrap_or_default();
            r.status().as_u16() == 429
                || header("x-amzn-query-error").starts_with("Throttling")
                || header("x-amzn-errortype").contains("Throttl")
                || (r.status().as_u16() == 400 && contains(body, b"Throttl"))
        });
        if let Some(r) = response.filter(|r| r.status().as_u16() >= 400)
            && let Ok(mut f) = self.0.last_failure.lock()
        {
            *f = Some(crate::error::describe_response(r));
        }
        self.0.with_op(cfg, |o| {
            o.attempts += 1;
            if throttled {
                o.throttles += 1;
            } else if status.is_some_and(|s| s >= 400) {
                o.errors += 1;
            }
        });
        if let (Some(sent), Some(date)) = (
            sent,
            response
                .and_then(|r| r.headers().get("date"))
                .map(str::to_string),
        ) && let Some(sample) = SkewSample::from_http_date(sent, received, &date)
            && let Ok(mut v) = self.0.skew.lock()
            && v.len() < 10_000
        {
            v.push(sample);
        }
        Ok(())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The three clients, sharing one configuration and one [`ApiStats`].
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// CloudWatch.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// X-Ray.
    pub xray: aws_sdk_xray::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// Lambda's control plane (`coldstarts` discovery).
    pub lambda: aws_sdk_lambda::Client,
    /// What the interceptors recorded.
    pub stats: Arc<ApiStats>,
    /// The region in use.
    pub region: String,
}

/// The SDK configuration from the default chain plus `opts`: rustls, retries, timeouts,
/// profile, region, endpoint override and credentials. Shared by every client (the S3 one of
/// distributed runs too).
pub async fn sdk_config(opts: &AwsOptions) -> Result<aws_config::SdkConfig, TelemetryError> {
    // rustls on ring: HTTPS to AWS, plain HTTP to a loopback `AWS_ENDPOINT_URL`.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let retry = RetryConfig::standard()
        .with_max_attempts(opts.max_attempts.max(1))
        .with_initial_backoff(opts.initial_backoff);
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(opts.timeouts.connect)
        .read_timeout(opts.timeouts.attempt)
        .operation_attempt_timeout(opts.timeouts.attempt)
        .operation_timeout(opts.timeouts.operation)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(c) = &opts.credentials {
        loader = loader.credentials_provider(c.clone());
    }
    Ok(loader.load().await)
}

/// Builds the clients from the default chain plus `opts`.
pub async fn connect(opts: &AwsOptions) -> Result<AwsClients, TelemetryError> {
    let sdk = sdk_config(opts).await?;
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or(TelemetryError::NoRegion)?;
    let stats = Arc::new(ApiStats::default());
    let recorder = Recorder(Arc::clone(&stats));
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&sdk)
            .interceptor(recorder.clone())
            .build(),
    );
    let xray = aws_sdk_xray::Client::from_conf(
        aws_sdk_xray::config::Builder::from(&sdk)
            .interceptor(recorder.clone())
            .build(),
    );
    let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
            .interceptor(recorder.clone())
            .build(),
    );
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&sdk)
            .interceptor(recorder)
            .build(),
    );
    Ok(AwsClients {
        cloudwatch,
        xray,
        logs,
        lambda,
        stats,
        region,
    })
}

/// Credentials as the default chain resolved them, for signing requests outside the SDK
/// (SigV4-signed load). Kept in memory only: nothing here logs or writes them.
#[derive(Clone)]
pub struct ChainCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// When they expire, as the provider says.
    pub expiry: Option<SystemTime>,
}

/// The default credential chain (with `--profile`), resolved on demand: once before a
/// signed run and again before the credentials expire.
pub struct CredentialChain(aws_sdk_cloudwatch::config::SharedCredentialsProvider);

impl CredentialChain {
    /// Where the chain looks, for error messages.
    pub const SOURCES: &str = "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the shared config and credentials files (AWS_PROFILE), SSO, web identity, the ECS container and EC2 instance metadata";

    /// The chain `connect` would use.
    pub async fn new(opts: &AwsOptions) -> Result<Self, String> {
        let sdk = sdk_config(opts).await.map_err(|e| e.to_string())?;
        sdk.credentials_provider().map(Self).ok_or_else(|| {
            format!(
                "no credential provider configured; looked in: {}",
                Self::SOURCES
            )
        })
    }

    /// Asks the chain for credentials now.
    pub async fn resolve(&self) -> Result<ChainCredentials, String> {
        use aws_sdk_cloudwatch::config::ProvideCredentials;
        let c = self.0.provide_credentials().await.map_err(|e| {
            // The SDK's error chain names the providers tried; never a secret.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            format!(
                "no AWS credentials from the default chain ({msg}); looked in: {}",
                Self::SOURCES
            )
        })?;
        Ok(ChainCredentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().map(str::to_string),
            expiry: c.expiry(),
        })
    }
}
