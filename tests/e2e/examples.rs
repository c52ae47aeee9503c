//! Every example the docs point to is valid: each sandbox config parses, and each scenario
//! passes `stormwatch run --dry-run` (the same checks as a real run, no request sent).

use std::path::Path;

use assert_cmd::Command;

fn files(dir: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no examples in {}", root.display());
    out
}

#[test]
fn every_sandbox_config_parses() {
    let mut configs = files("examples/sandbox");
    configs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/sandbox.toml"));
    for path in configs {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = stormwatch_sandbox::Config::parse(&path, &text) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn every_scenario_passes_a_dry_run() {
    let mut scenarios = files("examples");
    scenarios.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/scenario.toml"));
    for path in scenarios {
        let out = Command::cargo_bin("stormwatch")
            .unwrap()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("run")
            .arg(&path)
            .arg("--dry-run")
            // Scenarios that read a secret from the environment get a stand-in.
            .env("STORE_CLIENT_SECRET", "example")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
