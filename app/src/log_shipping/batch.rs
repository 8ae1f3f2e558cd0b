//! What one `PutLogEvents` call may carry, as pure functions over queued lines, so the
//! limits are tested without a network.
//!
//! The limits are the ones the API reference of `PutLogEvents` documents: at most
//! 10,000 events and 1,048,576 bytes per call, counting each message's UTF-8 bytes plus
//! 26 bytes per event; events in chronological order; a call spanning at most 24 hours;
//! an event of at most 256 KiB. A call that breaks one of them fails as a whole, so a
//! batch is cut to fit before it is sent rather than split after a refusal.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::json;

/// What CloudWatch Logs counts for each event on top of its message.
pub const EVENT_OVERHEAD: usize = 26;

/// The largest message shipped. The documented 256 KiB event size is read as including
/// the per-event overhead, which is the stricter of the two readings: a message of this
/// size is accepted whichever way CloudWatch counts.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD;

/// What marks a message cut to [`MAX_MESSAGE_BYTES`]: the line is no longer valid JSON,
/// and whoever reads it should see why.
pub const TRUNCATED: &str = "… [truncated]";

/// One log line as CloudWatch Logs takes it: the time it was produced, in milliseconds
/// since the Unix epoch, and the line itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub timestamp: i64,
    pub message: String,
}

impl Line {
    /// What this line counts towards a batch's size.
    pub fn cost(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD
    }
}

/// The bounds of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub events: usize,
    pub bytes: usize,
    /// Newest minus oldest timestamp stays below this, in milliseconds.
    pub span_ms: i64,
}

impl Limits {
    pub const AWS: Limits = Limits {
        events: 10_000,
        bytes: 1_048_576,
        span_ms: 24 * 60 * 60 * 1000,
    };
}

