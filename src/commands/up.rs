//! `modu up`: show the plan, confirm what destroys, apply exactly that plan.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, UpArgs, exit};
use crate::engine;
use crate::error::{Error, Result};
use crate::output::{ask, progress_for_stderr};
use crate::plan::Plan;

pub async fn run(cli: &Cli, args: &UpArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    let cx = super::context_with_release(cli, spec, Arc::from(progress_for_stderr()), &args.image)
        .await?;
    let plan = engine::plan(&cx, &graph).await?;
    // The plan goes to stderr: stdout stays the run's summary.
    eprint!("{}", plan.view.to_table());
    if !args.yes {
        confirm(&cx.spec.stack, &plan.view)?;
    }
    let (summary, error) = engine::apply(&cx, &graph, plan).await;
    crate::output::stdout(&summary.render());
    match error {
        Some(err) => Err(err),
        None => Ok(ExitCode::from(exit::OK)),
    }
}

/// Asks on a terminal before deleting or replacing anything; refuses without a terminal.
fn confirm(stack: &str, plan: &Plan) -> Result<()> {
    let destructive = plan.destructive();
    if destructive.is_empty() {
        return Ok(());
    }
    let what = destructive
        .iter()
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect::<Vec<_>>()
        .join(", ");
    let refused = || Error::Destructive {
        stack: stack.into(),
        what: what.clone(),
    };
    match ask(&format!("This deletes or replaces {what}. Apply? [y/N] "))?.as_deref() {
        Some("y" | "Y" | "yes") => Ok(()),
        _ => Err(refused()),
    }
}
