//! Serves stored images when no CDN (`MEDIA_BASE_URL`) is in front. Keys hold a fresh
//! UUID, so an object never changes and may be cached for good.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::Error;
use crate::error::Context;
use crate::state::AppState;

pub async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, Error> {
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
