//! One module per subcommand; `run` dispatches to them.

mod analyze;
mod coldstarts;
mod collect;
mod demo;
mod diagnose;
mod report;
mod run;
mod runs;
mod sandbox;

use crate::args::{Cli, Command, RunsCommand};
use crate::exit::Exit;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Runs(RunsCommand::List(args)) => runs::list(&args),
        Command::Run(args) => run::run(&args, cli.global.quiet),
        Command::Sandbox(args) => sandbox::run(&args),
        Command::Collect(args) => collect::run(&args, cli.global.quiet),
        Command::Analyze(args) => analyze::run(&args),
        Command::Demo(args) => demo::run(&args, cli.global.quiet),
        Command::Report(args) => report::run(&args),
        Command::Diagnose(args) => diagnose::run(&args, cli.global.quiet),
        Command::Coldstarts(args) => coldstarts::run(&args),
    }
}
