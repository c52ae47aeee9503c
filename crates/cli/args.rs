//! Command-line arguments (clap derive). Every flag has a one-line `--help` text.
//!
//! Flags arrive typed: durations, times, periods and report formats are parsed and checked
//! here, once, by clap's value parsers, so a bad value stops the command before it does
//! anything, with an error naming the flag (exit 2).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, Args, Parser, Subcommand, ValueEnum};
use stormwatch_report::Format;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a threshold failed
  2  usage or input error (flag, scenario, config, run directory)
  3  AWS or remote error (credentials, permissions, throttling)
  4  internal error (a bug)";

/// Load-test Lambda APIs and explain, from CloudWatch and X-Ray, what inside AWS made them slow.
#[derive(Debug, Parser)]
#[command(name = "stormwatch", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to colour output
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `--color` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is unset
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect run directories
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Run a load scenario and record every request into a new run directory
    Run(RunArgs),
    /// Run the local sandbox: Lambda behind API Gateway, with AWS-shaped telemetry
    Sandbox(SandboxArgs),
    /// Pull CloudWatch metrics, X-Ray traces and Lambda REPORT lines for a run's windows
    Collect(CollectArgs),
    /// Run the whole pipeline against the built-in sandbox (no AWS account needed) and print the report's path
    Demo(DemoArgs),
    /// Align a run's records and telemetry into findings; writes analysis.json (exit 1 if the verdict fails)
    Analyze(AnalyzeArgs),
    /// Render a run's analysis as HTML, PNG, Markdown, JSON and JUnit (analyzes first if needed)
    Report(ReportArgs),
    /// Run a scenario, collect its telemetry, analyze and report, in one command (exit 1 if the verdict fails)
    Diagnose(DiagnoseArgs),
    /// Cold starts of functions over a time range, from Lambda REPORT lines and X-Ray (no load test needed)
    Coldstarts(ColdstartsArgs),
    /// Import another tool's results (JMeter, k6, Gatling, Newman, HAR, Locust) as a run directory
    Import(ImportArgs),
    /// Convert another tool's test definition into a scenario (Postman collections)
    #[command(subcommand)]
    Convert(ConvertCommand),
    /// Merge the shard runs of one distributed plan (run --shard) into one run directory
    Merge(MergeArgs),
    /// Print a ConfigMap and an Indexed Job that run a scenario as N shards on Kubernetes
    K8s(K8sArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("range").required(true).args(["from", "since", "last"])))]
