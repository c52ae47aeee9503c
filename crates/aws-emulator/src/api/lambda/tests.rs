//! The Lambda API's answers, in-process (the SDK conformance test is
//! `tests/sdk_lambda.rs`).

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::lambda_functions::{Architecture, LogFormat};

fn registry() -> LambdaFunctions {
    let mut java = FunctionInfo::new("orders");
    java.runtime = "java21".into();
    java.snap_start = true;
    java.architecture = Architecture::Arm64;
    java.log_format = LogFormat::Json;
    let mut hot = FunctionInfo::new("checkout");
    hot.provisioned_concurrency = 3;
    hot.tags.insert("team".into(), "payments".into());
    let mut image = FunctionInfo::new("render");
    image.package_type = PackageType::Image;
    LambdaFunctions::new([java, hot, image])
        .with_last_modified(UNIX_EPOCH + Duration::from_millis(1_795_428_000_123))
}

struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    region: Option<&'a str>,
}

fn get<'a>(path: &'a str, query: &'a str) -> Call<'a> {
    Call {
        method: "GET",
        path,
        query,
        region: Some("us-east-1"),
    }
}

fn call(api: &LambdaApi, fs: &LambdaFunctions, c: &Call<'_>) -> (u16, Option<&'static str>, Value) {
    let req = ApiRequest {
        query: c.query,
        region: c.region,
        ..ApiRequest::new(c.method, c.path, None, b"")
    };
    let r = api.handle(fs, &req).reply;
    (
        r.status,
        r.error_type,
        serde_json::from_slice(&r.body).unwrap(),
    )
}

#[test]
fn owns_lambda_paths_only() {
    for p in [
        "/2015-03-31/functions",
        "/2015-03-31/functions/",
        "/2015-03-31/functions/f/configuration",
        "/2019-09-30/functions/f/provisioned-concurrency",
        "/2017-03-31/tags/arn",
        "/2016-08-19/account-settings/",
    ] {
        assert!(LambdaApi::owns(p), "{p}");
    }
    for p in [
        "/",
        "/prod/functions",
        "/2015-03-31",
        "/2015-03-31/orders",
        "/2015-3-31/functions",
        "/TraceSegments",
    ] {
        assert!(!LambdaApi::owns(p), "{p}");
    }
}

