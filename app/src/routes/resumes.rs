//! Resumes: create (multipart, with images), list (cached, cursor-paginated), show,
//! update and delete (owner only).
//!
//! Create validates everything before writing anything, then stores the images
//! durably, then writes the resume and its image rows in one transaction. If the
//! transaction fails the stored images are removed, so nothing is ever half-saved;
//! the 201 is sent only after both the commit and the images are durable.
//!
//! Uploads are bounded (see `protection::uploads`): a form's body is read only once it
//! has its share of the upload memory budget, which it keeps until its save is over,
//! and a form that would take its owner past the storage quota is refused. Every
//! refused upload is logged as an audit event.
//!
//! The statements themselves are in `db::resumes`; this file decides what is asked,
//! in which order, and how the answer looks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{CurrentUser, json_body};
use crate::db::resumes::{
    EditOutcome, ImageRow, NewImageRow, NewResumeRows, ResumeEdit, ResumeRow,
};
use crate::db::{self, now_ms};
use crate::domain::{ApplicantName, Motivation, SniffedImage, Task, TaskRef};
use crate::error::{Context, Error, ErrorBody};
use crate::protection::uploads::{self, BudgetFull, Reservation};
use crate::security::client::ClientAddr;
use crate::state::AppState;
use crate::storage::NewObject;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;
/// Text fields are short; anything longer is refused before it is buffered.
const MAX_TEXT_FIELD_BYTES: usize = 16 * 1024;
/// Image keys are `resumes/<uuid>/<uuid>.<ext>`; anything much longer is not one.
const MAX_KEY_BYTES: usize = 256;

/// A resume as every read and write answers it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Resume)]
pub struct ResumeView {
    /// A UUIDv7: newer resumes have greater ids.
    pub id: String,
    /// The owner's username.
    pub owner: String,
    pub name: String,
    pub motivation: String,
    pub task: Task,
    /// In the order they were added.
    pub images: Vec<ImageView>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
}

/// One image of a resume.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Image)]
pub struct ImageView {
    /// Where the image is served: under `/media/` of this service, or the CDN's.
    pub url: String,
    /// What an edit's `remove_image` names.
    pub key: String,
    /// `image/jpeg`, `image/png`, `image/webp` or `image/gif`, judged by the content.
    pub content_type: String,
    pub width: i64,
    pub height: i64,
    pub size_bytes: i64,
}

/// One page of resumes, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ResumePage)]
struct Page {
    items: Vec<ResumeView>,
    /// The `cursor` of the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// An image file in a form: JPEG, PNG, WebP or GIF, judged by its content (magic bytes,
/// a header of sane dimensions, the format's end marker), never by its name or type;
/// at most `MAX_IMAGE_MB` (5 MiB by default).
#[derive(Deserialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ImageFile(#[allow(dead_code)] Vec<u8>);

// The forms below are read part by part (`read_parts`), not by serde: they exist to be
// described, and derive `Deserialize` only so that the schema says what `read_parts`
// does with a part it does not know (`deny_unknown_fields`: 400). Their text patterns
// are the domain's rules (`ApplicantName::parse`, `Motivation::parse`): not blank, and
// no control characters (a motivation keeps line breaks and tabs).

/// The form that creates a resume, as `multipart/form-data` (what the web page sends).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResumeForm {
    #[schema(
        min_length = 1,
        max_length = 50,
        example = "Kim Minji",
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// Line breaks and tabs are kept; other control characters are refused.
    #[schema(
        min_length = 1,
        max_length = 2000,
        example = "I like building things.",
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    motivation: String,
    /// A job category's id or exact name (`GET /api/tasks`).
    #[schema(min_length = 1, example = "3")]
    task: String,
    /// One part per image, at most `MAX_IMAGES` (10 by default).
    #[schema(required = false)]
    image: Vec<ImageFile>,
}

