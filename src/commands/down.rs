//! `modu down`: delete the stack, after confirmation.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, DownArgs, exit};
use crate::engine;
use crate::error::{Error, Result};
use crate::output::{ask, progress_for_stderr};

pub async fn run(cli: &Cli, args: &DownArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    if !args.yes {
        confirm(&spec.stack, &spec.region, args.delete_data)?;
    }
    let mut cx = super::context(
        cli,
        spec,
        Arc::from(progress_for_stderr()),
        args.delete_data,
    )
    .await?;
    cx.skip_final_snapshot = args.no_final_snapshot;
    // A stack already gone is reported without taking its lease: no change at all.
    let lease = match engine::anything_left(&cx, &graph).await {
        true => match super::take_lease(cli, &cx, "down").await? {
            Some(lease) => Some(lease),
            None => return Ok(super::stopped(&cx, "down")),
        },
        false => None,
    };
    let (summary, error) = engine::down(&cx, &graph).await;
    let result =
        super::after_run(&cx, &summary, error).map(|code| code.unwrap_or(ExitCode::from(exit::OK)));
    match lease {
        Some(lease) => super::give_back(lease, &cx, result).await,
        None => result,
    }
}

/// Asks on a terminal for the stack name; refuses without a terminal.
fn confirm(stack: &str, region: &str, delete_data: bool) -> Result<()> {
    let data = if delete_data {
        " AND its data: the images bucket with every uploaded file, and the database"
    } else {
        " (the images bucket and the database are kept)"
    };
    let prompt =
        format!("Delete stack {stack} in {region}{data}?\nType the stack name to confirm: ");
    match ask(&prompt)? {
        Some(answer) if answer == stack => Ok(()),
        _ => Err(Error::NotConfirmed {
            stack: stack.into(),
        }),
    }
}
