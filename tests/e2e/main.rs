//! End-to-end tests of the `stormwatch` binary, one module per subcommand, and of the
//! analyzer's accuracy against the sandbox's ground truth (`accuracy`).

mod accuracy;
mod analyze_report;
mod browser;
mod coldstarts;
mod coldstarts_account;
mod collect;
mod convert;
mod diagnose;
mod diagnosis;
mod distributed;
mod examples;
mod import;
mod import_joins;
mod run;
mod runs_list;
mod sandbox;
mod sigv4;
mod trace_budget;
mod util;
