//! Lambda's control plane over restJson1, as aws-sdk-lambda, boto3 and the AWS CLI speak it,
//! answered from the [`LambdaFunctions`] registry: `GET /2015-03-31/functions/`
//! (ListFunctions), `GET /2015-03-31/functions/{FunctionName}/configuration`
//! (GetFunctionConfiguration), `GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency?List=ALL`
//! (ListProvisionedConcurrencyConfigs) and `GET /2017-03-31/tags/{ARN}` (ListTags). Any
//! other call on Lambda's paths is an `UnknownOperationException`.
//!
//! The functions live in [`REGION`]: a call signed for another region (the SigV4
//! credential scope) sees none. Errors carry `x-amzn-ErrorType` and Lambda's body
//! (`{"Type":"User","Message"|"message":…}`, the member names aws-sdk-lambda's
//! deserializers read); beyond the rate limit every call answers
//! `TooManyRequestsException` (429, `Retry-After`), which the SDKs retry.

mod request;

use serde_json::{Value, json};

use super::ApiRequest;
use super::logs::{ACCOUNT_ID, format_timestamp};
use super::shared::{JsonReply, RateLimiter};
use crate::REGION;
use crate::lambda_functions::{FunctionInfo, LambdaFunctions, PackageType};
use request::{FUNCTION_NAME_PATTERN, parse_function_name, path_segments, query_param};

/// Most functions on one ListFunctions page, whatever `MaxItems` asks (the API reference:
/// "ListFunctions returns a maximum of 50 items in each response").
pub const FUNCTIONS_PER_PAGE: usize = 50;
/// The alias provisioned concurrency is configured on.
pub const ALIAS: &str = "live";

/// The first path segment of each Lambda API version and the collections under it; a path
/// starting with one of these is Lambda's, never an application route (those start with a
/// stage).
const COLLECTIONS: [&str; 8] = [
    "functions",
    "tags",
    "event-source-mappings",
    "account-settings",
    "layers",
    "code-signing-configs",
    "capacity-providers",
    "resource-policy",
];

/// A reply and, on throttling, the `Retry-After` seconds.
pub struct LambdaReply {
    /// The reply.
    pub reply: JsonReply,
    /// `Retry-After`, seconds.
    pub retry_after: Option<u32>,
}

impl From<JsonReply> for LambdaReply {
    fn from(reply: JsonReply) -> Self {
        Self {
            reply,
            retry_after: None,
        }
    }
}

fn error(status: u16, kind: &'static str, body: &Value) -> JsonReply {
    JsonReply {
        status,
        error_type: Some(kind),
        body: body.to_string().into_bytes(),
    }
}

fn not_found(arn: &str) -> JsonReply {
    error(
        404,
        "ResourceNotFoundException",
        &json!({"Type": "User", "Message": format!("Function not found: {arn}")}),
    )
}

fn invalid_parameter(message: &str) -> JsonReply {
    error(
        400,
        "InvalidParameterValueException",
        &json!({"Type": "User", "message": message}),
    )
}

/// Lambda's answer to a value outside its constraints (`1 validation error detected: …`).
fn validation(value: &str, member: &str, constraint: &str) -> JsonReply {
    let message = format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    );
    error(400, "ValidationException", &json!({ "message": message }))
}

/// `MaxItems` within `1..=max`, `default` when absent.
fn max_items(req: &ApiRequest<'_>, max: u32, default: u32) -> Result<u32, JsonReply> {
    match query_param(req.query, "MaxItems") {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(validation(
                &v,
                "maxItems",
                &format!("Member must have value between 1 and {max}"),
            )),
        },
    }
}

/// The Lambda API's own state: its request-rate limit.
pub struct LambdaApi {
    limiter: RateLimiter,
}

/// Where a call looks: the functions of its region (none outside [`REGION`]).
struct Scope<'a> {
    functions: Option<&'a LambdaFunctions>,
    region: &'a str,
}

