//! `modu deploy`: roll the spec's release out. The same converge as `up` (the release is
//! uploaded, the launch template gets a version, the group an instance refresh), for a
//! plan that only changes things: anything it would delete or replace belongs to `up`,
//! where it is shown and confirmed.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, DeployArgs, exit};
use crate::engine::{self, Graph};
use crate::error::{Error, Result};
use crate::output::progress_for_stderr;
use crate::resources::Context;

pub async fn run(cli: &Cli, args: &DeployArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    if spec.app.is_none() {
        return Err(Error::fixable(
            format!(
                "{} has no `app` section: there is no release to deploy",
                spec.source.display()
            ),
            "add `app:` (see stacks/modu.yaml), or use `modu up` for the rest of the stack",
        ));
    }
    let cx = super::context_with_release(cli, spec, Arc::from(progress_for_stderr()), &args.image)
        .await?;
    // As `up`: nothing to roll out takes no lease; changes are planned again under it.
    let Some(plan) = super::plan_or_stop(&cx, &graph).await? else {
        return Ok(super::stopped(&cx, "deploy"));
    };
    if !plan.view.has_changes() {
        return roll_out(&cx, &graph, plan).await;
    }
    let Some(lease) = super::take_lease(cli, &cx, "deploy").await? else {
        return Ok(super::stopped(&cx, "deploy"));
    };
    let result = match super::plan_or_stop(&cx, &graph).await {
        Ok(Some(plan)) => roll_out(&cx, &graph, plan).await,
        Ok(None) => Ok(super::stopped(&cx, "deploy")),
        Err(err) => Err(err),
    };
    super::give_back(lease, &cx, result).await
}

/// Refuses anything destructive in `plan`, applies it and reports the release.
async fn roll_out(cx: &Context, graph: &Graph, plan: engine::StackPlan) -> Result<ExitCode> {
    let release = cx.release.clone();
    eprint!("{}", plan.view.to_table());
    let destructive = plan.view.destructive();
    if !destructive.is_empty() {
        let what = destructive
            .iter()
            .map(|r| format!("{} {}", r.kind, r.name))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::fixable(
            format!("deploying would delete or replace {what}"),
            "`modu up` shows such a plan and asks first; `deploy` only rolls releases out",
        ));
    }
    let started = std::time::Instant::now();
    let (summary, error) = engine::apply(cx, graph, plan).await;
    if let Some(code) = super::after_run(cx, &summary, error)? {
        return Ok(code);
    }
    if let Some(release) = release {
        crate::output::stdout(&format!(
            "release {} (sha256 {}) deployed in {:.1}s\n",
            release.id,
            &release.sha256[..12],
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(ExitCode::from(exit::OK))
}
