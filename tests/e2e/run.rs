//! `stormwatch run`: dry run, scenario errors, a short real run that `runs list` shows,
//! a failing threshold, and a run killed with SIGKILL that stays readable.
//! Load only goes to a small server this test starts on 127.0.0.1.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::util::{TWO_PHASES, scenario, server};
use assert_cmd::Command;
use predicates::prelude::*;
use stormwatch_model::{RequestLog, RunDir, RunStatus};

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let (url, count) = server();
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), TWO_PHASES, "");
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["run", s.to_str().unwrap(), "--dry-run", "--target", &url])
        .current_dir(tmp.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("warm"))
        .stdout(predicate::str::contains("~20"))
        .stdout(predicate::str::contains("peak 20/s"));
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert!(!tmp.path().join("runs").exists());
}

#[test]
fn scenario_errors_name_file_line_and_field_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(
        tmp.path(),
        "[[phases]]\nname = \"x\"\nmodel = \"open\"\nrate = -5\nduration = \"1s\"\n",
        "",
    );
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["run", s.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("shop.toml:12: phases[0].rate"));
}

#[test]
fn a_short_run_writes_a_run_dir_that_runs_list_shows() {
    let (url, count) = server();
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(
        tmp.path(),
        TWO_PHASES,
        "[[thresholds]]\ncheck = \"error_rate <= 0\"\n",
    );
    let out = tmp.path().join("runs");
    let assert = Command::cargo_bin("stormwatch")
        .unwrap()
        .args([
            "run",
            s.to_str().unwrap(),
            "--target",
            &url,
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS warm error_rate <= 0 %"));
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let run_path = PathBuf::from(stdout.lines().last().unwrap());
    let dir = RunDir::new(&run_path);
    let m = dir.read_manifest().unwrap();
    assert_eq!(m.status, RunStatus::Completed);
    assert_eq!(m.phases.len(), 2);
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    assert_eq!(log.records.len(), 20);
    assert_eq!(count.load(Ordering::SeqCst), 20);
    assert!(dir.histograms_path().exists());
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["runs", "list", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(m.run_id.as_str()))
        .stdout(predicate::str::contains("completed"));
}

#[test]
fn a_failed_threshold_exits_1() {
    let (url, _) = server();
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(
        tmp.path(),
        "[[phases]]\nname = \"warm\"\nmodel = \"open\"\nrate = 10\nduration = \"500ms\"\n",
        "[[thresholds]]\ncheck = \"p50 < 0.0001\"\n",
    );
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["run", s.to_str().unwrap(), "--target", &url, "--out"])
        .arg(tmp.path().join("runs"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL warm p50"));
}

#[test]
fn a_run_killed_with_sigkill_leaves_a_readable_run_dir() {
    let (url, count) = server();
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(
        tmp.path(),
        "[[phases]]\nname = \"long\"\nmodel = \"open\"\nrate = 100\nduration = \"30s\"\n",
        "",
    );
    let out = tmp.path().join("runs");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stormwatch"))
        .args(["run", s.to_str().unwrap(), "--target", &url, "--out"])
        .arg(&out)
        .arg("--quiet")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until at least one flush has put records on disk, then kill.
    let deadline = Instant::now() + Duration::from_secs(20);
    let run_dir = loop {
        assert!(Instant::now() < deadline, "no records flushed in time");
        let found = std::fs::read_dir(&out)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok);
        if let Some(entry) = found {
            let dir = RunDir::new(entry.path());
            let flushed =
                RequestLog::read(&dir.requests_dir()).is_ok_and(|l| l.records.len() > 100);
            if flushed {
                break dir;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let sent = count.load(Ordering::SeqCst);
    let m = run_dir.read_manifest().unwrap();
    assert_eq!(m.status, RunStatus::Incomplete);
    assert!(m.phases[0].actual.is_some());
    let log = RequestLog::read(&run_dir.requests_dir()).unwrap();
    assert!(log.torn_lines <= 1);
    // At most ~2 s (200 requests at 100/s) lost.
    assert!(
        log.records.len() + 200 >= sent,
        "{} of {sent}",
        log.records.len()
    );
    for r in &log.records {
        assert!(
            r.end >= r.sent && r.sent >= r.intended && r.status == 200,
            "{r:?}"
        );
    }
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["runs", "list", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("incomplete"));
    // The killed phase's window ends near its last record (the engine moves it forward every
    // second), not at its start: rates stay sane and the verdict says the run was killed.
    let w = m.phases[0].actual.unwrap();
    let last = log
        .records
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap()
        .to_datetime();
    let lag = (last - w.end).num_milliseconds();
    assert!(
        w.end > w.start && lag < 3_000,
        "window {w:?}, last record at {last}"
    );
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["analyze", run_dir.root().to_str().unwrap()])
        .assert()
        .code(1);
    let report = run_dir.read_analysis().unwrap();
    let rate = report.phases[0].achieved_rate_per_sec;
    assert!(
        (10.0..1_000.0).contains(&rate),
        "achieved {rate}/s at 100/s"
    );
    assert!(!report.verdict.passed);
    assert!(
        report.verdict.details[0].starts_with("The run did not complete"),
        "{:?}",
        report.verdict.details
    );
}

#[test]
fn sigterm_stops_cleanly_with_status_aborted() {
    let (url, _) = server();
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(
        tmp.path(),
        "[[phases]]\nname = \"long\"\nmodel = \"open\"\nrate = 50\nduration = \"30s\"\n\
         [[phases]]\nname = \"never\"\nmodel = \"idle\"\nduration = \"1s\"\n",
        "",
    );
    let out = tmp.path().join("runs");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stormwatch"))
        .args([
            "run",
            s.to_str().unwrap(),
            "--target",
            &url,
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let run_dir = loop {
        assert!(Instant::now() < deadline, "run never started");
        let found = std::fs::read_dir(&out)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok);
        if let Some(dir) = found.map(|e| RunDir::new(e.path()))
            && RequestLog::read(&dir.requests_dir()).is_ok_and(|l| !l.records.is_empty())
        {
            break dir;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Bounded wait for the process to finish its grace period and exit.
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = run_dir.read_manifest().unwrap();
    assert_eq!(m.status, RunStatus::Aborted);
    assert!(m.ended_at.is_some());
    let long = m.phases[0].actual.unwrap();
    assert!(long.duration() < Duration::from_secs(20), "{long:?}");
    assert!(
        m.phases[1].actual.is_none(),
        "the phase after the abort never ran"
    );
    assert_eq!(
        RequestLog::read(&run_dir.requests_dir())
            .unwrap()
            .torn_lines,
        0
    );
}

#[test]
fn run_and_analyze_judge_thresholds_alike() {
    let (url, _) = server();
    let tmp = tempfile::tempdir().unwrap();
    // Two phases with traffic; thresholds with and without a phase and an endpoint, some
    // passing, some failing.
    let s = scenario(
        tmp.path(),
        "[[phases]]\nname = \"a\"\nmodel = \"open\"\nrate = 20\nduration = \"1s\"\n\
         [[phases]]\nname = \"b\"\nmodel = \"open\"\nrate = 10\nduration = \"1s\"\n",
        "[[thresholds]]\ncheck = \"p50 < 0.0001\"\n\n\
         [[thresholds]]\ncheck = \"error_rate <= 0\"\n\n\
         [[thresholds]]\nphase = \"b\"\ncheck = \"max < 60000\"\n\n\
         [[thresholds]]\nphase = \"a\"\nendpoint = \"GET /nope\"\ncheck = \"p99 < 60000\"\n",
    );
    let out = tmp.path().join("runs");
    let run = Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["run", s.to_str().unwrap(), "--target", &url, "--out"])
        .arg(&out)
        .assert()
        .code(1);
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    let from_run: Vec<(String, bool)> = stdout
        .lines()
        .filter_map(|l| {
            let (verdict, rest) = l.split_once(' ')?;
            let passed = match verdict {
                "PASS" => true,
                "FAIL" => false,
                _ => return None,
            };
            Some((rest.split(" (observed").next()?.to_string(), passed))
        })
        .collect();
    let dir = PathBuf::from(stdout.lines().last().unwrap());
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["analyze", dir.to_str().unwrap()])
        .assert()
        .code(1);
    let report = RunDir::new(&dir).read_analysis().unwrap();
    let from_analyze: Vec<(String, bool)> = report
        .thresholds
        .iter()
        .map(|t| (t.name.clone(), t.passed))
        .collect();
    assert_eq!(
        from_run,
        [
            ("a p50 < 0 ms".to_string(), false),
            ("b p50 < 0 ms".to_string(), false),
            ("a error_rate <= 0 %".to_string(), true),
            ("b error_rate <= 0 %".to_string(), true),
            ("b max < 60000 ms".to_string(), true),
            ("a / GET /nope p99 < 60000 ms".to_string(), false),
        ]
    );
    assert_eq!(from_run, from_analyze);
}

#[test]
fn verbose_run_logs_its_phases_to_stderr() {
    let (url, _) = server();
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), TWO_PHASES, "");
    for how in [vec!["-vv".to_string()], vec!["--quiet".to_string()]] {
        let mut cmd = Command::cargo_bin("stormwatch").unwrap();
        if how[0] == "--quiet" {
            cmd.env("RUST_LOG", "trace");
        }
        let out = cmd
            .args(&how)
            .args(["run", s.to_str().unwrap(), "--target", &url, "--out"])
            .arg(tmp.path().join("runs"))
            .assert()
            .success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains("phase started") && stderr.contains("phase ended"),
            "{how:?}: {stderr}"
        );
    }
}