impl LambdaApi {
    /// An API answering at most `rate_per_sec` calls per second (burst: one second's worth).
    pub fn new(rate_per_sec: f64) -> Self {
        Self {
            limiter: RateLimiter::new(rate_per_sec),
        }
    }

    /// Whether a request is for this API: its path starts with a Lambda API version
    /// (`/2015-03-31/`, a date) and one of Lambda's collections (`functions`, `tags`, …).
    pub fn owns(path: &str) -> bool {
        let mut segments = path.strip_prefix('/').unwrap_or("").split('/');
        let (Some(version), Some(collection)) = (segments.next(), segments.next()) else {
            return false;
        };
        let date = version.len() == 10
            && version.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        date && COLLECTIONS.contains(&collection)
    }

    /// Answers one request; its path must satisfy [`LambdaApi::owns`].
    pub fn handle(&self, functions: &LambdaFunctions, req: &ApiRequest<'_>) -> LambdaReply {
        if !self.limiter.try_acquire() {
            return LambdaReply {
                reply: error(
                    429,
                    "TooManyRequestsException",
                    &json!({"Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate exceeded"}),
                ),
                // The bucket refills at least one call a second.
                retry_after: Some(1),
            };
        }
        let region = req.region.unwrap_or(REGION);
        let scope = Scope {
            functions: (region == REGION).then_some(functions),
            region,
        };
        let Some(segments) = path_segments(req.path) else {
            return validation(req.path, "path", "Member must be percent-encoded UTF-8").into();
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let list_all = query_param(req.query, "List").as_deref() == Some("ALL");
        match (req.method, segments.as_slice()) {
            ("GET", ["2015-03-31", "functions"] | ["2015-03-31", "functions", ""]) => {
                list_functions(&scope, req)
            }
            ("GET", ["2015-03-31", "functions", name, "configuration"]) => {
                get_function_configuration(&scope, req, name)
            }
            ("GET", ["2019-09-30", "functions", name, "provisioned-concurrency"]) if list_all => {
                list_provisioned_concurrency(&scope, req, name)
            }
            ("GET", ["2017-03-31", "tags", arn]) => list_tags(&scope, arn),
            _ => error(
                404,
                "UnknownOperationException",
                &json!({"Type": "User", "message": format!("Unknown operation {} {}", req.method, req.path)}),
            ),
        }
        .into()
    }
}

/// `arn:aws:lambda:{region}:{account}:function:{name}[:{qualifier}]`.
fn function_arn(region: &str, account: &str, name: &str, qualifier: Option<&str>) -> String {
    let mut arn = format!("arn:aws:lambda:{region}:{account}:function:{name}");
    if let Some(q) = qualifier {
        arn.push(':');
        arn.push_str(q);
    }
    arn
}

/// Resolves `raw` (any form Lambda takes) to a function of the scope, with the qualifier
/// the call names (from the name or `qualifier`). The qualifiers that exist are `$LATEST`
/// and the alias [`ALIAS`]; with `qualified = false` none may be named.
fn resolve<'a>(
    scope: &Scope<'a>,
    raw: &str,
    qualifier: Option<&str>,
    qualified: bool,
) -> Result<(&'a FunctionInfo, Option<String>), JsonReply> {
    let invalid = || {
        validation(
            raw,
            "functionName",
            &format!("Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"),
        )
    };
    let r = parse_function_name(raw).ok_or_else(invalid)?;
    let qualifier = match (r.qualifier, qualifier) {
        (Some(a), Some(b)) if a != b => {
            return Err(invalid_parameter(
                "The derived qualifier from the function name does not match the specified qualifier.",
            ));
        }
        (a, b) => a.or(b),
    };
    if qualifier.is_some() && !qualified {
        return Err(invalid());
    }
    let region = r.region.unwrap_or(scope.region);
    let account = r.account.unwrap_or(ACCOUNT_ID);
    let found = scope
        .functions
        .filter(|_| region == REGION && account == ACCOUNT_ID)
        .and_then(|fs| fs.get(r.name))
        .filter(|_| qualifier.is_none_or(|q| q == "$LATEST" || q == ALIAS));
    found
        .map(|f| (f, qualifier.map(str::to_owned)))
        .ok_or_else(|| not_found(&function_arn(region, account, r.name, qualifier)))
}

