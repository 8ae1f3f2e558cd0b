//! Where log lines wait to be shipped: a bounded in-memory queue that the request path
//! only ever appends to under a short lock (no I/O, no waiting for room), and the
//! `tracing` writer that feeds it while still writing every line to stdout.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::Notify;
use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;

use super::batch::{self, Limits, Line};

/// Lines waiting to be shipped, at most `capacity` bytes of them (as CloudWatch counts
/// them). A line that does not fit is dropped and counted rather than waited for: a
/// slow or unreachable CloudWatch must never slow down a request.
pub struct Queue {
    state: Mutex<State>,
    batch_ready: Notify,
    capacity: usize,
}

#[derive(Default)]
struct State {
    lines: VecDeque<Line>,
    bytes: usize,
    dropped: u64,
    closed: bool,
}

impl State {
    fn holds_a_batch(&self) -> bool {
        self.lines.len() >= Limits::AWS.events || self.bytes >= Limits::AWS.bytes
    }
}

/// What [`Queue::take`] hands over.
#[derive(Debug, Default)]
pub struct Taken {
    pub lines: VecDeque<Line>,
    /// Lines dropped since the last take.
    pub dropped: u64,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            batch_ready: Notify::new(),
            capacity,
        }
    }

    /// A poisoned lock only means a panic elsewhere while holding it; the queue's state
    /// is consistent after every statement, so it stays usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a line produced at `timestamp` (ms since the epoch), cut to the largest
    /// event CloudWatch takes; an empty line is not an event and is ignored.
    pub fn push(&self, timestamp: i64, message: String) {
        if message.is_empty() {
            return;
        }
        let line = Line {
            timestamp,
            message: batch::truncate(message, batch::MAX_MESSAGE_BYTES),
        };
        let cost = line.cost();
        let became_a_batch = {
            let mut state = self.lock();
            if state.closed {
                return;
            }
            if state.bytes + cost > self.capacity {
                state.dropped += 1;
                return;
            }
            let before = state.holds_a_batch();
            state.bytes += cost;
            state.lines.push_back(line);
            !before && state.holds_a_batch()
        };
        if became_a_batch {
            self.batch_ready.notify_one();
        }
    }

    /// Everything queued so far and the count of lines dropped, leaving the queue empty.
    /// It swaps the whole queue out, so writers never wait behind the batching.
    pub fn take(&self) -> Taken {
        let mut state = self.lock();
        state.bytes = 0;
        Taken {
            lines: std::mem::take(&mut state.lines),
            dropped: std::mem::take(&mut state.dropped),
        }
    }

    /// Stops queueing for good and frees what is queued: there is nowhere to ship to.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.lines = VecDeque::new();
        state.bytes = 0;
    }

    /// Completes once a full batch has been queued since the last time it completed.
    pub async fn batch_ready(&self) {
        self.batch_ready.notified().await;
    }
}

thread_local! {
    /// Set while the shipper itself runs on this thread: its own diagnostics (and the
    /// HTTP and signing code it calls) must not be queued, or every shipment would queue
    /// lines about itself for the next one.
    static UNQUEUED: Cell<bool> = const { Cell::new(false) };
}

/// Runs a future with its log lines kept out of the queue (they still reach stdout).
pub struct Unqueued<F>(pub Pin<Box<F>>);

impl<F: Future> Future for Unqueued<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Restores the flag even if the future panics, so the worker thread that runs
        /// other tasks afterwards queues their lines again.
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                UNQUEUED.set(self.0);
            }
        }
        let _restore = Restore(UNQUEUED.replace(true));
        self.0.as_mut().poll(cx)
    }
}

/// The `tracing` writer: each line goes to `out` as before and, when there is a queue,
/// into it with the time the line was produced.
pub struct Tee<M> {
    out: M,
    queue: Option<Arc<Queue>>,
}

impl<M> Tee<M> {
    pub fn new(out: M, queue: Option<Arc<Queue>>) -> Self {
        Tee { out, queue }
    }

    fn writer<W>(&self, out: W) -> TeeWriter<'_, W> {
        let copy = match &self.queue {
            Some(queue) if !UNQUEUED.get() => Some(Copy {
                queue,
                timestamp: super::now_ms(),
                line: Vec::new(),
            }),
            _ => None,
        };
        TeeWriter { out, copy }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Tee<M> {
    type Writer = TeeWriter<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        self.writer(self.out.make_writer())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.writer(self.out.make_writer_for(meta))
    }
}

/// One event's writer: `tracing` asks for one per event and writes the whole formatted
/// line into it, so the line is complete when the writer is dropped.
pub struct TeeWriter<'a, W> {
    out: W,
    copy: Option<Copy<'a>>,
}

struct Copy<'a> {
    queue: &'a Queue,
    timestamp: i64,
    line: Vec<u8>,
}

