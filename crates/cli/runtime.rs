//! The process's one tokio runtime. The library crates never build one: their entry points
//! are `async`, and the binary runs the whole command on the runtime built here.
//!
//! Multi-threaded, one worker per core, every driver on (I/O, time, signals): the
//! configuration the load engine's timing was measured with. Its scheduler sleeps until
//! each arrival's intended start and hands file writes to `spawn_blocking`, so it needs
//! the time driver and the blocking pool beside the workers.

use std::future::Future;

use anyhow::Context;

use crate::exit::{Coded, Exit};

/// Builds the runtime and runs `future` on it to completion.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        // The machine refused threads or descriptors: neither the user's input nor AWS.
        .map_err(|e| Coded::new(Exit::Internal, e))?;
    Ok(runtime.block_on(future))
}
