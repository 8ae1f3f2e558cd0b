//! The result of a run, as one type that renders both as a table for people and as a
//! stable JSON document (`--output json`). Field names and nesting are the interface:
//! add fields, never rename them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::stats::{ErrorKind, Ops, Recorder, RequestKind};
use super::{Options, StopReason, Workload};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub workload: Workload,
    pub concurrency: usize,
    pub users: usize,
    pub images_per_post: usize,
    pub image_bytes: usize,
    pub duration_limit_s: f64,
    pub max_requests: u64,
    pub stopped_by: StopReason,
    /// Signing up users, fetching tasks, seeding: not part of the measurement.
    pub setup_s: f64,
    /// From the first request to the last answer; every rate is over this.
    pub elapsed_s: f64,
    pub clicks: OpReport,
    pub reads: OpReport,
    pub requests: RequestReport,
    /// Every answered request (any status); transport failures have no latency.
    pub latency_ms: Option<Latency>,
    pub latency_by_request_ms: ByRequest,
    /// A whole click: its saves one after another.
    pub click_latency_ms: Option<Latency>,
    /// Answers by HTTP status code.
    pub status: BTreeMap<String, u64>,
    pub errors: ErrorReport,
    /// Request and response bodies (headers not included).
    pub bytes: ByteReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// Finished with every request answered as expected.
    pub completed: u64,
    /// Finished, but at least one request failed.
    pub with_errors: u64,
    /// Started but stopped midway by the end of the run.
    pub cut: u64,
    /// `completed + with_errors` per second.
    pub per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestReport {
    pub sent: u64,
    pub answered: u64,
    /// Abandoned in flight by an interruption (Ctrl-C).
    pub cancelled: u64,
    /// Answered or failed, per second.
    pub per_s: f64,
    pub post: u64,
    pub list: u64,
    pub detail: u64,
    pub posts_per_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ByRequest {
    pub post: Option<Latency>,
    pub list: Option<Latency>,
    pub detail: Option<Latency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub total: u64,
    pub connect: u64,
    pub timeout: u64,
    #[serde(rename = "4xx")]
    pub client: u64,
    #[serde(rename = "5xx")]
    pub server: u64,
    pub other: u64,
    /// The first error of each kind that occurred, keyed like the counts.
    pub samples: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ByteReport {
    pub sent: u64,
    pub received: u64,
}

/// What a run produced besides the recorders' totals.
pub struct RunFacts {
    pub users: usize,
    pub setup: Duration,
    pub elapsed: Duration,
    pub stopped_by: StopReason,
}

impl Latency {
    /// Percentiles of a histogram of microseconds, in milliseconds; `None` when empty.
    pub fn from_micros(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Latency {
            count: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
            mean: histogram.mean().round() / 1000.0,
        })
    }
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    (count as f64 / secs * 10.0).round() / 10.0
}

fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

fn op_report(ops: Ops, elapsed: Duration) -> OpReport {
    OpReport {
        completed: ops.completed,
        with_errors: ops.with_errors,
        cut: ops.cut,
        per_s: rate(ops.completed + ops.with_errors, elapsed),
    }
}

impl Report {
    pub fn new(options: &Options, totals: &Recorder, facts: RunFacts) -> Report {
        let elapsed = facts.elapsed;
        let [post, list, detail] = totals.sent;
        let mut all = Histogram::<u64>::new(3).expect("valid precision");
        for histogram in &totals.latency {
            all.add(histogram)
                .expect("auto-resizing histograms always add");
        }
        let errors = |kind: ErrorKind| totals.errors[kind as usize];
        let samples = ErrorKind::ALL
            .iter()
            .filter_map(|&kind| {
                let sample = totals.error_samples[kind as usize].clone()?;
                Some((kind.key().to_string(), sample))
            })
            .collect();
        let latency_of = |kind: RequestKind| Latency::from_micros(&totals.latency[kind as usize]);
        Report {
            url: options.url.clone(),
            workload: options.workload,
            concurrency: options.concurrency,
            users: facts.users,
            images_per_post: options.images,
            image_bytes: options.image_bytes,
            duration_limit_s: seconds(options.duration),
            max_requests: options.max_requests,
            stopped_by: facts.stopped_by,
            setup_s: seconds(facts.setup),
            elapsed_s: seconds(elapsed),
            clicks: op_report(totals.clicks, elapsed),
            reads: op_report(totals.reads, elapsed),
            requests: RequestReport {
                sent: post + list + detail,
                answered: totals.answered,
                cancelled: totals.cancelled,
                per_s: rate(totals.answered + totals.unanswered, elapsed),
                post,
                list,
                detail,
                posts_per_s: rate(post, elapsed),
            },
            latency_ms: Latency::from_micros(&all),
            latency_by_request_ms: ByRequest {
                post: latency_of(RequestKind::Post),
                list: latency_of(RequestKind::List),
                detail: latency_of(RequestKind::Detail),
            },
            click_latency_ms: Latency::from_micros(&totals.click_latency),
            status: totals
                .statuses
                .iter()
                .map(|(status, count)| (status.to_string(), *count))
                .collect(),
            errors: ErrorReport {
                total: totals.error_count(),
                connect: errors(ErrorKind::Connect),
                timeout: errors(ErrorKind::Timeout),
                client: errors(ErrorKind::Client),
                server: errors(ErrorKind::Server),
                other: errors(ErrorKind::Other),
                samples,
            },
            bytes: ByteReport {
                sent: totals.bytes_sent,
                received: totals.bytes_received,
            },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The human summary printed on stdout.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} workload on {}: {} virtual users ({} accounts), {:.1}s, stopped by {}",
            self.workload.name(),
            self.url,
            self.concurrency,
            self.users,
            self.elapsed_s,
            self.stopped_by.describe(),
        );
        out.push('\n');
        if self.workload != Workload::Read {
            let _ = writeln!(
                out,
                "  clicks    {:>9}  {:>9.1}/s   {} saves with {} image(s) of {} bytes each; {} with errors, {} cut short",
                self.clicks.completed + self.clicks.with_errors,
                self.clicks.per_s,
                super::SAVES_PER_CLICK,
                self.images_per_post,
                self.image_bytes,
                self.clicks.with_errors,
                self.clicks.cut,
            );
        }
        if self.workload != Workload::Click {
            let _ = writeln!(
                out,
                "  reads     {:>9}  {:>9.1}/s   list + detail; {} with errors, {} cut short",
                self.reads.completed + self.reads.with_errors,
                self.reads.per_s,
                self.reads.with_errors,
                self.reads.cut,
            );
        }
        let _ = writeln!(
            out,
            "  requests  {:>9}  {:>9.1}/s   POST {:.1}/s{}",
            self.requests.sent,
            self.requests.per_s,
            self.requests.posts_per_s,
            if self.requests.cancelled > 0 {
                format!("; {} cancelled in flight", self.requests.cancelled)
            } else {
                String::new()
            },
        );
        out.push('\n');

        let _ = writeln!(
            out,
            "  {:<24} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "count", "p50", "p90", "p99", "max", "mean"
        );
        let rows = [
            ("all requests", self.latency_ms),
            (RequestKind::Post.label(), self.latency_by_request_ms.post),
            (RequestKind::List.label(), self.latency_by_request_ms.list),
            (
                RequestKind::Detail.label(),
                self.latency_by_request_ms.detail,
            ),
            ("click (10 saves)", self.click_latency_ms),
        ];
        for (label, latency) in rows {
            if let Some(l) = latency {
                let _ = writeln!(
                    out,
                    "  {label:<24} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                    l.count, l.p50, l.p90, l.p99, l.max, l.mean
                );
            }
        }
        out.push('\n');

        let statuses: Vec<String> = self
            .status
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        let _ = writeln!(
            out,
            "  status    {}",
            if statuses.is_empty() {
                "no answers".to_string()
            } else {
                statuses.join(", ")
            }
        );
        if self.errors.total == 0 {
            let _ = writeln!(out, "  errors    none");
        } else {
            let _ = writeln!(
                out,
                "  errors    {} (connect {}, timeout {}, 4xx {}, 5xx {}, other {})",
                self.errors.total,
                self.errors.connect,
                self.errors.timeout,
                self.errors.client,
                self.errors.server,
                self.errors.other,
            );
            for (kind, sample) in &self.errors.samples {
                let _ = writeln!(out, "            first {kind}: {sample}");
            }
        }
        let _ = writeln!(
            out,
            "  bytes     {} sent, {} received (bodies)",
            human_bytes(self.bytes.sent),
            human_bytes(self.bytes.received),
        );
        out
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::stats::Live;

    fn options(workload: Workload) -> Options {
        Options {
            workload,
            ..Options::new("http://127.0.0.1:8000")
        }
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        // 1 ms .. 100 ms, one of each.
        for ms in 1..=100u64 {
            histogram.record(ms * 1000).unwrap();
        }
        let latency = Latency::from_micros(&histogram).unwrap();
        assert_eq!(latency.count, 100);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(latency.p50, 50.0), "p50 {}", latency.p50);
        assert!(close(latency.p90, 90.0), "p90 {}", latency.p90);
        assert!(close(latency.p99, 99.0), "p99 {}", latency.p99);
        assert!(close(latency.max, 100.0), "max {}", latency.max);
        assert!(close(latency.mean, 50.5), "mean {}", latency.mean);
        assert_eq!(Latency::from_micros(&Histogram::new(3).unwrap()), None);
    }

    #[test]
    fn rates_are_over_the_elapsed_time() {
        assert_eq!(rate(1000, Duration::from_secs(4)), 250.0);
        assert_eq!(rate(10, Duration::ZERO), 0.0);
    }

    fn sample_totals() -> Recorder {
        let mut totals = Recorder::new(Arc::new(Live::default()));
        for _ in 0..20 {
            totals.sent(RequestKind::Post, 3000);
            totals.answered(
                RequestKind::Post,
                201,
                Duration::from_millis(5),
                400,
                true,
                String::new,
            );
        }
        totals.click_finished(Duration::from_millis(50), false);
        totals.click_finished(Duration::from_millis(70), false);
        totals.sent(RequestKind::Post, 3000);
        totals.answered(
            RequestKind::Post,
            500,
            Duration::from_millis(9),
            0,
            false,
            || "POST /api/resumes answered 500".into(),
        );
        totals.click_cut();
        totals
    }

    #[test]
    fn the_json_document_has_its_stable_fields() {
        let report = Report::new(
            &options(Workload::Click),
            &sample_totals(),
            RunFacts {
                users: 4,
                setup: Duration::from_millis(1500),
                elapsed: Duration::from_secs(2),
                stopped_by: StopReason::Duration,
            },
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["workload"], "click");
        assert_eq!(json["stopped_by"], "duration");
        assert_eq!(json["users"], 4);
        assert_eq!(json["setup_s"], 1.5);
        assert_eq!(json["clicks"]["completed"], 2);
        assert_eq!(json["clicks"]["cut"], 1);
        assert_eq!(json["clicks"]["per_s"], 1.0);
        assert_eq!(json["requests"]["post"], 21);
        assert_eq!(json["requests"]["sent"], 21);
        assert_eq!(json["requests"]["posts_per_s"], 10.5);
        assert_eq!(json["status"]["201"], 20);
        assert_eq!(json["status"]["500"], 1);
        assert_eq!(json["errors"]["total"], 1);
        assert_eq!(json["errors"]["5xx"], 1);
        assert_eq!(json["errors"]["4xx"], 0);
        assert_eq!(
            json["errors"]["samples"]["5xx"],
            "POST /api/resumes answered 500"
        );
        assert_eq!(json["bytes"]["sent"], 63_000);
        assert_eq!(json["latency_ms"]["count"], 21);
        assert!(json["latency_by_request_ms"]["list"].is_null());
        assert_eq!(json["click_latency_ms"]["count"], 2);
        for key in ["p50", "p90", "p99", "max", "mean"] {
            assert!(json["latency_ms"][key].is_f64(), "latency_ms.{key}");
        }
    }

    #[test]
    fn the_table_names_rates_latencies_and_errors() {
        let report = Report::new(
            &options(Workload::Click),
            &sample_totals(),
            RunFacts {
                users: 4,
                setup: Duration::from_millis(10),
                elapsed: Duration::from_secs(2),
                stopped_by: StopReason::MaxRequests,
            },
        );
        let table = report.to_table();
        assert!(
            table.contains("click workload on http://127.0.0.1:8000"),
            "{table}"
        );
        assert!(table.contains("stopped by --max-requests"), "{table}");
        assert!(table.contains("POST 10.5/s"), "{table}");
        assert!(table.contains("click (10 saves)"), "{table}");
        assert!(
            table.contains("errors    1 (connect 0, timeout 0, 4xx 0, 5xx 1, other 0)"),
            "{table}"
        );
        assert!(
            table.contains("first 5xx: POST /api/resumes answered 500"),
            "{table}"
        );
        assert!(!table.contains("reads"), "{table}");
    }

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
