//! The stack spec: the YAML file that says what modu builds.
//!
//! [`load`] reads and checks a spec file and returns the validated [`Spec`]
//! model, or a [`SpecError`] listing every problem with its line and column,
//! before anything talks to AWS. [`json_schema`] describes the same format
//! for editors.

use std::path::{Path, PathBuf};

mod model;
mod parse;
mod schema;

pub use model::*;
pub use parse::{Problem, SpecError, load, parse_str};
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
