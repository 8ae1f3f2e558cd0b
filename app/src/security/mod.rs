//! Defences of the public endpoints against abuse: who is asking (`client`), how often
//! they may try to log in or sign up (`rate_limit`), refusing writes a foreign page
//! makes a browser send (`csrf`), how much password hashing may wait (`hashing`), and
//! the log of what was refused (`audit`).
//!
//! Refusals answer in the service's `{error, field}` shape, with `Retry-After` where
//! waiting helps. They are a type of their own ([`Refusal`]) rather than variants of
//! [`Error`] because they carry a header; [`Rejection`] lets a handler return either.

pub mod audit;
pub mod client;
pub mod csrf;
pub mod hashing;
pub mod rate_limit;

use std::sync::Arc;
use std::time::Duration;

use crate::domain::ValidationError;
use crate::error::{Error, ErrorBody};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use client::ClientAddr;
use rate_limit::Limiter;

/// A request refused by one of these defences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub field: &'static str,
    pub message: String,
    /// Whole seconds, as `Retry-After` counts them.
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// 429: another attempt is allowed after `wait`.
    pub fn too_many(field: &'static str, message: impl Into<String>, wait: Duration) -> Self {
        Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            field,
            message: message.into(),
            retry_after: Some(retry_after_secs(wait)),
        }
    }

    /// 503: every password hashing slot is taken.
    pub fn busy() -> Self {
        Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            field: "service",
            message: "too many logins and sign-ups at once; try again in a moment".into(),
            retry_after: Some(hashing::RETRY_AFTER_SECS),
        }
    }

    pub fn cross_site(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::FORBIDDEN,
            field: "origin",
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_json() -> Self {
        Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field: "content-type",
            message: "the body must be JSON, sent as Content-Type: application/json".into(),
            retry_after: None,
        }
    }
}

/// Rounded up, and at least 1: `Retry-After: 0` would invite an immediate retry.
fn retry_after_secs(wait: Duration) -> u64 {
    u64::try_from(wait.as_nanos().div_ceil(1_000_000_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody::new(self.message, self.field));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// What a handler guarded here may answer instead of its result.
#[derive(Debug)]
pub enum Rejection {
    Refused(Refusal),
    Failed(Error),
}

impl From<Refusal> for Rejection {
    fn from(r: Refusal) -> Self {
        Rejection::Refused(r)
    }
}

impl From<Error> for Rejection {
    fn from(e: Error) -> Self {
        Rejection::Failed(e)
    }
}

impl From<ValidationError> for Rejection {
    fn from(e: ValidationError) -> Self {
        Rejection::Failed(e.into())
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Refused(r) => r.into_response(),
            Rejection::Failed(e) => e.into_response(),
        }
    }
}

/// The per-application state of these defences: one per router, so two applications
/// in one process (as in tests) count separately.
#[derive(Clone, Default)]
pub struct Guard {
    limiter: Arc<Limiter>,
}

/// Middleware on every route: refuses cross-site writes (see `csrf`), then hands the
/// handlers the rate limiter as a request extension.
pub async fn screen(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    if let Err(reason) = csrf::check(request.method(), request.uri(), request.headers()) {
        let client = ClientAddr::of_request(&request);
        audit::event(audit::CSRF_REFUSED, &client, None, &reason);
        return Refusal::cross_site(format!("cross-site request refused: {reason}"))
            .into_response();
    }
    request.extensions_mut().insert(guard.limiter.clone());
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
        assert_eq!(retry_after_secs(Duration::from_millis(6_001)), 7);
    }

    #[tokio::test]
    async fn a_refusal_has_the_error_shape_and_retry_after() {
        let response = Refusal::too_many("username", "slow down", Duration::from_millis(2_500))
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, json!({ "error": "slow down", "field": "username" }));
    }
}