pub struct ColdstartsArgs {
    /// Lambda function name (repeatable; default: every function of the region)
    #[arg(long)]
    pub function: Vec<String>,
    /// Only functions whose name starts with this, or matches it as a regex when it holds one of ^$.*+?()[]{}|\
    #[arg(long, value_name = "PREFIX|REGEX", conflicts_with = "function")]
    pub filter: Option<String>,
    /// Only functions with this tag (repeatable: all must match)
    #[arg(long, value_name = "KEY=VALUE", value_parser = Flag(tag_pair), conflicts_with = "function")]
    pub tag: Vec<(String, String)>,
    #[command(flatten)]
    pub timeouts: AwsTimeoutArgs,
    /// Start of the range (RFC 3339, e.g. 2026-11-22T10:00:00Z)
    #[arg(long, value_parser = Flag(rfc3339))]
    pub from: Option<DateTime<Utc>>,
    /// End of the range (RFC 3339, exclusive; default: now)
    #[arg(long, value_parser = Flag(rfc3339), requires = "from")]
    pub to: Option<DateTime<Utc>>,
    /// The range is the last DURATION up to now (e.g. 24h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = Flag(lookback), conflicts_with_all = ["from", "last"])]
    pub since: Option<Duration>,
    /// Same as --since (e.g. --last 7d)
    #[arg(long, value_name = "DURATION", value_parser = Flag(lookback), conflicts_with = "from")]
    pub last: Option<Duration>,
    /// AWS named profile (default: the AWS config chain's choice)
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region (default: the AWS config chain's choice)
    #[arg(long, conflicts_with = "regions")]
    pub region: Option<String>,
    /// Comma-separated regions to cover (e.g. us-east-1,eu-west-1)
    #[arg(long, value_name = "REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Logs Insights queries running at once (your account's concurrent-query quota)
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub insights_concurrency: u16,
    /// Skip X-Ray (no traced cold-vs-warm comparison; X-Ray is read for at most 20 functions)
    #[arg(long)]
    pub no_xray: bool,
    /// Skip CloudWatch Logs: count from sampled X-Ray traces only
    #[arg(long, conflicts_with = "no_xray")]
    pub no_logs: bool,
    /// Print the result as JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also write coldstarts.json, coldstarts.html and PNG charts into this folder
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub collect: CollectHow,
    /// Do not collect AWS telemetry even when the scenario names AWS resources
    #[arg(long)]
    pub no_collect: bool,
    /// Comma-separated report formats to write: html, png, md, json, junit
    #[arg(long, value_name = "FORMATS", default_value = "html,png,md,json,junit", value_parser = Flag(formats))]
    pub format: std::vec::Vec<Format>,
    /// Folder for the report files (default: the run directory's report/)
    #[arg(long, value_name = "DIR")]
    pub report_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tool that wrote the files
    #[arg(value_enum)]
    pub format: ImportFormat,
    /// Result files of one test (several: merged into one run, e.g. one per load machine)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Folder in which the run directory is created
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// A phase: NAME=FROM..TO, RFC 3339 times or offsets from the first request (+0s..+60s); repeatable
    #[arg(long, value_name = "NAME=FROM..TO", value_parser = Flag(phase_spec))]
    pub phase: Vec<stormwatch_import::PhaseSpec>,
    /// Name of the run (the run directory is TIME-NAME, TIME in UTC; default: the format)
    #[arg(long, value_name = "RUN")]
    pub name: Option<String>,
    /// Lambda function behind the API, for `collect` (repeatable)
    #[arg(long, value_name = "F")]
    pub function: Vec<String>,
    /// Take the AWS resources (functions, API, tables...) from this scenario's `[aws]` block
    #[arg(long, value_name = "SCENARIO.toml", conflicts_with = "function")]
    pub aws_from: Option<PathBuf>,
    /// JMeter: whether a JTL timeStamp is the sample's start (shipped jmeter.properties) or its end (JMeter's code default)
    #[arg(long, value_enum, default_value_t = JtlTimestamp::Start)]
    pub jtl_timestamp: JtlTimestamp,
    /// JMeter: the columns of a JTL CSV without a header line, comma-separated (JMeter's names, e.g. timeStamp,elapsed,label,responseCode,success); the default layouts need none
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub jtl_columns: Vec<String>,
}

/// `import` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// JMeter JTL, CSV (by header, or the default column order) or XML
    Jmeter,
    /// k6 --out json (NDJSON) or --out csv
    K6,
    /// Gatling text simulation.log (3.0 to 3.12)
    Gatling,
    /// Newman JSON reporter (-r json)
    Newman,
    /// HAR 1.2 (browser or proxy export)
    Har,
    /// Locust: the stormwatch listener's NDJSON, or _stats_history.csv (aggregate only)
    Locust,
}

/// `--jtl-timestamp` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JtlTimestamp {
    /// timeStamp is when the sample started
    Start,
    /// timeStamp is when the sample ended
    End,
}

/// `--phase NAME=FROM..TO`.
fn phase_spec(flag: &str, value: &str) -> Result<stormwatch_import::PhaseSpec, String> {
    stormwatch_import::PhaseSpec::parse(value).map_err(|e| format!("{flag} {e}"))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder in which the demo's run directory is created
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Seed for the sandbox's random draws (same seed, same cold starts and durations)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Run directory (made by `stormwatch run`)
    pub run_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directory (made by `stormwatch run`)
    pub run_dir: PathBuf,
    /// Comma-separated formats to write: html, png, md, json, junit
    #[arg(long, value_name = "FORMATS", default_value = "html,png,md,json,junit", value_parser = Flag(formats))]
    pub format: std::vec::Vec<Format>,
    /// Folder for the report files (default: RUN_DIR/report)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Sandbox config (TOML; see docs/sandbox.md)
    #[arg(long)]
    pub config: PathBuf,
    /// Seed for every random draw (same seed, same draws)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Write one ground-truth JSON line per request to this file
    #[arg(long)]
    pub ground_truth: Option<PathBuf>,
    /// Write Lambda log lines (logs/FUNCTION.jsonl) and X-Ray segment documents
    /// (segments.jsonl) under this directory, flushed at SIGINT/SIGTERM
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard run directories, folders holding them, or an s3://bucket/prefix/ they were uploaded to
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// The merged run directory to create
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Merge even when shards are missing, recording which (the merged run is marked incomplete)
    #[arg(long)]
    pub allow_missing: bool,
}

/// `convert` sources.
#[derive(Debug, Subcommand)]
pub enum ConvertCommand {
    /// Convert a Postman Collection (v2.0 or v2.1) into a scenario TOML (stdout); what was not converted goes to stderr
    Postman(PostmanArgs),
}

