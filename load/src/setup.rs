//! Before the clock starts: read the service's tasks (which also proves it answers, and
//! waits for one that is still starting), sign up this run's accounts, and, for the read
//! workloads, make sure there is something to read. Nothing here is measured; any failure
//! stops the run with what was being done.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Client, StatusCode};
use serde::Deserialize;

use super::form::Form;
use super::target::Target;
use super::{SEED_RESUMES, describe_error};
use crate::error::{Error, Result};

/// Sign-ups hash a password with Argon2 on the server; a few at a time keeps the setup
/// from timing out on a small machine.
const PARALLEL_SIGNUPS: usize = 8;
/// The pause between two asks of a service that is not ready, unless it says how long
/// (`Retry-After`) — and never longer than the longest.
const READY_POLL: Duration = Duration::from_secs(1);
const LONGEST_READY_POLL: Duration = Duration::from_secs(5);

/// A job category, as `GET /api/tasks` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    pub id: i64,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

#[derive(Deserialize)]
struct ApiError {
    error: String,
}

/// A page of `GET /api/resumes`, reduced to what the read workload uses.
#[derive(Deserialize)]
pub struct Page {
    pub items: Vec<Listed>,
}

#[derive(Deserialize)]
pub struct Listed {
    pub id: String,
}

pub struct Setup<'a> {
    pub client: &'a Client,
    pub target: &'a Target,
}

impl Setup<'_> {
    /// The job categories, once the service is ready. A service that is still starting
    /// (the resume service answers 503 until its database, cache and storage answer) or
    /// has no healthy instance behind its load balancer yet (502, 503, 504) is asked again
    /// until `wait` has passed; `note` hears why each time.
    pub async fn tasks_when_ready(&self, wait: Duration, note: impl Fn(&str)) -> Result<Vec<Task>> {
        let url = self.target.endpoint("api/tasks");
        let started = Instant::now();
        let (status, body) = loop {
            let response = self.send(self.client.get(url.clone())).await?;
            let status = response.status();
            let pause = pause_before_asking_again(response.headers().get(RETRY_AFTER));
            let body = self.body(response).await?;
            if !not_ready_yet(status) {
                break (status, body);
            }
            let waited = started.elapsed();
            let said = said(&body);
            if waited >= wait {
                return Err(Error::NotReady {
                    url: url.to_string(),
                    waited: waited.as_secs(),
                    status,
                    said,
                });
            }
            let left = wait - waited;
            let pause = pause.min(left);
            note(&format!(
                "the service is not ready ({status}: {said}); asking again in {}s, for up to {}s",
                whole_seconds(pause),
                whole_seconds(left)
            ));
            tokio::time::sleep(pause).await;
        };
        if status != StatusCode::OK {
            return Err(unexpected(&format!("GET {url}"), status, &body));
        }
        let tasks: Vec<Task> = serde_json::from_slice(&body).map_err(|e| Error::NotTheService {
            action: format!("GET {url}"),
            problem: format!("the answer is not a list of tasks: {e}"),
        })?;
        if tasks.is_empty() {
            return Err(Error::NoTasks {
                url: url.to_string(),
            });
        }
        Ok(tasks)
    }

    /// Signs up `count` accounts named `load-<run>-<n>`; returns their `Authorization`
    /// header values in order.
    pub async fn sign_up(&self, run: &str, count: usize) -> Result<Vec<HeaderValue>> {
        let password = format!("load-{run}-password");
        futures::stream::iter(0..count)
            .map(|n| {
                let username = format!("load-{run}-{n}");
                let password = password.clone();
                async move { self.sign_up_one(&username, &password).await }
            })
            .buffered(PARALLEL_SIGNUPS)
            .try_collect()
            .await
    }

    async fn sign_up_one(&self, username: &str, password: &str) -> Result<HeaderValue> {
        let url = self.target.endpoint("api/auth/signup");
        let body = serde_json::json!({
            "username": username,
            "password": password,
            "password_confirm": password,
        });
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let (status, body) = self.exchange(request).await?;
        let action = format!("signing up load user {username}");
        if status != StatusCode::CREATED {
            return Err(unexpected(&action, status, &body));
        }
        let token: Token = serde_json::from_slice(&body).map_err(|e| Error::NotTheService {
            action: action.clone(),
            problem: format!("the answer has no token: {e}"),
        })?;
        HeaderValue::from_str(&format!("Bearer {}", token.token)).map_err(|_| {
            Error::NotTheService {
                action,
                problem: "the token is not a valid header value".to_string(),
            }
        })
    }

    /// The ids on the first page of the list.
    pub async fn listed(&self) -> Result<Vec<String>> {
        let url = self.target.endpoint("api/resumes");
        let (status, body) = self.exchange(self.client.get(url.clone())).await?;
        if status != StatusCode::OK {
            return Err(unexpected(&format!("GET {url}"), status, &body));
        }
        let page: Page = serde_json::from_slice(&body).map_err(|e| Error::NotTheService {
            action: format!("GET {url}"),
            problem: format!("the answer is not a page of resumes: {e}"),
        })?;
        Ok(page.items.into_iter().map(|item| item.id).collect())
    }

    /// Submits `SEED_RESUMES` resumes when the list is empty, so reads find something.
    /// Returns how many were submitted.
    pub async fn seed_if_empty(&self, authorization: &HeaderValue, form: &Form) -> Result<usize> {
        if !self.listed().await?.is_empty() {
            return Ok(0);
        }
        let url = self.target.endpoint("api/resumes");
        for n in 0..SEED_RESUMES {
            let request = self
                .client
                .post(url.clone())
                .header(AUTHORIZATION, authorization.clone())
                .header(CONTENT_TYPE, form.content_type())
                .body(form.body());
            let (status, body) = self.exchange(request).await?;
            if status != StatusCode::CREATED {
                return Err(unexpected(
                    &format!("submitting seed resume {} of {SEED_RESUMES}", n + 1),
                    status,
                    &body,
                ));
            }
        }
        Ok(SEED_RESUMES)
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, bytes::Bytes)> {
        let response = self.send(request).await?;
        let status = response.status();
        Ok((status, self.body(response).await?))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        request.send().await.map_err(|e| self.unreachable(&e))
    }

    async fn body(&self, response: reqwest::Response) -> Result<bytes::Bytes> {
        response.bytes().await.map_err(|e| self.unreachable(&e))
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::Unreachable {
            base: self.target.base().to_string(),
            detail: describe_error(e),
        }
    }
}

