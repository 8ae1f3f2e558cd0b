//! The SQL of database sessions (used when no Redis is configured). Rows are keyed by
//! the token's hash, never the token; `storage::sessions` hashes and decides the
//! lifetime.

use super::Db;
use crate::error::{Context, Error};

/// Who a live session belongs to.
pub struct SessionRow {
    pub user_id: i64,
    pub username: String,
}

pub async fn insert(
    db: &Db,
    token_hash: &str,
    user_id: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(&db.write)
    .await
    .context("storing a session")?;
    Ok(())
}

/// The session's user, if the session exists and has not expired by `now`.
pub async fn find(db: &Db, token_hash: &str, now: i64) -> Result<Option<SessionRow>, Error> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT s.user_id, u.username FROM sessions s \
         JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&db.read)
    .await
    .context("reading a session")?;
    Ok(row.map(|(user_id, username)| SessionRow { user_id, username }))
}

/// Deleting an absent session succeeds.
pub async fn delete(db: &Db, token_hash: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&db.write)
        .await
        .context("revoking a session")?;
    Ok(())
}

/// Deletes at most `limit` sessions expired by `now`; returns how many it deleted.
pub async fn delete_expired(db: &Db, now: i64, limit: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM sessions WHERE token_hash IN \
         (SELECT token_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now)
    .bind(limit)
    .execute(&db.write)
    .await?
    .rows_affected())
}