#[test]
fn list_functions_pages_by_name() {
    let api = LambdaApi::new(1000.0);
    let fs = registry();
    let (s, _, out) = call(&api, &fs, &get("/2015-03-31/functions/", "MaxItems=2"));
    assert_eq!(s, 200);
    let names: Vec<_> = out["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["checkout", "orders"]);
    assert_eq!(out["NextMarker"], "lf1-render");
    let (_, _, out) = call(
        &api,
        &fs,
        &get(
            "/2015-03-31/functions",
            "Marker=lf1-render&MaxItems=2&FunctionVersion=ALL",
        ),
    );
    assert_eq!(out["Functions"][0]["FunctionName"], "render");
    assert!(out.get("NextMarker").is_none());
    // Listed functions carry no State (ListFunctions leaves it out).
    assert!(out["Functions"][0].get("State").is_none());
    for bad in ["MaxItems=0", "MaxItems=10001", "MaxItems=x"] {
        let (s, kind, _) = call(&api, &fs, &get("/2015-03-31/functions", bad));
        assert_eq!((s, kind), (400, Some("ValidationException")), "{bad}");
    }
    let (s, kind, _) = call(&api, &fs, &get("/2015-03-31/functions", "Marker=zzz"));
    assert_eq!((s, kind), (400, Some("InvalidParameterValueException")));
}

#[test]
fn configuration_has_the_sdk_members() {
    let api = LambdaApi::new(1000.0);
    let fs = registry();
    let (s, _, c) = call(
        &api,
        &fs,
        &get("/2015-03-31/functions/orders/configuration", ""),
    );
    assert_eq!(s, 200);
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:orders"
    );
    assert_eq!(c["Runtime"], "java21");
    assert_eq!(c["Handler"], "example.Handler::handleRequest");
    assert_eq!(c["LastModified"], "2026-11-23T10:00:00.123+0000");
    assert_eq!(c["Architectures"], json!(["arm64"]));
    assert_eq!(
        c["SnapStart"],
        json!({"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"})
    );
    assert_eq!(c["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(c["LoggingConfig"]["LogGroup"], "/aws/lambda/orders");
    assert_eq!(c["State"], "Active");
    assert_eq!(c["Version"], "$LATEST");
    assert_eq!(c["CodeSha256"].as_str().unwrap().len(), 44);
    let (_, _, image) = call(
        &api,
        &fs,
        &get("/2015-03-31/functions/render/configuration", ""),
    );
    assert_eq!(image["PackageType"], "Image");
    assert!(image.get("Runtime").is_none() && image.get("Handler").is_none());
    assert_eq!(image["SnapStart"]["ApplyOn"], "None");
}

#[test]
fn function_names_in_every_form_and_qualifiers() {
    let api = LambdaApi::new(1000.0);
    let fs = registry();
    let path = |name: &str| format!("/2015-03-31/functions/{name}/configuration");
    for name in [
        "checkout",
        "123456789012%3Afunction%3Acheckout",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Acheckout",
    ] {
        let (s, _, c) = call(&api, &fs, &get(&path(name), ""));
        assert_eq!(
            (s, c["FunctionName"].as_str()),
            (200, Some("checkout")),
            "{name}"
        );
    }
    let (_, _, c) = call(&api, &fs, &get(&path("checkout%3Alive"), ""));
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"
    );
    let (s, _, c) = call(&api, &fs, &get(&path("checkout"), "Qualifier=%24LATEST"));
    assert_eq!(s, 200);
    assert!(
        c["FunctionArn"]
            .as_str()
            .unwrap()
            .ends_with(":checkout:$LATEST")
    );
    let (s, kind, c) = call(&api, &fs, &get(&path("checkout"), "Qualifier=7"));
    assert_eq!((s, kind), (404, Some("ResourceNotFoundException")));
    assert_eq!(
        c["Message"],
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:checkout:7"
    );
    let (s, kind, _) = call(
        &api,
        &fs,
        &get(&path("checkout%3Alive"), "Qualifier=%24LATEST"),
    );
    assert_eq!((s, kind), (400, Some("InvalidParameterValueException")));
    let (s, kind, c) = call(&api, &fs, &get(&path("nope"), ""));
    assert_eq!((s, kind), (404, Some("ResourceNotFoundException")));
    assert_eq!(c["Type"], "User");
    // A full ARN naming another region or account finds nothing.
    for arn in [
        "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Acheckout",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A210987654321%3Afunction%3Acheckout",
    ] {
        let (s, _, _) = call(&api, &fs, &get(&path(arn), ""));
        assert_eq!(s, 404, "{arn}");
    }
    let (s, kind, c) = call(&api, &fs, &get(&path("a%2Fb"), ""));
    assert_eq!((s, kind), (400, Some("ValidationException")));
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("'a/b' at 'functionName'")
    );
}

#[test]
fn another_region_sees_no_functions() {
    let api = LambdaApi::new(1000.0);
    let fs = registry();
    let elsewhere = |path| Call {
        region: Some("eu-west-1"),
        ..get(path, "List=ALL")
    };
    let (s, _, out) = call(&api, &fs, &elsewhere("/2015-03-31/functions"));
    assert_eq!((s, out["Functions"].as_array().unwrap().len()), (200, 0));
    let (s, _, out) = call(
        &api,
        &fs,
        &elsewhere("/2015-03-31/functions/checkout/configuration"),
    );
    assert_eq!(s, 404);
    assert_eq!(
        out["Message"],
        "Function not found: arn:aws:lambda:eu-west-1:123456789012:function:checkout"
    );
    let (s, _, _) = call(
        &api,
        &fs,
        &elsewhere("/2019-09-30/functions/checkout/provisioned-concurrency"),
    );
    assert_eq!(s, 404);
    // Unsigned calls are taken as the emulator's own region.
    let unsigned = Call {
        region: None,
        ..get("/2015-03-31/functions", "")
    };
    let (_, _, out) = call(&api, &fs, &unsigned);
    assert_eq!(out["Functions"].as_array().unwrap().len(), 3);
}

