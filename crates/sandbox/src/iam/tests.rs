//! The verdicts against the AWS SigV4 test suite's signed requests (aws-signing-test-suite/v4
//! `get-vanilla` and `post-vanilla-query`: key `AKIDEXAMPLE`, region `us-east-1`, service
//! `service`, 2015-08-30T12:36:00Z), an independent truth for the signature check.

use super::*;

const SUITE_DATE: &str = "20150830T123600Z";
const GET_VANILLA: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
const POST_QUERY: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11";
const SESSION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8";
const TOKEN: &str = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";

fn suite_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn parts(method: &str, query: Option<&str>, date: &str, token: Option<&str>) -> SignedParts {
    let mut headers = vec![
        ("host".to_string(), "example.amazonaws.com".to_string()),
        ("x-amz-date".to_string(), date.to_string()),
    ];
    if let Some(t) = token {
        headers.push(("x-amz-security-token".into(), t.into()));
    }
    SignedParts {
        method: method.into(),
        path: "/".into(),
        query: query.map(str::to_string),
        headers,
        body: Vec::new(),
    }
}

fn verdict(auth: &str, p: &SignedParts, now: SystemTime) -> IamVerdict {
    check(Some(auth), Some(p), now, "us-east-1", "service")
}

#[test]
fn valid_signatures_of_the_aws_suite_pass() {
    let get = parts("GET", None, SUITE_DATE, None);
    assert_eq!(verdict(GET_VANILLA, &get, suite_now()), IamVerdict::Allow);
    let post = parts("POST", Some("Param1=value1"), SUITE_DATE, None);
    assert_eq!(verdict(POST_QUERY, &post, suite_now()), IamVerdict::Allow);
    let session = parts("GET", None, SUITE_DATE, Some(TOKEN));
    assert_eq!(verdict(SESSION, &session, suite_now()), IamVerdict::Allow);
    // Within the 5 minutes either way.
    let later = suite_now() + Duration::from_secs(299);
    assert_eq!(verdict(GET_VANILLA, &get, later), IamVerdict::Allow);
}

#[test]
fn wrong_signatures_of_a_known_key_are_refused() {
    let get = parts("GET", None, SUITE_DATE, None);
    let tampered = GET_VANILLA.replace("5fa00fa3", "5fa00fa4");
    let mismatch = IamVerdict::Invalid(MISMATCH.into());
    assert_eq!(verdict(&tampered, &get, suite_now()), mismatch);
    // The right signature for another request: the method, the query, the token.
    let post = parts("POST", None, SUITE_DATE, None);
    assert_eq!(verdict(GET_VANILLA, &post, suite_now()), mismatch);
    let query = parts("GET", Some("a=1"), SUITE_DATE, None);
    assert_eq!(verdict(GET_VANILLA, &query, suite_now()), mismatch);
    let other_token = parts("GET", None, SUITE_DATE, Some("other"));
    assert_eq!(verdict(SESSION, &other_token, suite_now()), mismatch);
    // Not 64 hex digits.
    let short = GET_VANILLA.replace("5fa00fa3", "5fa0");
    assert_eq!(verdict(&short, &get, suite_now()), mismatch);
    let (kind, body) = mismatch.answer().unwrap();
    assert_eq!(kind, "InvalidSignatureException");
    assert_eq!(
        body,
        r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}"#
    );
}

#[test]
fn unknown_keys_pass_on_shape_and_date() {
    let get = parts("GET", None, SUITE_DATE, None);
    let other = GET_VANILLA
        .replace("AKIDEXAMPLE", "AKIAOTHERKEY")
        .replace("5fa00fa3", "00000000");
    assert_eq!(verdict(&other, &get, suite_now()), IamVerdict::Allow);
}

