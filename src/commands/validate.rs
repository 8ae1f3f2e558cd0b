//! `modu validate`: check a spec without calling AWS.

use std::process::ExitCode;

use crate::cli::{Cli, exit};
use crate::engine::Graph;
use crate::error::Result;
use crate::resources;

pub fn run(cli: &Cli) -> Result<ExitCode> {
    let path = super::spec_path(cli);
    let spec = super::load_spec(cli)?;
    let graph = Graph::new(resources::for_spec(&spec))?;
    println!(
        "{}: ok (stack {}, {} resources)",
        path.display(),
        spec.stack,
        graph.len()
    );
    Ok(ExitCode::from(exit::OK))
}
