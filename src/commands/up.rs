//! `modu up`: converge AWS to the spec.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, exit};
use crate::engine;
use crate::error::Result;
use crate::output::progress_for_stderr;

pub async fn run(cli: &Cli) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    let cx = super::context(cli, spec, Arc::from(progress_for_stderr()), false).await?;
    let (summary, error) = engine::up(&cx, &graph).await;
    crate::output::stdout(&summary.render());
    match error {
        Some(err) => Err(err),
        None => Ok(ExitCode::from(exit::OK)),
    }
}
