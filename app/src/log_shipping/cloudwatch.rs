//! The two CloudWatch Logs calls the shipper makes, `CreateLogStream` and
//! `PutLogEvents`, spoken with `modu-wire` (JSON 1.1, SigV4 for `logs`) like the
//! parameters: the SDK crate of CloudWatch Logs would cost minutes of every build.
//!
//! No sequence token is sent or kept: `PutLogEvents` ignores it and no longer answers
//! `InvalidSequenceTokenException` or `DataAlreadyAcceptedException`, and calls to one
//! stream may run in parallel. Nor is `DescribeLogStreams` needed: an existing stream is
//! `CreateLogStream`'s `ResourceAlreadyExistsException`, taken as success.

use std::sync::Arc;

use aws_config::SdkConfig;
use modu_wire::CallError;
use modu_wire::transport::{Service, Transport};
use serde_json::{Value, json};

use super::batch::Line;

const LOGS: Service = Service {
    signing_name: "logs",
    service_id: "CloudWatch Logs",
    endpoint_prefix: "logs",
    global: false,
};

/// The log group and this process's stream in it.
pub struct Destination {
    transport: Arc<Transport>,
    pub group: String,
    pub stream: String,
}

/// Events CloudWatch took the call for but did not store, counted from the indexes
/// `rejectedLogEventsInfo` gives.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Older than 14 days or than the group's retention.
    pub too_old: usize,
    /// More than two hours ahead of CloudWatch's clock.
    pub too_new: usize,
}

/// What to do with a batch whose call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Throttled, a 5xx, no answer, or no credentials yet: keep the batch, try later.
    Later,
    /// The stream (or its group) is gone: create it again, then resend.
    StreamGone,
    /// Refused for good: the batch is dropped (and said so), the next one may pass.
    Refused,
}

impl Destination {
    pub fn new(config: &SdkConfig, group: String, stream: String) -> Self {
        Destination {
            transport: Transport::new(config, LOGS),
            group,
            stream,
        }
    }

