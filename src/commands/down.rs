//! `modu down`: delete the stack, after confirmation.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, DownArgs, exit};
use crate::engine;
use crate::error::{Error, Result};
use crate::output::progress_for_stderr;

pub async fn run(cli: &Cli, args: &DownArgs) -> Result<ExitCode> {
    let (spec, graph) = super::load_stack(cli)?;
    if !args.yes {
        confirm(&spec.stack, &spec.region, args.delete_data)?;
    }
    let cx = super::context(
        cli,
        spec,
        Arc::from(progress_for_stderr()),
        args.delete_data,
    )
    .await?;
    let (summary, error) = engine::down(&cx, &graph).await;
    crate::output::stdout(&summary.render());
    match error {
        Some(err) => Err(err),
        None => Ok(ExitCode::from(exit::OK)),
    }
}

/// Asks on a terminal for the stack name; refuses without a terminal.
fn confirm(stack: &str, region: &str, delete_data: bool) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::NotConfirmed {
            stack: stack.into(),
        });
    }
    let data = if delete_data {
        " AND the images bucket with every uploaded file"
    } else {
        " (the images bucket is kept)"
    };
    eprint!("Delete stack {stack} in {region}{data}?\nType the stack name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|source| Error::Io {
            action: "reading the confirmation".into(),
            source,
        })?;
    if answer.trim() == stack {
        Ok(())
    } else {
        Err(Error::NotConfirmed {
            stack: stack.into(),
        })
    }
}
