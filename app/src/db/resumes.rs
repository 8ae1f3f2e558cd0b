//! The SQL of resumes and their image rows: the save (one statement on PostgreSQL,
//! the group commit on SQLite), the newest-first pages, single reads, edits and
//! deletes. Rows come back as plain values; what a client sees is built in
//! `routes::resumes`. Failures are internal errors naming what was being done; a
//! missing resume or a refused edit is a value, so the caller decides the answer.

use sqlx::{AssertSqlSafe, Row};

use super::{Db, GroupCommitError, now_ms};
use crate::error::{Context, Error};

/// The rows of one new resume, written together or not at all.
#[derive(Debug, Clone)]
pub struct NewResumeRows {
    pub id: String,
    pub owner_id: i64,
    pub task_id: i64,
    pub name: String,
    pub motivation: String,
    pub now: i64,
    pub images: Vec<NewImageRow>,
}

#[derive(Debug, Clone)]
pub struct NewImageRow {
    pub key: String,
    pub content_type: &'static str,
    pub width: i64,
    pub height: i64,
    pub size_bytes: i64,
}

/// A stored resume with its owner's name, as every read returns it.
#[derive(Debug, Clone)]
pub struct ResumeRow {
    pub id: String,
    pub owner_id: i64,
    pub owner: String,
    pub task_id: i64,
    pub name: String,
    pub motivation: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct ImageRow {
    pub resume_id: String,
    pub key: String,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
    pub size_bytes: i64,
}

/// One page of resumes, newest first, and the cursor of the next page if there is one.
pub struct ResumePage {
    pub rows: Vec<ResumeRow>,
    pub next_cursor: Option<String>,
}

/// One edit of a resume, as it is written. Fields left `None` keep their stored value,
/// so two edits of different fields never undo each other.
#[derive(Debug, Clone)]
pub struct ResumeEdit {
    pub id: String,
    pub owner_id: i64,
    pub name: Option<String>,
    pub motivation: Option<String>,
    pub task_id: Option<i64>,
    pub add: Vec<NewImageRow>,
    /// Keys of image rows to remove.
    pub remove: Vec<String>,
}

/// How an edit ended when nothing failed inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOutcome {
    Committed,
    /// The resume was deleted since it was read; nothing was written.
    Gone,
    /// A concurrent edit added images first, so this one would pass `max_images`;
    /// nothing was written.
    TooManyImages,
}

/// Inserts a resume and its image rows atomically; returns once they are durable.
pub async fn insert(db: &Db, rows: NewResumeRows) -> Result<(), GroupCommitError> {
    if let Some(group) = &db.group_commit {
        return group.insert(rows).await;
    }
    insert_statement(&rows).execute(&db.write).await?;
    Ok(())
}

/// A resume and its image rows as separate statements, inside the caller's
/// transaction: the group commit's fallback, one save per SAVEPOINT.
pub(super) async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &NewResumeRows,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO resumes (id, owner_id, task_id, name, motivation, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&rows.id)
    .bind(rows.owner_id)
    .bind(rows.task_id)
    .bind(&rows.name)
    .bind(&rows.motivation)
    .bind(rows.now)
    .bind(rows.now)
    .execute(&mut **tx)
    .await?;
    insert_image_rows(tx, &rows.id, 0, &rows.images).await
}

