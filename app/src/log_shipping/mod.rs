//! The service ships its own JSON log lines to the stack's CloudWatch Logs group (the
//! `log-group` parameter): every line still goes to stdout, where journald keeps it, and
//! a copy waits in a bounded in-memory [`Queue`] until a background task sends it with
//! `PutLogEvents`.
//!
//! Why the service and not the CloudWatch agent: the agent is one more package to
//! install and configure at every boot, while these two calls are small, use the
//! instance role the service already has, and can be tested against the emulator.
//!
//! - Writing a line never waits: when the queue is full the line is dropped and counted,
//!   and the count is shipped later as a warning line of its own.
//! - Nothing is queued without `--parameters` (the writer is plain stdout then), and the
//!   queue is emptied and closed when the parameters name no log group.
//! - Once the log group is known, the shipper creates this process's stream and sends
//!   what is queued every [`FLUSH_INTERVAL`], or as soon as a full batch is queued, in
//!   batches cut to CloudWatch's limits (`batch`). Each event carries the time its line
//!   was produced, not the time it was sent.
//! - A batch that fails for a reason that may pass (throttling, 5xx, no connection) is
//!   kept and sent again after a growing, jittered wait; one refused for good is dropped
//!   with a line on stdout. The shipper's own lines go to stdout only, so a failing
//!   CloudWatch cannot fill the queue with lines about itself.
//! - On shutdown `main` calls [`Shipping::finish`], which ships what is left within
//!   [`FLUSH_DEADLINE`].

mod batch;
mod cloudwatch;
mod queue;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::parameters::{StackParameters, names};
use batch::{Limits, Line};
use cloudwatch::{Destination, Failure, Rejected};
use queue::Unqueued;
pub use queue::{Queue, Tee, TeeWriter};

/// How often queued lines are sent when no full batch forces it sooner.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// How long shutdown waits for the last lines to be shipped. systemd stops the unit 30 s
/// after the drain, so this fits with room to spare.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// The queue's bound: four full batches. At the default `info` level the service writes
/// a few lines a minute, so this is hours of lines while CloudWatch is unreachable; an
/// error storm fills it in seconds, and then counting beats holding more.
const QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// The longest wait between attempts while CloudWatch keeps failing.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The writer side, set up before the first line is logged.
pub struct LogShipping {
    queue: Option<Arc<Queue>>,
    started_ms: i64,
}

impl LogShipping {
    /// Queues lines for shipping only when `enabled` (the service runs with the stack's
    /// parameters, which may name a log group).
    pub fn new(enabled: bool) -> Self {
        LogShipping {
            queue: enabled.then(|| Arc::new(Queue::new(QUEUE_BYTES))),
            started_ms: now_ms(),
        }
    }

    /// The `tracing` writer: `out` (stdout), plus the queue when shipping is enabled.
    pub fn writer<M>(&self, out: M) -> Tee<M> {
        Tee::new(out, self.queue.clone())
    }

    /// Starts the shipper, which waits for `parameters` to be read and ships to the log
    /// group they name.
    pub fn start(self, parameters: watch::Receiver<Option<StackParameters>>) -> Shipping {
        let Some(queue) = self.queue else {
            return Shipping { running: None };
        };
        let (stop, stopped) = oneshot::channel();
        let run = run(queue, parameters, stopped, self.started_ms);
        let task = tokio::spawn(Unqueued(Box::pin(run)));
        Shipping {
            running: Some(Running { task, stop }),
        }
    }
}

/// The running shipper, if any.
pub struct Shipping {
    running: Option<Running>,
}

