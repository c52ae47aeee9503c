//! One module per subcommand; `run` dispatches to them.

mod analyze;
mod coldstarts;
mod collect;
mod convert;
mod demo;
mod diagnose;
mod import;
mod k8s;
mod merge;
mod pipeline;
mod report;
mod run;
mod runs;
mod sandbox;

use crate::args::{Cli, Command, RunsCommand};
use crate::exit::Exit;

/// Runs the parsed command line (on the runtime `main` built).
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Runs(RunsCommand::List(args)) => runs::list(&args),
        Command::Run(args) => run::run(&args, cli.global.quiet).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Collect(args) => collect::run(&args, cli.global.quiet).await,
        Command::Analyze(args) => analyze::run(&args),
        Command::Demo(args) => Box::pin(demo::run(&args, cli.global.quiet)).await,
        Command::Report(args) => report::run(&args),
        Command::Diagnose(args) => diagnose::run(&args, cli.global.quiet).await,
        Command::Coldstarts(args) => coldstarts::run(&args).await,
        Command::Import(args) => import::run(&args, cli.global.quiet),
        Command::Convert(args) => convert::run(&args),
        Command::Merge(args) => merge::run(&args).await,
        Command::K8s(args) => k8s::run(&args),
    }
}
