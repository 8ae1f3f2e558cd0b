//! `modu-app`: the resume service. Parses its settings, sets up logging and serves
//! until SIGTERM or Ctrl-C; everything else lives in the library so the tests can
//! start the very same application on a random port.

use clap::Parser;
use modu_app::configuration::Settings;
use modu_app::log_shipping::LogShipping;
use modu_app::startup::Application;
use modu_app::telemetry;

#[tokio::main]
async fn main() {
    modu_app::startup::tune_allocator();
    modu_wire::install_crypto_provider();
    let settings = Settings::parse();
    // Deployed, the stack's parameters name a log group: lines are queued for it from
    // the first one on, and shipped once the parameters have been read.
    let logs = LogShipping::new(settings.parameters.is_some());
    telemetry::init(&settings.log_filter, logs.writer(std::io::stdout));

    // Listen at once and bring the parts up in the background: an instance may boot
    // before its database answers, and `/readyz` tells the load balancer when it does.
    let app = match Application::start(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("modu-app: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let shipping = logs.start(app.stack_parameters());
    tracing::info!(address = %app.address(), "listening");
    let served = app.run_until_stopped().await;
    match &served {
        Ok(()) => tracing::info!("stopped"),
        Err(e) => tracing::error!(error = %e, "server failed"),
    }
    // The lines up to "stopped" included reach the log group before the process ends.
    shipping.finish().await;
    if served.is_err() {
        std::process::exit(1);
    }
}
