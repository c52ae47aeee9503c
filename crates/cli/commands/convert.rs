//! `stormwatch convert postman COLLECTION.json [--environment ENV.json]`: a Postman
//! collection into a scenario TOML on stdout (or `--out FILE`); the report of what was and
//! was not converted goes to stderr. The scenario is loaded as `run` would load it before it
//! is written, so what comes out always passes `run --dry-run` (given its environment
//! variables).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use stormwatch_import::postman::{self, FlowMode, Options};

use crate::args::{ConvertCommand, PostmanArgs, PostmanFlows};
use crate::exit::{Exit, WithExit};

pub fn run(command: &ConvertCommand) -> anyhow::Result<Exit> {
    match command {
        ConvertCommand::Postman(args) => convert_postman(args),
    }
}

fn convert_postman(args: &PostmanArgs) -> anyhow::Result<Exit> {
    let opts = Options {
        flows: match args.flows {
            PostmanFlows::Folders => FlowMode::Folders,
            PostmanFlows::Steps => FlowMode::Steps,
        },
        users: args.users,
        duration: args.duration.clone(),
    };
    let c = postman::convert(&args.collection, args.environment.as_deref(), &opts)
        .map_err(anyhow::Error::new)
        .context("converting the Postman collection")
        .input()?;
    // A converted scenario that `run` would refuse is a bug of the converter: check it as
    // `run` does (environment variables stand in; their values are not needed to check).
    let where_ = args
        .out
        .as_deref()
        .unwrap_or_else(|| Path::new("scenario.toml"));
    stormwatch_load::Plan::parse(where_, &c.toml, &[], None, &|_| Some("set".into()))
        .context("the converted scenario does not load")?;
    match &args.out {
        Some(path) => std::fs::write(path, &c.toml)
            .with_context(|| format!("writing {}", path.display()))
            .input()?,
        None => std::io::stdout().lock().write_all(c.toml.as_bytes())?,
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "converted {} of {} request(s) into {} flow(s)",
        c.converted, c.requests, c.flows
    )?;
    if !c.not_converted.is_empty() {
        writeln!(err, "not converted ({}):", c.not_converted.len())?;
        for line in &c.not_converted {
            writeln!(err, "  {line}")?;
        }
    }
    if !c.environment.is_empty() {
        writeln!(
            err,
            "the scenario reads these environment variables (values were not copied):"
        )?;
        for (name, what) in &c.environment {
            writeln!(err, "  {name}: {what}")?;
        }
    }
    for note in &c.notes {
        writeln!(err, "note: {note}")?;
    }
    Ok(Exit::Ok)
}