/// An edit as `multipart/form-data`: any of the form's fields, images to add and keys of
/// images to remove; at least one of them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
#[allow(dead_code)]
pub struct ResumeEditForm {
    #[schema(
        required = false,
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    #[schema(
        required = false,
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    motivation: String,
    /// A job category's id or exact name.
    #[schema(required = false, min_length = 1)]
    task: String,
    /// Images to add; the resume holds at most `MAX_IMAGES` after the edit.
    #[schema(required = false)]
    image: Vec<ImageFile>,
    /// The `key` of an image of this resume to remove, one part per image.
    #[schema(required = false)]
    remove_image: Vec<String>,
}

/// A resume form, fully validated.
struct NewResume {
    name: ApplicantName,
    motivation: Motivation,
    task: Task,
    images: Vec<SniffedImage>,
}

/// Saves a new resume with its images.
///
/// A 201 means the resume and its images are durable; a refused form writes nothing.
#[utoipa::path(
    post,
    path = "/api/resumes",
    operation_id = "create_resume",
    tag = "resumes",
    request_body(content(
        (ResumeForm = "multipart/form-data",
            encoding(("image" = (content_type = "image/jpeg, image/png, image/webp, image/gif"))))
    )),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "Saved.", body = ResumeView, links(
            ("show" = (operation_id = "show_resume", parameters(("id" = "$response.body#/id")))),
            ("edit" = (operation_id = "update_resume", parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_resume", parameters(("id" = "$response.body#/id")))),
            ("first_image" = (operation_id = "show_media",
                parameters(("key" = "$response.body#/images/0/key")))),
        )),
        (status = 400, description = "Not a readable multipart form, or a field it does not \
            have.", body = ErrorBody),
        (status = 401, description = "No valid session.", body = ErrorBody),
        (status = 413, description = "The body, an image or the user's storage quota is \
            exceeded.", body = ErrorBody),
        (status = 422, description = "A field is refused; `field` names it.", body = ErrorBody),
        (status = 503, description = "Too many uploads at once.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    client: ClientAddr,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, Error> {
    let multipart = multipart.map_err(|e| {
        Error::malformed("body", format!("expected a multipart/form-data body: {e}"))
    })?;
    let who = Uploader {
        client,
        username: &user.username,
    };
    // A user already at the quota is refused before the body is read at all.
    let stored = uploads::stored_bytes(&state.db, user.user_id).await?;
    who.check("quota", within_quota(&state, stored, 1, 0))?;
    let reservation = match state
        .uploads
        .reserve(&headers, state.limits.max_body_bytes)
        .await
    {
        Ok(reservation) => reservation,
        Err(full) => return Ok(who.busy(full)),
    };
    let form = who.check("form", read_form(&state, multipart).await)?;
    let added = form.images.iter().map(|i| i.bytes.len() as u64).sum();
    who.check("quota", within_quota(&state, stored, added, 0))?;

    let id = Uuid::now_v7().to_string();
    let objects = new_objects(&id, &form.images);
    let now = now_ms();
    let rows = resume_rows(&id, user.user_id, &form, &objects, now);
    let view = ResumeView {
        id,
        owner: user.username,
        name: form.name.as_str().to_owned(),
        motivation: form.motivation.as_str().to_owned(),
        task: form.task,
        images: objects
            .iter()
            .zip(&form.images)
            .map(|(o, img)| ImageView {
                url: format!("{}/{}", state.media_base_url, o.key),
                key: o.key.clone(),
                content_type: o.content_type.to_owned(),
                width: img.width.into(),
                height: img.height.into(),
                size_bytes: img.bytes.len() as i64,
            })
            .collect(),
        created_at: now,
        updated_at: now,
    };
    // In its own task: if the client goes away mid-save, dropping this handler must not
    // stop the save between storing the images and committing the rows (or their
    // clean-up); the save runs to its end either way.
    tokio::spawn(save(state.clone(), objects, rows, reservation))
        .await
        .context("saving a resume")??;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Stores the images, then commits the rows; if the commit fails, removes the images.
/// The form's share of the upload budget is given back when this ends, when its bytes
/// are freed, even if the client has gone.
async fn save(
    state: AppState,
    objects: Vec<NewObject>,
    rows: NewResumeRows,
    _reservation: Reservation,
) -> Result<(), Error> {
    state
        .images
        .put_all(&objects)
        .await
        .context("storing images")?;
    if let Err(e) = db::resumes::insert(&state.db, rows).await {
        let keys: Vec<String> = objects.into_iter().map(|o| o.key).collect();
        state.images.delete_all(&keys).await;
        return Err(Error::internal("saving a resume", e));
    }
    invalidate(&state).await;
    Ok(())
}

fn resume_rows(
    id: &str,
    owner_id: i64,
    form: &NewResume,
    objects: &[NewObject],
    now: i64,
) -> NewResumeRows {
    NewResumeRows {
        id: id.to_owned(),
        owner_id,
        task_id: form.task.id,
        name: form.name.as_str().to_owned(),
        motivation: form.motivation.as_str().to_owned(),
        now,
        images: image_rows(objects, &form.images),
    }
}

/// Storage objects for a resume's new images, under fresh keys.
fn new_objects(resume_id: &str, images: &[SniffedImage]) -> Vec<NewObject> {
    images
        .iter()
        .map(|img| NewObject {
            key: format!(
                "resumes/{resume_id}/{}.{}",
                Uuid::new_v4(),
                img.kind.extension()
            ),
            content_type: img.kind.content_type(),
            bytes: img.bytes.clone(),
        })
        .collect()
}

fn image_rows(objects: &[NewObject], images: &[SniffedImage]) -> Vec<NewImageRow> {
    objects
        .iter()
        .zip(images)
        .map(|(obj, img)| NewImageRow {
            key: obj.key.clone(),
            content_type: obj.content_type,
            width: img.width.into(),
            height: img.height.into(),
            size_bytes: img.bytes.len() as i64,
        })
        .collect()
}

/// The quota check of a change adding `added` and removing `removed` image bytes.
fn within_quota(state: &AppState, stored: u64, added: u64, removed: u64) -> Result<(), Error> {
    uploads::check_quota(stored, added, removed, state.limits.user_quota_bytes)
}

/// Who is uploading, for the audit events of refused uploads.
struct Uploader<'a> {
    client: ClientAddr,
    username: &'a str,
}

impl Uploader<'_> {
    /// Passes `result` on, logging an audit event when it refuses the upload's content
    /// or size (a missing text field is an ordinary form error, not worth an audit line).
    fn check<T>(&self, check: &str, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result
            && matches!(
                e,
                Error::TooLarge { .. } | Error::Invalid { field: "image", .. }
            )
        {
            uploads::audit_rejected(&self.client, self.username, check, &e.to_string());
        }
        result
    }

    /// The 503 for an upload that found no room in the memory budget.
    fn busy(&self, full: BudgetFull) -> Response {
        uploads::audit_rejected(
            &self.client,
            self.username,
            "busy",
            "upload memory budget full",
        );
        full.into_response()
    }
}