/// `2026-11-23T10:00:00.000+0000`, how Lambda writes `LastModified`.
fn last_modified(functions: &LambdaFunctions) -> String {
    let ms = functions
        .last_modified()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{}+0000", format_timestamp(ms).replacen(' ', "T", 1))
}

/// The handler a function of this runtime is typically created with.
fn handler(runtime: &str) -> &'static str {
    let family = runtime
        .split(|c: char| c.is_ascii_digit())
        .next()
        .unwrap_or("");
    match family {
        "nodejs" => "index.handler",
        "python" | "ruby" => "lambda_function.lambda_handler",
        "java" => "example.Handler::handleRequest",
        "dotnet" | "dotnetcore" => "Function::Function.Function::FunctionHandler",
        "go" => "main",
        _ => "bootstrap",
    }
}

/// A stable stand-in for the SHA-256 of the function's code: 32 bytes from its name, runtime
/// and size, base64 as Lambda prints `CodeSha256`.
fn code_sha256(f: &FunctionInfo) -> String {
    // FNV-1a over the description, then splitmix64 to spread it over 32 bytes.
    let seed = format!("{}\0{}\0{}", f.name, f.runtime, f.code_size_bytes)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut state = seed;
    let mut bytes = Vec::with_capacity(32);
    for _ in 0..4 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_be_bytes());
    }
    base64(&bytes)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A function's configuration (`FunctionConfiguration`) as `$LATEST`, under `arn`.
/// GetFunctionConfiguration adds `State` and `LastUpdateStatus` (`full`); ListFunctions
/// leaves them out, as Lambda does.
fn configuration(f: &FunctionInfo, modified: &str, arn: &str, full: bool) -> Value {
    let snap_start = if f.snap_start {
        json!({"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"})
    } else {
        json!({"ApplyOn": "None", "OptimizationStatus": "Off"})
    };
    let mut logging = json!({
        "LogFormat": f.log_format.as_str(),
        "LogGroup": format!("/aws/lambda/{}", f.name),
    });
    if f.log_format == crate::lambda_functions::LogFormat::Json {
        logging["ApplicationLogLevel"] = json!("INFO");
        logging["SystemLogLevel"] = json!("INFO");
    }
    let mut v = json!({
        "FunctionName": f.name,
        "FunctionArn": arn,
        "Role": format!("arn:aws:iam::{ACCOUNT_ID}:role/{}-role", f.name),
        "CodeSize": f.code_size_bytes,
        "Description": "",
        "Timeout": f.timeout_secs,
        "MemorySize": f.memory_mb,
        "LastModified": modified,
        "CodeSha256": code_sha256(f),
        "Version": "$LATEST",
        "TracingConfig": {"Mode": f.tracing.as_str()},
        "PackageType": f.package_type.as_str(),
        "Architectures": [f.architecture.as_str()],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": snap_start,
        "LoggingConfig": logging,
    });
    // A container image brings its own runtime and entry point.
    if f.package_type == PackageType::Zip {
        v["Runtime"] = json!(f.runtime);
        v["Handler"] = json!(handler(&f.runtime));
    }
    if full {
        v["State"] = json!("Active");
        v["LastUpdateStatus"] = json!("Successful");
    }
    v
}

