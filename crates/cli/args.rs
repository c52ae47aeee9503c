//! Command-line arguments (clap derive). Every flag has a one-line `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