#[test]
fn provisioned_concurrency_and_tags() {
    let api = LambdaApi::new(1000.0);
    let fs = registry();
    let pc = |name: &str, query| {
        call(
            &api,
            &fs,
            &get(
                &format!("/2019-09-30/functions/{name}/provisioned-concurrency"),
                query,
            ),
        )
    };
    let (s, _, out) = pc("checkout", "List=ALL");
    assert_eq!(s, 200);
    let c = &out["ProvisionedConcurrencyConfigs"][0];
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"
    );
    for member in [
        "RequestedProvisionedConcurrentExecutions",
        "AvailableProvisionedConcurrentExecutions",
        "AllocatedProvisionedConcurrentExecutions",
    ] {
        assert_eq!(c[member], 3, "{member}");
    }
    assert_eq!(c["Status"], "READY");
    let (_, _, out) = pc("orders", "List=ALL");
    assert_eq!(out["ProvisionedConcurrencyConfigs"], json!([]));
    let (_, _, out) = pc("checkout", "List=ALL&Marker=pc1-1");
    assert_eq!(out["ProvisionedConcurrencyConfigs"], json!([]));
    assert_eq!(pc("checkout", "List=ALL&MaxItems=51").0, 400);
    assert_eq!(
        pc("checkout%3Alive", "List=ALL").0,
        400,
        "no qualifier here"
    );
    assert_eq!(
        pc("checkout", "Qualifier=live").0,
        404,
        "GetProvisionedConcurrencyConfig"
    );

    let tags = |arn: &str| call(&api, &fs, &get(&format!("/2017-03-31/tags/{arn}"), ""));
    let (s, _, out) = tags("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Acheckout");
    assert_eq!((s, &out), (200, &json!({"Tags": {"team": "payments"}})));
    let (_, _, out) = tags("arn:aws:lambda:us-east-1:123456789012:function:orders");
    assert_eq!(out, json!({"Tags": {}}));
    assert_eq!(
        tags("arn:aws:lambda:us-east-1:123456789012:function:nope").0,
        404
    );
    assert_eq!(tags("checkout").0, 400, "a name is not an ARN");
}

#[test]
fn unknown_operations_and_throttling() {
    let fs = registry();
    let api = LambdaApi::new(1000.0);
    let (s, kind, _) = call(&api, &fs, &get("/2015-03-31/functions/checkout", ""));
    assert_eq!((s, kind), (404, Some("UnknownOperationException")));
    let post = Call {
        method: "POST",
        ..get("/2015-03-31/functions", "")
    };
    assert_eq!(call(&api, &fs, &post).0, 404);

    let api = LambdaApi::new(2.0);
    let req = ApiRequest::new("GET", "/2015-03-31/functions", None, b"");
    let replies: Vec<LambdaReply> = (0..4).map(|_| api.handle(&fs, &req)).collect();
    let throttled: Vec<&LambdaReply> = replies.iter().filter(|r| r.reply.status == 429).collect();
    assert!(!throttled.is_empty(), "a burst of 4 at 2/s");
    let r = throttled[0];
    assert_eq!(r.reply.error_type, Some("TooManyRequestsException"));
    assert_eq!(r.retry_after, Some(1));
    let body: Value = serde_json::from_slice(&r.reply.body).unwrap();
    assert_eq!(body["Reason"], "CallerRateLimitExceeded");
}

#[test]
fn base64_matches_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}
