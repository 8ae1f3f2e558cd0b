//! The stack spec: the YAML file that says what modu builds.
//!
//! [`load()`] reads and checks a spec file and returns the validated [`Spec`]
//! model, or a [`SpecError`] listing every problem with its line and column,
//! before anything talks to AWS. [`json_schema`] describes the same format
//! for editors.
//!
//! The way through, one module each: `load` (the entry points) runs `yaml`
//! (text to a YAML tree with positions), `read` (the tree to the raw structs
//! of `raw`, as written, noting unknown, missing and mistyped fields), then
//! `check` (raw structs to the validated `model`, noting the rest). `rules`
//! holds the format rules the checks apply, `boot_script` the instances' user
//! data, and `diagnostics` the [`Problem`] and [`SpecError`] they report.
//!
//! It is its own crate, depending on nothing of modu's, so its tests and its
//! fuzz targets (`fuzz/`) build without the AWS SDK; modu re-exports it as
//! `modu::spec`.

use std::path::{Path, PathBuf};

mod boot_script;
mod check;
mod diagnostics;
mod load;
mod model;
mod raw;
mod read;
mod rules;
mod schema;
#[cfg(test)]
mod testing;
mod yaml;

pub use boot_script::{ReleaseBoot, release_boot_script};
pub use diagnostics::{Findings, Problem, SpecError};
pub use load::{load, parse_bytes, parse_str};
pub use model::*;
pub use schema::json_schema;

/// The spec file used when none is given: `modu.yaml` in the current folder
/// if there is one, else `stacks/modu.yaml`.
pub fn default_spec_path() -> PathBuf {
    let local = Path::new("modu.yaml");
    if local.exists() {
        local.to_path_buf()
    } else {
        Path::new("stacks").join("modu.yaml")
    }
}