    /// Creates the stream. One that exists already (created by an earlier attempt whose
    /// answer was lost) is the stream wanted.
    pub async fn create_stream(&self) -> Result<(), CallError> {
        let input = json!({ "logGroupName": self.group, "logStreamName": self.stream });
        match self
            .transport
            .json("Logs_20140328.CreateLogStream", &input)
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ResourceAlreadyExistsException") => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Sends one batch (see `batch::take_batch` for what one may hold).
    pub async fn put(&self, batch: &[Line]) -> Result<Rejected, CallError> {
        let input = json!({
            "logGroupName": self.group,
            "logStreamName": self.stream,
            "logEvents": batch,
        });
        let answer = self
            .transport
            .json("Logs_20140328.PutLogEvents", &input)
            .await?;
        Ok(rejected(&answer, batch.len()))
    }
}

/// Reads `rejectedLogEventsInfo`: the too-old and expired events are a prefix of the
/// batch (their last index is given), the too-new ones a suffix (its first index).
pub fn rejected(answer: &Value, sent: usize) -> Rejected {
    let info = &answer["rejectedLogEventsInfo"];
    let through = |key: &str| info[key].as_u64().map_or(0, |last| last as usize + 1);
    let too_old = through("tooOldLogEventEndIndex").max(through("expiredLogEventEndIndex"));
    let too_new = info["tooNewLogEventStartIndex"]
        .as_u64()
        .map_or(0, |first| sent.saturating_sub(first as usize));
    Rejected {
        too_old: too_old.min(sent),
        too_new,
    }
}

/// The shipper's reading of a failed call. The transport has already retried what the
/// SDK's standard rule retries; what still fails that way is kept for a later round.
/// Missing credentials are kept too: on EC2 they come from the instance metadata
/// service, whose hiccups should not cost logs.
pub fn classify(err: &CallError) -> Failure {
    match err {
        _ if err.code() == Some("ResourceNotFoundException") => Failure::StreamGone,
        CallError::Credentials(_) => Failure::Later,
        _ if err.is_retryable() => Failure::Later,
        _ => Failure::Refused,
    }
}

/// The stream's name: `<instance id or host name>/<start time, UTC>/<process id>`.
///
/// One stream per process run, never shared: the host says which instance, the start
/// time which run (the console lists a host's runs in order), and the process id tells
/// apart two runs started in the same second (systemd restarts a failed unit after
/// 100 ms). A stream name may not contain `:` or `*`.
pub fn stream_name(host: &str, started_ms: i64, pid: u32) -> String {
    let host: String = host
        .chars()
        .map(|c| if c == ':' || c == '*' { '-' } else { c })
        .take(255)
        .collect();
    let started = super::rfc3339(started_ms);
    // Seconds are enough next to the process id; ':' is not allowed.
    let started = started.get(..19).unwrap_or(&started).replace(':', "-");
    format!("{host}/{started}Z/{pid}")
}

/// The EC2 instance id when this is a Nitro instance (its DMI board asset tag holds the
/// id, readable without root and without a call to the instance metadata service,
/// which off EC2 would cost a timeout at every start), else the host name.
pub fn this_host() -> String {
    let tag = std::fs::read_to_string("/sys/devices/virtual/dmi/id/board_asset_tag");
    if let Some(id) = tag.as_deref().ok().and_then(instance_id) {
        return id.to_owned();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// `i-` followed by hexadecimal digits, as EC2 names instances.
fn instance_id(tag: &str) -> Option<&str> {
    let tag = tag.trim();
    let digits = tag.strip_prefix("i-")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_events_are_counted_from_the_indexes() {
        assert_eq!(
            rejected(&json!({"nextSequenceToken": "49"}), 10),
            Rejected::default()
        );
        let answer = json!({"rejectedLogEventsInfo": {
            "tooOldLogEventEndIndex": 1, "expiredLogEventEndIndex": 2, "tooNewLogEventStartIndex": 8
        }});
        assert_eq!(
            rejected(&answer, 10),
            Rejected {
                too_old: 3,
                too_new: 2
            }
        );
    }

    fn service(code: &str, status: u16) -> CallError {
        CallError::Service {
            action: "PutLogEvents".into(),
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn failures_are_kept_retried_or_dropped_by_what_they_mean() {
        assert_eq!(
            classify(&service("ThrottlingException", 400)),
            Failure::Later
        );
        assert_eq!(
            classify(&service("ServiceUnavailableException", 503)),
            Failure::Later
        );
        assert_eq!(
            classify(&CallError::Transport {
                action: "PutLogEvents".into(),
                detail: "connection refused".into()
            }),
            Failure::Later
        );
        assert_eq!(
            classify(&CallError::Credentials("IMDS timed out".into())),
            Failure::Later
        );
        assert_eq!(
            classify(&service("ResourceNotFoundException", 400)),
            Failure::StreamGone
        );
        assert_eq!(
            classify(&service("InvalidParameterException", 400)),
            Failure::Refused
        );
        assert_eq!(
            classify(&service("AccessDeniedException", 400)),
            Failure::Refused
        );
    }

    #[test]
    fn the_stream_is_named_by_host_start_and_process() {
        assert_eq!(
            stream_name("i-0123456789abcdef0", 1_767_225_600_123, 4242),
            "i-0123456789abcdef0/2026-01-01T00-00-00Z/4242"
        );
        assert_eq!(
            stream_name("odd:host*name", 0, 1),
            "odd-host-name/1970-01-01T00-00-00Z/1"
        );
    }

    #[test]
    fn only_an_instance_id_is_taken_from_the_asset_tag() {
        assert_eq!(
            instance_id("i-0123456789abcdef0\n"),
            Some("i-0123456789abcdef0")
        );
        assert_eq!(instance_id("Amazon EC2"), None);
        assert_eq!(instance_id("i-"), None);
        assert_eq!(instance_id(""), None);
    }
}
