//! What the conformance tests share (like ripgrep's tests/util.rs): an emulator on
//! 127.0.0.1 and the SDK config the collector builds against it. Each test binary uses a
//! part of it.

#![allow(dead_code, reason = "each test binary uses a part")]

pub mod cloudwatch;

use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::config::{Credentials, Region};
use stormwatch_aws_emulator::http::Emulator;

/// The sandbox's default API rate limit (GetMetricData's quota), calls per second.
pub const DEFAULT_RATE: f64 = 50.0;

/// An emulator on a free loopback port answering at most `rate` calls per second per API,
/// storing metrics at CloudWatch's standard one-minute resolution.
pub async fn emulator(rate: f64) -> Emulator {
    Emulator::start(
        "127.0.0.1:0".parse().unwrap(),
        rate,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap()
}

/// An SDK config built the way the collector builds one: aws-config with an endpoint
/// override, static credentials, a region and a plain-HTTP connector (no TLS on loopback).
pub async fn sdk_config(url: &str, retry: RetryConfig) -> SdkConfig {
    sdk_config_in(url, retry, "us-east-1").await
}

/// [`sdk_config`] for `region` (the region its requests are signed for).
pub async fn sdk_config_in(url: &str, retry: RetryConfig, region: &'static str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(region))
        .credentials_provider(Credentials::new(
            "AKIDSANDBOX",
            "secret",
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(retry)
        .load()
        .await
}
