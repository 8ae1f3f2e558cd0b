//! Resumes: create (multipart, with images), list (cached, cursor-paginated), show,
//! update and delete (owner only).
//!
//! Create validates everything before writing anything, then stores the images
//! durably, then writes the resume and its image rows in one transaction. If the
//! transaction fails the stored images are removed, so nothing is ever half-saved;
//! the 201 is sent only after both the commit and the images are durable.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use super::{CurrentUser, json_body};
use crate::db::{NewImageRow, NewResumeRows, now_ms};
use crate::domain::{ApplicantName, Motivation, SniffedImage, TaskRef};
use crate::error::{Context, Error};
use crate::startup::{AppState, Task};
use crate::storage::NewObject;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;
/// Text fields are short; anything longer is refused before it is buffered.
const MAX_TEXT_FIELD_BYTES: usize = 16 * 1024;

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
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, Error> {
    let multipart = multipart.map_err(|e| {
        Error::malformed("body", format!("expected a multipart/form-data body: {e}"))
    })?;
    let form = read_form(&state, multipart).await?;

    let id = Uuid::now_v7().to_string();
    let objects: Vec<NewObject> = form
        .images
        .iter()
        .map(|img| NewObject {
            key: format!("resumes/{id}/{}.{}", Uuid::new_v4(), img.kind.extension()),
            content_type: img.kind.content_type(),
            bytes: img.bytes.clone(),
        })
        .collect();
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
    tokio::spawn(save(state.clone(), objects, rows))
        .await
        .context("saving a resume")??;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Stores the images, then commits the rows; if the commit fails, removes the images.
async fn save(state: AppState, objects: Vec<NewObject>, rows: NewResumeRows) -> Result<(), Error> {
    state
        .images
        .put_all(&objects)
        .await
        .context("storing images")?;
    if let Err(e) = state.db.insert_resume(rows).await {
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
        images: objects
            .iter()
            .zip(&form.images)
            .map(|(obj, img)| NewImageRow {
                key: obj.key.clone(),
                content_type: obj.content_type,
                width: img.width.into(),
                height: img.height.into(),
                size_bytes: img.bytes.len() as i64,
            })
            .collect(),
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

/// Reads and validates the whole form; nothing is written until this succeeds.
async fn read_form(state: &AppState, mut multipart: Multipart) -> Result<NewResume, Error> {
    let limits = state.limits;
    let (mut name, mut motivation, mut task) = (None, None, None);
    let mut images = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let field_name = field.name().unwrap_or_default().to_owned();
        let (slot, label, max) = match field_name.as_str() {
            "image" | "images" => {
                if images.len() >= limits.max_images {
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
                images.push(SniffedImage::parse(bytes)?);
                continue;
            }
            "name" => (&mut name, "name", ApplicantName::MAX_CHARS * 4),
            "motivation" => (&mut motivation, "motivation", Motivation::MAX_CHARS * 4),
            "task" | "task_id" => (&mut task, "task", 400),
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
    let name = ApplicantName::parse(name.as_deref().unwrap_or_default())?;
    let motivation = Motivation::parse(motivation.as_deref().unwrap_or_default())?;
    let task = resolve_task(state, &TaskRef::parse(task.as_deref().unwrap_or_default())?)?;
    Ok(NewResume {
        name,
        motivation,
        task,
        images,
    })
}

/// The field's bytes, or `None` once it grows past `max` (the rest is not read).
async fn read_field(
    field: &mut axum::extract::multipart::Field<'_>,
    max: usize,
) -> Result<Option<Bytes>, Error> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > max {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

fn resolve_task(state: &AppState, task: &TaskRef) -> Result<Task, Error> {
    state
        .tasks
        .iter()
        .find(|t| match task {
            TaskRef::Id(id) => t.id == *id,
            TaskRef::Name(name) => t.name == *name,
        })
        .cloned()
        .ok_or_else(|| Error::invalid("task", "unknown task"))
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

    let rows = match &cursor {
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "{SELECT_RESUMES} ORDER BY r.id DESC LIMIT $1"
            )))
            .bind(limit + 1)
            .fetch_all(&state.db.read)
            .await
        }
        Some(c) => {
            sqlx::query(AssertSqlSafe(format!(
                "{SELECT_RESUMES} WHERE r.id < $1 ORDER BY r.id DESC LIMIT $2"
            )))
            .bind(c)
            .bind(limit + 1)
            .fetch_all(&state.db.read)
            .await
        }
    }
    .context("listing resumes")?;
    let mut items = rows
        .iter()
        .map(|r| resume_from_row(&state, r))
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|r| r.id.clone())
    } else {
        None
    };
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

const SELECT_RESUMES: &str = "SELECT r.id, r.owner_id, u.username, r.task_id, r.name, r.motivation, \
     r.created_at, r.updated_at FROM resumes r JOIN users u ON u.id = r.owner_id";

struct Owned {
    owner_id: i64,
    view: ResumeView,
}

fn resume_from_row(state: &AppState, row: &sqlx::any::AnyRow) -> Result<ResumeView, Error> {
    Ok(owned_from_row(state, row)?.view)
}

fn owned_from_row(state: &AppState, row: &sqlx::any::AnyRow) -> Result<Owned, Error> {
    let task_id: i64 = row.try_get("task_id").context("reading a resume")?;
    let task = state
        .tasks
        .iter()
        .find(|t| t.id == task_id)
        .cloned()
        .unwrap_or(Task {
            id: task_id,
            name: String::new(),
        });
    Ok(Owned {
        owner_id: row.try_get("owner_id").context("reading a resume")?,
        view: ResumeView {
            id: row.try_get("id").context("reading a resume")?,
            owner: row.try_get("username").context("reading a resume")?,
            name: row.try_get("name").context("reading a resume")?,
            motivation: row.try_get("motivation").context("reading a resume")?,
            task,
            images: Vec::new(),
            created_at: row.try_get("created_at").context("reading a resume")?,
            updated_at: row.try_get("updated_at").context("reading a resume")?,
        },
    })
}

async fn attach_images(state: &AppState, items: &mut [ResumeView]) -> Result<(), Error> {
    if items.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (1..=items.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT key, resume_id, content_type, width, height, size_bytes FROM resume_images \
         WHERE resume_id IN ({}) ORDER BY resume_id, position",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for item in items.iter() {
        query = query.bind(item.id.clone());
    }
    let rows = query
        .fetch_all(&state.db.read)
        .await
        .context("listing images")?;
    for row in rows {
        let resume_id: String = row.try_get("resume_id").context("reading an image row")?;
        let key: String = row.try_get("key").context("reading an image row")?;
        if let Some(item) = items.iter_mut().find(|i| i.id == resume_id) {
            item.images.push(ImageView {
                url: format!("{}/{}", state.media_base_url, key),
                content_type: row
                    .try_get("content_type")
                    .context("reading an image row")?,
                width: row.try_get("width").context("reading an image row")?,
                height: row.try_get("height").context("reading an image row")?,
                size_bytes: row.try_get("size_bytes").context("reading an image row")?,
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
    let row = sqlx::query(AssertSqlSafe(format!("{SELECT_RESUMES} WHERE r.id = $1")))
        .bind(id)
        .fetch_optional(&state.db.read)
        .await
        .context("reading a resume")?
        .ok_or(Error::NotFound)?;
    let mut owned = owned_from_row(state, &row)?;
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

pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ResumeView>, Error> {
    let id = parse_id(&id)?;
    let body: UpdateBody = json_body(body)?;
    let name = body.name.as_deref().map(ApplicantName::parse).transpose()?;
    let motivation = body
        .motivation
        .as_deref()
        .map(Motivation::parse)
        .transpose()?;
    let task = match &body.task {
        None => None,
        Some(serde_json::Value::Number(n)) => Some(TaskRef::parse(&n.to_string())?),
        Some(serde_json::Value::String(s)) => Some(TaskRef::parse(s)?),
        Some(_) => return Err(Error::invalid("task", "task must be an id or a name")),
    };
    let task = task.map(|t| resolve_task(&state, &t)).transpose()?;
    if name.is_none() && motivation.is_none() && task.is_none() {
        return Err(Error::invalid(
            "body",
            "nothing to change: give name, motivation or task",
        ));
    }

    let current = load(&state, &id).await?;
    if current.owner_id != user.user_id {
        return Err(Error::Forbidden);
    }
    let name = name.map_or(current.view.name.clone(), |n| n.as_str().to_owned());
    let motivation = motivation.map_or(current.view.motivation.clone(), |m| m.as_str().to_owned());
    let task_id = task.map_or(current.view.task.id, |t| t.id);
    // The owner check is repeated in the WHERE clause so a concurrent change of
    // ownership (there is none today) could never be overwritten.
    sqlx::query(
        "UPDATE resumes SET name = $1, motivation = $2, task_id = $3, updated_at = $4 \
         WHERE id = $5 AND owner_id = $6",
    )
    .bind(&name)
    .bind(&motivation)
    .bind(task_id)
    .bind(now_ms())
    .bind(&id)
    .bind(user.user_id)
    .execute(&state.db.write)
    .await
    .context("updating a resume")?;
    invalidate(&state).await;
    Ok(Json(load(&state, &id).await?.view))
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
    let mut tx = state
        .db
        .write
        .begin()
        .await
        .context("starting a transaction")?;
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM resume_images WHERE resume_id = $1")
            .bind(&id)
            .fetch_all(&mut *tx)
            .await
            .context("listing a resume's images")?;
    sqlx::query("DELETE FROM resume_images WHERE resume_id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .context("deleting image rows")?;
    sqlx::query("DELETE FROM resumes WHERE id = $1 AND owner_id = $2")
        .bind(&id)
        .bind(user.user_id)
        .execute(&mut *tx)
        .await
        .context("deleting a resume")?;
    tx.commit().await.context("committing a delete")?;
    invalidate(&state).await;
    // After the commit: a failed object delete leaves an unreferenced object (logged),
    // never a resume pointing at a missing image.
    state.images.delete_all(&keys).await;
    Ok(StatusCode::NO_CONTENT)
}