struct Running {
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl Shipping {
    /// Ships what is queued and stops, within [`FLUSH_DEADLINE`].
    pub async fn finish(self) {
        let Some(Running { mut task, stop }) = self.running else {
            return;
        };
        let _ = stop.send(());
        if tokio::time::timeout(FLUSH_DEADLINE, &mut task)
            .await
            .is_err()
        {
            task.abort();
            tracing::warn!(
                seconds = FLUSH_DEADLINE.as_secs(),
                "log shipping did not finish in time: the last lines are on stdout only"
            );
        }
    }
}

/// The shipper task: waits for the parameters, ships until told to stop, then ships
/// what is left.
async fn run(
    queue: Arc<Queue>,
    mut parameters: watch::Receiver<Option<StackParameters>>,
    mut stop: oneshot::Receiver<()>,
    started_ms: i64,
) {
    let stack = tokio::select! {
        read = parameters.wait_for(Option::is_some) => read.ok().and_then(|stack| stack.clone()),
        _ = &mut stop => None,
    };
    let Some(stack) = stack else {
        queue.close();
        return;
    };
    let Some(group) = stack.get(names::LOG_GROUP).map(str::to_owned) else {
        tracing::info!("the stack's parameters name no log group: logs go to stdout only");
        queue.close();
        return;
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::storage::https_client())
        .load()
        .await;
    let stream = cloudwatch::stream_name(&cloudwatch::this_host(), started_ms, std::process::id());
    tracing::info!(%group, %stream, "shipping logs to CloudWatch Logs");
    let mut shipper = Shipper::new(Destination::new(&config, group, stream), queue.clone());

    let mut failures = 0;
    loop {
        let wait = match failures {
            0 => FLUSH_INTERVAL,
            n => retry_delay(n, rand::random()),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = queue.batch_ready(), if failures == 0 => {}
            _ = &mut stop => break,
        }
        failures = match shipper.ship().await {
            Ok(()) => 0,
            Err(Later) => failures.saturating_add(1),
        };
    }
    // Stopping: ship what is left, trying again after short waits; `Shipping::finish`
    // bounds the whole.
    let mut failures = 0;
    while shipper.ship().await.is_err() {
        failures += 1;
        tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(failures.min(4))).await;
    }
}

/// A round that left lines for a later one.
#[derive(Debug, PartialEq, Eq)]
struct Later;

/// Moves lines from the queue to CloudWatch. `pending` holds what was taken from the
/// queue and is not shipped yet; it is refilled only once empty, so at most the queue's
/// bound is held here as well, however long CloudWatch fails.
struct Shipper {
    destination: Destination,
    queue: Arc<Queue>,
    pending: VecDeque<Line>,
    stream_ready: bool,
}

impl Shipper {
    fn new(destination: Destination, queue: Arc<Queue>) -> Self {
        Shipper {
            destination,
            queue,
            pending: VecDeque::new(),
            stream_ready: false,
        }
    }

    /// Ships until the queue is empty (`Ok`), or until a failure that may pass (`Later`,
    /// with the lines kept).
    async fn ship(&mut self) -> Result<(), Later> {
        loop {
            if self.pending.is_empty() {
                let taken = self.queue.take();
                self.pending = taken.lines;
                if taken.dropped > 0 {
                    tracing::warn!(
                        dropped = taken.dropped,
                        "log lines dropped: the shipping queue was full"
                    );
                    let notice = batch::dropped_notice(taken.dropped, now_ms());
                    self.pending.push_back(notice);
                }
                if self.pending.is_empty() {
                    return Ok(());
                }
            }
            if !self.stream_ready {
                if let Err(err) = self.destination.create_stream().await {
                    tracing::warn!(
                        group = %self.destination.group,
                        stream = %self.destination.stream,
                        error = %err,
                        "cannot create the log stream; trying again later"
                    );
                    return Err(Later);
                }
                self.stream_ready = true;
            }
            let batch = batch::take_batch(&mut self.pending, Limits::AWS);
            match self.destination.put(&batch).await {
                Ok(rejected) if rejected != Rejected::default() => tracing::warn!(
                    too_old = rejected.too_old,
                    too_new = rejected.too_new,
                    "CloudWatch Logs rejected log lines outside its time window"
                ),
                Ok(_) => {}
                Err(err) => match cloudwatch::classify(&err) {
                    Failure::Refused => tracing::warn!(
                        error = %err,
                        lines = batch.len(),
                        "CloudWatch Logs refused a batch of log lines: they are on stdout only"
                    ),
                    failure => {
                        if failure == Failure::StreamGone {
                            self.stream_ready = false;
                        }
                        tracing::warn!(
                            error = %err,
                            lines = batch.len(),
                            "cannot ship log lines yet; trying again later"
                        );
                        batch::put_back(&mut self.pending, batch);
                        return Err(Later);
                    }
                },
            }
        }
    }
}

