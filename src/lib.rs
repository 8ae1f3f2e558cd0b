//! modu: converge AWS to a YAML stack spec, and tear it down again.
//!
//! The folders follow the data: `spec` (YAML → validated model, pure) → `engine` (runs the
//! dependency graph for plan/up/down/status) → `resources` (one file per AWS kind behind one
//! small trait) → `aws` (clients, error helpers, polling, tags); `output` renders progress
//! and results; `iam_policy` derives, from the spec alone, the permissions modu needs; `lease` keeps
//! two runs from changing one stack at once; `stop` ends a run cleanly on Ctrl-C;
//! `commands` wires one subcommand each. The spec is its own workspace crate, `modu-spec`
//! (`spec/`), so it builds and is fuzzed without the AWS SDK; the traffic generator of
//! `modu load` is another, `modu-load` (`load/`).

// Errors are the cold path and carry what was being done to which resource; a large `Err`
// costs nothing measurable next to an AWS round trip.
#![allow(clippy::result_large_err)]

pub mod aws;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod iam_policy;
pub mod lease;
pub mod output;
pub mod plan;
pub mod release;
pub mod resources;
pub mod stop;
pub mod telemetry;

/// The traffic generator behind `modu load`, its own crate (`load/`).
pub use modu_load as load;
/// The stack spec, YAML to the validated model, its own crate (`spec/`).
pub use modu_spec as spec;

pub use error::{Error, Result};