/// ListFunctions: `min(MaxItems, 50)` functions in name order from `Marker` (the next
/// function's name behind `lf1-`), `NextMarker` while more remain. `FunctionVersion` and
/// `MasterRegion` are accepted and ignored (there are no published versions or replicas).
fn list_functions(scope: &Scope<'_>, req: &ApiRequest<'_>) -> JsonReply {
    let limit = match max_items(req, 10_000, FUNCTIONS_PER_PAGE as u32) {
        Ok(n) => (n as usize).min(FUNCTIONS_PER_PAGE),
        Err(e) => return e,
    };
    let start = match query_param(req.query, "Marker") {
        None => String::new(),
        Some(m) => match m.strip_prefix("lf1-") {
            Some(name) => name.to_owned(),
            None => return invalid_parameter(&format!("Invalid marker: {m}")),
        },
    };
    let Some(functions) = scope.functions else {
        return JsonReply::ok(&json!({ "Functions": [] }));
    };
    let modified = last_modified(functions);
    let mut page = functions.from_name(&start);
    let listed: Vec<Value> = page
        .by_ref()
        .take(limit)
        .map(|f| {
            let arn = function_arn(REGION, ACCOUNT_ID, &f.name, None);
            configuration(f, &modified, &arn, false)
        })
        .collect();
    let mut out = json!({ "Functions": listed });
    if let Some(next) = page.next() {
        out["NextMarker"] = json!(format!("lf1-{}", next.name));
    }
    JsonReply::ok(&out)
}

/// GetFunctionConfiguration of `$LATEST`, or of the alias [`ALIAS`] (which points at it);
/// a qualified call gets the qualified ARN.
fn get_function_configuration(scope: &Scope<'_>, req: &ApiRequest<'_>, name: &str) -> JsonReply {
    let qualifier = query_param(req.query, "Qualifier");
    let (f, qualifier) = match resolve(scope, name, qualifier.as_deref(), true) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let arn = function_arn(REGION, ACCOUNT_ID, &f.name, qualifier.as_deref());
    let modified = scope.functions.map(last_modified).unwrap_or_default();
    JsonReply::ok(&configuration(f, &modified, &arn, true))
}

/// ListProvisionedConcurrencyConfigs: one READY config on the alias [`ALIAS`] when the
/// function has provisioned concurrency, else none; `MaxItems` 1–50 and `Marker` page them.
fn list_provisioned_concurrency(scope: &Scope<'_>, req: &ApiRequest<'_>, name: &str) -> JsonReply {
    let (f, _) = match resolve(scope, name, None, false) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let limit = match max_items(req, 50, 50) {
        Ok(n) => n as usize,
        Err(e) => return e,
    };
    let start = match query_param(req.query, "Marker") {
        None => 0,
        Some(m) => match m.strip_prefix("pc1-").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return invalid_parameter(&format!("Invalid marker: {m}")),
        },
    };
    let modified = scope.functions.map(last_modified).unwrap_or_default();
    let n = f.provisioned_concurrency;
    let configs: Vec<Value> = (n > 0)
        .then(|| {
            json!({
                "FunctionArn": function_arn(REGION, ACCOUNT_ID, &f.name, Some(ALIAS)),
                "RequestedProvisionedConcurrentExecutions": n,
                "AvailableProvisionedConcurrentExecutions": n,
                "AllocatedProvisionedConcurrentExecutions": n,
                "Status": "READY",
                "LastModified": modified,
            })
        })
        .into_iter()
        .collect();
    let page: Vec<&Value> = configs.iter().skip(start).take(limit).collect();
    let mut out = json!({ "ProvisionedConcurrencyConfigs": page });
    if start + limit < configs.len() {
        out["NextMarker"] = json!(format!("pc1-{}", start + limit));
    }
    JsonReply::ok(&out)
}

/// ListTags of a function ARN (a qualified ARN answers its function's tags).
fn list_tags(scope: &Scope<'_>, arn: &str) -> JsonReply {
    if !arn.starts_with("arn:") {
        return validation(
            arn,
            "resource",
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:…",
        );
    }
    match resolve(scope, arn, None, true) {
        Ok((f, _)) => JsonReply::ok(&json!({ "Tags": f.tags })),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests;