fn multipart_error(e: MultipartError) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::too_large("body", "request body is too large")
    } else {
        Error::malformed(
            "body",
            format!("malformed multipart body: {}", e.body_text()),
        )
    }
}

/// The parts of a resume form as sent; which of them are required depends on whether
/// the form creates a resume or edits one.
#[derive(Default)]
struct FormParts {
    name: Option<String>,
    motivation: Option<String>,
    task: Option<String>,
    images: Vec<SniffedImage>,
    /// Edits only: keys of images to remove.
    remove: Vec<String>,
}

/// Reads and checks the whole form; nothing is written until the caller has it all.
async fn read_parts(
    state: &AppState,
    mut multipart: Multipart,
    allow_remove: bool,
) -> Result<FormParts, Error> {
    let limits = state.limits;
    let mut parts = FormParts::default();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let field_name = field.name().unwrap_or_default().to_owned();
        let (slot, label, max) = match field_name.as_str() {
            "image" | "images" => {
                if parts.images.len() >= limits.max_images {
                    return Err(Error::invalid(
                        "image",
                        format!("at most {} images are allowed", limits.max_images),
                    ));
                }
                let bytes = read_field(&mut field, limits.max_image_bytes)
                    .await?
                    .ok_or_else(|| {
                        Error::too_large(
                            "image",
                            format!(
                                "each image must be at most {} MiB",
                                limits.max_image_bytes >> 20
                            ),
                        )
                    })?;
                // Browsers send an empty part for a file input left empty.
                if bytes.is_empty() && field.file_name().is_none_or(str::is_empty) {
                    continue;
                }
                parts.images.push(SniffedImage::parse(bytes)?);
                continue;
            }
            "remove_image" if allow_remove => {
                let bytes = read_field(&mut field, MAX_KEY_BYTES)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid(
                            "remove_image",
                            "remove_image is not an image of this resume",
                        )
                    })?;
                let key = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    Error::invalid(
                        "remove_image",
                        "remove_image is not an image of this resume",
                    )
                })?;
                parts.remove.push(key);
                continue;
            }
            "name" => (&mut parts.name, "name", ApplicantName::MAX_CHARS * 4),
            "motivation" => (
                &mut parts.motivation,
                "motivation",
                Motivation::MAX_CHARS * 4,
            ),
            "task" | "task_id" => (&mut parts.task, "task", 400),
            other => {
                return Err(Error::malformed(
                    "body",
                    format!("unexpected form field {other:?}"),
                ));
            }
        };
        let too_long = || Error::invalid(label, format!("{label} is too long"));
        let bytes = read_field(&mut field, max.min(MAX_TEXT_FIELD_BYTES))
            .await?
            .ok_or_else(too_long)?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::invalid(label, format!("{label} must be UTF-8 text")))?;
        if slot.replace(text).is_some() {
            return Err(Error::invalid(label, format!("{label} is given twice")));
        }
    }
    Ok(parts)
}