/// `message`, cut at a character boundary so that it is at most `max` bytes with the
/// [`TRUNCATED`] mark; unchanged (and not copied) when it fits.
pub fn truncate(mut message: String, max: usize) -> String {
    if message.len() <= max {
        return message;
    }
    let mut end = max.saturating_sub(TRUNCATED.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str(TRUNCATED);
    message
}

/// Takes from the front of `pending` the longest run that fits `limits`, in chronological
/// order. Lines are queued by several threads, each stamped when its thread produced it,
/// so neighbours can be a few microseconds out of order: the batch is sorted, and
/// the sort is stable so lines of the same millisecond keep the order they were queued
/// in. A line that alone exceeds the limits is taken alone (the queue truncates lines,
/// so with [`Limits::AWS`] that cannot happen), so every call makes progress.
pub fn take_batch(pending: &mut VecDeque<Line>, limits: Limits) -> Vec<Line> {
    let mut batch: Vec<Line> = Vec::new();
    let mut bytes = 0;
    let (mut oldest, mut newest) = (i64::MAX, i64::MIN);
    while let Some(line) = pending.front() {
        let (low, high) = (oldest.min(line.timestamp), newest.max(line.timestamp));
        let fits = batch.len() < limits.events
            && bytes + line.cost() <= limits.bytes
            && high - low < limits.span_ms;
        if !fits && !batch.is_empty() {
            break;
        }
        let line = pending.pop_front().expect("the front line exists");
        bytes += line.cost();
        (oldest, newest) = (low, high);
        batch.push(line);
    }
    batch.sort_by_key(|line| line.timestamp);
    batch
}

/// Returns a batch that could not be sent to the front of `pending`, in its order, so
/// the next attempt sends the same lines first.
pub fn put_back(pending: &mut VecDeque<Line>, batch: Vec<Line>) {
    for line in batch.into_iter().rev() {
        pending.push_front(line);
    }
}

/// The line that reports `dropped` lines lost to a full queue, shaped like the service's
/// own JSON lines so that the same queries find it.
pub fn dropped_notice(dropped: u64, timestamp: i64) -> Line {
    let message = json!({
        "timestamp": super::rfc3339(timestamp),
        "level": "WARN",
        "fields": {
            "message": "log lines dropped: the shipping queue was full",
            "dropped": dropped,
        },
        "target": "modu_app::log_shipping",
    });
    Line {
        timestamp,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(timestamp: i64, message: &str) -> Line {
        Line {
            timestamp,
            message: message.to_owned(),
        }
    }

    fn queue(lines: impl IntoIterator<Item = Line>) -> VecDeque<Line> {
        lines.into_iter().collect()
    }

    #[test]
    fn a_batch_holds_at_most_ten_thousand_events() {
        let mut pending = queue((0..10_001).map(|i| line(i, "x")));
        let first = take_batch(&mut pending, Limits::AWS);
        assert_eq!(first.len(), 10_000);
        assert_eq!(first.last().unwrap().timestamp, 9_999);
        let second = take_batch(&mut pending, Limits::AWS);
        assert_eq!(second, vec![line(10_000, "x")]);
        assert!(pending.is_empty());
        assert!(take_batch(&mut pending, Limits::AWS).is_empty());
    }

    #[test]
    fn a_batch_counts_26_bytes_per_event_up_to_one_mebibyte() {
        // Four messages of 262,118 bytes cost 4 × 262,144 = 1,048,576 bytes: exactly full.
        let big = "a".repeat(MAX_MESSAGE_BYTES);
        let mut pending = queue((0..5).map(|i| line(i, &big)));
        assert_eq!(take_batch(&mut pending, Limits::AWS).len(), 4);
        assert_eq!(pending.len(), 1);

        // One byte more and the fourth waits for the next batch.
        let bigger = "a".repeat(MAX_MESSAGE_BYTES + 1);
        let mut pending = queue((0..4).map(|i| line(i, &bigger)));
        assert_eq!(take_batch(&mut pending, Limits::AWS).len(), 3);
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn a_batch_spans_less_than_a_day() {
        let day = Limits::AWS.span_ms;
        let mut pending = queue([
            line(1_000, "a"),
            line(1_000 + day - 1, "b"),
            line(1_000 + day, "c"),
        ]);
        let first = take_batch(&mut pending, Limits::AWS);
        assert_eq!(first.len(), 2);
        assert_eq!(
            take_batch(&mut pending, Limits::AWS),
            vec![line(1_000 + day, "c")]
        );

        // A line older than the ones taken counts as well.
        let mut pending = queue([line(day, "a"), line(0, "b"), line(1, "c")]);
        assert_eq!(take_batch(&mut pending, Limits::AWS), vec![line(day, "a")]);
    }

    #[test]
    fn a_batch_is_in_chronological_order_and_keeps_ties_in_queue_order() {
        let mut pending = queue([
            line(5, "late thread"),
            line(3, "first"),
            line(5, "same millisecond"),
            line(4, "second"),
        ]);
        let batch = take_batch(&mut pending, Limits::AWS);
        let messages: Vec<&str> = batch.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(
            messages,
            ["first", "second", "late thread", "same millisecond"]
        );
    }

    #[test]
    fn a_line_larger_than_the_limits_still_goes_alone() {
        let tiny = Limits {
            events: 10,
            bytes: 30,
            span_ms: 1_000,
        };
        let mut pending = queue([line(0, "far too long for thirty bytes"), line(1, "x")]);
        assert_eq!(take_batch(&mut pending, tiny).len(), 1);
        assert_eq!(take_batch(&mut pending, tiny), vec![line(1, "x")]);
    }

    #[test]
    fn a_batch_put_back_is_sent_first_next_time() {
        let mut pending = queue([line(2, "b"), line(1, "a"), line(3, "c")]);
        let tiny = Limits {
            events: 2,
            ..Limits::AWS
        };
        let batch = take_batch(&mut pending, tiny);
        put_back(&mut pending, batch.clone());
        assert_eq!(take_batch(&mut pending, tiny), batch);
        assert_eq!(take_batch(&mut pending, tiny), vec![line(3, "c")]);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary_and_marked() {
        let short = "fits".to_owned();
        assert_eq!(truncate(short.clone(), 4), short);

        let cut = truncate("a".repeat(MAX_MESSAGE_BYTES + 10), MAX_MESSAGE_BYTES);
        assert_eq!(cut.len(), MAX_MESSAGE_BYTES);
        assert!(cut.ends_with(TRUNCATED));

        // "가" is three bytes: the cut falls inside one and moves back to its start.
        let korean = "가".repeat(100);
        let max = TRUNCATED.len() + 4;
        let cut = truncate(korean, max);
        assert_eq!(cut, format!("가{TRUNCATED}"));
        assert!(cut.len() <= max);
    }

    #[test]
    fn the_dropped_notice_is_a_json_line_like_the_others() {
        let notice = dropped_notice(42, 1_767_225_600_123);
        assert_eq!(notice.timestamp, 1_767_225_600_123);
        let parsed: serde_json::Value = serde_json::from_str(&notice.message).unwrap();
        assert_eq!(parsed["level"], "WARN");
        assert_eq!(parsed["fields"]["dropped"], 42);
        assert_eq!(parsed["timestamp"], "2026-01-01T00:00:00.123Z");
    }
}
