//! End-to-end tests of the `stormwatch` binary. One module per subcommand.

mod analyze_report;
mod browser;
mod run;
mod runs_list;
mod sandbox;
