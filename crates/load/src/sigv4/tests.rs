use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use super::*;

/// 2015-08-30T12:36:00Z, the AWS test suite's instant.
fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn creds(akid: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: akid.into(),
        secret_access_key: secret.into(),
        session_token: token.map(str::to_string),
        expiry: None,
    }
}

/// Our headers for one request, in the order they were added.
fn ours(
    signer: &SigV4,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    at: SystemTime,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    signer.sign(method, path, query, body, at, |n, v| {
        out.push((n.to_string(), String::from_utf8(v.to_vec()).unwrap()));
    });
    out
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v)
}

/// Method, path, query, session token, signature.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);

/// The AWS SigV4 test suite's signatures (aws-signing-test-suite/v4, as shipped with
/// aws-sigv4): the cases our signer's header set covers (`host` and `x-amz-date`, plus the
/// session token).
#[test]
fn aws_test_suite_vectors() {
    let url = reqwest::Url::parse("https://example.amazonaws.com/").unwrap();
    let cases: &[Case<'_>] = &[
        (
            "GET",
            "/",
            None,
            None,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "GET",
            "/",
            Some("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            None,
            "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
        ),
        (
            "GET",
            "/",
            None,
            Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        ),
        (
            "POST",
            "/",
            Some("Param1=value1"),
            None,
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        ),
        (
            "POST",
            "/",
            None,
            None,
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        (
            "GET",
            "//example//",
            None,
            None,
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        ),
        (
            "GET",
            "/example1/example2/../..",
            None,
            None,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "GET",
            "/./",
            None,
            None,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "GET",
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            None,
            None,
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        ),
        (
            "GET",
            "/",
            Some(
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            ),
            None,
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        ),
    ];
    for &(method, path, query, token, signature) in cases {
        let s = SigV4::new("service", "us-east-1", &url);
        s.set_credentials(creds("AKIDEXAMPLE", SUITE_SECRET, token));
        let h = ours(&s, method, path, query, b"", suite_time());
        let signed = if token.is_some() {
            "host;x-amz-date;x-amz-security-token"
        } else {
            "host;x-amz-date"
        };
        assert_eq!(
            header(&h, "authorization"),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={signature}"
            ),
            "{method} {path} {query:?}"
        );
        assert_eq!(header(&h, "x-amz-date"), "20150830T123600Z");
        assert_eq!(header(&h, "x-amz-security-token"), token.unwrap_or(""));
    }
}

/// What aws-sigv4 (default settings: the SDK's) adds to the same request.
fn theirs(
    (base, service, region): (&str, &str, &str),
    c: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    at: SystemTime,
) -> Vec<(String, String)> {
    let identity = aws_credential_types::Credentials::new(
        c.access_key_id.clone(),
        c.secret_access_key.clone(),
        c.session_token.clone(),
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("{base}{path_and_query}");
    let req =
        SignableRequest::new(method, uri, std::iter::empty(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let mut h: Vec<(String, String)> = instructions
        .headers()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect();
    h.sort();
    h
}

/// Byte-identical to aws-sigv4 over paths, queries, bodies, hosts with ports, session
/// tokens, both services and instants across a day boundary.
#[test]
fn same_headers_as_aws_sigv4() {
    let paths = [
        "/",
        "/items/123",
        "/prod/orders/a%20b",
        "/x/./y/../z",
        "/a//b/",
        "/caf%C3%A9/:id@x!$'()*+,;=",
        "/%7Euser/~me",
        "",
    ];
    let queries = [
        None,
        Some("a=1&b=2"),
        Some("b=2&a=1&a=0"),
        Some("q=hello+world&x=%2F%3F&flag"),
        Some("k=v%20w&K=upper&empty="),
        Some("name=caf%C3%A9&z=%E2%9C%93"),
    ];
    let bodies: [&[u8]; 3] = [b"", b"{\"id\":42}", &[b'x'; 1024]];
    let bases = [
        "https://abc123.execute-api.eu-west-1.amazonaws.com",
        "http://127.0.0.1:8080",
        "https://example.com:443",
    ];
    let cred_sets = [
        creds("AKIDEXAMPLE", SUITE_SECRET, None),
        creds(
            "ASIAEXAMPLE",
            "s3cr3t/with+chars",
            Some("FQoGZXIvYXdzE//token+/="),
        ),
    ];
    let times = [
        suite_time(),
        UNIX_EPOCH + Duration::from_secs(1_764_633_599), // 2025-12-01T23:59:59Z
        UNIX_EPOCH + Duration::from_secs(1_764_633_600), // the next day
        UNIX_EPOCH + Duration::from_secs(951_782_400),   // 2000-02-29
    ];
    let mut n = 0;
    for base in bases {
        let url = reqwest::Url::parse(base).unwrap();
        for service in SERVICES {
            for c in &cred_sets {
                let s = SigV4::new(service, "eu-west-1", &url);
                s.set_credentials(c.clone());
                for (i, path) in paths.iter().enumerate() {
                    let query = queries[i % queries.len()];
                    let body = bodies[i % bodies.len()];
                    let method = if body.is_empty() { "GET" } else { "POST" };
                    for &at in &times {
                        let mut mine = ours(&s, method, path, query, body, at);
                        mine.sort();
                        let pq = match query {
                            Some(q) => format!("{path}?{q}"),
                            None => (*path).to_string(),
                        };
                        let pq = if pq.starts_with('/') {
                            pq
                        } else {
                            format!("/{pq}")
                        };
                        let expected =
                            theirs((base, service, "eu-west-1"), c, method, &pq, body, at);
                        assert_eq!(mine, expected, "{base} {service} {method} {pq}");
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 3 * 2 * 2 * 8 * 4);
}

#[test]
fn dates_are_utc_civil_dates() {
    assert_eq!(&amz_date(suite_time()), b"20150830T123600Z");
    assert_eq!(&amz_date(UNIX_EPOCH), b"19700101T000000Z");
    assert_eq!(
        &amz_date(UNIX_EPOCH + Duration::from_secs(951_868_799)),
        b"20000229T235959Z"
    );
    assert_eq!(
        &amz_date(UNIX_EPOCH + Duration::from_secs(4_102_444_800)),
        b"21000101T000000Z"
    );
}

#[test]
fn refreshed_credentials_take_over_and_debug_shows_no_secret() {
    let url = reqwest::Url::parse("https://h.example").unwrap();
    let s = SigV4::new("lambda", "us-east-1", &url);
    assert!(!s.has_credentials());
    let mut none = Vec::new();
    s.sign("GET", "/", None, b"", suite_time(), |n, _| none.push(n));
    assert!(none.is_empty(), "nothing signed without credentials");
    s.set_credentials(creds("AKIDONE", "secret-one", None));
    let a = ours(&s, "GET", "/", None, b"", suite_time());
    assert!(header(&a, "authorization").contains("Credential=AKIDONE/"));
    s.set_credentials(creds("AKIDTWO", "secret-two", Some("tok-two")));
    let b = ours(&s, "GET", "/", None, b"", suite_time());
    assert!(header(&b, "authorization").contains("Credential=AKIDTWO/"));
    assert_eq!(header(&b, "x-amz-security-token"), "tok-two");
    let shown = format!(
        "{s:?} {:?}",
        creds("AKIDTWO", "secret-two", Some("tok-two"))
    );
    for secret in ["secret-two", "tok-two", "AKIDTWO"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn region_names() {
    for ok in [
        "us-east-1",
        "us-gov-west-1",
        "cn-north-1",
        "eu-central-2",
        "il-central-1",
    ] {
        assert!(is_region(ok), "{ok}");
    }
    for bad in [
        "",
        "us-east",
        "US-EAST-1",
        "us-east-one",
        "useast1",
        "us--1",
        "us-east-1 ",
    ] {
        assert!(!is_region(bad), "{bad}");
    }
}

/// Refreshing runs on tokio's paused clock: the waits are virtual, the expiry real.
#[tokio::test(start_paused = true)]
async fn credentials_are_fetched_again_before_they_expire() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let url = reqwest::Url::parse("https://h.example").unwrap();
    let s = Arc::new(SigV4::new("execute-api", "us-east-1", &url));
    let mut first = creds("AKIDFIRST", "one", Some("t1"));
    first.expiry = Some(SystemTime::now() + Duration::from_secs(600));
    s.set_credentials(first);
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let fetch = move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n == 1 {
                return Err("the chain is down".to_string());
            }
            let mut c = creds(&format!("AKIDFETCH{n}"), "two", Some("t2"));
            c.expiry = Some(SystemTime::now() + Duration::from_secs(3600));
            Ok(c)
        }
    };
    let task = tokio::spawn(keep_fresh(Arc::clone(&s), fetch));
    let akid = |s: &SigV4| {
        let h = ours(s, "GET", "/", None, b"", SystemTime::now());
        header(&h, "authorization")
            .split(['=', '/'])
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    // 5 minutes before the expiry (600 s away): not yet.
    tokio::time::sleep(Duration::from_secs(290)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(akid(&s), "AKIDFIRST");
    // At 300 s the chain fails; the old set stays in use; 10 s later the retry succeeds.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(akid(&s), "AKIDFIRST");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(akid(&s), "AKIDFETCH2");
    // The new set expires in an hour: nothing more for 50 minutes.
    tokio::time::sleep(Duration::from_secs(3000)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn keys_without_expiry_are_never_fetched_again() {
    let url = reqwest::Url::parse("https://h.example").unwrap();
    let s = Arc::new(SigV4::new("lambda", "us-east-1", &url));
    s.set_credentials(creds("AKIDLONG", "k", None));
    let fetch = || async { Err::<Credentials, _>("must not be asked".to_string()) };
    // Returns at once: no expiry to wait for.
    tokio::time::timeout(Duration::from_secs(1), keep_fresh(s, fetch))
        .await
        .unwrap();
}

#[test]
fn scenario_auth_is_checked_with_file_line_and_field() {
    let parse = |auth: &str, step_headers: &str| {
        let text = format!(
            "[target]\nurl = \"https://abc.execute-api.eu-west-1.amazonaws.com/prod\"\n{auth}\n\
             [[flows]]\nname = \"f\"\n[[flows.steps]]\npath = \"/a\"\n\
             [[flows.steps]]\npath = \"/b\"\n{step_headers}\n\
             [[phases]]\nname = \"p\"\nmodel = \"open\"\nrate = 1\nduration = \"1s\"\n"
        );
        crate::Plan::parse(std::path::Path::new("s.toml"), &text, &[], None, &|_| None)
    };
    let auth = "auth = { sigv4 = { service = \"execute-api\", region = \"eu-west-1\" } }";
    let plan = parse(auth, "").unwrap();
    let s = plan.sigv4.as_ref().unwrap();
    assert_eq!((s.service(), s.region()), ("execute-api", "eu-west-1"));
    assert!(!s.has_credentials());
    assert!(parse("", "").unwrap().sigv4.is_none());
    for (auth, headers, want) in [
        (
            auth,
            "headers = { Authorization = \"Bearer x\" }",
            "s.toml:10: flows[0].steps[1].headers.Authorization: set by SigV4 signing",
        ),
        (
            "auth = { sigv4 = { region = \"eu-west-1\" } }",
            "",
            "s.toml:3: target.auth.sigv4.service: missing",
        ),
        (
            "auth = { sigv4 = { service = \"execute-api\", region = \"eu-west-1\", extra = 1 } }",
            "",
            "s.toml:3: toml: unknown field `extra`",
        ),
    ] {
        let e = parse(auth, headers).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}");
    }
}
