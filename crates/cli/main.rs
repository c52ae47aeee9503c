//! The `stormwatch` binary: parse arguments, run one stage (or the whole pipeline), and
//! turn the outcome into an exit code.
//!
//! This file is glue only. Each subcommand lives in its own module under `commands/` and
//! calls into the stage crates; stages never call each other, they exchange files in the
//! run directory (see `crates/model`). The library crates' entry points are `async`: the
//! one tokio runtime of the process is built here, in [`runtime`].

mod args;
mod commands;
mod exit;
mod logging;
mod runtime;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    match runtime::block_on(commands::run(cli)).and_then(|outcome| outcome) {
        Ok(exit) => exit.into(),
        // The reader of stdout went away (`stormwatch runs list | head`): not an error.
        Err(err) if is_broken_pipe(&err) => Exit::Ok.into(),
        Err(err) => {
            let exit = exit::classify(&err);
            // The whole cause chain on one line: "reading x: y: z".
            eprintln!("error: {}", exit::chain_text(&err));
            if exit == Exit::Internal {
                eprintln!(
                    "this is a bug in stormwatch; please report it with the command line you ran"
                );
            }
            exit.into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
