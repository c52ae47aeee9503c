//! The fixture collection (tests/fixtures/postman) against a scenario written by hand, and
//! the errors for input that is not a v2 collection.

use std::path::{Path, PathBuf};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/postman")
        .join(name)
}

fn opts(flows: FlowMode) -> Options {
    Options {
        flows,
        users: 1,
        duration: "1m".into(),
    }
}

fn shop(flows: FlowMode) -> Conversion {
    convert(
        &fixture("shop.postman_collection.json"),
        Some(&fixture("shop.postman_environment.json")),
        &opts(flows),
    )
    .unwrap()
}

#[test]
fn the_fixture_converts_to_the_hand_written_scenario() {
    let c = shop(FlowMode::Folders);
    let expected = std::fs::read_to_string(fixture("shop.expected.toml")).unwrap();
    for (i, (got, want)) in c.toml.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "line {}:\n{}", i + 1, c.toml);
    }
    assert_eq!(
        c.toml.lines().count(),
        expected.lines().count(),
        "{}",
        c.toml
    );
    assert_eq!((c.requests, c.converted, c.flows), (8, 8, 3));
    assert_eq!(
        c.environment,
        [(
            "API_KEY".to_string(),
            "the value of Postman variable `apiKey`".to_string()
        )]
    );
    assert_eq!(
        c.not_converted,
        [
            "Orders / Read / List orders: test script line 5 not converted: \
             pm.expect(pm.response.json().orders.length).to.be.above(0);",
            "Orders / Create order: pre-request script line 1 not converted: \
             pm.variables.set(\"ts\", Date.now());",
            "Orders / Upload receipt: the formdata body not converted",
            "Signed report: AWS Signature v4 auth (of request Signed report) not converted: sign \
             the requests with [target] auth = { sigv4 = { service = \"execute-api\", region = \
             \"eu-west-1\" } }",
        ]
    );
}

#[test]
fn secrets_never_reach_the_scenario() {
    let c = shop(FlowMode::Folders);
    // The environment's secret API key and the stale token a script overwrites.
    assert!(!c.toml.contains("s3cr3t"), "{}", c.toml);
    assert!(!c.toml.contains("stale-token"), "{}", c.toml);
    assert!(!c.toml.contains("zzz"), "a disabled value: {}", c.toml);
}

#[test]
fn steps_mode_makes_one_flow_in_runner_order() {
    let c = shop(FlowMode::Steps);
    assert_eq!(c.flows, 1);
    let titles: Vec<&str> = c
        .toml
        .lines()
        .skip_while(|l| *l != "[[flows]]")
        .filter(|l| l.starts_with("# ") && !l.starts_with("# not") && !l.contains(" variable(s)"))
        .filter(|l| {
            !l.starts_with("# body") && !l.starts_with("# AWS") && !l.starts_with("# Postman")
        })
        .collect();
    assert_eq!(
        titles,
        [
            "# Auth / Get token",
            "# Orders / Read / List orders",
            "# Orders / Create order",
            "# Orders / Get order",
            "# Orders / Upload receipt",
            "# Me",
            "# Signed report",
            "# Health",
        ]
    );
    assert!(!c.toml.contains("[[flows.on_start]]"), "{}", c.toml);
    assert!(c.toml.contains("name = \"Shop\"\n"));
}

fn error_of(json: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.json");
    std::fs::write(&p, json).unwrap();
    convert(&p, None, &opts(FlowMode::Folders))
        .unwrap_err()
        .to_string()
        .replace(&p.display().to_string(), "c.json")
}

#[test]
fn bad_input_names_the_file_and_the_json_path() {
    assert_eq!(
        error_of("{\"info\": "),
        "c.json:1:9: not JSON: EOF while parsing a value at line 1 column 9"
    );
    assert_eq!(
        error_of(r#"{"id":"x","name":"old","order":[],"requests":[]}"#),
        "c.json: requests: this is a Postman Collection v1 file, which is not read: export the \
         collection again as Collection v2.1 (Postman: Export, \"Collection v2.1\")"
    );
    assert_eq!(
        error_of("[1]"),
        "c.json: (top level): not a Postman collection: expected a JSON object"
    );
    let v21 = r#""info":{"name":"x","schema":"https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}"#;
    assert_eq!(
        error_of(&format!(
            r#"{{{v21},"item":[{{"name":"a","item":[{{"name":"r","request":{{"url":7}}}}]}}]}}"#
        )),
        "c.json: item[0].item[0].request.url: expected a URL string or object"
    );
    assert_eq!(
        error_of(&format!(r#"{{{v21},"item":[{{"name":"odd"}}]}}"#)),
        "c.json: item[0]: neither a folder (`item`) nor a request (`request`)"
    );
    assert_eq!(
        error_of(&format!(r#"{{{v21},"item":[]}}"#)),
        "c.json: item: the collection has no requests"
    );
    assert_eq!(
        error_of(r#"{"name":"env","values":[]}"#),
        "c.json: values: this is a Postman environment, not a collection: pass it with --environment"
    );
}

#[test]
fn an_unresolved_base_url_and_literal_secrets_become_references() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.json");
    std::fs::write(
        &p,
        r#"{"info":{"name":"x","schema":"https://schema.getpostman.com/json/collection/v2.0.0/collection.json"},
            "auth":{"type":"bearer","bearer":{"token":"literal-bearer-123"}},
            "item":[
              {"name":"one","request":{"method":"post","url":"{{host}}/a/:id","header":"X-Api-Key: k-999\nAccept: */*\nBad Name: 1",
                "body":{"mode":"urlencoded","urlencoded":[{"key":"a","value":"b"}]}}},
              {"name":"two","request":{"url":"https://other.example.com/b",
                "auth":{"type":"basic","basic":[{"key":"username","value":"u"},{"key":"password","value":"p4ss"}]}}}
            ]}"#,
    )
    .unwrap();
    let c = convert(&p, None, &opts(FlowMode::Folders)).unwrap();
    for secret in ["literal-bearer-123", "k-999", "p4ss"] {
        assert!(!c.toml.contains(secret), "{secret}: {}", c.toml);
    }
    assert!(c.toml.contains("url = \"http://localhost\""), "{}", c.toml);
    assert!(
        c.toml.contains("method = \"POST\"\npath = \"/a/${id}\""),
        "{}",
        c.toml
    );
    assert!(
        c.toml.contains(
            "headers = { X-Api-Key = \"${header_X-Api-Key}\", Accept = \"*/*\", Authorization = \"Bearer ${bearer_token}\" }"
        ),
        "{}",
        c.toml
    );
    assert!(
        c.toml.contains("bearer_token = \"${env:BEARER_TOKEN}\""),
        "{}",
        c.toml
    );
    assert!(
        c.toml.contains("# not converted: header name `Bad Name`\n"),
        "{}",
        c.toml
    );
    assert!(c.toml.contains("# Not defined in the collection or environment: set it here or with --set id=VALUE.\nid = \"\""), "{}", c.toml);
    assert_eq!(c.converted, 1, "the second request goes to another host");
    assert!(
        c.not_converted
            .iter()
            .any(|n| n
                .starts_with("two: request not converted: it goes to https://other.example.com")),
        "{:?}",
        c.not_converted
    );
    assert!(
        c.not_converted.iter().any(|n| n.contains("urlencoded")),
        "{:?}",
        c.not_converted
    );
}
