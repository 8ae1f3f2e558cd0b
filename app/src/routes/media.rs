//! Serves stored images when no CDN (`MEDIA_BASE_URL`) is in front. Keys hold a fresh
//! UUID, so an object never changes and may be cached for good.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::Error;
use crate::error::{Context, ErrorBody};
use crate::state::AppState;

/// An image, by the `key` a resume's image carries, when no CDN serves them.
// Routed as axum's catch-all `/media/{*key}`, so `routes::described` registers it
// apart from its description.
#[utoipa::path(
    get,
    path = "/media/{key}",
    operation_id = "show_media",
    tag = "resumes",
    params(("key" = String, Path, description = "An image's key, \
        `resumes/<resume id>/<image id>.<ext>`; its slashes are not escaped.")),
    responses(
        (status = 200, description = "The image; it never changes, and may be cached for good.",
            content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif"))),
        (status = 404, description = "No such image.", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Response, Error> {
    // A key that does not decode to text names no image.
    let Path(key) = key.map_err(|_| Error::NotFound)?;
    let object = state.images.get(&key).await.context("reading an image")?;
    let object = object.ok_or(Error::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, object.content_type),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_owned(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        object.bytes,
    )
        .into_response())
}