#[derive(Debug, Args)]
pub struct PostmanArgs {
    /// The collection's JSON export (Collection v2.0 or v2.1)
    #[arg(value_name = "COLLECTION.json")]
    pub collection: PathBuf,
    /// A Postman environment export; its values become the scenario's variables (over the collection's)
    #[arg(long, value_name = "ENV.json")]
    pub environment: Option<PathBuf>,
    /// folders: one flow per top-level folder; steps: one flow with every request in collection order
    #[arg(long, value_enum, default_value_t = PostmanFlows::Folders)]
    pub flows: PostmanFlows,
    /// Write the scenario to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Virtual users of the scenario's one closed phase
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub users: u32,
    /// Length of the scenario's phase, e.g. 30s or 5m
    #[arg(long, default_value = "1m", value_parser = Flag(phase_duration))]
    pub duration: String,
}

/// `--flows` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PostmanFlows {
    /// One flow per top-level folder
    Folders,
    /// One flow, every request a step
    Steps,
}

/// `--duration`: a scenario duration (`30s`, `5m`).
fn phase_duration(flag: &str, value: &str) -> Result<String, String> {
    match stormwatch_load::parse_duration(value) {
        Ok(d) if !d.is_zero() => Ok(value.to_string()),
        Ok(_) => Err(format!("{flag} {value:?}: must be above zero")),
        Err(e) => Err(format!("{flag} {value:?}: {e}")),
    }
}

#[derive(Debug, Args)]
pub struct K8sArgs {
    /// Scenario file to run (copied into the ConfigMap)
    pub scenario: PathBuf,
    /// Shards (pods) to run, each taking 1/N of the load
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub workers: u32,
    /// Container image holding stormwatch (see the Dockerfile)
    #[arg(long)]
    pub image: String,
    /// Namespace for the ConfigMap and the Job
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// The shards start this long after the manifests are printed (their common --start-at)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = Flag(wait))]
    pub start_in: Duration,
    /// Refuse to start a shard later than this after the start instant
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = Flag(wait))]
    pub max_start_skew: Duration,
    /// Service account the pods run as (e.g. one bound to an IAM role)
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// Secret whose keys become the pods' environment (the scenario's ${env:NAME} values, AWS settings)
    #[arg(long, value_name = "NAME")]
    pub secret: Option<String>,
    /// Where the shards upload their run directories (s3://bucket/prefix/; without it they stay in the pods)
    #[arg(long, value_name = "S3_URL", value_parser = Flag(s3_url))]
    pub upload: Option<stormwatch_telemetry::s3::S3Url>,
    /// Name of the Job and the ConfigMap (default: the scenario's file name)
    #[arg(long)]
    pub name: Option<String>,
    /// CPU each pod requests (Kubernetes quantity)
    #[arg(long, default_value = "2")]
    pub cpu: String,
    /// Memory each pod requests (Kubernetes quantity)
    #[arg(long, default_value = "2Gi")]
    pub memory: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML; see docs/scenario.md)
    pub scenario: PathBuf,
    /// Base URL to send load to, replacing the scenario's target URL
    #[arg(long)]
    pub target: Option<String>,
    /// Folder in which the run directory is created
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Override a scenario variable: --set key=value (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Check the scenario and print the plan (phases, expected requests, peak rate) without sending anything
    #[arg(long)]
    pub dry_run: bool,
    /// Run shard I of N of a distributed plan: rates and users stay the totals, this process takes its stripe
    #[arg(long, value_name = "I/N", value_parser = Flag(shard), conflicts_with = "shards")]
    pub shard: Option<stormwatch_load::Shard>,
    /// Run one of N shards, the index read from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub shards: Option<u32>,
    /// Start phase 0 at this instant (RFC 3339, or +DURATION from now): every shard of a plan uses the same one
    #[arg(long, value_name = "TIME|+DURATION")]
    pub start_at: Option<String>,
    /// Refuse to start (exit 5) when the start instant passed more than this long ago
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = Flag(wait), requires = "start_at")]
    pub max_start_skew: Duration,
    /// Upload the run directory to s3://bucket/prefix/RUN_ID/ when done, and every 10 s while running
    #[arg(long, value_name = "S3_URL", value_parser = Flag(s3_url))]
    pub upload: Option<stormwatch_telemetry::s3::S3Url>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List the runs in a folder: id, scenario, status, start, duration, phases
    List(RunsListArgs),
}

