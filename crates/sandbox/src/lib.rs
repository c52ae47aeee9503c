//! The stormwatch sandbox: a local serverless app that fails the way Lambda behind API
//! Gateway fails, recording the telemetry AWS would record.
