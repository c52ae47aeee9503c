//! SigV4-signed load (`[target] auth = { sigv4 = … }`) against the sandbox's `auth = "iam"`
//! routes: with credentials from the environment (the default chain) every request gets a
//! 2xx, which the sandbox verified by recomputing the signature with the secret it knows;
//! the same scenario unsigned gets 403 Missing Authentication Token for every request, none
//! of which invoked the function; no credential appears anywhere in the run directories;
//! no credentials at all is an input error before any request. Load only goes to the
//! sandbox this test starts on 127.0.0.1.

use std::path::{Path, PathBuf};

use stormwatch_model::{RequestLog, RunDir, RunStatus};

use crate::util::{files_under, http_get, start_sandbox_with, stormwatch_process};

const SANDBOX: &str = r#"
[api]
kind = "rest"
name = "signed"
stage = "prod"

[telemetry]
resolution = "1s"

[functions.api]
runtime = "python3.12"
memory_mb = 256
init = "fixed 20ms"

[[routes]]
route = "GET /prod/items/{id}"
function = "api"
handler = "fixed 1ms"
auth = "iam"

[[routes]]
route = "POST /prod/orders"
function = "api"
handler = "fixed 1ms"
auth = "iam"
"#;

/// The sandbox knows this key's secret, so it checks the signature itself.
const AKID: &str = "AKIDLOCALSANDBOX";
const SECRET: &str = "local-sandbox-secret";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE/session+token=";