#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Folder holding run directories
    #[arg(default_value = "runs")]
    pub dir: PathBuf,
    /// Print JSON lines instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["run_dir", "from"])))]
pub struct CollectArgs {
    /// Run directory to collect for (the AWS resources and phase windows of its manifest)
    #[arg(conflicts_with_all = ["from", "to", "function", "api", "api_id", "stage", "table", "stream", "queue", "out"])]
    pub run_dir: Option<PathBuf>,
    #[command(flatten)]
    pub how: CollectHow,
    /// Print the rendered queries and the planned API calls; call nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Without a run: start of the range (RFC 3339, e.g. 2026-11-22T10:00:00Z)
    #[arg(long, requires_all = ["to", "out"], value_parser = Flag(rfc3339))]
    pub from: Option<DateTime<Utc>>,
    /// Without a run: end of the range (RFC 3339, exclusive)
    #[arg(long, requires = "from", value_parser = Flag(rfc3339))]
    pub to: Option<DateTime<Utc>>,
    /// Without a run: Lambda function name (repeatable)
    #[arg(long, requires = "from")]
    pub function: Vec<String>,
    /// Without a run: REST API name (with --stage)
    #[arg(long, requires_all = ["from", "stage"], conflicts_with = "api_id")]
    pub api: Option<String>,
    /// Without a run: HTTP API id (with --stage, default $default)
    #[arg(long, requires = "from")]
    pub api_id: Option<String>,
    /// Without a run: API stage
    #[arg(long, requires = "from")]
    pub stage: Option<String>,
    /// Without a run: DynamoDB table name (repeatable)
    #[arg(long, requires = "from")]
    pub table: Vec<String>,
    /// Without a run: Kinesis stream name (repeatable)
    #[arg(long, requires = "from")]
    pub stream: Vec<String>,
    /// Without a run: SQS queue name (repeatable)
    #[arg(long, requires = "from")]
    pub queue: Vec<String>,
    /// Without a run: folder to write telemetry/ into
    #[arg(long, requires = "from")]
    pub out: Option<PathBuf>,
}

/// Time limits of every AWS call: shared by `collect`, `diagnose` and `coldstarts`.
#[derive(Debug, Args)]
pub struct AwsTimeoutArgs {
    /// Time to open a connection to an AWS endpoint (e.g. 5s)
    #[arg(long = "connect-timeout", value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub connect: Duration,
    /// Time for one attempt of an AWS call, response included (e.g. 30s)
    #[arg(long = "attempt-timeout", value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub attempt: Duration,
    /// Time for a whole AWS call, the SDK's retries included (e.g. 2m)
    #[arg(long = "operation-timeout", value_name = "DURATION", default_value = "2m", value_parser = positive_duration)]
    pub operation: Duration,
}

impl AwsTimeoutArgs {
    /// The limits as the collector takes them.
    pub fn timeouts(&self) -> stormwatch_telemetry::Timeouts {
        stormwatch_telemetry::Timeouts {
            connect: self.connect,
            attempt: self.attempt,
            operation: self.operation,
        }
    }
}

/// A duration flag such as `5s` or `2m`, more than zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = stormwatch_load::parse_duration(text)?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// How to collect: shared by `collect` and `diagnose`.
#[derive(Debug, Args)]
pub struct CollectHow {
    /// Poll until the last window's values stop changing, at most this long (e.g. 10m, 90s)
    #[arg(long, value_name = "DURATION", value_parser = Flag(wait))]
    pub wait: Option<Duration>,
    /// AWS named profile (default: the AWS config chain's choice)
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region (default: the manifest's, then the AWS config chain's)
    #[arg(long)]
    pub region: Option<String>,
    /// Folder of extra query files (*.toml) added to the built-in ones
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    /// GetMetricData period in seconds for every series instead of the chosen one (1, 5, 10, 20, 30 or a multiple of 60)
    #[arg(long, value_name = "SECONDS", value_parser = Flag(period))]
    pub period: Option<u32>,
    /// Skip CloudWatch metrics (GetMetricData)
    #[arg(long)]
    pub no_metrics: bool,
    /// Skip X-Ray (BatchGetTraces, GetTraceSummaries)
    #[arg(long)]
    pub no_xray: bool,
    /// Skip CloudWatch Logs (REPORT lines)
    #[arg(long)]
    pub no_logs: bool,
    /// Most X-Ray traces of the run's requests to fetch: failed and slow first, then flagged, cold, and a sample per phase and endpoint
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_traces: usize,
    /// Logs Insights queries run at once; the account's quota is shared (30 per the API reference, 100 per the user guide)
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub insights_concurrency: u16,
    #[command(flatten)]
    pub timeouts: AwsTimeoutArgs,
}

