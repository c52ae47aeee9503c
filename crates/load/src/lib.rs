//! The stormwatch load engine: parses a scenario, runs its phases against a target and
//! records every request into a run directory (see `stormwatch-model`).
