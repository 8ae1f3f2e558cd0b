//! What the virtual users measure. Each keeps its own `Recorder` (latency histograms and
//! counters), so nothing is shared on the request path but two relaxed atomic counters
//! for the progress line; the recorders are merged once, at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// The requests of the workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `POST /api/resumes`: one save of the form.
    Post,
    /// `GET /api/resumes`: the first page of the list.
    List,
    /// `GET /api/resumes/{id}`: one resume picked from the list.
    Detail,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] = [RequestKind::Post, RequestKind::List, RequestKind::Detail];

    fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            RequestKind::Post => "POST /api/resumes",
            RequestKind::List => "GET /api/resumes",
            RequestKind::Detail => "GET /api/resumes/{id}",
        }
    }
}

/// Why a request failed, as the report groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection could be made (refused, reset during connect, connect timeout).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// Answered 4xx.
    Client,
    /// Answered 5xx.
    Server,
    /// Anything else: a connection dropped mid-answer, an unexpected 1xx/2xx/3xx.
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Client,
        ErrorKind::Server,
        ErrorKind::Other,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The key in the report, stable for JSON consumers.
    pub fn key(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Client => "4xx",
            ErrorKind::Server => "5xx",
            ErrorKind::Other => "other",
        }
    }

    /// The kind of an answer that was not the expected status.
    pub fn for_status(status: u16) -> Self {
        match status {
            400..=499 => ErrorKind::Client,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }
}

/// Counters the progress line reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests that ended: answered, or failed without an answer.
    pub finished: AtomicU64,
    pub errors: AtomicU64,
}

/// Operations (clicks or reads): finished cleanly, finished with a failed request, or
/// cut short by the end of the run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ops {
    pub completed: u64,
    pub with_errors: u64,
    pub cut: u64,
}

impl Ops {
    fn merge(&mut self, other: Ops) {
        self.completed += other.completed;
        self.with_errors += other.with_errors;
        self.cut += other.cut;
    }
}

/// One virtual user's measurements; latencies are in microseconds.
pub struct Recorder {
    live: Arc<Live>,
    pub latency: [Histogram<u64>; 3],
    /// The time of a whole click (its 10 saves, one after another).
    pub click_latency: Histogram<u64>,
    pub sent: [u64; 3],
    /// Requests that got an answer, whatever its status.
    pub answered: u64,
    /// Requests that failed without an answer (connect, timeout, dropped connection).
    pub unanswered: u64,
    /// Requests abandoned by an interruption before their answer came.
    pub cancelled: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: [u64; 5],
    /// The first error of each kind, to show what went wrong.
    pub error_samples: [Option<String>; 5],
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub clicks: Ops,
    pub reads: Ops,
}

fn histogram() -> Histogram<u64> {
    // Auto-resizing, so memory follows the slowest answer seen rather than a fixed range.
    Histogram::new(3).expect("3 significant figures is a valid precision")
}

/// Records `elapsed` in microseconds. `record` grows the histogram as needed; its
/// `saturating_record` would instead clamp to the current (initially tiny) range.
fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    if histogram.record(micros).is_err() {
        histogram.saturating_record(micros);
    }
}

impl Recorder {
    pub fn new(live: Arc<Live>) -> Self {
        Recorder {
            live,
            latency: [histogram(), histogram(), histogram()],
            click_latency: histogram(),
            sent: [0; 3],
            answered: 0,
            unanswered: 0,
            cancelled: 0,
            statuses: BTreeMap::new(),
            errors: [0; 5],
            error_samples: Default::default(),
            bytes_sent: 0,
            bytes_received: 0,
            clicks: Ops::default(),
            reads: Ops::default(),
        }
    }

    pub fn sent(&mut self, kind: RequestKind, body_bytes: u64) {
        self.sent[kind.index()] += 1;
        self.bytes_sent += body_bytes;
    }

