//! The `stormwatch` binary: parse arguments, run one stage (or the whole pipeline), and
//! turn the outcome into an exit code.
//!
//! This file is glue only. Each subcommand lives in its own module under `commands/` and
//! calls into the stage crates; stages never call each other, they exchange files in the
//! run directory (see `crates/model`).

mod args;
mod commands;
mod exit;
mod logging;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    match commands::run(cli) {
        Ok(exit) => exit.into(),
        // The reader of stdout went away (`stormwatch runs list | head`): not an error.
        Err(err) if is_broken_pipe(&err) => Exit::Ok.into(),
        Err(err) => {
            let exit = exit::classify(&err);
            // `{:#}` prints the whole cause chain on one line: "reading x: y: z".
            eprintln!("error: {err:#}");
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
