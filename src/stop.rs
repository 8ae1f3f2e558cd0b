//! Stopping a run cleanly when asked (Ctrl-C, or SIGTERM from a CI runner): the first
//! signal stops new work — nothing more is started, waits end at once, calls already sent
//! get a few seconds to come back — and the command exits 130 (143 for SIGTERM) after
//! saying what was done and what was not; a second signal exits at once. Whatever was
//! left half-done is what the next `up` (or `down`) converges: modu keeps no state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long calls in flight may take to come back once a stop is asked for.
pub const GRACE: Duration = Duration::from_secs(3);

/// Whether this run was asked to stop, shared by everything working for it.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    /// The signal that asked (0 while none did).
    signal: Arc<AtomicU8>,
}

impl Stop {
    /// The stop of this process's run, which [`Stop::on_signals`] requests.
    pub fn of_process() -> Stop {
        static PROCESS: std::sync::LazyLock<Stop> = std::sync::LazyLock::new(Stop::default);
        PROCESS.clone()
    }

    /// True once a stop was asked for.
    pub fn requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once a stop is asked for.
    pub async fn wait(&self) {
        self.token.cancelled().await
    }

    /// Asks to stop, as the signal numbered `signal` does.
    pub fn request(&self, signal: u8) {
        let _ = self
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        self.token.cancel();
    }

    /// The exit code of a run that stopped when asked: 128 + the signal's number.
    pub fn exit_code(&self) -> u8 {
        128 + match self.signal.load(Ordering::SeqCst) {
            0 => SIGINT,
            n => n,
        }
    }

    /// Listens for SIGINT and SIGTERM for the rest of the process: the first asks this run
    /// to stop, the second ends the process at once.
    pub fn on_signals(&self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot listen for Ctrl-C: it will end modu at once");
            return;
        };
        let stop = self.clone();
        tokio::spawn(async move {
            let mut next = async || {
                tokio::select! {
                    _ = interrupt.recv() => SIGINT,
                    _ = terminate.recv() => SIGTERM,
                }
            };
            let first = next().await;
            if ASKING.load(Ordering::SeqCst) {
                eprintln!("\nnot confirmed: nothing was changed");
                std::process::exit(128 + i32::from(first));
            }
            eprintln!(
                "\nstopping: nothing new is started and waits end; calls in flight get {}s to \
                 come back (press Ctrl-C again to exit at once)",
                GRACE.as_secs()
            );
            stop.request(first);
            let again = next().await;
            eprintln!("exiting at once: run the same command again to finish");
            std::process::exit(128 + i32::from(again));
        });
    }
}

/// Set while modu waits for a confirmation: a signal then ends the process at once, since
/// nothing has been changed and the read of the answer would not end.
static ASKING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs `ask` (a blocking question on the terminal) so that Ctrl-C during it exits at once.
pub fn while_asking<T>(ask: impl FnOnce() -> T) -> T {
    ASKING.store(true, Ordering::SeqCst);
    let answer = ask();
    ASKING.store(false, Ordering::SeqCst);
    answer
}

const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_names_the_first_signal() {
        let stop = Stop::default();
        assert!(!stop.requested());
        stop.request(SIGTERM);
        stop.request(SIGINT);
        assert!(stop.requested());
        assert_eq!(stop.exit_code(), 143);
        assert_eq!(Stop::default().exit_code(), 130);
    }
}
