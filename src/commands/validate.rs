//! `modu validate`: check a spec without calling AWS.

use std::process::ExitCode;

use crate::cli::{Cli, exit};
use crate::error::Result;

pub fn run(cli: &Cli) -> Result<ExitCode> {
    let path = super::spec_path(cli);
    let (spec, graph) = super::load_stack(cli)?;
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
