//! `stormwatch merge SHARD_DIR... | s3://bucket/prefix/ --out DIR [--allow-missing]`: the
//! shard runs of one distributed plan (downloaded first from S3 when given an s3:// URL)
//! into one run directory (see `stormwatch_load::merge`), then a table per shard so a bad
//! one stands out. Refusals (mismatched plans, a duplicated or missing shard) exit 2; S3
//! errors exit 3.

use std::io::Write;

use stormwatch_model::RunDir;
use stormwatch_model::text_table::{Align, TextTable, thousands};

use stormwatch_telemetry::AwsOptions;
use stormwatch_telemetry::s3::{self, S3Url};

use super::collect::tag;
use crate::args::MergeArgs;
use crate::exit::{Exit, WithExit};

pub async fn run(args: &MergeArgs) -> anyhow::Result<Exit> {
    if args.out.join("manifest.json").exists() {
        return Err(anyhow::anyhow!(
            "--out {}: already a run directory; merge into a new one",
            args.out.display()
        ))
        .input();
    }
    // s3:// inputs are downloaded first, into a folder next to --out removed afterwards.
    let staging = args.out.with_extension("shards-download");
    let mut paths = Vec::new();
    for input in &args.inputs {
        if input.starts_with("s3://") {
            let url = S3Url::parse(input)
                .map_err(|m| anyhow::anyhow!("{m}"))
                .input()?;
            let into = staging.join(paths.len().to_string());
            let client = s3::client(&AwsOptions::default()).await.map_err(tag)?;
            let n = s3::download_prefix(&client, &url, &into)
                .await
                .map_err(tag)?;
            if n == 0 {
                return Err(anyhow::anyhow!("{url}: no objects under this prefix")).input();
            }
            paths.push(into);
        } else {
            paths.push(input.into());
        }
    }
    let merged = (|| {
        let shards = stormwatch_load::merge::shard_dirs(&paths)?;
        stormwatch_load::merge::merge(&shards, &RunDir::new(&args.out), args.allow_missing)
    })();
    if staging.exists() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    let merged = merged.input()?;
    let out = RunDir::new(&args.out);
    let mut stdout = std::io::stdout().lock();
    let d = merged
        .manifest
        .distribution
        .as_ref()
        .expect("a merged run has a distribution");
    let mut t = TextTable::new(&[
        ("shard", Align::Right),
        ("run", Align::Left),
        ("status", Align::Left),
        ("requests", Align::Right),
        ("errors", Align::Right),
        ("p99", Align::Right),
        ("start skew", Align::Right),
    ]);
    for s in &d.shards {
        t.row([
            s.index.to_string(),
            s.run_id.clone(),
            s.status.to_string(),
            thousands(s.requests),
            thousands(s.errors),
            s.p99_ms
                .map_or_else(|| "-".into(), |p| format!("{p:.1} ms")),
            s.start_skew_ms
                .map_or_else(|| "-".into(), |k| format!("{k:+.1} ms")),
        ]);
    }
    write!(stdout, "{}", t.render())?;
    writeln!(
        stdout,
        "merged {} of {} shards: {} requests{}",
        d.shards.len(),
        d.shard_count,
        thousands(merged.requests),
        if merged.torn_lines > 0 {
            format!(
                " ({} torn last lines of killed shards dropped)",
                merged.torn_lines
            )
        } else {
            String::new()
        }
    )?;
    if !d.missing.is_empty() {
        writeln!(
            stdout,
            "missing shard(s): {} — their share of the load is not in the merged run",
            d.missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    writeln!(stdout, "{}", out.root().display())?;
    Ok(Exit::Ok)
}
