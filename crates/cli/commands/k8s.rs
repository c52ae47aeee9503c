//! `stormwatch k8s SCENARIO --workers N --image IMAGE`: prints the Kubernetes manifests
//! that run a scenario as N shards — a ConfigMap holding the scenario and an Indexed Job
//! (`completionMode: Indexed`, `completions = parallelism = N`, `backoffLimitPerIndex: 0` and
//! `podReplacementPolicy: Failed`: a retried or replaced pod would start out of phase, and
//! the shards refuse to start late anyway). Each pod runs `stormwatch run --shards N
//! --start-at T` with its index from `JOB_COMPLETION_INDEX`. The documents are JSON, which
//! is YAML: `kubectl apply -f` takes them as they are.

use std::io::Write;

use serde_json::json;

use crate::args::K8sArgs;
use crate::exit::{Exit, WithExit};

/// Where the pods find the scenario, and where they write their run directories.
const SCENARIO_DIR: &str = "/scenario";
const RUNS_DIR: &str = "/runs";

pub fn run(args: &K8sArgs) -> anyhow::Result<Exit> {
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.scenario.display()))
        .input()?;
    // Checked like `run` checks it, so a broken scenario never reaches the cluster; its
    // `${env:…}` values are the pods' (from --secret), not this machine's.
    let plan =
        stormwatch_load::Plan::parse(&args.scenario, &text, &[], None, &|_| Some(String::new()))
            .input()?;
    // The feeder files go into the ConfigMap beside the scenario, at their relative paths.
    let base = args
        .scenario
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut data = serde_json::Map::new();
    let mut items = vec![json!({"key": "scenario.toml", "path": "scenario.toml"})];
    data.insert("scenario.toml".into(), json!(text));
    for (i, rel) in plan.feeder_files.iter().enumerate() {
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(anyhow::anyhow!(
                "{}: feeder file {} must be below the scenario's folder to ship in a ConfigMap",
                args.scenario.display(),
                rel.display()
            ))
            .input();
        }
        let path = base.join(rel);
        let content = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            .input()?;
        let key = format!("feeder-{i}");
        data.insert(key.clone(), json!(content));
        items.push(json!({"key": key, "path": rel.to_string_lossy().replace('\\', "/")}));
    }
    let name = dns_name(args.name.as_deref().unwrap_or_else(|| {
        args.scenario
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("stormwatch")
    }))
    .input()?;
    let start_at = chrono::Utc::now()
        + chrono::Duration::from_std(args.start_in).map_err(|e| anyhow::anyhow!("{e}"))?;
    let start_at = start_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let labels =
        json!({"app.kubernetes.io/name": "stormwatch", "app.kubernetes.io/instance": name});
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": args.namespace, "labels": labels},
        "data": data,
    });
    let n = args.workers;
    let mut pod = json!({
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001},
        "containers": [{
            "name": "shard",
            "image": args.image,
            "args": [
                "--quiet", "run", format!("{SCENARIO_DIR}/scenario.toml"),
                "--shards", n.to_string(),
                "--start-at", start_at,
                "--max-start-skew", format!("{}ms", args.max_start_skew.as_millis()),
                "--out", RUNS_DIR,
            ],
            "resources": {
                "requests": {"cpu": args.cpu, "memory": args.memory},
                "limits": {"memory": args.memory},
            },
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true},
            "volumeMounts": [
                {"name": "scenario", "mountPath": SCENARIO_DIR, "readOnly": true},
                {"name": "runs", "mountPath": RUNS_DIR},
            ],
        }],
        "volumes": [
            {"name": "scenario", "configMap": {"name": name, "items": items}},
            {"name": "runs", "emptyDir": {}},
        ],
    });
    if let Some(sa) = &args.service_account {
        pod["serviceAccountName"] = json!(sa);
    }
    if let Some(secret) = &args.secret {
        pod["containers"][0]["envFrom"] = json!([{"secretRef": {"name": secret}}]);
    }
    if let Some(url) = &args.upload
        && let Some(a) = pod["containers"][0]["args"].as_array_mut()
    {
        a.push(json!("--upload"));
        a.push(json!(url.to_string()));
    }
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": args.namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": n,
            "backoffLimitPerIndex": 0,
            "maxFailedIndexes": n,
            "podReplacementPolicy": "Failed",
            "ttlSecondsAfterFinished": 86_400,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    });
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# stormwatch k8s: {n} shard(s) of {}, starting at {start_at}",
        args.scenario.display()
    )?;
    writeln!(out, "{}", serde_json::to_string_pretty(&config_map)?)?;
    writeln!(out, "---")?;
    writeln!(out, "{}", serde_json::to_string_pretty(&job)?)?;
    Ok(Exit::Ok)
}

/// A Kubernetes object name (RFC 1123 label, at most 63 characters) from `text`.
fn dns_name(text: &str) -> anyhow::Result<String> {
    let mut s: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.truncate(63);
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        return Err(anyhow::anyhow!(
            "--name {text:?}: no letters or digits to make a Kubernetes name of"
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rfc_1123_labels() {
        assert_eq!(dns_name("Checkout_Load.v2").unwrap(), "checkout-load-v2");
        assert_eq!(dns_name(&"a".repeat(80)).unwrap().len(), 63);
        assert!(dns_name("__").is_err());
    }
}
