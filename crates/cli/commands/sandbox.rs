//! `stormwatch sandbox --config FILE`: checks the config (exit 2 naming file:line and field),
//! starts the sandbox, prints one JSON line with its URLs on stdout, and serves until SIGINT
//! or SIGTERM, then flushes the ground truth and the data directory (`--data-dir`: Lambda log
//! lines and X-Ray segment documents) and exits 0.

use std::io::Write;

use anyhow::Context;
use stormwatch_sandbox::{Config, Options};

use crate::args::SandboxArgs;
use crate::exit::{Exit, WithExit};

pub async fn run(args: SandboxArgs) -> anyhow::Result<Exit> {
    // Validate before doing: every config error surfaces here, before binding anything.
    let config = Config::load(&args.config).input()?;
    let opts = Options {
        seed: args.seed,
        listen: args.listen,
        ground_truth: args.ground_truth,
    };
    stormwatch_sandbox::run_until_signal(config, opts, args.data_dir, |line| {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the sandbox; the caller may have read the line
        // already.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    })
    .await
    .input()
    .context("running the sandbox")?;
    Ok(Exit::Ok)
}
