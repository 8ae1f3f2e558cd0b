//! The service's OpenAPI 3.1 description, served at `GET /api/openapi.json`.
//!
//! It is generated from the handlers: each carries `#[utoipa::path]` with its method,
//! path, parameters, body and answers, named by the Rust types it reads and returns
//! (their schemas derive from the types), and `routes!` registers a handler and its
//! description in one step (the media route, which `routes!` cannot register, is
//! described in `base`). `tests/api/openapi.rs` checks that the router serves exactly
//! what the document describes, and that the handlers answer what it says. What belongs
//! to no single handler is added here: the document's header, the two ways to present a
//! session, the answer of the middleware every route passes through (`security::screen`
//! refuses cross-site writes), and what only the running service knows (its job
//! categories, its image limit).

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::auth::{COOKIE_NAME, SECURE_COOKIE_NAME};
use super::media;
use crate::domain::Task;
use crate::error::ErrorBody;
use crate::state::Limits;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "modu-app",
        description = "The resume service: sign up, log in, and save resumes with portfolio \
            images.\n\nEvery refusal is a 4xx with the JSON body `ErrorBody`, `{error, field}`; \
            an internal failure is a bare 500. Besides the answers each operation lists, any \
            request may get 408 after `REQUEST_TIMEOUT_SECS`, and while the service starts, \
            503 with `Retry-After`, both in the same shape.",
    ),
    paths(media::show),
    components(schemas(ErrorBody)),
    modifiers(&Sessions),
    tags(
        (name = "auth", description = "Accounts and sessions."),
        (name = "resumes", description = "Resumes, their images and the job categories."),
        (name = "health", description = "Probes for the load balancer."),
        (name = "page", description = "The web page, for browsers."),
        (name = "meta", description = "This document."),
    )
)]
struct Base;

/// The document before the handlers add themselves: header, schemes, the media route
/// (which `routes!` cannot register: see `routes::described`).
pub fn base() -> Document {
    let mut doc = Base::openapi();
    // The package has no licence to name; an empty one would still be printed.
    doc.info.license = None;
    doc
}

/// The two ways to present a session, as the operations' `security` names them.
struct Sessions;

impl Modify for Sessions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `token` that sign-up and login answer, as \
                         `Authorization: Bearer <token>`. Valid for a week, until logout.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                COOKIE_NAME.to_owned(),
                format!(
                    "The HttpOnly cookie that sign-up and login set: `{COOKIE_NAME}` over \
                     plain HTTP, `{SECURE_COOKIE_NAME}` (preferred when both are sent) over \
                     HTTPS. A browser attaches it to requests other sites make, so a write \
                     (POST, PATCH, DELETE) without `Authorization: Bearer` must show it comes \
                     from this service's page: an `Origin` naming the host it was sent to, or \
                     without `Origin`, `Sec-Fetch-Site: same-origin`; else 403 with `field` \
                     `origin`. No CSRF token is needed."
                ),
            ))),
        );
    }
}

/// Completes the handlers' document with the middleware's answers and with what only
/// the running service knows: its job categories and its image limit.
pub fn finish(mut doc: Document, tasks: &[Task], limits: &Limits) -> Document {
    refuse_cross_site_writes(&mut doc);
    name_tasks(&mut doc, tasks);
    limit_images(&mut doc, limits);
    doc
}

/// Adds what the middleware answers to the operations it concerns: every write may be
/// refused as cross-site (403, `field` `origin`) before its handler runs.
fn refuse_cross_site_writes(doc: &mut Document) {
    const CROSS_SITE: &str = "a cross-site write refused (`field`: `origin`).";
    for item in doc.paths.paths.values_mut() {
        let writes = [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in writes.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            match responses.get_mut("403") {
                Some(RefOr::T(forbidden)) => {
                    forbidden.description = format!("{} Or {CROSS_SITE}", forbidden.description);
                }
                Some(RefOr::Ref(_)) => {}
                None => {
                    let refused = ResponseBuilder::new()
                        .description(format!("Refused: {CROSS_SITE}"))
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    responses.insert("403".to_owned(), RefOr::T(refused));
                }
            }
        }
    }
}

/// A new resume holds at most `MAX_IMAGES` images.
fn limit_images(doc: &mut Document, limits: &Limits) {
    let form = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ResumeForm"));
    if let Some(RefOr::T(Schema::Object(form))) = form
        && let Some(RefOr::T(Schema::Array(images))) = form.properties.get_mut("image")
    {
        images.max_items = Some(limits.max_images);
    }
}

/// Lists the job categories wherever a form or an edit names one: their ids and names,
/// as the database holds them (the migrations seed them; they never change while the
/// service runs).
fn name_tasks(doc: &mut Document, tasks: &[Task]) {
    fn task_of(schema: Option<&mut RefOr<Schema>>) -> Option<&mut RefOr<Schema>> {
        match schema {
            Some(RefOr::T(Schema::Object(form))) => form.properties.get_mut("task"),
            _ => None,
        }
    }

    let Some(schemas) = doc.components.as_mut().map(|c| &mut c.schemas) else {
        return;
    };
    let ids = || tasks.iter().map(|t| Value::from(t.id));
    let names = || tasks.iter().map(|t| Value::from(t.name.clone()));
    for form in ["ResumeForm", "ResumeEditForm"] {
        // A form's parts are text: the id as digits.
        if let Some(RefOr::T(Schema::Object(task))) = task_of(schemas.get_mut(form)) {
            let as_text = ids().map(|id| Value::from(id.to_string()));
            task.enum_values = Some(as_text.chain(names()).collect());
        }
    }
    if let Some(RefOr::T(Schema::OneOf(one_of))) = task_of(schemas.get_mut("ResumeEdit")) {
        for item in &mut one_of.items {
            if let RefOr::T(Schema::Object(choice)) = item {
                choice.enum_values = Some(match choice.schema_type {
                    SchemaType::Type(Type::Integer) => ids().collect(),
                    _ => names().collect(),
                });
            }
        }
    }
}

/// The finished document as JSON, made once when the router is built.
#[derive(Clone)]
pub struct Served(Bytes);

impl Served {
    pub fn new(doc: &Document) -> Self {
        let json = doc
            .to_json()
            .expect("an OpenAPI document always serialises");
        Served(Bytes::from(json))
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI description of this service.",
        body = Object))
)]
pub async fn document(Extension(served): Extension<Served>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], served.0).into_response()
}