/// The wait after `failures` failed rounds in a row (`jitter` in [0, 1)): the ceiling
/// doubles from the flush interval up to [`MAX_RETRY_DELAY`], and the wait is its upper
/// half, jittered, so that instances throttled together do not come back together and
/// none comes back at once.
fn retry_delay(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(8);
    let ceiling = FLUSH_INTERVAL
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY);
    ceiling.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// Milliseconds since the Unix epoch, as CloudWatch stamps events.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(ms: i64) -> String {
    const DAY: i64 = 86_400_000;
    let (year, month, day) = civil_date(ms.div_euclid(DAY));
    let of_day = ms.rem_euclid(DAY);
    let (hour, minute) = (of_day / 3_600_000, of_day / 60_000 % 60);
    let (second, milli) = (of_day / 1000 % 60, of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// The Gregorian date `days` after 1970-01-01. Years are counted from March 1st, so
/// that the leap day is the last day of a year, in 400-year eras of 146,097 days.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let since_era_start = days + 719_468; // 0000-03-01 to 1970-01-01
    let era = since_era_start.div_euclid(146_097);
    let day_of_era = since_era_start.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use aws_config::retry::RetryConfig;
    use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn dates_are_gregorian_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn retries_back_off_from_the_flush_interval_to_a_minute() {
        let s = Duration::from_secs;
        assert_eq!(retry_delay(1, 0.0), Duration::from_millis(2500));
        assert_eq!(retry_delay(1, 1.0), s(5));
        assert_eq!(retry_delay(2, 1.0), s(10));
        assert_eq!(retry_delay(4, 1.0), s(40));
        assert_eq!(retry_delay(5, 1.0), s(60));
        assert_eq!(retry_delay(u32::MAX, 0.0), s(30));
    }

    /// One request as the fake CloudWatch saw it: its action and JSON body.
    type Seen = Vec<(String, Value)>;

    /// A loopback CloudWatch Logs that answers each request with the next of `answers`
    /// (status, body) and records what it was sent.
    async fn fake_cloudwatch(answers: Vec<(u16, &'static str)>) -> (String, JoinHandle<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut chunk = [0u8; 65536];
                let (head, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap();
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (name, value) = l.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while request.len() < head + length {
                    let n = socket.read(&mut chunk).await.unwrap();
                    request.extend_from_slice(&chunk[..n]);
                }
                let text = String::from_utf8_lossy(&request[..head]).to_lowercase();
                let action = text
                    .lines()
                    .find_map(|l| l.strip_prefix("x-amz-target: logs_20140328."))
                    .unwrap_or_default()
                    .to_owned();
                let body_seen = serde_json::from_slice(&request[head..head + length]).unwrap();
                seen.push((action, body_seen));
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (url, server)
    }

    /// A shipper to `url` whose transport tries each call twice, 1 ms apart.
    fn shipper(url: &str, queue: Arc<Queue>) -> Shipper {
        let config = aws_config::SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .endpoint_url(url)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "test",
            )))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build();
        let destination = Destination::new(&config, "/modu/shop".into(), "i-1/start/7".into());
        Shipper::new(destination, queue)
    }

    const OK: (u16, &str) = (200, "{}");
    const EXISTS: (u16, &str) = (
        400,
        r#"{"__type":"ResourceAlreadyExistsException","message":"The specified log stream already exists"}"#,
    );
    const THROTTLED: (u16, &str) = (
        400,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    );
    const UNAVAILABLE: (u16, &str) = (
        503,
        r#"{"__type":"ServiceUnavailableException","message":"try again"}"#,
    );
    const NO_STREAM: (u16, &str) = (
        400,
        r#"{"__type":"ResourceNotFoundException","message":"The specified log stream does not exist."}"#,
    );
    const INVALID: (u16, &str) = (
        400,
        r#"{"__type":"InvalidParameterException","message":"no"}"#,
    );

    fn messages(body: &Value) -> Vec<&str> {
        body["logEvents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn an_existing_stream_is_taken_and_a_throttled_batch_is_sent_again_in_order() {
        let queue = Arc::new(Queue::new(1 << 20));
        queue.push(2_000, "second".into());
        queue.push(1_000, "first".into());
        let (url, server) = fake_cloudwatch(vec![EXISTS, THROTTLED, OK]).await;
        let mut shipper = shipper(&url, queue);
        assert_eq!(shipper.ship().await, Ok(()));

        let seen = server.await.unwrap();
        let actions: Vec<&str> = seen.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(actions, ["createlogstream", "putlogevents", "putlogevents"]);
        assert_eq!(
            seen[0].1,
            serde_json::json!({"logGroupName": "/modu/shop", "logStreamName": "i-1/start/7"})
        );
        let put = &seen[2].1;
        assert_eq!(put, &seen[1].1);
        assert_eq!(put["logGroupName"], "/modu/shop");
        assert_eq!(put["logStreamName"], "i-1/start/7");
        assert!(put.get("sequenceToken").is_none());
        assert_eq!(
            put["logEvents"],
            serde_json::json!([
                {"timestamp": 1_000, "message": "first"},
                {"timestamp": 2_000, "message": "second"},
            ])
        );
    }

    #[tokio::test]
    async fn a_batch_that_keeps_failing_is_kept_for_the_next_round() {
        let queue = Arc::new(Queue::new(1 << 20));
        queue.push(1, "kept".into());
        let (url, server) = fake_cloudwatch(vec![OK, UNAVAILABLE, UNAVAILABLE, OK, OK]).await;
        let mut shipper = shipper(&url, queue.clone());
        assert_eq!(shipper.ship().await, Err(Later));
        queue.push(2, "queued meanwhile".into());
        assert_eq!(shipper.ship().await, Ok(()));

        let seen = server.await.unwrap();
        let actions: Vec<&str> = seen.iter().map(|(a, _)| a.as_str()).collect();
        // The stream is created once; the kept line goes first, on its own.
        assert_eq!(
            actions,
            [
                "createlogstream",
                "putlogevents",
                "putlogevents",
                "putlogevents",
                "putlogevents"
            ]
        );
        assert_eq!(messages(&seen[2].1), ["kept"]);
        assert_eq!(messages(&seen[3].1), ["kept"]);
        assert_eq!(messages(&seen[4].1), ["queued meanwhile"]);
    }

    #[tokio::test]
    async fn a_vanished_stream_is_created_again() {
        let queue = Arc::new(Queue::new(1 << 20));
        queue.push(1, "line".into());
        let (url, server) = fake_cloudwatch(vec![OK, NO_STREAM, OK, OK]).await;
        let mut shipper = shipper(&url, queue);
        assert_eq!(shipper.ship().await, Err(Later));
        assert_eq!(shipper.ship().await, Ok(()));
        let seen = server.await.unwrap();
        let actions: Vec<&str> = seen.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "createlogstream",
                "putlogevents",
                "createlogstream",
                "putlogevents"
            ]
        );
        assert_eq!(messages(&seen[3].1), ["line"]);
    }

    #[tokio::test]
    async fn a_refused_batch_is_dropped_and_shipping_goes_on() {
        let queue = Arc::new(Queue::new(1 << 20));
        queue.push(1, "refused".into());
        let (url, server) = fake_cloudwatch(vec![OK, INVALID, OK]).await;
        let mut shipper = shipper(&url, queue.clone());
        assert_eq!(shipper.ship().await, Ok(()));
        queue.push(2, "accepted".into());
        assert_eq!(shipper.ship().await, Ok(()));
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(messages(&seen[2].1), ["accepted"]);
    }

    #[tokio::test]
    async fn dropped_lines_are_reported_in_a_shipped_line() {
        // Room for one line of "abc" (29 bytes as CloudWatch counts it), not two.
        let queue = Arc::new(Queue::new(40));
        // Stamped now: the notice is, and one batch spans less than a day.
        for _ in 0..3 {
            queue.push(now_ms(), "abc".into());
        }
        let (url, server) = fake_cloudwatch(vec![OK, OK]).await;
        let mut shipper = shipper(&url, queue);
        assert_eq!(shipper.ship().await, Ok(()));
        let seen = server.await.unwrap();
        let shipped = messages(&seen[1].1);
        assert_eq!(shipped.len(), 2);
        assert_eq!(shipped[0], "abc");
        let notice: Value = serde_json::from_str(shipped[1]).unwrap();
        assert_eq!(notice["fields"]["dropped"], 2);
        assert_eq!(notice["level"], "WARN");
    }

    #[tokio::test]
    async fn nothing_queued_means_no_call() {
        let queue = Arc::new(Queue::new(1 << 20));
        // No server at all: any call would fail.
        let mut shipper = shipper("http://127.0.0.1:9", queue);
        assert_eq!(shipper.ship().await, Ok(()));
    }
}