impl<W: Write> Write for TeeWriter<'_, W> {
    /// The line is kept before stdout is written, so a failing stdout (a stopped journal)
    /// does not keep it from CloudWatch.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(copy) = &mut self.copy {
            copy.line.extend_from_slice(buf);
        }
        self.out.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W> Drop for TeeWriter<'_, W> {
    fn drop(&mut self) {
        let Some(copy) = self.copy.take() else {
            return;
        };
        let mut line = String::from_utf8(copy.line)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        copy.queue.push(copy.timestamp, line);
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // Room for two lines of "abc" (3 + 26 bytes each), not three.
        let queue = Queue::new(60);
        queue.push(1, "abc".into());
        queue.push(2, "abc".into());
        queue.push(3, "abc".into());
        queue.push(4, "abc".into());
        let taken = queue.take();
        assert_eq!(taken.lines.len(), 2);
        assert_eq!(taken.dropped, 2);

        // Taking makes room again, and the count starts over.
        queue.push(5, "abc".into());
        let taken = queue.take();
        assert_eq!(
            taken.lines,
            [Line {
                timestamp: 5,
                message: "abc".into()
            }]
        );
        assert_eq!(taken.dropped, 0);
    }

    #[test]
    fn a_closed_queue_keeps_nothing() {
        let queue = Queue::new(1 << 20);
        queue.push(1, "before".into());
        queue.close();
        queue.push(2, "after".into());
        let taken = queue.take();
        assert!(taken.lines.is_empty());
        assert_eq!(taken.dropped, 0);
    }

    #[test]
    fn empty_lines_are_ignored_and_long_ones_cut() {
        let queue = Queue::new(1 << 20);
        queue.push(1, String::new());
        queue.push(2, "x".repeat(300 * 1024));
        let taken = queue.take();
        assert_eq!(taken.lines.len(), 1);
        assert_eq!(taken.lines[0].message.len(), batch::MAX_MESSAGE_BYTES);
    }

    #[test]
    fn the_shipper_is_woken_once_a_batch_is_queued() {
        let queue = Queue::new(4 << 20);
        let largest = || "x".repeat(batch::MAX_MESSAGE_BYTES);
        for timestamp in 0..3 {
            queue.push(timestamp, largest());
        }
        assert!(queue.batch_ready().now_or_never().is_none());
        queue.push(3, largest());
        assert!(queue.batch_ready().now_or_never().is_some());
    }

    /// A `MakeWriter` that keeps what is written, standing in for stdout.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn subscriber(
        tee: Tee<impl for<'a> MakeWriter<'a> + Send + Sync + 'static>,
    ) -> impl tracing::Subscriber {
        tracing_subscriber::fmt().json().with_writer(tee).finish()
    }

    #[test]
    fn each_line_goes_to_stdout_and_to_the_queue_stamped_when_produced() {
        let stdout = Captured::default();
        let queue = Arc::new(Queue::new(1 << 20));
        let out = stdout.clone();
        let tee = Tee::new(move || out.clone(), Some(queue.clone()));
        let before = super::super::now_ms();
        tracing::subscriber::with_default(subscriber(tee), || {
            tracing::info!(answer = 42, "hello");
        });
        let after = super::super::now_ms();

        let printed = String::from_utf8(stdout.0.lock().unwrap().clone()).unwrap();
        let taken = queue.take();
        assert_eq!(taken.lines.len(), 1);
        let line = &taken.lines[0];
        assert_eq!(format!("{}\n", line.message), printed);
        let parsed: serde_json::Value = serde_json::from_str(&line.message).unwrap();
        assert_eq!(parsed["fields"]["message"], "hello");
        assert!(before <= line.timestamp && line.timestamp <= after);
    }

    #[test]
    fn without_a_queue_lines_only_go_to_stdout() {
        let stdout = Captured::default();
        let out = stdout.clone();
        let tee = Tee::new(move || out.clone(), None);
        tracing::subscriber::with_default(subscriber(tee), || tracing::info!("alone"));
        assert!(String::from_utf8_lossy(&stdout.0.lock().unwrap()).contains("alone"));
    }

    #[tokio::test]
    async fn the_shippers_own_lines_reach_stdout_but_not_the_queue() {
        let stdout = Captured::default();
        let queue = Arc::new(Queue::new(1 << 20));
        let out = stdout.clone();
        let tee = Tee::new(move || out.clone(), Some(queue.clone()));
        let _default = tracing::subscriber::set_default(subscriber(tee));

        Unqueued(Box::pin(async {
            tracing::warn!("about shipping");
            tokio::task::yield_now().await;
            tracing::warn!("still about shipping");
        }))
        .await;
        tracing::info!("about a request");

        let printed = String::from_utf8(stdout.0.lock().unwrap().clone()).unwrap();
        assert_eq!(printed.lines().count(), 3, "{printed}");
        let queued: Vec<String> = queue.take().lines.into_iter().map(|l| l.message).collect();
        assert_eq!(queued.len(), 1, "{queued:?}");
        assert!(queued[0].contains("about a request"));
    }
}