/// A new resume's form: every text field is required.
async fn read_form(state: &AppState, multipart: Multipart) -> Result<NewResume, Error> {
    let parts = read_parts(state, multipart, false).await?;
    let name = ApplicantName::parse(parts.name.as_deref().unwrap_or_default())?;
    let motivation = Motivation::parse(parts.motivation.as_deref().unwrap_or_default())?;
    let task = TaskRef::parse(parts.task.as_deref().unwrap_or_default())?;
    Ok(NewResume {
        name,
        motivation,
        task: task.resolve(&state.tasks)?,
        images: parts.images,
    })
}

/// The field's bytes, or `None` once it grows past `max` (the rest is not read).
///
/// The chunks are kept as they come and copied once into a buffer of the exact size:
/// a growing buffer doubles, so a 5 MiB image could keep 8 MiB (and need 12 MiB while
/// it is copied), which the upload budget does not count.
async fn read_field(
    field: &mut axum::extract::multipart::Field<'_>,
    max: usize,
) -> Result<Option<Bytes>, Error> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if len + chunk.len() > max {
            return Ok(None);
        }
        len += chunk.len();
        chunks.push(chunk);
    }
    Ok(Some(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().expect("one chunk"),
        _ => Bytes::from(chunks.concat()),
    }))
}

async fn invalidate(state: &AppState) {
    // A failed invalidation only delays freshness until the cache TTL; the write
    // itself has succeeded, so it is logged rather than failing the request.
    if let Err(e) = state.cache.invalidate().await {
        tracing::warn!(error = %e, "cannot invalidate the resume cache");
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, format = "uuid")]
    cursor: Option<String>,
    /// Resumes per page, 20 by default.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Every resume, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/resumes",
    operation_id = "list_resumes",
    tag = "resumes",
    params(ListQuery),
    responses(
        (status = 200, description = "A page.", body = Page, links(
            ("next" = (operation_id = "list_resumes",
                parameters(("cursor" = "$response.body#/next_cursor")))),
        )),
        (status = 400, description = "The query string cannot be read (a parameter given \
            twice).", body = ErrorBody),
        (status = 422, description = "`limit` or `cursor` is refused.", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Error> {
    // A parameter given twice, or escapes that do not decode to text.
    let Query(query) = query
        .map_err(|e| Error::malformed("query", format!("the query string cannot be read: {e}")))?;
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| Error::invalid("limit", "limit must be a number from 1 to 100"))?,
    };
    let cursor = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            Uuid::parse_str(raw)
                .map_err(|_| Error::invalid("cursor", "cursor is not valid"))?
                .to_string(),
        ),
    };
    let key = format!("{}:{limit}", cursor.as_deref().unwrap_or(""));
    let miss = match state.cache.get(&key).await {
        Ok(Ok(page)) => return Ok(json_bytes(page)),
        Ok(Err(miss)) => Some(miss),
        Err(e) => {
            tracing::warn!(error = %e, "resume cache unavailable; reading the database");
            None
        }
    };

    let page = db::resumes::newest_first(&state.db, cursor.as_deref(), limit).await?;
    let next_cursor = page.next_cursor;
    let mut items: Vec<ResumeView> = page
        .rows
        .into_iter()
        .map(|r| owned_from_row(&state, r).view)
        .collect();
    attach_images(&state, &mut items).await?;

    let page =
        Bytes::from(serde_json::to_vec(&Page { items, next_cursor }).context("encoding a page")?);
    if let Some(miss) = miss
        && let Err(e) = state.cache.fill(miss, page.clone()).await
    {
        tracing::warn!(error = %e, "cannot cache a resume page");
    }
    Ok(json_bytes(page))
}