fn scenario(dir: &Path, url: &str, auth: &str) -> PathBuf {
    let path = dir.join(if auth.is_empty() {
        "plain.toml"
    } else {
        "signed.toml"
    });
    let text = format!(
        r#"[target]
url = "{url}/prod"
{auth}

[[flows]]
name = "shop"
[[flows.steps]]
path = "/items/${{random_int(1,9)}}"
query = {{ q = "café & ${{random_int(1,99)}}/x", page = "2" }}
[[flows.steps]]
method = "POST"
path = "/orders"
body = {{ sku = "sku-${{random_int(1,99)}}", qty = 2, note = "a b+c" }}

[[phases]]
name = "steady"
model = "open"
rate = 15
duration = "1s"
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `stormwatch run` with only the given AWS credentials in its environment.
fn run(home: &Path, scenario: &Path, creds: Option<(&str, &str, &str)>) -> std::process::Output {
    let mut c = stormwatch_process("http://127.0.0.1:9", home);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    if let Some((akid, secret, token)) = creds {
        c.env("AWS_ACCESS_KEY_ID", akid)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_SESSION_TOKEN", token);
    }
    c.arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(home.join("runs"))
        .output()
        .unwrap()
}

fn run_dir(out: &std::process::Output) -> RunDir {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    RunDir::new(stdout.lines().last().unwrap().trim())
}

#[test]
fn signed_load_passes_iam_routes_and_leaves_no_credential_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let truth_path = tmp.path().join("truth.jsonl");
    let s = start_sandbox_with(SANDBOX, 5, Some(&truth_path));
    let url = s.sandbox.api_url.clone();
    let signed = scenario(
        tmp.path(),
        &url,
        r#"auth = { sigv4 = { service = "execute-api", region = "us-east-1" } }"#,
    );
    let plain = scenario(tmp.path(), &url, "");

    // The dry run says how it signs, and needs (and shows) no credential.
    let dry = stormwatch_process("http://127.0.0.1:9", tmp.path())
        .args(["run", "--dry-run"])
        .arg(&signed)
        .output()
        .unwrap();
    let dry_text = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{dry_text}");
    assert!(
        dry_text.contains("auth: SigV4 for service execute-api in us-east-1"),
        "{dry_text}"
    );

    // No credentials anywhere in the chain: exit 2 before any request, no run directory.
    let none = run(tmp.path(), &signed, None);
    let err = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(2), "{err}");
    assert!(
        err.contains("signed.toml: target.auth.sigv4") && err.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    assert!(
        !tmp.path().join("runs").exists()
            || std::fs::read_dir(tmp.path().join("runs")).unwrap().count() == 0
    );

    // An unsigned request on the wire: API Gateway's 403 with its error type (not in the
    // counts below: the truth's 403s are compared with the unsigned run plus this one).
    let raw = http_get(url.trim_start_matches("http://"), "/prod/items/1");
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("x-amzn-errortype: missingauthenticationtokenexception"),
        "{raw}"
    );
    assert!(
        raw.ends_with(r#"{"message":"Missing Authentication Token"}"#),
        "{raw}"
    );

    let signed_out = run(tmp.path(), &signed, Some((AKID, SECRET, TOKEN)));
    let signed_dir = run_dir(&signed_out);
    let plain_out = run(tmp.path(), &plain, Some((AKID, SECRET, TOKEN)));
    let plain_dir = run_dir(&plain_out);
    s.runtime.block_on(s.sandbox.stop()).unwrap();

    let signed_log = RequestLog::read(&signed_dir.requests_dir()).unwrap();
    let plain_log = RequestLog::read(&plain_dir.requests_dir()).unwrap();
    assert_eq!(
        signed_dir.read_manifest().unwrap().status,
        RunStatus::Completed
    );
    // 15 flows of 2 requests each; unsigned, a flow ends at its first failed step.
    assert_eq!(signed_log.records.len(), 30);
    assert!(
        (15..=30).contains(&plain_log.records.len()),
        "{}",
        plain_log.records.len()
    );
    let statuses = |log: &RequestLog| {
        let mut s: Vec<u16> = log.records.iter().map(|r| r.status).collect();
        s.dedup();
        s.sort_unstable();
        s.dedup();
        s
    };
    assert_eq!(statuses(&signed_log), vec![200]);
    assert_eq!(statuses(&plain_log), vec![403]);

    // The sandbox's own record: as many 200s (each an invocation) as the signed run sent,
    // and as many 403s (no invocation) as the unsigned one.
    let truth: Vec<serde_json::Value> = std::fs::read_to_string(&truth_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |status: u64, invoked: bool| {
        truth
            .iter()
            .filter(|t| t["status"] == status && t["function"].is_string() == invoked)
            .count()
    };
    assert_eq!(count(200, true), signed_log.records.len());
    assert_eq!(count(403, false), plain_log.records.len() + 1);
    assert_eq!(
        truth.len(),
        signed_log.records.len() + plain_log.records.len() + 1
    );

    // No credential in any file of either run, nor in what the command printed.
    let mut checked = 0;
    for dir in [&signed_dir, &plain_dir] {
        for f in files_under(dir.root()) {
            let bytes = std::fs::read(&f).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for secret in [AKID, SECRET, TOKEN] {
                assert!(!text.contains(secret), "{} contains {secret}", f.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} files");
    for out in [&signed_out, &plain_out, &dry] {
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in [AKID, SECRET, TOKEN] {
            assert!(!printed.contains(secret), "printed {secret}");
        }
    }
}

#[test]
fn a_wrong_secret_gets_invalid_signature_403s() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_sandbox_with(SANDBOX, 6, None);
    let signed = scenario(
        tmp.path(),
        &s.sandbox.api_url,
        r#"auth = { sigv4 = { service = "execute-api", region = "us-east-1" } }"#,
    );
    let out = run(tmp.path(), &signed, Some((AKID, "not-the-secret", TOKEN)));
    let dir = run_dir(&out);
    s.runtime.block_on(s.sandbox.stop()).unwrap();
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    assert!(!log.records.is_empty());
    assert!(log.records.iter().all(|r| r.status == 403));
}

#[test]
fn scenario_auth_errors_name_the_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    for (auth, line, field, says) in [
        (
            r#"auth = { sigv4 = { service = "s3", region = "us-east-1" } }"#,
            3,
            "target.auth.sigv4.service",
            "`s3`",
        ),
        (
            r#"auth = { sigv4 = { service = "lambda", region = "mars" } }"#,
            3,
            "target.auth.sigv4.region",
            "`mars`",
        ),
        (
            r#"auth = { sigv4 = { service = "lambda" } }"#,
            3,
            "target.auth.sigv4.region",
            "missing",
        ),
        ("auth = { }", 3, "target.auth", "sigv4"),
        (
            "auth = { sigv4 = { service = \"lambda\", region = \"us-east-1\" } }\nheaders = { X-Amz-Date = \"x\" }",
            4,
            "target.headers.X-Amz-Date",
            "set by SigV4 signing",
        ),
    ] {
        let path = scenario(tmp.path(), "http://127.0.0.1:9", auth);
        let out = stormwatch_process("http://127.0.0.1:9", tmp.path())
            .args(["run", "--dry-run"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{auth}: {err}");
        let want = format!("signed.toml:{line}: {field}");
        assert!(err.contains(&want) && err.contains(says), "{auth}: {err}");
    }
}

#[test]
fn function_urls_take_lambda_signatures_only() {
    let tmp = tempfile::tempdir().unwrap();
    let config = SANDBOX.replace("kind = \"rest\"", "kind = \"function_url\"");
    let s = start_sandbox_with(&config, 7, None);
    let mut statuses = Vec::new();
    for service in ["lambda", "execute-api"] {
        let dir = tmp.path().join(service);
        std::fs::create_dir_all(&dir).unwrap();
        let path = scenario(
            &dir,
            &s.sandbox.api_url,
            &format!("auth = {{ sigv4 = {{ service = \"{service}\", region = \"us-east-1\" }} }}"),
        );
        let out = run(&dir, &path, Some((AKID, SECRET, TOKEN)));
        let log = RequestLog::read(&run_dir(&out).requests_dir()).unwrap();
        assert!(!log.records.is_empty());
        let mut seen: Vec<u16> = log.records.iter().map(|r| r.status).collect();
        seen.sort_unstable();
        seen.dedup();
        statuses.push(seen);
    }
    s.runtime.block_on(s.sandbox.stop()).unwrap();
    // Scoped to `lambda`: every request passes; to `execute-api`: the wrong service, 403.
    assert_eq!(statuses, vec![vec![200], vec![403]]);
}
