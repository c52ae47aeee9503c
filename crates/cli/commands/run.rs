//! `stormwatch run SCENARIO`: check the scenario into a plan, run it (or print it with
//! `--dry-run`), then print the summary table, the threshold verdicts and the run
//! directory's path. Exit 1 when a client-side threshold fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use stormwatch_load::{Plan, RunOptions, RunOutcome, Shard, StartAt};
use stormwatch_model::RunDir;

use crate::args::RunArgs;
use crate::exit::{Coded, Exit, WithExit};
use std::collections::HashMap;
use stormwatch_telemetry::s3::{self, S3Url};
use stormwatch_telemetry::{AwsOptions, CredentialChain};

pub async fn run(args: &RunArgs, quiet: bool) -> anyhow::Result<Exit> {
    let Some((plan, opts)) = prepare(args, quiet)? else {
        return Ok(Exit::Ok);
    };
    let dir = opts.dir.clone();
    let _refresh = sign_with_chain(&plan, dir.root()).await?;
    let uploader = args
        .upload
        .clone()
        .map(|url| Uploader::start(url, dir.root().to_path_buf()));
    let outcome = match stormwatch_load::run(Arc::new(plan), opts).await {
        Ok(o) => o,
        Err(e @ stormwatch_load::LoadError::LateStart { .. }) => {
            // Nothing was written: leave no empty run directory behind.
            let _ = std::fs::remove_dir(dir.root());
            return Err(Coded::new(Exit::LateStart, e.into()).into());
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("running into {}", dir.root().display()))
            );
        }
    };
    if let Some(u) = uploader {
        let url = u.finish().await?;
        eprintln!("uploaded to {url}{}/", dir.id());
    }
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "{}",
        stormwatch_load::summary_table(&outcome.manifest, &outcome.stats, &outcome.lateness)
    )?;
    let verdicts = stormwatch_load::evaluate_thresholds(&outcome.manifest, &outcome.stats);
    for v in &verdicts {
        writeln!(out, "{}", v.describe())?;
    }
    writeln!(out, "status: {}", outcome.manifest.status)?;
    writeln!(out, "{}", dir.root().display())?;
    if verdicts.iter().any(|v| !v.passed) {
        return Ok(Exit::ThresholdFailed);
    }
    Ok(Exit::Ok)
}

/// Checks the scenario into a plan and creates its run directory. With `--dry-run` it
/// prints the plan instead and returns `None`.
pub fn prepare(args: &RunArgs, quiet: bool) -> anyhow::Result<Option<(Plan, RunOptions)>> {
    // Validate before doing: every scenario error surfaces here, before any request.
    let plan = Plan::load(&args.scenario, &args.set, args.target.as_deref()).input()?;
    let shard = shard_of(args).input()?;
    let start_at = args
        .start_at
        .as_deref()
        .map(|t| {
            stormwatch_load::parse_start_at(t, chrono::Utc::now())
                .map(|at| StartAt {
                    at,
                    max_skew: args.max_start_skew,
                })
                .map_err(|m| anyhow::anyhow!("--start-at {m}"))
        })
        .transpose()
        .input()?;
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", stormwatch_load::dry_run_text(&plan))?;
        if !shard.is_whole() {
            writeln!(
                out,
                "shard {} of {}: rates and users above are the plan's totals; this shard takes every {}th arrival (from the {}th) and {} of each closed phase's users rounded",
                shard.index,
                shard.count,
                shard.count,
                shard.index,
                if shard.count == 1 { "all" } else { "its share" }
            )?;
        }
        return Ok(None);
    }
    let mut labels = BTreeMap::new();
    for s in &args.set {
        // Only keys: values may be secrets.
        if let Some((k, _)) = s.split_once('=') {
            labels.insert(format!("set.{k}"), "(overridden)".to_string());
        }
    }
    // Shards of one plan start in the same second: the index keeps their run ids (and their
    // upload prefixes) apart.
    let name = if shard.is_whole() {
        scenario_stem(&args.scenario)
    } else {
        format!(
            "{}-shard{}of{}",
            scenario_stem(&args.scenario),
            shard.index,
            shard.count
        )
    };
    let dir = create_run_dir(&args.out, &name)?;
    let opts = RunOptions {
        run_id: dir.id(),
        dir,
        labels,
        quiet,
        handle_signals: true,
        shard,
        start_at,
    };
    Ok(Some((plan, opts)))
}