fn json_bytes(page: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], page).into_response()
}

struct Owned {
    owner_id: i64,
    view: ResumeView,
}

fn owned_from_row(state: &AppState, row: ResumeRow) -> Owned {
    let task = state
        .tasks
        .iter()
        .find(|t| t.id == row.task_id)
        .cloned()
        .unwrap_or(Task {
            id: row.task_id,
            name: String::new(),
        });
    Owned {
        owner_id: row.owner_id,
        view: ResumeView {
            id: row.id,
            owner: row.owner,
            name: row.name,
            motivation: row.motivation,
            task,
            images: Vec::new(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
    }
}

async fn attach_images(state: &AppState, items: &mut [ResumeView]) -> Result<(), Error> {
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let rows: Vec<ImageRow> = db::resumes::images_of(&state.db, &ids).await?;
    for row in rows {
        if let Some(item) = items.iter_mut().find(|i| i.id == row.resume_id) {
            item.images.push(ImageView {
                url: format!("{}/{}", state.media_base_url, row.key),
                key: row.key,
                content_type: row.content_type,
                width: row.width,
                height: row.height,
                size_bytes: row.size_bytes,
            });
        }
    }
    Ok(())
}

/// A resume id from the path, in its canonical form. Anything that is not a UUID,
/// including a segment that does not even decode to text, names no resume: 404.
pub struct ResumeId(String);

impl<S: Send + Sync> FromRequestParts<S> for ResumeId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        Uuid::parse_str(&raw)
            .map(|id| ResumeId(id.to_string()))
            .map_err(|_| Error::NotFound)
    }
}

async fn load(state: &AppState, id: &str) -> Result<Owned, Error> {
    let row = db::resumes::find(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    let mut owned = owned_from_row(state, row);
    attach_images(state, std::slice::from_mut(&mut owned.view)).await?;
    Ok(owned)
}

/// One resume.
#[utoipa::path(
    get,
    path = "/api/resumes/{id}",
    operation_id = "show_resume",
    tag = "resumes",
    params(("id" = String, Path, format = "uuid", description = "The resume's id.")),
    responses(
        (status = 200, description = "The resume.", body = ResumeView),
        (status = 404, description = "No such resume.", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    ResumeId(id): ResumeId,
) -> Result<Json<ResumeView>, Error> {
    Ok(Json(load(&state, &id).await?.view))
}

/// An edit of the text fields as JSON; fields left out keep their value, and at least
/// one is given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResumeEdit, min_properties = 1)]
pub struct UpdateBody {
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    motivation: Option<String>,
    /// A job category's id (a number) or exact name.
    #[schema(schema_with = task_ref_schema)]
    task: Option<serde_json::Value>,
}

/// A job category as JSON names it: its id or its exact name.
fn task_ref_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64),
        )))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
        )
        .build();
    Schema::OneOf(one_of)
}

/// What an edit asks for: new text fields, images to add, keys of images to remove.
struct Changes {
    name: Option<ApplicantName>,
    motivation: Option<Motivation>,
    task: Option<Task>,
    add: Vec<SniffedImage>,
    remove: Vec<String>,
}

