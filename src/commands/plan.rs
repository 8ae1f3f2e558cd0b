//! `modu plan`: what `up` would change, changing nothing.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, OutputFormat, PlanArgs, exit};
use crate::engine;
use crate::error::Result;
use crate::output::SilentProgress;

pub async fn run(cli: &Cli, args: &PlanArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    let cx = super::context_with_release(cli, spec, Arc::new(SilentProgress), &args.image).await?;
    let plan = engine::plan(&cx, &graph).await?;
    match args.output {
        OutputFormat::Table => crate::output::stdout(&plan.view.to_table()),
        OutputFormat::Json => crate::output::stdout(&format!("{}\n", plan.view.to_json())),
    }
    let code = if args.detailed_exitcode && plan.view.has_changes() {
        exit::CHANGES_PENDING
    } else {
        exit::OK
    };
    Ok(ExitCode::from(code))
}
