//! The HTTP surface: one file per resource, `web` for the page itself and `openapi` for
//! the description of them all. Handlers read `AppState` and never reach into
//! `startup`, which builds this router and wraps it in the middleware. Each handler is
//! registered with its OpenAPI description (`routes!`), so what is served is what is
//! described. JSON bodies are read by `json_body`, not by axum's `Json`, so that a
//! malformed body gets the service's JSON error shape.

mod auth;
mod health;
mod media;
mod openapi;
mod resumes;
mod tasks;
mod web;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::routing::get;
use axum::{Extension, Router};
use serde::de::DeserializeOwned;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use auth::CurrentUser;
pub use health::{Health, Readiness};

use crate::Error;
use crate::state::{AppState, Limits};

/// Bodies of JSON requests are small; uploads get their own, larger limit.
const JSON_BODY_LIMIT: usize = 64 * 1024;

/// The service's router: the routes of `described` (this adds none, so the document
/// lists every one), answers for an unknown path (404) or method (405) in the error
/// shape, the document for `/api/openapi.json` and the body limits; `startup` adds the
/// rest of the middleware.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = described(&state.limits).split_for_parts();
    let doc = openapi::finish(doc, &state.tasks, &state.limits);
    let doc = openapi::Served::new(&doc);
    routes
        .fallback(|| async { Error::NoRoute })
        .method_not_allowed_fallback(|| async { Error::NoMethod })
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            crate::security::Guard::default(),
            crate::security::screen,
        ))
        .with_state(state)
}

/// Every route with its handler's description, before the middleware: what `router`
/// serves, and what the tests compare with the document.
pub fn described(limits: &Limits) -> OpenApiRouter<AppState> {
    let upload_limit = DefaultBodyLimit::max(limits.max_body_bytes);
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(tasks::list))
        .routes(routes!(resumes::list, resumes::create).layer(upload_limit))
        .routes(routes!(resumes::show, resumes::delete))
        // An edit may add images, so it gets the upload limit too.
        .routes(routes!(resumes::update).layer(upload_limit))
        .routes(routes!(openapi::document))
        // A key holds slashes: axum's catch-all `{*key}` is OpenAPI's `{key}`, which
        // `routes!` would route as one segment. `openapi::base` describes it.
        .route("/media/{*key}", get(media::show))
        .merge(web::router())
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
