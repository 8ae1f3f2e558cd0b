use std::process::ExitCode;

use clap::Parser;
use modu::cli::{Cli, exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    modu::telemetry::init(cli.global.verbose);
    // Unwrapped lines keep `file:line:column: field` greppable in logs and CI output.
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(modu::commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{:?}", miette::Report::new(err));
            // A run asked to stop exits as stopped, whatever it was doing then.
            let stop = modu::stop::Stop::of_process();
            ExitCode::from(match stop.requested() {
                true => stop.exit_code(),
                false => exit::FAILURE,
            })
        }
    }
}
