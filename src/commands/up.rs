//! `modu up`: show the plan, confirm what destroys, apply exactly that plan.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, UpArgs, exit};
use crate::engine;
use crate::error::{Error, Result};
use crate::output::{ask, progress_for_stderr};
use crate::plan::Plan;
use crate::resources::origin_secret;

pub async fn run(cli: &Cli, args: &UpArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    let mut cx =
        super::context_with_release(cli, spec, Arc::from(progress_for_stderr()), &args.image)
            .await?;
    cx.rotate_origin_secret = args.rotate_origin_secret;
    let plan = engine::plan(&cx, &graph).await;
    if cx.stop.requested() {
        return Ok(super::stopped(&cx, "up"));
    }
    let plan = plan?;
    // The plan goes to stderr: stdout stays the run's summary.
    eprint!("{}", plan.view.to_table());
    if !args.yes {
        confirm(&cx.spec.stack, &plan.view)?;
    }
    let (summary, error) = engine::apply(&cx, &graph, plan).await;
    if let Some(code) = super::after_run(&cx, &summary, error)? {
        return Ok(code);
    }
    // A new origin secret is current only once the distribution sends it everywhere
    // (the converge above waited for that); then the listener rule drops the old value.
    if cx.spec.cdn.is_some() && origin_secret::promote(&cx).await? {
        eprintln!("origin secret: the distribution sends the new value; dropping the old one");
        cx.rotate_origin_secret = false;
        let plan = engine::plan(&cx, &graph).await;
        if cx.stop.requested() {
            return Ok(super::stopped(&cx, "up"));
        }
        let plan = plan?;
        eprint!("{}", plan.view.to_table());
        let (summary, error) = engine::apply(&cx, &graph, plan).await;
        if let Some(code) = super::after_run(&cx, &summary, error)? {
            return Ok(code);
        }
    }
    Ok(ExitCode::from(exit::OK))
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
