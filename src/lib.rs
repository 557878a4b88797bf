//! s3prio: keeps Amazon S3 Batch Operations job priorities where a policy says they should be.
//!
//! See `docs/architecture.md` for how the modules fit together.
#![forbid(unsafe_code)]

pub mod aws;
pub mod backoff;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod discovery;
pub mod duration;
pub mod emulator;
pub mod hash;
pub mod model;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod shard;
pub mod snapshot;
pub mod telemetry;
