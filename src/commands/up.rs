//! `modu up`: show the plan, confirm what destroys, apply exactly that plan.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, UpArgs, exit};
use crate::engine::{self, Graph};
use crate::error::{Error, Result};
use crate::output::{ask, progress_for_stderr};
use crate::plan::Plan;
use crate::resources::{Context, origin_secret};

pub async fn run(cli: &Cli, args: &UpArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    let mut cx =
        super::context_with_release(cli, spec, Arc::from(progress_for_stderr()), &args.image)
            .await?;
    cx.rotate_origin_secret = args.rotate_origin_secret;
    // A converged stack is left as it is without taking its lease: no change at all. Any
    // change is made under the lease, from a plan made once it is held (another run may
    // have changed the stack meanwhile).
    let Some(plan) = super::plan_or_stop(&cx, &graph).await? else {
        return Ok(super::stopped(&cx, "up"));
    };
    if !plan.view.has_changes() && !cx.rotate_origin_secret {
        return converge(&mut cx, &graph, args, plan, &[]).await;
    }
    // What deletes is asked about before the lease: a refusal changes nothing at all.
    let confirmed = destructive(&plan.view);
    if !args.yes && !confirmed.is_empty() {
        eprint!("{}", plan.view.to_table());
        confirm(&cx.spec.stack, &confirmed)?;
    }
    let Some(lease) = super::take_lease(cli, &cx, "up").await? else {
        return Ok(super::stopped(&cx, "up"));
    };
    let result = match super::plan_or_stop(&cx, &graph).await {
        Ok(Some(plan)) => converge(&mut cx, &graph, args, plan, &confirmed).await,
        Ok(None) => Ok(super::stopped(&cx, "up")),
        Err(err) => Err(err),
    };
    super::give_back(lease, &cx, result).await
}

/// Confirms and applies `plan`; then finishes an origin secret rotation.
async fn converge(
    cx: &mut Context,
    graph: &Graph,
    args: &UpArgs,
    plan: engine::StackPlan,
    confirmed: &[String],
) -> Result<ExitCode> {
    // The plan goes to stderr: stdout stays the run's summary.
    eprint!("{}", plan.view.to_table());
    // Asked again only for what the plan made under the lease deletes beyond what was
    // confirmed before it.
    let unconfirmed: Vec<String> = destructive(&plan.view)
        .into_iter()
        .filter(|what| !confirmed.contains(what))
        .collect();
    if !args.yes && !unconfirmed.is_empty() {
        confirm(&cx.spec.stack, &unconfirmed)?;
    }
    let (summary, error) = engine::apply(cx, graph, plan).await;
    if let Some(code) = super::after_run(cx, &summary, error)? {
        return Ok(code);
    }
    // A new origin secret is current only once the distribution sends it everywhere
    // (the converge above waited for that); then the listener rule drops the old value.
    if cx.spec.cdn.is_some() && origin_secret::promote(cx).await? {
        eprintln!("origin secret: the distribution sends the new value; dropping the old one");
        cx.rotate_origin_secret = false;
        let plan = engine::plan(cx, graph).await;
        if cx.stop.requested() {
            return Ok(super::stopped(cx, "up"));
        }
        let plan = plan?;
        eprint!("{}", plan.view.to_table());
        let (summary, error) = engine::apply(cx, graph, plan).await;
        if let Some(code) = super::after_run(cx, &summary, error)? {
            return Ok(code);
        }
    }
    Ok(ExitCode::from(exit::OK))
}

/// What `plan` deletes or replaces, as `kind name`.
fn destructive(plan: &Plan) -> Vec<String> {
    plan.destructive()
        .iter()
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect()
}

/// Asks on a terminal before deleting or replacing anything; refuses without a terminal.
fn confirm(stack: &str, destructive: &[String]) -> Result<()> {
    if destructive.is_empty() {
        return Ok(());
    }
    let what = destructive.join(", ");
    let refused = || Error::Destructive {
        stack: stack.into(),
        what: what.clone(),
    };
    match ask(&format!("This deletes or replaces {what}. Apply? [y/N] "))?.as_deref() {
        Some("y" | "Y" | "yes") => Ok(()),
        _ => Err(refused()),
    }
}
