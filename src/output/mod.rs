//! What people see: live progress, summaries and `status` rendering.
//!
//! Diagnostics and progress go to stderr; results (the status table or JSON) go to stdout,
//! so `modu status --output json | jq` works while progress is still shown.

mod progress;
pub mod status;

pub use progress::{PlainProgress, SilentProgress, TerminalProgress, progress_for_stderr};
pub use status::{Outcome, ResourceStatus, RunRow, StackStatus, Summary};

/// Where one resource is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its dependencies.
    Queued,
    /// Looking it up.
    Checking,
    /// Doing something ("creating", "updating health check", "deleting").
    Working(String),
    /// Polling AWS; the text is the state AWS reported.
    Waiting(String),
    /// Finished: "created", "unchanged", "deleted"…
    Done(String),
    Failed(String),
}

/// Receives progress for each resource, keyed by its graph key.
pub trait Progress: Send + Sync {
    fn update(&self, key: &str, kind: &str, name: &str, phase: Phase);
    /// The run is over; tidy the display before the summary is printed.
    fn finish(&self) {}
}

/// Writes a result to stdout. A closed pipe (`modu status -o json | head -1`) is not an
/// error worth a panic: the reader has what it wanted.
pub fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Asks a question on the terminal and returns the answer, trimmed; `None` without a terminal
/// (scripts and CI), where the caller must refuse rather than guess.
pub fn ask(prompt: &str) -> crate::Result<Option<String>> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(None);
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    crate::stop::while_asking(|| stdin.lock().read_line(&mut answer)).map_err(|source| {
        crate::Error::Io {
            action: "reading the confirmation".into(),
            source,
        }
    })?;
    Ok(Some(answer.trim().to_string()))
}
