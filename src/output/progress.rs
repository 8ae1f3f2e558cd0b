//! Progress displays: one live line per resource on a terminal, timestamped plain lines
//! otherwise (CI logs, pipes), nothing in library tests.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Phase, Progress};

/// Picks the live display when stderr is a terminal, plain lines otherwise.
pub fn progress_for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(TerminalProgress::new())
    } else {
        Box::new(PlainProgress::new())
    }
}

fn describe(phase: &Phase) -> String {
    match phase {
        Phase::Queued => "waiting for dependencies".into(),
        Phase::Checking => "checking".into(),
        Phase::Working(what) => what.clone(),
        Phase::Waiting(state) => format!("waiting ({state})"),
        Phase::Done(what) => what.clone(),
        Phase::Failed(why) => format!("FAILED: {why}"),
    }
}

/// Plain lines on stderr: `14:02:11 load-balancer web-lb waiting (provisioning) 3.2s`.
/// Repeated identical states are not printed again.
pub struct PlainProgress {
    started: Mutex<HashMap<String, (Instant, String)>>,
}

impl PlainProgress {
    pub fn new() -> Self {
        PlainProgress {
            started: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for PlainProgress {
    fn default() -> Self {
        Self::new()
    }
}

fn clock_time() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

impl Progress for PlainProgress {
    fn update(&self, key: &str, kind: &str, name: &str, phase: Phase) {
        if phase == Phase::Queued {
            return;
        }
        let text = describe(&phase);
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        let entry = started
            .entry(key.to_string())
            .or_insert_with(|| (Instant::now(), String::new()));
        if entry.1 == text {
            return;
        }
        entry.1 = text.clone();
        let elapsed = entry.0.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{} {kind} {name} {text} ({elapsed:.1}s)", clock_time());
    }
}

/// Shows nothing (library tests, `status --output json`).
pub struct SilentProgress;

impl Progress for SilentProgress {
    fn update(&self, _: &str, _: &str, _: &str, _: Phase) {}
}

/// One spinner line per resource with its elapsed time, redrawn in place.
pub struct TerminalProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl TerminalProgress {
    pub fn new() -> Self {
        TerminalProgress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for TerminalProgress {
    fn update(&self, key: &str, kind: &str, name: &str, phase: Phase) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars.entry(key.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {prefix:<40} {msg} {elapsed:>4}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(format!("{kind} {name}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_prefix(format!("{kind} {name}"));
        let text = describe(&phase);
        match phase {
            Phase::Done(_) | Phase::Failed(_) => {
                bar.set_style(
                    ProgressStyle::with_template("  {prefix:<40} {msg} {elapsed:>4}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(text);
            }
            _ => bar.set_message(text),
        }
    }

    fn finish(&self) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        for bar in bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}
