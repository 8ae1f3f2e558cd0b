//! `modu load`: the traffic test, a thin command over the `modu-load` crate. It maps the
//! command line onto `modu_load::Options`, turns Ctrl-C into the run's interrupt, and
//! prints the report on stdout (a table, or JSON); progress goes to stderr. Ctrl-C ends
//! the measurement early and still reports.
//!
//! Exit codes: 0 when every request got its expected answer, `exit::LOAD_ERRORS` (5)
//! when the run finished and was reported but some requests failed (so a script can tell
//! "the service dropped requests" from "modu could not run", which is 1).

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, LoadArgs, OutputFormat, exit};
use crate::error::Result;
use modu_load::{Options, ProgressMode};

pub async fn run(_cli: &Cli, args: &LoadArgs) -> Result<ExitCode> {
    let options = Options {
        url: args.url.clone(),
        workload: args.workload,
        concurrency: args.concurrency,
        duration: Duration::from_secs(args.duration),
        images: args.images,
        image_bytes: args.image_bytes,
        users: args.users,
        max_requests: args.max_requests,
        allow_remote: args.allow_remote,
        request_timeout: Duration::from_secs(args.request_timeout),
        wait_ready: Duration::from_secs(args.wait_ready),
        proxy: args.proxy.clone(),
        ca_bundle: args.ca_bundle.clone(),
    };
    let interrupt = CancellationToken::new();
    let on_ctrl_c = tokio::spawn({
        let interrupt = interrupt.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupt.cancel();
            }
        }
    });
    let report = modu_load::run(&options, interrupt, ProgressMode::for_stderr()).await;
    on_ctrl_c.abort();
    let report = report?;
    match args.output {
        OutputFormat::Table => crate::output::stdout(&report.to_table()),
        OutputFormat::Json => crate::output::stdout(&format!("{}\n", report.to_json())),
    }
    let code = if report.errors.total == 0 {
        exit::OK
    } else {
        exit::LOAD_ERRORS
    };
    Ok(ExitCode::from(code))
}
