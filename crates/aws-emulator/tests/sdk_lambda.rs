//! Conformance of the emulator's Lambda control plane with the real, unmodified
//! aws-sdk-lambda client (restJson1), configured through aws-config with an endpoint
//! override to an in-process emulator on 127.0.0.1: ListFunctions paging, the function
//! configuration by name, ARN and partial ARN, the typed `ResourceNotFoundException`,
//! ListProvisionedConcurrencyConfigs, ListTags, a region with no functions, and
//! `TooManyRequestsException` at Lambda's control-plane quota with and without SDK retries.

mod util;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::list_functions::ListFunctionsError;
use aws_sdk_lambda::types::{
    Architecture, FunctionConfiguration, LogFormat, PackageType, ProvisionedConcurrencyStatusEnum,
    Runtime, SnapStartApplyOn, SnapStartOptimizationStatus, State, ThrottleReason, TracingMode,
};
use stormwatch_aws_emulator::api::ApiQuotas;
use stormwatch_aws_emulator::http::Emulator;
use stormwatch_aws_emulator::lambda_functions::{self as lf, FunctionInfo, LambdaFunctions};

const ARN_PREFIX: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

/// 120 functions `fn-000`…`fn-119`, plus three with every field away from the default:
/// `orders` (java21, arm64, SnapStart, JSON logs, pass-through tracing), `checkout`
/// (provisioned concurrency 4, reserved 10, tags) and `render` (a container image).
fn registry() -> LambdaFunctions {
    let mut functions: Vec<FunctionInfo> = (0..120)
        .map(|i| FunctionInfo::new(format!("fn-{i:03}")))
        .collect();
    let mut orders = FunctionInfo::new("orders");
    orders.runtime = "java21".into();
    orders.memory_mb = 2048;
    orders.timeout_secs = 30;
    orders.architecture = lf::Architecture::Arm64;
    orders.code_size_bytes = 25_000_000;
    orders.snap_start = true;
    orders.log_format = lf::LogFormat::Json;
    orders.tracing = lf::TracingMode::PassThrough;
    let mut checkout = FunctionInfo::new("checkout");
    checkout.runtime = "python3.12".into();
    checkout.provisioned_concurrency = 4;
    checkout.reserved_concurrency = Some(10);
    checkout.tags = [("team", "payments"), ("cost-center", "cc-42")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let mut render = FunctionInfo::new("render");
    render.package_type = lf::PackageType::Image;
    render.code_size_bytes = 0;
    functions.extend([orders, checkout, render]);
    // 2026-11-23T10:00:00Z.
    LambdaFunctions::new(functions)
        .with_last_modified(UNIX_EPOCH + Duration::from_secs(1_795_428_000))
}

async fn emulator(quotas: ApiQuotas) -> Emulator {
    Emulator::start_with(
        "127.0.0.1:0".parse().unwrap(),
        quotas,
        Duration::from_secs(60),
        registry(),
    )
    .await
    .unwrap()
}

async fn client(url: &str, region: &'static str, retry: RetryConfig) -> Client {
    Client::new(&util::sdk_config_in(url, retry, region).await)
}

fn names(functions: &[FunctionConfiguration]) -> Vec<String> {
    functions
        .iter()
        .map(|f| f.function_name().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_functions_pages_every_function_exactly_once() {
    let sb = emulator(ApiQuotas::uniform(1000.0)).await;
    let lambda = client(&sb.api_url, "us-east-1", RetryConfig::disabled()).await;
    // By hand: MaxItems 50 gives pages of 50, 50, 23, chained by NextMarker.
    let mut marker: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let out = lambda
            .list_functions()
            .max_items(50)
            .set_marker(marker.take())
            .send()
            .await
            .expect("ListFunctions succeeds");
        pages.push(names(out.functions()));
        match out.next_marker() {
            Some(m) => marker = Some(m.to_owned()),
            None => break,
        }
        assert!(pages.len() < 10, "NextMarker never ends");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [50, 50, 23]);
    let all: Vec<String> = pages.concat();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "no function twice");
    let expected: BTreeSet<String> = sb.lambda().iter().map(|f| f.name.clone()).collect();
    assert_eq!(distinct, expected.iter().collect(), "every function once");

    // The SDK's own paginator, with MaxItems above the page ceiling: still 50 a page.
    let pages: Vec<_> = lambda
        .list_functions()
        .max_items(1000)
        .function_version(aws_sdk_lambda::types::FunctionVersion::All)
        .master_region("ALL")
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("all pages");
    let sizes: Vec<usize> = pages.iter().map(|p| p.functions().len()).collect();
    assert_eq!(sizes, [50, 50, 23]);

    // Listed configurations are those GetFunctionConfiguration gives, without State.
    let listed = pages
        .iter()
        .flat_map(aws_sdk_lambda::operation::list_functions::ListFunctionsOutput::functions)
        .find(|f| f.function_name() == Some("orders"))
        .unwrap();
    assert_eq!(listed.runtime(), Some(&Runtime::Java21));
    assert_eq!(listed.function_arn(), Some(&*format!("{ARN_PREFIX}orders")));
    assert_eq!(listed.state(), None);

    let err = lambda
        .list_functions()
        .max_items(0)
        .send()
        .await
        .expect_err("MaxItems 0 is refused");
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("ValidationException")
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_configuration_by_name_arn_and_partial_arn() {
    let sb = emulator(ApiQuotas::uniform(1000.0)).await;
    let lambda = client(&sb.api_url, "us-east-1", RetryConfig::disabled()).await;
    for name in [
        "orders".to_owned(),
        format!("{ARN_PREFIX}orders"),
        "123456789012:function:orders".to_owned(),
    ] {
        let c = lambda
            .get_function_configuration()
            .function_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(c.function_name(), Some("orders"), "{name}");
        assert_eq!(c.function_arn(), Some(&*format!("{ARN_PREFIX}orders")));
        assert_eq!(c.runtime(), Some(&Runtime::Java21));
        assert_eq!(c.handler(), Some("example.Handler::handleRequest"));
        assert_eq!(c.role(), Some("arn:aws:iam::123456789012:role/orders-role"));
        assert_eq!(c.memory_size(), Some(2048));
        assert_eq!(c.timeout(), Some(30));
        assert_eq!(c.code_size(), 25_000_000);
        assert_eq!(c.description(), Some(""));
        assert_eq!(c.last_modified(), Some("2026-11-23T10:00:00.000+0000"));
        assert_eq!(c.code_sha256().map(str::len), Some(44));
        assert_eq!(c.version(), Some("$LATEST"));
        assert_eq!(c.package_type(), Some(&PackageType::Zip));
        assert_eq!(c.architectures(), [Architecture::Arm64]);
        let snap = c.snap_start().unwrap();
        assert_eq!(snap.apply_on(), Some(&SnapStartApplyOn::PublishedVersions));
        assert_eq!(
            snap.optimization_status(),
            Some(&SnapStartOptimizationStatus::On)
        );
        assert_eq!(
            c.ephemeral_storage()
                .map(aws_sdk_lambda::types::EphemeralStorage::size),
            Some(512)
        );
        assert_eq!(
            c.tracing_config().and_then(|t| t.mode()),
            Some(&TracingMode::PassThrough)
        );
        let logging = c.logging_config().unwrap();
        assert_eq!(logging.log_format(), Some(&LogFormat::Json));
        assert_eq!(logging.log_group(), Some("/aws/lambda/orders"));
        assert_eq!(c.state(), Some(&State::Active));
    }

    let plain = lambda
        .get_function_configuration()
        .function_name("fn-007")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.runtime(), Some(&Runtime::Nodejs20x));
    assert_eq!(plain.architectures(), [Architecture::X8664]);
    let snap = plain.snap_start().unwrap();
    assert_eq!(snap.apply_on(), Some(&SnapStartApplyOn::None));
    assert_eq!(
        snap.optimization_status(),
        Some(&SnapStartOptimizationStatus::Off)
    );
    assert_eq!(
        plain.logging_config().and_then(|l| l.log_format()),
        Some(&LogFormat::Text)
    );
    let image = lambda
        .get_function_configuration()
        .function_name("render")
        .send()
        .await
        .unwrap();
    assert_eq!(image.package_type(), Some(&PackageType::Image));
    assert_eq!(image.runtime(), None, "an image brings its own runtime");

    // The alias `live`, by name suffix or by Qualifier: the qualified ARN.
    let live = lambda
        .get_function_configuration()
        .function_name("checkout")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.function_arn(),
        Some(&*format!("{ARN_PREFIX}checkout:live"))
    );

    for (name, qualifier) in [("nope", None), ("checkout", Some("v9"))] {
        let err = lambda
            .get_function_configuration()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .expect_err("unknown function or qualifier");
        let raw_status = err.raw_response().map(|r| r.status().as_u16());
        let service = err.into_service_error();
        assert!(service.is_resource_not_found_exception(), "{service:?}");
        assert_eq!(raw_status, Some(404));
        let message = service.meta().message().unwrap().to_owned();
        let arn = format!(
            "{ARN_PREFIX}{name}{}",
            qualifier.map_or(String::new(), |q| format!(":{q}"))
        );
        assert_eq!(message, format!("Function not found: {arn}"));
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_concurrency_and_tags() {
    let sb = emulator(ApiQuotas::uniform(1000.0)).await;
    let lambda = client(&sb.api_url, "us-east-1", RetryConfig::disabled()).await;
    let out = lambda
        .list_provisioned_concurrency_configs()
        .function_name("checkout")
        .send()
        .await
        .expect("ListProvisionedConcurrencyConfigs succeeds");
    let configs = out.provisioned_concurrency_configs();
    assert_eq!(configs.len(), 1);
    let c = &configs[0];
    assert_eq!(
        c.function_arn(),
        Some(&*format!("{ARN_PREFIX}checkout:live"))
    );
    assert_eq!(c.requested_provisioned_concurrent_executions(), Some(4));
    assert_eq!(c.allocated_provisioned_concurrent_executions(), Some(4));
    assert_eq!(c.available_provisioned_concurrent_executions(), Some(4));
    assert_eq!(c.status(), Some(&ProvisionedConcurrencyStatusEnum::Ready));
    assert_eq!(c.last_modified(), Some("2026-11-23T10:00:00.000+0000"));
    assert!(out.next_marker().is_none());
    let none = lambda
        .list_provisioned_concurrency_configs()
        .function_name(format!("{ARN_PREFIX}orders"))
        .max_items(50)
        .send()
        .await
        .unwrap();
    assert!(none.provisioned_concurrency_configs().is_empty());
    let err = lambda
        .list_provisioned_concurrency_configs()
        .function_name("nope")
        .send()
        .await
        .expect_err("unknown function");
    assert!(err.into_service_error().is_resource_not_found_exception());

    let tags = lambda
        .list_tags()
        .resource(format!("{ARN_PREFIX}checkout"))
        .send()
        .await
        .expect("ListTags succeeds");
    let expected: HashMap<String, String> = [("team", "payments"), ("cost-center", "cc-42")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    assert_eq!(tags.tags(), Some(&expected));
    let untagged = lambda
        .list_tags()
        .resource(format!("{ARN_PREFIX}fn-000"))
        .send()
        .await
        .unwrap();
    assert_eq!(untagged.tags().map(HashMap::len), Some(0));
    let err = lambda
        .list_tags()
        .resource(format!("{ARN_PREFIX}nope"))
        .send()
        .await
        .expect_err("unknown function");
    assert!(err.into_service_error().is_resource_not_found_exception());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_signed_for_another_region_sees_no_functions() {
    let sb = emulator(ApiQuotas::uniform(1000.0)).await;
    let here = client(&sb.api_url, "us-east-1", RetryConfig::disabled()).await;
    let there = client(&sb.api_url, "eu-west-1", RetryConfig::disabled()).await;
    let listed = here.list_functions().send().await.unwrap();
    assert_eq!(listed.functions().len(), 50);
    let listed = there.list_functions().send().await.unwrap();
    assert!(listed.functions().is_empty());
    assert!(listed.next_marker().is_none());
    let err = there
        .get_function_configuration()
        .function_name("orders")
        .send()
        .await
        .expect_err("no such function in eu-west-1");
    let service = err.into_service_error();
    assert!(service.is_resource_not_found_exception());
    assert_eq!(
        service.meta().message(),
        Some("Function not found: arn:aws:lambda:eu-west-1:123456789012:function:orders")
    );
    let err = there
        .list_provisioned_concurrency_configs()
        .function_name("checkout")
        .send()
        .await
        .expect_err("no such function in eu-west-1");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = there
        .list_tags()
        .resource("arn:aws:lambda:eu-west-1:123456789012:function:checkout")
        .send()
        .await
        .expect_err("no such function in eu-west-1");
    assert!(err.into_service_error().is_resource_not_found_exception());
    // The us-east-1 ARN does not reach across either.
    let err = there
        .get_function_configuration()
        .function_name(format!("{ARN_PREFIX}orders"))
        .send()
        .await
        .expect_err("signed for eu-west-1");
    assert!(err.into_service_error().is_resource_not_found_exception());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_at_the_control_plane_quota() {
    let quota = ApiQuotas::AWS.lambda_tps;
    assert!(
        (quota - 15.0).abs() < f64::EPSILON,
        "Lambda's documented 15 calls/s"
    );
    let sb = emulator(ApiQuotas::AWS).await;
    let no_retry = client(&sb.api_url, "us-east-1", RetryConfig::disabled()).await;
    let burst = Instant::now();
    let mut passed = 0usize;
    let mut throttle = None;
    // Calls until the first refusal: the bucket holds 15 and refills 15 a second, so one
    // comes unless each call took over 1/15 s; at most 500 calls.
    for _ in 0..500 {
        match no_retry.list_functions().max_items(1).send().await {
            Ok(_) => passed += 1,
            Err(e) => {
                throttle = Some(e);
                break;
            }
        }
    }
    let elapsed = burst.elapsed().as_secs_f64();
    let err = throttle.expect("the quota refused a call");
    let raw = err.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 429);
    assert_eq!(raw.headers().get("retry-after"), Some("1"));
    match err.into_service_error() {
        ListFunctionsError::TooManyRequestsException(e) => {
            assert_eq!(e.retry_after_seconds(), Some("1"));
            assert_eq!(e.reason(), Some(&ThrottleReason::CallerRateLimitExceeded));
            assert_eq!(e.message(), Some("Rate exceeded"));
        }
        other => panic!("expected TooManyRequestsException, got {other:?}"),
    }
    // No more got through than a bucket of 15 refilling at 15/s allows, and the first 15
    // always do.
    let allowed = 15 + (quota * elapsed).ceil() as usize;
    assert!(
        (15..=allowed).contains(&passed),
        "{passed} calls passed in {elapsed:.3} s at 15/s"
    );

    // The SDK's standard retry waits the throttles out: a burst of 30 all succeed.
    let retrying = client(
        &sb.api_url,
        "us-east-1",
        RetryConfig::standard()
            .with_max_attempts(10)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(1)),
    )
    .await;
    for _ in 0..30 {
        retrying
            .get_function_configuration()
            .function_name("orders")
            .send()
            .await
            .expect("the SDK's standard retry absorbs TooManyRequestsException");
    }
    sb.stop().await;
}
