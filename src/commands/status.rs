//! `modu status`: describe every resource; the exit code says whether the stack is whole.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, OutputFormat, StatusArgs, exit};
use crate::engine;
use crate::error::Result;
use crate::output::SilentProgress;

pub async fn run(cli: &Cli, args: &StatusArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    // A given binary is hashed to compare the instances' release with; `build` is never
    // run by `status` (the boot script's drift is then not reported).
    let given = matches!(
        spec.app.as_ref().map(|a| &a.artifact),
        Some(crate::spec::Artifact::File(_))
    );
    let cx = if given {
        super::context_with_release(cli, spec, Arc::new(SilentProgress), &Default::default())
            .await?
    } else {
        super::context(cli, spec, Arc::new(SilentProgress), false).await?
    };
    let status = engine::status(&cx, &graph).await?;
    match args.output {
        OutputFormat::Table => crate::output::stdout(&status.to_table()),
        OutputFormat::Json => crate::output::stdout(&format!("{}\n", status.to_json())),
    }
    let code = match (status.complete, status.healthy) {
        (true, true) => exit::OK,
        (true, false) => exit::UNHEALTHY,
        (false, _) => exit::INCOMPLETE,
    };
    Ok(ExitCode::from(code))
}