#[test]
fn missing_and_malformed() {
    let get = parts("GET", None, SUITE_DATE, None);
    assert_eq!(
        check(None, None, suite_now(), "us-east-1", "service"),
        IamVerdict::Missing
    );
    assert_eq!(verdict("  ", &get, suite_now()), IamVerdict::Missing);
    let (kind, body) = IamVerdict::Missing.answer().unwrap();
    assert_eq!(kind, "MissingAuthenticationTokenException");
    assert_eq!(body, r#"{"message":"Missing Authentication Token"}"#);
    let IamVerdict::Incomplete(m) = check(
        Some("Bearer abc"),
        None,
        suite_now(),
        "us-east-1",
        "service",
    ) else {
        panic!("bearer");
    };
    assert_eq!(
        m,
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
    );
    let no_sig = GET_VANILLA.split(", Signature").next().unwrap();
    assert_eq!(
        verdict(no_sig, &get, suite_now()),
        IamVerdict::Incomplete("Authorization header requires 'Signature' parameter. ".into())
    );
    let bad_scope = GET_VANILLA.replace("/service/aws4_request", "/aws4_request");
    assert!(
        matches!(verdict(&bad_scope, &get, suite_now()), IamVerdict::Incomplete(m) if m.contains("5 slash-delimited"))
    );
    let bad_term = GET_VANILLA.replace("aws4_request", "aws5_request");
    assert!(
        matches!(verdict(&bad_term, &get, suite_now()), IamVerdict::Incomplete(m) if m.contains("'aws5_request'"))
    );
    let unsigned_host =
        GET_VANILLA.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
    assert!(
        matches!(verdict(&unsigned_host, &get, suite_now()), IamVerdict::Incomplete(m) if m.contains("'Host'"))
    );
    let unsigned_date = GET_VANILLA.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=host");
    assert!(
        matches!(verdict(&unsigned_date, &get, suite_now()), IamVerdict::Incomplete(m) if m.contains("'X-Amz-Date' must be"))
    );
    let mut no_date = get;
    no_date.headers.retain(|(n, _)| n != "x-amz-date");
    assert!(
        matches!(verdict(GET_VANILLA, &no_date, suite_now()), IamVerdict::Incomplete(m) if m.contains("either a 'X-Amz-Date'"))
    );
}

#[test]
fn wrong_region_or_service() {
    let get = parts("GET", None, SUITE_DATE, None);
    assert_eq!(
        check(
            Some(GET_VANILLA),
            Some(&get),
            suite_now(),
            "eu-west-1",
            "service"
        ),
        IamVerdict::Invalid(
            "Credential should be scoped to a valid region, not 'us-east-1'. ".into()
        )
    );
    assert_eq!(
        check(
            Some(GET_VANILLA),
            Some(&get),
            suite_now(),
            "us-east-1",
            "execute-api"
        ),
        IamVerdict::Invalid(
            "Credential should be scoped to correct service: 'execute-api'. ".into()
        )
    );
}

#[test]
fn stale_future_and_mismatched_dates() {
    let get = parts("GET", None, SUITE_DATE, None);
    let late = suite_now() + Duration::from_secs(301);
    assert_eq!(
        verdict(GET_VANILLA, &get, late),
        IamVerdict::Invalid(
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)"
                .into()
        )
    );
    let early = suite_now() - Duration::from_secs(301);
    assert_eq!(
        verdict(GET_VANILLA, &get, early),
        IamVerdict::Invalid(
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z (20150830T123059Z + 5 min.)"
                .into()
        )
    );
    let other_day = GET_VANILLA.replace("/20150830/", "/20150831/");
    assert!(
        matches!(verdict(&other_day, &get, suite_now()), IamVerdict::Invalid(m) if m.contains("'20150831' != '20150830'"))
    );
    let garbled = parts("GET", None, "2015-08-30T12:36", None);
    assert!(
        matches!(verdict(GET_VANILLA, &garbled, suite_now()), IamVerdict::Incomplete(m) if m.contains("ISO8601"))
    );
    assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
    assert_eq!(parse_amz_date("20001329T000000Z"), None);
}
