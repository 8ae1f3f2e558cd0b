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
    let wanted = (0..graph.len())
        .filter(|&i| graph.node(i).wanted(&spec))
        .count();
    crate::output::stdout(&format!(
        "{}: ok (stack {}, {wanted} resources)\n",
        path.display(),
        spec.stack
    ));
    Ok(ExitCode::from(exit::OK))
}
