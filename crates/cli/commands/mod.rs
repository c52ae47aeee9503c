//! One module per subcommand; `run` dispatches to them.

mod runs;

use crate::args::{Cli, Command, RunsCommand};
use crate::exit::Exit;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Runs(RunsCommand::List(args)) => runs::list(&args),
    }
}