    /// An answer came back; `expected` says whether its status is the one the request
    /// should get. An unexpected one also counts as an error described by `sample`.
    pub fn answered(
        &mut self,
        kind: RequestKind,
        status: u16,
        elapsed: Duration,
        body_bytes: u64,
        expected: bool,
        sample: impl FnOnce() -> String,
    ) {
        record(&mut self.latency[kind.index()], elapsed);
        self.answered += 1;
        self.bytes_received += body_bytes;
        *self.statuses.entry(status).or_default() += 1;
        if !expected {
            self.error(ErrorKind::for_status(status), sample);
        }
        self.live.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// The request ended without an answer.
    pub fn failed(&mut self, kind: ErrorKind, sample: impl FnOnce() -> String) {
        self.unanswered += 1;
        self.error(kind, sample);
        self.live.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// An answer with the expected status whose body is not what the API promises.
    pub fn bad_answer(&mut self, sample: impl FnOnce() -> String) {
        self.error(ErrorKind::Other, sample);
    }

    pub fn cancelled(&mut self) {
        self.cancelled += 1;
    }

    fn error(&mut self, kind: ErrorKind, sample: impl FnOnce() -> String) {
        self.errors[kind.index()] += 1;
        self.error_samples[kind.index()].get_or_insert_with(sample);
        self.live.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn click_finished(&mut self, elapsed: Duration, with_errors: bool) {
        record(&mut self.click_latency, elapsed);
        if with_errors {
            self.clicks.with_errors += 1;
        } else {
            self.clicks.completed += 1;
        }
    }

    pub fn click_cut(&mut self) {
        self.clicks.cut += 1;
    }

    pub fn read_finished(&mut self, with_errors: bool) {
        if with_errors {
            self.reads.with_errors += 1;
        } else {
            self.reads.completed += 1;
        }
    }

    pub fn read_cut(&mut self) {
        self.reads.cut += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    pub fn merge(&mut self, other: Recorder) {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            mine.add(theirs)
                .expect("auto-resizing histograms always add");
        }
        self.click_latency
            .add(&other.click_latency)
            .expect("auto-resizing histograms always add");
        for (mine, theirs) in self.sent.iter_mut().zip(other.sent) {
            *mine += theirs;
        }
        self.answered += other.answered;
        self.unanswered += other.unanswered;
        self.cancelled += other.cancelled;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        for (mine, theirs) in self.error_samples.iter_mut().zip(other.error_samples) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.clicks.merge(other.clicks);
        self.reads.merge(other.reads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder {
        Recorder::new(Arc::new(Live::default()))
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_first_sample_of_each_error_kind() {
        let mut a = recorder();
        a.sent(RequestKind::Post, 100);
        a.answered(
            RequestKind::Post,
            201,
            Duration::from_millis(2),
            10,
            true,
            String::new,
        );
        let mut b = recorder();
        b.sent(RequestKind::Post, 100);
        b.answered(
            RequestKind::Post,
            500,
            Duration::from_millis(4),
            3,
            false,
            || "first 500".into(),
        );
        b.sent(RequestKind::Post, 100);
        b.answered(
            RequestKind::Post,
            503,
            Duration::from_millis(4),
            3,
            false,
            || "second".into(),
        );
        b.failed(ErrorKind::Connect, || "refused".into());

        a.merge(b);
        assert_eq!(a.sent[0], 3);
        assert_eq!(a.answered, 3);
        assert_eq!(a.bytes_sent, 300);
        assert_eq!(a.bytes_received, 16);
        assert_eq!(a.statuses, BTreeMap::from([(201, 1), (500, 1), (503, 1)]));
        assert_eq!(a.errors, [1, 0, 0, 2, 0]);
        assert_eq!(a.error_samples[3].as_deref(), Some("first 500"));
        assert_eq!(a.error_samples[0].as_deref(), Some("refused"));
        assert_eq!(a.latency[0].len(), 3);
        let max_ms = a.latency[0].max() as f64 / 1000.0;
        assert!((3.99..=4.01).contains(&max_ms), "max {max_ms} ms");
        assert!((1.99..=2.01).contains(&(a.latency[0].min() as f64 / 1000.0)));
        assert_eq!(a.error_count(), 3);
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        assert_eq!(ErrorKind::for_status(404), ErrorKind::Client);
        assert_eq!(ErrorKind::for_status(500), ErrorKind::Server);
        assert_eq!(ErrorKind::for_status(302), ErrorKind::Other);
        assert_eq!(ErrorKind::for_status(200), ErrorKind::Other);
    }

    #[test]
    fn live_counters_follow_finished_requests_and_errors() {
        let live = Arc::new(Live::default());
        let mut rec = Recorder::new(Arc::clone(&live));
        rec.answered(
            RequestKind::List,
            200,
            Duration::from_millis(1),
            0,
            true,
            String::new,
        );
        rec.failed(ErrorKind::Timeout, String::new);
        rec.cancelled();
        assert_eq!(live.finished.load(Ordering::Relaxed), 2);
        assert_eq!(live.errors.load(Ordering::Relaxed), 1);
    }
}
