//! SigV4 signing cost per request: the engine's lean signer and `aws-sigv4` (the SDK's)
//! on the same two requests: a GET with a path and a query, and a POST with a 1 KB JSON
//! body. Prints the median ns/request of 7 rounds for each.
//!
//! `cargo bench -p stormwatch-load --bench sigv4`

#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use sha2::Digest;
use stormwatch_load::{Credentials, SigV4};

const HOST: &str = "https://abc123defg.execute-api.eu-west-1.amazonaws.com";
const ROUNDS: usize = 7;
const PER_ROUND: u32 = 50_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ns per call of `f` over [`ROUNDS`] rounds of [`PER_ROUND`] calls.
fn measure(mut f: impl FnMut(u32)) -> f64 {
    for i in 0..PER_ROUND / 10 {
        f(i);
    }
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..PER_ROUND {
            f(i);
        }
        rounds.push(start.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
    }
    median(rounds)
}

fn body_1k() -> Vec<u8> {
    let mut s = String::from("{\"order\":{\"id\":\"ord-000123\",\"items\":[");
    let mut i = 0;
    while s.len() < 990 {
        let _ = write!(s, "{{\"sku\":\"sku-{i:05}\",\"qty\":{}}},", i % 7 + 1);
        i += 1;
    }
    s.pop();
    s.push_str("]}}");
    s.into_bytes()
}

struct Row {
    label: String,
    lean: f64,
    sdk: f64,
}

/// Both signers on the GET and the POST with `creds`.
fn rows(creds: &Credentials, what: &str, body: &[u8]) -> Vec<Row> {
    let url = reqwest::Url::parse(HOST).unwrap();
    let signer = SigV4::new("execute-api", "eu-west-1", &url);
    signer.set_credentials(creds.clone());
    let path = "/prod/orders/ord-000123/items";
    let query = "page=2&limit=50&sort=created";
    let mut sink = 0usize;
    let mut lean = |method: &str, path: &str, query: Option<&str>, body: &[u8]| {
        measure(|i| {
            signer.sign(method, path, query, body, SystemTime::now(), |_, v| {
                sink = sink.wrapping_add(v.len() + i as usize);
            });
        })
    };
    let lean_get = lean("GET", path, Some(query), b"");
    let lean_post = lean("POST", "/prod/orders", None, body);
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "bench",
    )
    .into();
    let sdk = |method: &str, uri: &str, body: &[u8]| {
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let req = SignableRequest::new(method, uri, std::iter::empty(), SignableBody::Bytes(body))
            .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        instructions.headers().map(|(_, v)| v.len()).sum::<usize>()
    };
    let get_uri = format!("{HOST}{path}?{query}");
    let post_uri = format!("{HOST}/prod/orders");
    let sdk_get = measure(|_| sink = sink.wrapping_add(sdk("GET", &get_uri, b"")));
    let sdk_post = measure(|_| sink = sink.wrapping_add(sdk("POST", &post_uri, body)));
    black_box(sink);
    vec![
        Row {
            label: format!("GET path + query, {what}"),
            lean: lean_get,
            sdk: sdk_get,
        },
        Row {
            label: format!("POST {} B JSON, {what}", body.len()),
            lean: lean_post,
            sdk: sdk_post,
        },
    ]
}

fn main() {
    let body = body_1k();
    let keys = Credentials {
        access_key_id: "AKIAEXAMPLEEXAMPLE12".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
        expiry: None,
    };
    // STS session tokens are several hundred bytes of base64; this one is 720.
    let token =
        "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD".repeat(20)[..720].to_string();
    let session = Credentials {
        access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
        session_token: Some(token),
        ..keys.clone()
    };
    let mut all = rows(&keys, "access keys", &body);
    all.extend(rows(&session, "720 B session token", &body));
    let sha_1k = measure(|i| {
        black_box(sha2::Sha256::digest(black_box(
            &body[..body.len() - (i % 2) as usize],
        )));
    });

    println!("SigV4 signing, ns per request (median of {ROUNDS} rounds x {PER_ROUND}):");
    println!(
        "  {:<44} {:>11} {:>11}",
        "request", "lean signer", "aws-sigv4"
    );
    for r in &all {
        println!("  {:<44} {:>11.0} {:>11.0}", r.label, r.lean, r.sdk);
    }
    println!(
        "  (SHA-256 of the {} B body alone: {sha_1k:.0} ns)",
        body.len()
    );
    let budget = Duration::from_micros(2).as_nanos() as f64;
    let worst = all.iter().map(|r| r.lean).fold(0.0, f64::max);
    println!(
        "  budget {budget:.0} ns: lean signer's worst row {worst:.0} ns ({})",
        if worst <= budget { "within" } else { "over" }
    );
}