/// An edit comes as JSON (text fields only) or, to add or remove images too, as the
/// same multipart form that creates a resume, with any of its fields plus
/// `remove_image` parts naming image keys.
async fn read_changes(state: &AppState, request: Request) -> Result<Changes, Error> {
    let multipart = is_multipart(request.headers());
    let (name, motivation, task, add, remove) = if multipart {
        let form = Multipart::from_request(request, state)
            .await
            .map_err(|e| Error::malformed("body", format!("malformed multipart body: {e}")))?;
        let parts = read_parts(state, form, true).await?;
        let task = parts.task.as_deref().map(TaskRef::parse).transpose()?;
        (
            parts.name,
            parts.motivation,
            task,
            parts.images,
            parts.remove,
        )
    } else {
        let body = Limited::new(request.into_body(), super::JSON_BODY_LIMIT)
            .collect()
            .await
            .map(|c| c.to_bytes());
        let body: UpdateBody = match body {
            Ok(bytes) => json_body(Ok(bytes))?,
            Err(e) if e.is::<LengthLimitError>() => {
                return Err(Error::too_large("body", "request body is too large"));
            }
            Err(_) => return Err(Error::malformed("body", "request body cannot be read")),
        };
        let task = match &body.task {
            None => None,
            Some(serde_json::Value::Number(n)) => Some(TaskRef::parse(&n.to_string())?),
            Some(serde_json::Value::String(s)) => Some(TaskRef::parse(s)?),
            Some(_) => return Err(Error::invalid("task", "task must be an id or a name")),
        };
        (body.name, body.motivation, task, Vec::new(), Vec::new())
    };
    let changes = Changes {
        name: name.as_deref().map(ApplicantName::parse).transpose()?,
        motivation: motivation.as_deref().map(Motivation::parse).transpose()?,
        task: task.map(|t| t.resolve(&state.tasks)).transpose()?,
        add,
        remove,
    };
    if changes.name.is_none()
        && changes.motivation.is_none()
        && changes.task.is_none()
        && changes.add.is_empty()
        && changes.remove.is_empty()
    {
        return Err(Error::invalid(
            "body",
            "nothing to change: give name, motivation, task, image or remove_image",
        ));
    }
    Ok(changes)
}

