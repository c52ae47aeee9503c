//! End-to-end tests of the `stormwatch` binary. One module per subcommand.

mod runs_list;
