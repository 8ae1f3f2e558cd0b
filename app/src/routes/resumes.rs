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
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CurrentUser, json_body};
use crate::db::resumes::{
    EditOutcome, ImageRow, NewImageRow, NewResumeRows, ResumeEdit, ResumeRow,
};
use crate::db::{self, now_ms};
use crate::domain::{ApplicantName, Motivation, SniffedImage, Task, TaskRef};
use crate::error::{Context, Error};
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

#[derive(Debug, Serialize)]
pub struct ResumeView {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub motivation: String,
    pub task: Task,
    pub images: Vec<ImageView>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Serialize)]
pub struct ImageView {
    pub url: String,
    /// What an edit's `remove_image` names.
    pub key: String,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
    pub size_bytes: i64,
}

#[derive(Debug, Serialize)]
struct Page {
    items: Vec<ResumeView>,
    next_cursor: Option<String>,
}

/// A resume form, fully validated.
struct NewResume {
    name: ApplicantName,
    motivation: Motivation,
    task: Task,
    images: Vec<SniffedImage>,
}

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

#[derive(Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
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

/// A resume id from the path; anything that is not a UUID cannot exist.
fn parse_id(raw: &str) -> Result<String, Error> {
    Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| Error::NotFound)
}

async fn load(state: &AppState, id: &str) -> Result<Owned, Error> {
    let row = db::resumes::find(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    let mut owned = owned_from_row(state, row);
    attach_images(state, std::slice::from_mut(&mut owned.view)).await?;
    Ok(owned)
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResumeView>, Error> {
    let id = parse_id(&id)?;
    Ok(Json(load(&state, &id).await?.view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    name: Option<String>,
    motivation: Option<String>,
    task: Option<serde_json::Value>,
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

pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    client: ClientAddr,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    let id = parse_id(&id)?;
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

pub async fn delete(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = parse_id(&id)?;
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