/// Edits a resume (its owner only).
///
/// JSON changes the text fields; the multipart form can add and remove images too. New
/// images are stored before the commit and removed ones deleted after it, so the resume
/// never points at a missing image.
#[utoipa::path(
    patch,
    path = "/api/resumes/{id}",
    operation_id = "update_resume",
    tag = "resumes",
    params(("id" = String, Path, format = "uuid", description = "The resume's id.")),
    request_body(content(
        (UpdateBody = "application/json"),
        (ResumeEditForm = "multipart/form-data",
            encoding(("image" = (content_type = "image/jpeg, image/png, image/webp, image/gif")))),
    )),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The resume after the edit.", body = ResumeView, links(
            ("show" = (operation_id = "show_resume", parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_resume", parameters(("id" = "$response.body#/id")))),
            ("first_image" = (operation_id = "show_media",
                parameters(("key" = "$response.body#/images/0/key")))),
        )),
        (status = 400, description = "Not the JSON or form described.", body = ErrorBody),
        (status = 401, description = "No valid session.", body = ErrorBody),
        (status = 403, description = "Not the owner's.", body = ErrorBody),
        (status = 404, description = "No such resume.", body = ErrorBody),
        (status = 413, description = "The body, an image or the user's storage quota is \
            exceeded.", body = ErrorBody),
        (status = 422, description = "A field is refused, or nothing to change.", body = ErrorBody),
        (status = 503, description = "Too many uploads at once.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    client: ClientAddr,
    ResumeId(id): ResumeId,
    request: Request,
) -> Result<Response, Error> {
    // Ownership before the body: nobody's upload is read for someone else's resume.
    let current = load(&state, &id).await?;
    if current.owner_id != user.user_id {
        return Err(Error::Forbidden);
    }
    let who = Uploader {
        client,
        username: &user.username,
    };
    // Only a multipart edit can carry images; a JSON one is small and bounded.
    let reservation = if is_multipart(request.headers()) {
        match state
            .uploads
            .reserve(request.headers(), state.limits.max_body_bytes)
            .await
        {
            Ok(reservation) => Some(reservation),
            Err(full) => return Ok(who.busy(full)),
        }
    } else {
        None
    };
    let changes = who.check("form", read_changes(&state, request).await)?;

    let mut remove: Vec<String> = Vec::new();
    for key in &changes.remove {
        if !current.view.images.iter().any(|i| &i.key == key) {
            return Err(Error::invalid(
                "remove_image",
                format!("{key:?} is not an image of this resume"),
            ));
        }
        if !remove.contains(key) {
            remove.push(key.clone());
        }
    }
    if !changes.add.is_empty() {
        let added = changes.add.iter().map(|i| i.bytes.len() as u64).sum();
        let removed = current
            .view
            .images
            .iter()
            .filter(|i| remove.contains(&i.key))
            .map(|i| i.size_bytes.max(0) as u64)
            .sum();
        let stored = uploads::stored_bytes(&state.db, user.user_id).await?;
        who.check("quota", within_quota(&state, stored, added, removed))?;
    }
    let kept = current.view.images.len() - remove.len();
    if kept + changes.add.len() > state.limits.max_images {
        return Err(Error::invalid(
            "image",
            format!(
                "a resume holds at most {} images; it has {kept} after the removals",
                state.limits.max_images
            ),
        ));
    }

    let objects = new_objects(&id, &changes.add);
    let edit = ResumeEdit {
        id: id.clone(),
        owner_id: user.user_id,
        name: changes.name.map(|n| n.as_str().to_owned()),
        motivation: changes.motivation.map(|m| m.as_str().to_owned()),
        task_id: changes.task.map(|t| t.id),
        add: image_rows(&objects, &changes.add),
        remove,
    };
    // As with a new resume, the edit runs to its end even if the client goes away.
    tokio::spawn(save_edit(state.clone(), objects, edit, reservation))
        .await
        .context("editing a resume")??;
    Ok(Json(load(&state, &id).await?.view).into_response())
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// Stores the new images, then commits the edit; removed images leave storage only
/// after the commit, and new ones are removed again if it fails, so a resume never
/// points at a missing image.
async fn save_edit(
    state: AppState,
    objects: Vec<NewObject>,
    edit: ResumeEdit,
    _reservation: Option<Reservation>,
) -> Result<(), Error> {
    state
        .images
        .put_all(&objects)
        .await
        .context("storing images")?;
    if let Err(e) = commit_edit(&state, &edit).await {
        let keys: Vec<String> = objects.into_iter().map(|o| o.key).collect();
        state.images.delete_all(&keys).await;
        return Err(e);
    }
    invalidate(&state).await;
    state.images.delete_all(&edit.remove).await;
    Ok(())
}

async fn commit_edit(state: &AppState, edit: &ResumeEdit) -> Result<(), Error> {
    let max_images = state.limits.max_images;
    match db::resumes::update(&state.db, edit, max_images).await? {
        EditOutcome::Committed => Ok(()),
        // Deleted since it was read.
        EditOutcome::Gone => Err(Error::NotFound),
        // A concurrent edit added images first.
        EditOutcome::TooManyImages => Err(Error::invalid(
            "image",
            format!("a resume holds at most {max_images} images"),
        )),
    }
}

/// Deletes a resume and its images (its owner only).
#[utoipa::path(
    delete,
    path = "/api/resumes/{id}",
    operation_id = "delete_resume",
    tag = "resumes",
    params(("id" = String, Path, format = "uuid", description = "The resume's id.")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid session.", body = ErrorBody),
        (status = 403, description = "Not the owner's.", body = ErrorBody),
        (status = 404, description = "No such resume.", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ResumeId(id): ResumeId,
) -> Result<StatusCode, Error> {
    let current = load(&state, &id).await?;
    if current.owner_id != user.user_id {
        return Err(Error::Forbidden);
    }
    let keys = db::resumes::delete(&state.db, &id, user.user_id).await?;
    invalidate(&state).await;
    // After the commit: a failed object delete leaves an unreferenced object (logged),
    // never a resume pointing at a missing image.
    state.images.delete_all(&keys).await;
    Ok(StatusCode::NO_CONTENT)
}
