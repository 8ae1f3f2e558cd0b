//! The live progress of a run on stderr: one line redrawn in place on a terminal, a plain
//! line every few seconds otherwise (CI logs, pipes), nothing when silenced. It only
//! reads the relaxed counters in `stats::Live`, on its own timer.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use super::stats::Live;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Terminal,
    Plain,
    Silent,
}

impl ProgressMode {
    /// The live line when stderr is a terminal, plain lines otherwise.
    pub fn for_stderr() -> ProgressMode {
        if std::io::stderr().is_terminal() {
            ProgressMode::Terminal
        } else {
            ProgressMode::Plain
        }
    }
}

const TERMINAL_TICK: Duration = Duration::from_millis(250);
const PLAIN_TICK: Duration = Duration::from_secs(5);
/// The rate shown on a terminal is over about the last second.
const RATE_WINDOW: usize = 4;

pub(super) struct LiveLine {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
}

impl LiveLine {
    pub fn new(mode: ProgressMode) -> Self {
        let bar = (mode == ProgressMode::Terminal).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .expect("a valid template")
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        LiveLine { mode, bar }
    }

    /// A step of the setup phase.
    pub fn note(&self, message: &str) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.set_message(message.to_string()),
            (None, ProgressMode::Plain) => eprintln!("load: {message}"),
            (None, _) => {}
        }
    }

    /// Updates the line until `live` stops being measured (the handle is aborted).
    pub fn follow(&self, live: Arc<Live>, started: Instant, limit: Duration) -> JoinHandle<()> {
        let bar = self.bar.clone();
        let mode = self.mode;
        tokio::spawn(async move {
            let tick = if bar.is_some() {
                TERMINAL_TICK
            } else {
                PLAIN_TICK
            };
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut samples: VecDeque<(Instant, u64)> = VecDeque::new();
            loop {
                interval.tick().await;
                let now = Instant::now();
                let finished = live.finished.load(Ordering::Relaxed);
                let errors = live.errors.load(Ordering::Relaxed);
                samples.push_back((now, finished));
                if samples.len() > RATE_WINDOW + 1 {
                    samples.pop_front();
                }
                let (since, then) = samples[0];
                let window = now.duration_since(since).as_secs_f64();
                let rate = if window > 0.0 {
                    (finished - then) as f64 / window
                } else {
                    0.0
                };
                let line = format!(
                    "{finished} requests  {rate:.0} req/s  {errors} errors  {:.1}s of {}s",
                    now.duration_since(started).as_secs_f64(),
                    limit.as_secs(),
                );
                match (&bar, mode) {
                    (Some(bar), _) => bar.set_message(line),
                    (None, ProgressMode::Plain) if finished > 0 => eprintln!("load: {line}"),
                    _ => {}
                }
            }
        })
    }

    /// Clears the live line before the report is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