/// Inserts a resume's image rows at positions `first_position`, `first_position + 1`, ….
async fn insert_image_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    resume_id: &str,
    first_position: i64,
    images: &[NewImageRow],
) -> Result<(), sqlx::Error> {
    for (offset, img) in (0..).zip(images) {
        sqlx::query(
            "INSERT INTO resume_images \
             (key, resume_id, position, content_type, width, height, size_bytes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&img.key)
        .bind(resume_id)
        .bind(first_position + offset)
        .bind(img.content_type)
        .bind(img.width)
        .bind(img.height)
        .bind(img.size_bytes)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// PostgreSQL: a resume and its image rows in one statement — a data-modifying CTE,
/// atomic as every statement is — so a save is one round trip to the server instead
/// of five (BEGIN, three INSERTs, COMMIT). SQLite has no INSERT inside WITH; it gets
/// the same effect from the group commit.
fn insert_statement(
    rows: &NewResumeRows,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    const INSERT_RESUME: &str = "INSERT INTO resumes \
        (id, owner_id, task_id, name, motivation, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $6)";
    let sql = if rows.images.is_empty() {
        INSERT_RESUME.to_owned()
    } else {
        let values: Vec<String> = (0..rows.images.len())
            .map(|i| {
                let p = 7 + i * 5;
                format!(
                    "(${}::text, {i}::bigint, ${}::text, ${}::bigint, ${}::bigint, ${}::bigint)",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4
                )
            })
            .collect();
        format!(
            "WITH resume AS ({INSERT_RESUME}) \
             INSERT INTO resume_images \
             (key, resume_id, position, content_type, width, height, size_bytes) \
             SELECT v.key, $1, v.position, v.content_type, v.width, v.height, v.size_bytes \
             FROM (VALUES {}) AS v (key, position, content_type, width, height, size_bytes)",
            values.join(", ")
        )
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(rows.id.clone())
        .bind(rows.owner_id)
        .bind(rows.task_id)
        .bind(rows.name.clone())
        .bind(rows.motivation.clone())
        .bind(rows.now);
    for img in &rows.images {
        query = query
            .bind(img.key.clone())
            .bind(img.content_type)
            .bind(img.width)
            .bind(img.height)
            .bind(img.size_bytes);
    }
    query
}

const SELECT_RESUMES: &str = "SELECT r.id, r.owner_id, u.username, r.task_id, r.name, r.motivation, \
     r.created_at, r.updated_at FROM resumes r JOIN users u ON u.id = r.owner_id";

fn resume_from_row(row: &sqlx::any::AnyRow) -> Result<ResumeRow, Error> {
    Ok(ResumeRow {
        id: row.try_get("id").context("reading a resume")?,
        owner_id: row.try_get("owner_id").context("reading a resume")?,
        owner: row.try_get("username").context("reading a resume")?,
        task_id: row.try_get("task_id").context("reading a resume")?,
        name: row.try_get("name").context("reading a resume")?,
        motivation: row.try_get("motivation").context("reading a resume")?,
        created_at: row.try_get("created_at").context("reading a resume")?,
        updated_at: row.try_get("updated_at").context("reading a resume")?,
    })
}

/// Up to `limit` resumes older than the `before` id (ids are UUIDv7, so id order is
/// creation order), newest first. One row more is read to learn whether a next page
/// exists without counting.
pub async fn newest_first(db: &Db, before: Option<&str>, limit: i64) -> Result<ResumePage, Error> {
    let rows = match before {
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "{SELECT_RESUMES} ORDER BY r.id DESC LIMIT $1"
            )))
            .bind(limit + 1)
            .fetch_all(&db.read)
            .await
        }
        Some(c) => {
            sqlx::query(AssertSqlSafe(format!(
                "{SELECT_RESUMES} WHERE r.id < $1 ORDER BY r.id DESC LIMIT $2"
            )))
            .bind(c)
            .bind(limit + 1)
            .fetch_all(&db.read)
            .await
        }
    }
    .context("listing resumes")?;
    let mut rows = rows
        .iter()
        .map(resume_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(ResumePage { rows, next_cursor })
}

pub async fn find(db: &Db, id: &str) -> Result<Option<ResumeRow>, Error> {
    let row = sqlx::query(AssertSqlSafe(format!("{SELECT_RESUMES} WHERE r.id = $1")))
        .bind(id)
        .fetch_optional(&db.read)
        .await
        .context("reading a resume")?;
    row.as_ref().map(resume_from_row).transpose()
}

/// The image rows of these resumes, each resume's in position order, in one query.
pub async fn images_of(db: &Db, resume_ids: &[&str]) -> Result<Vec<ImageRow>, Error> {
    if resume_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=resume_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT key, resume_id, content_type, width, height, size_bytes FROM resume_images \
         WHERE resume_id IN ({}) ORDER BY resume_id, position",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in resume_ids {
        query = query.bind(id.to_string());
    }
    let rows = query.fetch_all(&db.read).await.context("listing images")?;
    rows.iter()
        .map(|row| {
            Ok(ImageRow {
                resume_id: row.try_get("resume_id").context("reading an image row")?,
                key: row.try_get("key").context("reading an image row")?,
                content_type: row
                    .try_get("content_type")
                    .context("reading an image row")?,
                width: row.try_get("width").context("reading an image row")?,
                height: row.try_get("height").context("reading an image row")?,
                size_bytes: row.try_get("size_bytes").context("reading an image row")?,
            })
        })
        .collect()
}

/// Writes an edit in one transaction, leaving the resume at most `max_images` images.
pub async fn update(db: &Db, edit: &ResumeEdit, max_images: usize) -> Result<EditOutcome, Error> {
    let mut tx = db.write.begin().await.context("starting a transaction")?;
    // The UPDATE comes first: on PostgreSQL it locks the row, so concurrent edits of
    // one resume take turns and the image count below sees the other's commit.
    let updated = sqlx::query(
        "UPDATE resumes SET name = COALESCE($1, name), motivation = COALESCE($2, motivation), \
         task_id = COALESCE($3, task_id), updated_at = $4 WHERE id = $5 AND owner_id = $6",
    )
    .bind(&edit.name)
    .bind(&edit.motivation)
    .bind(edit.task_id)
    .bind(now_ms())
    .bind(&edit.id)
    .bind(edit.owner_id)
    .execute(&mut *tx)
    .await
    .context("updating a resume")?;
    if updated.rows_affected() == 0 {
        return Ok(EditOutcome::Gone);
    }
    for key in &edit.remove {
        sqlx::query("DELETE FROM resume_images WHERE key = $1 AND resume_id = $2")
            .bind(key)
            .bind(&edit.id)
            .execute(&mut *tx)
            .await
            .context("removing an image row")?;
    }
    let next: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(position) + 1, 0) FROM resume_images WHERE resume_id = $1",
    )
    .bind(&edit.id)
    .fetch_one(&mut *tx)
    .await
    .context("counting a resume's images")?;
    insert_image_rows(&mut tx, &edit.id, next, &edit.add)
        .await
        .context("adding image rows")?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM resume_images WHERE resume_id = $1")
        .bind(&edit.id)
        .fetch_one(&mut *tx)
        .await
        .context("counting a resume's images")?;
    if count > max_images as i64 {
        return Ok(EditOutcome::TooManyImages);
    }
    tx.commit().await.context("committing an edit")?;
    Ok(EditOutcome::Committed)
}

/// Deletes the owner's resume and its image rows; returns the keys those rows named,
/// for the caller to remove from storage after this commit.
pub async fn delete(db: &Db, id: &str, owner_id: i64) -> Result<Vec<String>, Error> {
    let mut tx = db.write.begin().await.context("starting a transaction")?;
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM resume_images WHERE resume_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .context("listing a resume's images")?;
    sqlx::query("DELETE FROM resume_images WHERE resume_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("deleting image rows")?;
    sqlx::query("DELETE FROM resumes WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner_id)
        .execute(&mut *tx)
        .await
        .context("deleting a resume")?;
    tx.commit().await.context("committing a delete")?;
    Ok(keys)
}