/// What a service starting, or a load balancer with no healthy target yet, answers.
fn not_ready_yet(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// `Retry-After` in seconds when the answer has one (an HTTP date is not worth parsing
/// for a pause this short), between 1 s and `LONGEST_READY_POLL`.
fn pause_before_asking_again(retry_after: Option<&HeaderValue>) -> Duration {
    retry_after
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map_or(READY_POLL, |seconds| {
            Duration::from_secs(seconds).clamp(READY_POLL, LONGEST_READY_POLL)
        })
}

/// Seconds, rounded up: a note never says 0 s of a pause that has some left.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The service's JSON reason (`{"error": …}`), or the start of whatever else it sent.
fn said(body: &[u8]) -> String {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(api) => api.error,
        Err(_) => snippet(body),
    }
}

fn unexpected(action: &str, status: StatusCode, body: &[u8]) -> Error {
    Error::UnexpectedStatus {
        action: action.to_string(),
        status,
        said: said(body),
    }
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else if body.len() > MAX {
        format!("{text}…")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_is_the_services_retry_after_within_bounds() {
        let pause =
            |value: &str| pause_before_asking_again(Some(&HeaderValue::from_str(value).unwrap()));
        assert_eq!(pause_before_asking_again(None), READY_POLL);
        assert_eq!(pause("3"), Duration::from_secs(3));
        assert_eq!(pause("0"), READY_POLL);
        assert_eq!(pause("120"), LONGEST_READY_POLL);
        assert_eq!(pause("Wed, 21 Oct 2015 07:28:00 GMT"), READY_POLL);
    }

    #[test]
    fn only_gateway_and_unavailable_answers_are_waited_out() {
        for status in [502, 503, 504] {
            assert!(
                not_ready_yet(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [200, 404, 429, 500] {
            assert!(
                !not_ready_yet(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }

    #[test]
    fn a_json_reason_is_said_as_is_and_anything_else_by_its_start() {
        assert_eq!(
            said(br#"{"error":"starting: waiting for cache","kind":"service"}"#),
            "starting: waiting for cache"
        );
        assert_eq!(
            said(b"<html>502 Bad Gateway</html>"),
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(said(b""), "(empty body)");
    }
}
