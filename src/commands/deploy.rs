//! `modu deploy`: roll the spec's release out. The same converge as `up` (the release is
//! uploaded, the launch template gets a version, the group an instance refresh), for a
//! plan that only changes things: anything it would delete or replace belongs to `up`,
//! where it is shown and confirmed.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, DeployArgs, exit};
use crate::engine;
use crate::error::{Error, Result};
use crate::output::progress_for_stderr;

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
    let release = cx.release.clone();
    let plan = engine::plan(&cx, &graph).await;
    if cx.stop.requested() {
        return Ok(super::stopped(&cx, "deploy"));
    }
    let plan = plan?;
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
    let (summary, error) = engine::apply(&cx, &graph, plan).await;
    if let Some(code) = super::after_run(&cx, &summary, error)? {
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
