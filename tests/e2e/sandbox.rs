//! `stormwatch sandbox`: the startup JSON line, a bad config exiting 2 with file:line and
//! field, and SIGTERM flushing the ground truth. Requests only go to the sandbox this test
//! starts on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use crate::util::http_get;
use assert_cmd::Command;
use predicates::prelude::*;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/sandbox/fast-test.toml"
);

#[test]
fn bad_config_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let src = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("function = \"items\"", "function = \"nope\"");
    std::fs::write(&cfg, src).unwrap();
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["sandbox", "--config"])
        .arg(&cfg)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.toml:21: field `routes[0].function`",
        ));
}

#[test]
fn prints_urls_serves_and_flushes_ground_truth_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let gt = dir.path().join("truth.jsonl");
    let bin = assert_cmd::cargo::cargo_bin("stormwatch");
    let mut child = StdCommand::new(bin)
        .args([
            "sandbox",
            "--seed",
            "3",
            "--config",
            EXAMPLE,
            "--ground-truth",
        ])
        .arg(&gt)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let urls: serde_json::Value = serde_json::from_str(&line).unwrap();
    let api = urls["api"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    assert!(api.starts_with("127.0.0.1:"), "{line}");
    assert!(http_get(&api, "/prod/items/1").starts_with("HTTP/1.1 200"));
    assert!(http_get(&api, "/unknown").starts_with("HTTP/1.1 403"));
    let kill = StdCommand::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "sandbox did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let truth = std::fs::read_to_string(&gt).unwrap();
    let lines: Vec<serde_json::Value> = truth
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["cold"], true);
    assert_eq!(lines[0]["function"], "items");
    assert_eq!(lines[1]["status"], 403);
}
