//! Logging to stderr through `tracing`; verbosity and colour come from the global flags.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::{ColorChoice, GlobalArgs};

/// Whether to colour output on stderr, from `--color` and the terminal.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the flags when set.
pub fn init(global: &GlobalArgs) {
    let level = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,stormwatch={level},stormwatch_={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_color(global.color))
        .with_target(false)
        .try_init();
}
