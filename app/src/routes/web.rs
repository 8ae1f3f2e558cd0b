//! The web page, embedded in the binary so no separate front-end server runs: one
//! HTML shell, one script and one style sheet. The script talks to the same JSON API
//! as any client, with the session in an HttpOnly cookie.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::protection::headers::page_policy;
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// Assets change only with the binary; a short cache keeps deploys visible quickly.
const CACHE: &str = "public, max-age=300";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(app_js))
        .routes(routes!(style_css))
}

/// The web page.
// The policy names the image origin, which the stack's parameters may set after the
// process started, so it is built from the state rather than once.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "page",
    tag = "page",
    responses((status = 200, description = "The web page.", content(("text/html"))))
)]
async fn index(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                page_policy(&state.media_base_url),
            ),
        ],
        INDEX_HTML,
    )
}

/// The page's script.
#[utoipa::path(
    get,
    path = "/assets/app.js",
    operation_id = "page_script",
    tag = "page",
    responses((status = 200, description = "The page's script.", content(("text/javascript"))))
)]
async fn app_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        APP_JS,
    )
}

/// The page's style sheet.
#[utoipa::path(
    get,
    path = "/assets/style.css",
    operation_id = "page_style",
    tag = "page",
    responses((status = 200, description = "The page's style sheet.", content(("text/css"))))
)]
async fn style_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        STYLE_CSS,
    )
}