/// A value parser whose error message `parse` words itself: it is handed the flag's name
/// (`--period`) and the value as typed, so the message can quote both.
#[derive(Clone, Copy)]
struct Flag<T>(fn(&str, &str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Flag<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg
            .and_then(Arg::get_long)
            .map_or_else(String::new, |long| format!("--{long}"));
        (self.0)(&flag, &value.to_string_lossy())
            .map_err(|message| cmd.clone().error(ErrorKind::ValueValidation, message))
    }
}

/// `--from`/`--to`: an RFC 3339 time.
fn rfc3339(flag: &str, value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{flag} {value:?}: not an RFC 3339 time ({e}), e.g. 2026-11-22T10:00:00Z")
        })
}

/// `--since`/`--last`: a duration back from now, e.g. `24h` or `7d` (at most 455 days,
/// CloudWatch Logs' longest Insights range is what the log groups keep).
fn lookback(flag: &str, value: &str) -> Result<Duration, String> {
    match stormwatch_model::parse::parse_duration(value, Duration::from_secs(455 * 86_400)) {
        Ok(d) if d.is_zero() => Err(format!("{flag}: must be more than zero")),
        Ok(d) => Ok(d),
        Err(m) => Err(format!("{flag}: {m}")),
    }
}

/// `--upload s3://bucket/prefix/`.
fn s3_url(flag: &str, value: &str) -> Result<stormwatch_telemetry::s3::S3Url, String> {
    stormwatch_telemetry::s3::S3Url::parse(value).map_err(|m| format!("{flag} {m}"))
}

/// `--shard I/N`.
fn shard(flag: &str, value: &str) -> Result<stormwatch_load::Shard, String> {
    stormwatch_load::Shard::parse(value).map_err(|m| format!("{flag} {m}"))
}

/// `--tag key=value`.
fn tag_pair(flag: &str, value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "{flag} {value:?}: write KEY=VALUE, e.g. team=checkout"
        )),
    }
}

/// `--wait`: a duration such as `90s` or `10m`.
fn wait(flag: &str, value: &str) -> Result<Duration, String> {
    stormwatch_load::parse_duration(value).map_err(|m| format!("{flag}: {m}"))
}

/// `--period`: a period GetMetricData accepts, in seconds.
fn period(flag: &str, value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(p) if [1, 5, 10, 20, 30].contains(&p) || (p > 0 && p % 60 == 0) => Ok(p),
        _ => Err(format!(
            "{flag} {value}: CloudWatch accepts 1, 5, 10, 20, 30 or a multiple of 60 seconds"
        )),
    }
}

/// `--format html,png,md`: formats, in the order given, without repeats.
fn formats(flag: &str, list: &str) -> Result<Vec<Format>, String> {
    let mut formats = Vec::new();
    for item in list.split(',').filter(|s| !s.trim().is_empty()) {
        let format = Format::parse(item).ok_or_else(|| {
            format!(
                "{flag}: unknown format `{}` (expected html, png, md, json or junit)",
                item.trim()
            )
        })?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        return Err(format!("{flag}: no format given"));
    }
    Ok(formats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_in_order_without_repeats() {
        assert_eq!(
            formats("--format", "md, html,md").unwrap(),
            vec![Format::Markdown, Format::Html]
        );
        let err = formats("--format", "html,pdf").unwrap_err();
        assert!(err.contains("`pdf`"), "{err}");
        assert!(formats("--format", ",").is_err());
    }

    #[test]
    fn periods_are_the_ones_cloudwatch_accepts() {
        for ok in ["1", "5", "10", "20", "30", "60", "300"] {
            assert!(period("--period", ok).is_ok(), "{ok}");
        }
        for bad in ["0", "7", "45", "90", "x", "-60"] {
            let err = period("--period", bad).unwrap_err();
            assert!(err.starts_with(&format!("--period {bad}:")), "{err}");
        }
    }

    #[test]
    fn bad_values_name_the_flag() {
        use clap::Parser as _;
        let err = Cli::try_parse_from(["stormwatch", "report", "r", "--format", "pdf"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--format: unknown format `pdf`"), "{err}");
        let err = Cli::try_parse_from([
            "stormwatch",
            "coldstarts",
            "--function",
            "f",
            "--from",
            "yesterday",
            "--to",
            "2026-11-23T10:00:00Z",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(
            err.to_string()
                .contains("--from \"yesterday\": not an RFC 3339 time"),
            "{err}"
        );
    }
}
