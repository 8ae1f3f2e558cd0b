//! The HTTP surface: one file per resource, and `web` for the page itself. Handlers
//! read `AppState` and never reach into `startup`, which builds this router and wraps
//! it in the middleware. JSON bodies are read by `json_body`, not by axum's `Json`, so
//! that a malformed body gets the service's JSON error shape.

mod auth;
mod health;
mod media;
mod resumes;
mod tasks;
mod web;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::routing::{get, patch, post};
use serde::de::DeserializeOwned;

pub use auth::CurrentUser;

use crate::Error;
use crate::state::AppState;

/// Bodies of JSON requests are small; uploads get their own, larger limit.
const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Every route of the service, with its body limits; `startup` adds the middleware.
pub fn router(state: AppState) -> Router {
    let upload_limit = DefaultBodyLimit::max(state.limits.max_body_bytes);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/auth/signup", post(auth::signup))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/me", get(auth::me))
        .route("/api/tasks", get(tasks::list))
        .route(
            "/api/resumes",
            get(resumes::list).post(resumes::create).layer(upload_limit),
        )
        .route(
            "/api/resumes/{id}",
            get(resumes::show)
                .delete(resumes::delete)
                // An edit may add images, so it gets the upload limit too.
                .merge(patch(resumes::update).layer(upload_limit)),
        )
        .route("/media/{*key}", get(media::show))
        .merge(web::router())
        .fallback(|| async { Error::NoRoute })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            crate::security::Guard::default(),
            crate::security::screen,
        ))
        .with_state(state)
}

/// Parses a JSON body, answering 400 (malformed) or 413 (too large) in the service's
/// error shape.
pub(crate) fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Error> {
    let body = body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::too_large("body", "request body is too large")
        } else {
            Error::malformed("body", "request body cannot be read")
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::malformed(
            "body",
            format!("request body is not the expected JSON: {e}"),
        )
    })
}