/// `[target] auth = { sigv4 = … }`: credentials from the same default chain the collector
/// uses, resolved before any request (none: an input error naming the chain, and the empty
/// run directory removed) and refreshed in the background before they expire. They are
/// never written anywhere. The returned guard stops the refreshing when dropped.
pub async fn sign_with_chain(plan: &Plan, dir: &Path) -> anyhow::Result<Option<CredentialRefresh>> {
    let Some(signer) = plan.sigv4.clone() else {
        return Ok(None);
    };
    let fail = |e: String| {
        let _ = std::fs::remove_dir(dir);
        anyhow::Error::from(Coded::new(
            Exit::Input,
            anyhow::anyhow!("{}: target.auth.sigv4: {e}", plan.path.display()),
        ))
    };
    let chain = CredentialChain::new(&AwsOptions::default())
        .await
        .map_err(fail)?;
    let creds = chain.resolve().await.map_err(fail)?;
    signer.set_credentials(signing_credentials(creds));
    let chain = Arc::new(chain);
    let fetch = move || {
        let chain = Arc::clone(&chain);
        async move { chain.resolve().await.map(signing_credentials) }
    };
    Ok(Some(CredentialRefresh(tokio::spawn(
        stormwatch_load::sigv4::keep_fresh(signer, fetch),
    ))))
}

/// Stops refreshing the signing credentials when dropped.
pub struct CredentialRefresh(tokio::task::JoinHandle<()>);

impl Drop for CredentialRefresh {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn signing_credentials(c: stormwatch_telemetry::ChainCredentials) -> stormwatch_load::Credentials {
    stormwatch_load::Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token,
        expiry: c.expiry,
    }
}

/// Runs `plan` into its run directory.
pub async fn execute(plan: Plan, opts: RunOptions) -> anyhow::Result<RunOutcome> {
    let root = opts.dir.root().to_path_buf();
    stormwatch_load::run(Arc::new(plan), opts)
        .await
        .with_context(|| format!("running into {}", root.display()))
}

/// `--upload`: the run directory to S3 every [`Uploader::EVERY`] while the run goes on (so
/// a killed pod loses little), and once more at the end.
struct Uploader {
    url: S3Url,
    dir: std::path::PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Uploader {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(10);

    fn start(url: S3Url, dir: std::path::PathBuf) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (u, d) = (url.clone(), dir.clone());
        let task = tokio::spawn(async move {
            let client = s3::client(&AwsOptions::default()).await?;
            let mut sent = HashMap::new();
            let mut tick = tokio::time::interval(Self::EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = s3::upload_dir(&client, &u, &d, &mut sent).await {
                            tracing::warn!("uploading the run so far: {e}");
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
            s3::upload_dir(&client, &u, &d, &mut sent).await?;
            Ok(())
        });
        Self {
            url,
            dir,
            stop,
            task,
        }
    }

    /// Stops the periodic uploads and uploads what changed since the last one.
    async fn finish(self) -> anyhow::Result<S3Url> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(Ok(())) => Ok(self.url),
            Ok(Err(e)) => Err(e)
                .with_context(|| format!("uploading {} to {}", self.dir.display(), self.url))
                .remote(),
            Err(e) => Err(anyhow::anyhow!("the upload task failed: {e}")),
        }
    }
}

/// `--shard I/N`, or `--shards N` with the index from `JOB_COMPLETION_INDEX`.
fn shard_of(args: &RunArgs) -> anyhow::Result<Shard> {
    if let Some(s) = args.shard {
        return Ok(s);
    }
    let Some(count) = args.shards else {
        return Ok(Shard::WHOLE);
    };
    let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
        anyhow::anyhow!("--shards {count}: JOB_COMPLETION_INDEX is not set (a Kubernetes Indexed Job sets it); use --shard I/{count} elsewhere")
    })?;
    let index: u32 = index.trim().parse().map_err(|_| {
        anyhow::anyhow!("--shards {count}: JOB_COMPLETION_INDEX={index:?} is not a whole number")
    })?;
    Shard::new(index, count).map_err(|m| anyhow::anyhow!("--shards {count}: {m}"))
}

/// A new run directory in `out`, named after `name` (see [`RunDir::create`]).
pub fn create_run_dir(out: &Path, name: &str) -> anyhow::Result<RunDir> {
    RunDir::create(out, name)
        .with_context(|| format!("cannot create a run directory in {}", out.display()))
        .input()
}

/// The scenario file's name without its extension (`run` when it has none).
fn scenario_stem(scenario: &Path) -> String {
    scenario
        .file_stem()
        .map_or_else(|| "run".to_string(), |s| s.to_string_lossy().into_owned())
}
