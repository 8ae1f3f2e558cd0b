//! The measured phase: one task per virtual user, each running its workload's operations
//! back to back on the shared connection pool until the run stops.
//!
//! Stopping has three causes and one rule: no request starts after the duration has
//! passed, after `--max-requests` have been admitted, or after Ctrl-C. Requests already
//! in flight at the deadline finish (each is bounded by the request timeout) so the
//! service's count and the report agree; Ctrl-C abandons them at once. A click reserves
//! its 10 requests up front, so `--max-requests` never splits one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::form::Form;
use super::setup::snippet;
use super::stats::{ErrorKind, Live, Recorder, RequestKind};
use super::target::Target;
use super::{Options, SAVES_PER_CLICK, StopReason, Workload, describe_error};

/// What all virtual users share.
pub struct Run {
    client: Client,
    workload: Workload,
    /// `api/resumes`: posted to and listed.
    resumes: Url,
    /// `api/resumes/`, to which an id is appended.
    detail_prefix: String,
    deadline: Instant,
    max_requests: u64,
    interrupt: CancellationToken,
    live: Arc<Live>,
    admitted: AtomicU64,
    stop_reason: OnceLock<StopReason>,
}

/// One simulated person: an account and a filled-in form.
pub struct VirtualUser {
    pub index: usize,
    pub authorization: HeaderValue,
    pub form: Form,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

enum Sent {
    /// Answered with the expected status; the body.
    Ok(Bytes),
    /// Failed: no answer, or another status. Already recorded as an error.
    Failed,
    /// Abandoned by Ctrl-C.
    Cancelled,
}

/// `GET /api/resumes`, reduced to the ids; borrowed from the body, nothing copied.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    items: Vec<Listed<'a>>,
}

#[derive(Deserialize)]
struct Listed<'a> {
    id: &'a str,
}

impl Run {
    /// The shared state of a run of `options` against `target` that starts now.
    pub fn new(
        client: Client,
        options: &Options,
        target: &Target,
        interrupt: CancellationToken,
        live: Arc<Live>,
    ) -> Run {
        let resumes = target.endpoint("api/resumes");
        Run {
            client,
            workload: options.workload,
            detail_prefix: format!("{resumes}/"),
            resumes,
            deadline: Instant::now() + options.duration,
            max_requests: options.max_requests,
            interrupt,
            live,
            admitted: AtomicU64::new(0),
            stop_reason: OnceLock::new(),
        }
    }

    /// Why the run stopped; the first cause wins.
    pub fn stop_reason(&self) -> StopReason {
        match self.stop_reason.get() {
            Some(reason) => *reason,
            None if self.interrupt.is_cancelled() => StopReason::Interrupted,
            None => StopReason::Duration,
        }
    }

    fn halt(&self, reason: StopReason) {
        let _ = self.stop_reason.set(reason);
    }

    /// Whether another request of an operation already admitted may start. Reaching
    /// `--max-requests` does not stop those: their requests were reserved.
    fn keep_going(&self) -> bool {
        if self.interrupt.is_cancelled() {
            self.halt(StopReason::Interrupted);
            return false;
        }
        if Instant::now() >= self.deadline {
            self.halt(StopReason::Duration);
            return false;
        }
        true
    }

    /// Whether an operation of `requests` requests may start; reserves them if so.
    fn admit(&self, requests: u64) -> bool {
        if self.stop_reason.get().is_some() || !self.keep_going() {
            return false;
        }
        let before = self.admitted.fetch_add(requests, Ordering::Relaxed);
        if before + requests > self.max_requests {
            self.halt(StopReason::MaxRequests);
            return false;
        }
        true
    }

    pub async fn virtual_user(self: Arc<Self>, user: VirtualUser) -> Recorder {
        let mut recorder = Recorder::new(Arc::clone(&self.live));
        let mut rng = SmallRng::seed_from_u64(user.seed);
        // Starting each user at its own index spreads the clicks of `mixed` over time.
        let mut op = user.index;
        loop {
            let flow = if self.workload.clicks_at(op) {
                self.click(&user, &mut recorder).await
            } else {
                self.read(&mut rng, &mut recorder).await
            };
            if flow == Flow::Stop {
                return recorder;
            }
            op = op.wrapping_add(1);
        }
    }

