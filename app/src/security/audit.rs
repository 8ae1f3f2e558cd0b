//! The audit trail: what was refused, to whom, and why, as structured log events under
//! the target `audit` (fields `event`, `client`, `username`, `reason`), so they can be
//! filtered (`RUST_LOG=audit=info`) and searched apart from the request logs. They go
//! where every log line goes (stdout, and the stack's log group when configured).
//!
//! Never pass a password, a token or a request body as a reason: the reason says what
//! was wrong with the request, not what it contained.

use super::client::ClientAddr;

/// A login with a wrong password or an unknown username.
pub const LOGIN_FAILED: &str = "login_failed";
/// A login or sign-up refused by a rate limit (429).
pub const RATE_LIMITED: &str = "rate_limited";
/// A state-changing request refused as cross-site (403).
pub const CSRF_REFUSED: &str = "csrf_refused";
/// A sign-up or login refused because the hashing queue was full (503).
pub const HASHING_BUSY: &str = "hashing_busy";
/// An upload refused for its content (not an image, too large, cut off…).
pub const UPLOAD_REJECTED: &str = "upload_rejected";

/// Logs one audit event; `username` when the request named or carried one.
pub fn event(event: &'static str, client: &ClientAddr, username: Option<&str>, reason: &str) {
    tracing::info!(
        target: "audit",
        event,
        client = %client,
        username,
        reason,
        "audit: {event}"
    );
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_is_one_json_line_with_its_fields() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let client = ClientAddr::Ip("192.0.2.1".parse().unwrap());
            event(LOGIN_FAILED, &client, Some("kim"), "wrong password");
            event(
                CSRF_REFUSED,
                &client,
                None,
                "Origin \"https://evil.example\"",
            );
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["target"], "audit");
        let fields = &lines[0]["fields"];
        assert_eq!(fields["event"], "login_failed");
        assert_eq!(fields["client"], "192.0.2.1");
        assert_eq!(fields["username"], "kim");
        assert_eq!(fields["reason"], "wrong password");
        assert!(lines[1]["fields"].get("username").is_none());
    }
}
