//! Logging: off by default (progress lines speak to people), `-v` for modu's steps,
//! `-vv` for every AWS call; `RUST_LOG` overrides both. Logs go to stderr.

use tracing_subscriber::EnvFilter;

pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "modu=warn",
        1 => "warn,modu=debug",
        _ => "info,modu=trace,aws_smithy_runtime=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbosity > 1)
        .try_init();
}
