//! Structured (JSON) logs through `tracing`. The sink is a parameter so tests can
//! send logs to `std::io::sink` unless they are asked for.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber; a second call (as in tests) is a no-op.
pub fn init<W>(filter: &str, sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(filter)
        .with_writer(sink)
        .try_init();
}
