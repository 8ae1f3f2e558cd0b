//! Before the clock starts: read the service's tasks (which also proves it answers), sign
//! up this run's accounts, and, for the read workloads, make sure there is something to
//! read. Nothing here is measured; any failure stops the run with what was being done.

use futures::{StreamExt, TryStreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, StatusCode};
use serde::Deserialize;

use super::form::Form;
use super::target::Target;
use super::{SEED_RESUMES, describe_error};
use crate::error::{Error, Result};

/// Sign-ups hash a password with Argon2 on the server; a few at a time keeps the setup
/// from timing out on a small machine.
const PARALLEL_SIGNUPS: usize = 8;

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
    pub async fn tasks(&self) -> Result<Vec<Task>> {
        let url = self.target.endpoint("api/tasks");
        let (status, body) = self.exchange(self.client.get(url.clone())).await?;
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
        let unreachable = |e: reqwest::Error| Error::Unreachable {
            base: self.target.base().to_string(),
            detail: describe_error(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok((status, body))
    }
}

fn unexpected(action: &str, status: StatusCode, body: &[u8]) -> Error {
    let said = match serde_json::from_slice::<ApiError>(body) {
        Ok(api) => api.error,
        Err(_) => snippet(body),
    };
    Error::UnexpectedStatus {
        action: action.to_string(),
        status,
        said,
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
