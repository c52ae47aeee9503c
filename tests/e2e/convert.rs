//! `stormwatch convert postman`: a collection whose requests hit the sandbox's token route and
//! bearer-protected routes converts to a scenario that passes `run --dry-run` and, run for two
//! seconds, reaches every route with the extracted token (the sandbox's ground truth says
//! every protected request was let in); the environment's secret is never written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use stormwatch_model::{RequestLog, RunDir, RunStatus};

use crate::util::{files_under, start_sandbox_with};

const SANDBOX: &str = r#"
[api]
kind = "http"
name = "convert"
stage = "$default"

[telemetry]
resolution = "1s"

[functions.login]
init = "fixed 20ms"

[functions.account]
init = "fixed 20ms"

[[routes]]
route = "POST /auth/token"
function = "login"
handler = "fixed 2ms"
issues_token = true

[[routes]]
route = "GET /prod/me"
function = "account"
handler = "fixed 2ms"
protected = true

[[routes]]
route = "GET /prod/orders/{id}"
function = "account"
handler = "fixed 2ms"
protected = true
"#;

const SECRET: &str = "e2e-secret-api-key-0451";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/postman")
        .join(name)
}

fn stormwatch() -> Command {
    let mut c = Command::cargo_bin("stormwatch").unwrap();
    c.env_remove("API_KEY").timeout(Duration::from_secs(60));
    c
}

#[test]
fn a_converted_collection_runs_against_the_sandbox_with_its_extracted_token() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = tmp.path().join("truth.jsonl");
    let s = start_sandbox_with(SANDBOX, 7, Some(&truth));
    let env = tmp.path().join("local.postman_environment.json");
    std::fs::write(
        &env,
        serde_json::json!({
            "name": "local",
            "values": [
                { "key": "baseUrl", "value": s.sandbox.api_url, "enabled": true },
                { "key": "user", "value": "alice", "enabled": true },
                { "key": "orderId", "value": "42", "enabled": true },
                { "key": "apiKey", "value": SECRET, "type": "secret", "enabled": true }
            ]
        })
        .to_string(),
    )
    .unwrap();
    let scenario = tmp.path().join("account.toml");
    let converted = stormwatch()
        .args(["convert", "postman"])
        .arg(fixture("sandbox.postman_collection.json"))
        .arg("--environment")
        .arg(&env)
        .args(["--users", "2", "--duration", "2s", "--out"])
        .arg(&scenario)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "converted 3 of 3 request(s) into 2 flow(s)",
        ))
        .stderr(predicate::str::contains(
            "Login / Get token: test script line 7 not converted: \
             pm.expect(data.expires_in).to.be.above(0);",
        ))
        .stderr(predicate::str::contains("API_KEY"));
    let text = std::fs::read_to_string(&scenario).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        String::from_utf8_lossy(&converted.get_output().stderr)
            .find(SECRET)
            .is_none(),
        "the report names the variable, not its value"
    );
    assert!(
        text.contains(&format!("url = \"{}\"", s.sandbox.api_url)),
        "{text}"
    );

    // The secret comes from the environment: without it the scenario does not load.
    stormwatch()
        .arg("run")
        .arg(&scenario)
        .arg("--dry-run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("API_KEY"));
    stormwatch()
        .env("API_KEY", SECRET)
        .arg("run")
        .arg(&scenario)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains("2 users"));

    let out = stormwatch()
        .env("API_KEY", SECRET)
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(tmp.path().join("runs"))
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let dir = RunDir::new(stdout.lines().last().unwrap().trim());
    assert_eq!(dir.read_manifest().unwrap().status, RunStatus::Completed);
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    s.runtime.block_on(s.sandbox.stop()).unwrap();

    // The sandbox's own record of what reached it.
    let truth: Vec<serde_json::Value> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let on = |route: &str| {
        truth
            .iter()
            .filter(|l| l["route"] == route)
            .collect::<Vec<_>>()
    };
    let (tokens, me, orders) = (
        on("POST /auth/token"),
        on("GET /prod/me"),
        on("GET /prod/orders/{id}"),
    );
    assert_eq!(
        truth.len(),
        log.records.len(),
        "every request reached the sandbox"
    );
    assert_eq!(
        tokens.len() + me.len() + orders.len(),
        truth.len(),
        "no request missed a route"
    );
    assert!(
        me.len() >= 10 && orders.len() >= 10,
        "{} {}",
        me.len(),
        orders.len()
    );
    // Protected routes answer 401 without a token and 403 with a wrong one: every one was
    // let in and invoked the function, so the token extracted from the token route was sent.
    for l in me.iter().chain(&orders) {
        assert_eq!(l["status"], 200, "{l}");
        assert_eq!(l["function"], "account", "{l}");
    }
    assert!(
        log.records
            .iter()
            .all(|r| r.status == 200 && r.error.is_none())
    );
    // The Account flow fetched its token once per virtual user (on_start), the Login flow
    // once per iteration of its own.
    let login_flow = log.records.iter().filter(|r| r.flow == "Login").count();
    let account_tokens = log
        .records
        .iter()
        .filter(|r| r.flow == "Account" && r.endpoint.starts_with("POST"))
        .count();
    assert!(
        account_tokens <= 2,
        "{account_tokens} token requests in Account"
    );
    assert_eq!(tokens.len(), login_flow + account_tokens);
    for f in files_under(dir.root()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{} holds the secret",
            f.display()
        );
    }
}

#[test]
fn bad_collections_exit_2_naming_the_file_and_json_path() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = tmp.path().join("old.json");
    std::fs::write(&v1, r#"{"id":"1","name":"old","order":[],"requests":[]}"#).unwrap();
    stormwatch()
        .args(["convert", "postman"])
        .arg(&v1)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "{}: requests: this is a Postman Collection v1 file",
            v1.display()
        )));
    let torn = tmp.path().join("torn.json");
    std::fs::write(&torn, "{\"info\": {\"name\": \"x\",\n").unwrap();
    stormwatch()
        .args(["convert", "postman"])
        .arg(&torn)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:2:", torn.display())));
    // The environment given as the collection.
    stormwatch()
        .args(["convert", "postman", "--environment"])
        .arg(fixture("shop.postman_collection.json"))
        .arg(fixture("shop.postman_collection.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "shop.postman_collection.json: item: this is a collection, not an environment",
        ));
    stormwatch()
        .args(["convert", "postman", "--duration", "soon"])
        .arg(fixture("shop.postman_collection.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--duration \"soon\""));
}