    /// The reference scenario: the form saved 10 times, one save after another.
    async fn click(&self, user: &VirtualUser, recorder: &mut Recorder) -> Flow {
        if !self.admit(SAVES_PER_CLICK as u64) {
            return Flow::Stop;
        }
        let started = Instant::now();
        let mut with_errors = false;
        for save in 0..SAVES_PER_CLICK {
            if save > 0 && !self.keep_going() {
                recorder.click_cut();
                return Flow::Stop;
            }
            let request = self
                .client
                .post(self.resumes.clone())
                .header(AUTHORIZATION, user.authorization.clone())
                .header(CONTENT_TYPE, user.form.content_type())
                .body(user.form.body());
            match self
                .send(
                    recorder,
                    RequestKind::Post,
                    request,
                    user.form.content_length(),
                )
                .await
            {
                Sent::Ok(_) => {}
                Sent::Failed => with_errors = true,
                Sent::Cancelled => {
                    recorder.click_cut();
                    return Flow::Stop;
                }
            }
        }
        recorder.click_finished(started.elapsed(), with_errors);
        Flow::Continue
    }

    /// A visitor: the first page of the list, then one resume picked from it at random.
    async fn read(&self, rng: &mut SmallRng, recorder: &mut Recorder) -> Flow {
        if !self.admit(2) {
            return Flow::Stop;
        }
        let list = self.client.get(self.resumes.clone());
        let body = match self.send(recorder, RequestKind::List, list, 0).await {
            Sent::Ok(body) => body,
            Sent::Failed => {
                recorder.read_finished(true);
                return Flow::Continue;
            }
            Sent::Cancelled => {
                recorder.read_cut();
                return Flow::Stop;
            }
        };
        let detail_url = match serde_json::from_slice::<Page>(&body) {
            Ok(page) if page.items.is_empty() => None,
            Ok(page) => {
                let picked = &page.items[rng.random_range(0..page.items.len())];
                Some(format!("{}{}", self.detail_prefix, picked.id))
            }
            Err(e) => {
                recorder.bad_answer(|| {
                    format!(
                        "{} answered 200 but not a page: {e}",
                        RequestKind::List.label()
                    )
                });
                recorder.read_finished(true);
                return Flow::Continue;
            }
        };
        let Some(detail_url) = detail_url else {
            // Someone emptied the list since the setup: nothing to open.
            recorder.read_finished(false);
            return Flow::Continue;
        };
        if !self.keep_going() {
            recorder.read_cut();
            return Flow::Stop;
        }
        let detail = self.client.get(detail_url);
        match self.send(recorder, RequestKind::Detail, detail, 0).await {
            Sent::Ok(_) => recorder.read_finished(false),
            Sent::Failed => recorder.read_finished(true),
            Sent::Cancelled => {
                recorder.read_cut();
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Sends one request and reads its whole answer; the latency covers both.
    async fn send(
        &self,
        recorder: &mut Recorder,
        kind: RequestKind,
        request: RequestBuilder,
        body_bytes: u64,
    ) -> Sent {
        recorder.sent(kind, body_bytes);
        let started = Instant::now();
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let outcome = tokio::select! {
            biased;
            () = self.interrupt.cancelled() => {
                recorder.cancelled();
                self.halt(StopReason::Interrupted);
                return Sent::Cancelled;
            }
            outcome = exchange => outcome,
        };
        match outcome {
            Ok((status, body)) => {
                let expected = status == expected_status(kind);
                recorder.answered(
                    kind,
                    status.as_u16(),
                    started.elapsed(),
                    body.len() as u64,
                    expected,
                    || format!("{} answered {status}: {}", kind.label(), snippet(&body)),
                );
                if expected {
                    Sent::Ok(body)
                } else {
                    Sent::Failed
                }
            }
            Err(e) => {
                recorder.failed(classify(&e), || {
                    format!("{}: {}", kind.label(), describe_error(&e))
                });
                Sent::Failed
            }
        }
    }
}

fn expected_status(kind: RequestKind) -> StatusCode {
    match kind {
        RequestKind::Post => StatusCode::CREATED,
        RequestKind::List | RequestKind::Detail => StatusCode::OK,
    }
}

fn classify(error: &reqwest::Error) -> ErrorKind {
    // A connect timeout is both; it is reported as a connect failure.
    if error.is_connect() {
        ErrorKind::Connect
    } else if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Other
    }
}
