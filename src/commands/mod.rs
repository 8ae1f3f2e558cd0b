//! One module per subcommand, each with a `run()`; this module holds what they share:
//! finding and loading the spec and connecting to AWS.

mod deploy;
mod down;
mod iam_policy;
mod load;
mod plan;
mod schema;
mod status;
mod up;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::aws::wait::SystemClock;
use crate::aws::{self, Connection};
use crate::cli::{Cli, Command, ImageArgs};
use crate::engine::{self, Graph};
use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::output::Progress;
use crate::resources::{self, Context};
use crate::spec::{self, Spec};

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let result = dispatch(&cli).await;
    // A script that asked for JSON gets its error as JSON on stdout too.
    if let Err(err) = &result
        && json_output(&cli)
    {
        crate::output::stdout(&format!("{:#}\n", err.to_json()));
    }
    result
}

fn json_output(cli: &Cli) -> bool {
    use crate::cli::OutputFormat::Json;
    match &cli.command {
        Command::Plan(args) => args.output == Json,
        Command::Status(args) => args.output == Json,
        Command::Load(args) => args.output == Json,
        _ => false,
    }
}

async fn dispatch(cli: &Cli) -> Result<ExitCode> {
    if matches!(
        cli.command,
        Command::Up(_) | Command::Down(_) | Command::Deploy(_)
    ) {
        crate::stop::Stop::of_process().on_signals();
    }
    match &cli.command {
        Command::Plan(args) => plan::run(cli, args).await,
        Command::Up(args) => up::run(cli, args).await,
        Command::Deploy(args) => deploy::run(cli, args).await,
        Command::Down(args) => down::run(cli, args).await,
        Command::Status(args) => status::run(cli, args).await,
        Command::Validate => validate::run(cli),
        Command::Schema => schema::run(),
        Command::IamPolicy(args) => iam_policy::run(cli, args),
        Command::Load(args) => load::run(cli, args).await,
    }
}

fn spec_path(cli: &Cli) -> PathBuf {
    cli.global
        .file
        .clone()
        .unwrap_or_else(spec::default_spec_path)
}

/// Reads and validates the spec, printing its warnings; `--region` overrides the spec's
/// region.
fn load_spec(cli: &Cli) -> Result<Spec> {
    let path = spec_path(cli);
    let mut spec = spec::load(Path::new(&path))?;
    let findings = std::mem::take(&mut spec.findings);
    if !findings.example_domains.is_empty() && !cli.global.allow_example_domains {
        return Err(spec::SpecError::refusing(findings.example_domains, &path).into());
    }
    for warning in &findings.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(region) = &cli.global.region {
        spec.region = region.clone();
    }
    Ok(spec)
}

/// The spec and the graph of every resource it can have.
fn load_stack(cli: &Cli) -> Result<(Spec, Graph)> {
    let spec = load_spec(cli)?;
    let graph = Graph::new(resources::for_spec(&spec))?;
    Ok((spec, graph))
}

/// [`context`] for the commands that roll the spec's release out (`plan`, `up`): the
/// release is prepared (built, when `app.artifact` is `build`) before AWS is asked.
async fn context_with_release(
    cli: &Cli,
    spec: Spec,
    progress: Arc<dyn Progress>,
    image: &ImageArgs,
) -> Result<Context> {
    let release = crate::release::prepare(&spec)?;
    let mut cx = context(cli, spec, progress, false).await?;
    cx.release = release;
    cx.refresh_image = image.refresh_image;
    Ok(cx)
}

/// Ends an engine run of `up`, `down` or `deploy`: prints its summary, then either the exit
/// code of a run that was asked to stop (its errors printed first: they are not the reason
/// it ended), or the run's error.
fn after_run(
    cx: &Context,
    summary: &crate::output::Summary,
    error: Option<crate::error::Error>,
) -> Result<Option<ExitCode>> {
    crate::output::stdout(&summary.render());
    if !cx.stop.requested() {
        return error.map_or(Ok(None), Err);
    }
    if let Some(err) = error {
        eprintln!("{:?}", miette::Report::new(err));
    }
    Ok(Some(stopped(cx, summary.command)))
}

/// The stack's plan; `None` when the run was asked to stop while making it.
async fn plan_or_stop(cx: &Context, graph: &Graph) -> Result<Option<engine::StackPlan>> {
    let plan = engine::plan(cx, graph).await;
    if cx.stop.requested() {
        return Ok(None);
    }
    plan.map(Some)
}

/// Takes the stack's lease for `command` (see [`crate::lease`]); `None` when the run was
/// asked to stop while waiting for it.
async fn take_lease(cli: &Cli, cx: &Context, command: &str) -> Result<Option<Lease>> {
    let patience = Duration::from_secs(cli.global.lease_wait);
    match Lease::take(cx, command, patience).await {
        Ok(lease) => Ok(Some(lease)),
        Err(_) if cx.stop.requested() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Gives the lease back whatever `result` is; the run's own error comes first.
async fn give_back(lease: Lease, cx: &Context, result: Result<ExitCode>) -> Result<ExitCode> {
    let released = lease.release(cx).await;
    let code = result?;
    released?;
    Ok(code)
}

/// What a run that was asked to stop says last, and its exit code.
fn stopped(cx: &Context, command: &str) -> ExitCode {
    eprintln!(
        "{command} {}: stopped as asked; run `modu {command}` again to finish",
        cx.spec.stack
    );
    ExitCode::from(cx.stop.exit_code())
}

/// Connects to AWS for `spec` and builds the context every resource works with.
async fn context(
    cli: &Cli,
    spec: Spec,
    progress: Arc<dyn Progress>,
    delete_data: bool,
) -> Result<Context> {
    let connection = Connection {
        region: spec.region.clone(),
        profile: cli.global.profile.clone(),
        endpoint_url: cli.global.endpoint_url.clone(),
    };
    // Connecting may take long (credential providers, the identity call's retries): a
    // stop asked for meanwhile ends it, as it ends any other wait.
    let stop = crate::stop::Stop::of_process();
    let (clients, account_id) = tokio::select! {
        connected = aws::connect(&connection) => connected?,
        () = stop.wait() => {
            return Err(Error::Interrupted { what: "connecting to AWS".into() });
        }
    };
    let mut cx = Context::new(
        spec,
        clients,
        account_id,
        Arc::new(SystemClock),
        Duration::from_secs(cli.global.timeout),
        progress,
        delete_data,
    );
    cx.stop = stop;
    Ok(cx)
}
