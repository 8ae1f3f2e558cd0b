//! The SQL of accounts: whether a username is taken, creating a user, and reading the
//! password hash a login is checked against.

use super::Db;
use crate::error::{Context, Error};

/// What a login is checked against.
pub struct Credentials {
    pub user_id: i64,
    pub password_hash: String,
}

pub async fn is_taken(db: &Db, username: &str) -> Result<bool, Error> {
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&db.read)
        .await
        .context("checking a username")?;
    Ok(taken.is_some())
}

/// Creates a user and returns their id; `None` when the name is already taken, which
/// the unique constraint decides even when two sign-ups race past `is_taken`.
pub async fn insert(
    db: &Db,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<i64>, Error> {
    let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .fetch_one(&db.write)
    .await;
    match inserted {
        Ok(id) => Ok(Some(id)),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(Error::internal("creating a user", e)),
    }
}

pub async fn credentials(db: &Db, username: &str) -> Result<Option<Credentials>, Error> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&db.read)
            .await
            .context("reading a user")?;
    Ok(row.map(|(user_id, password_hash)| Credentials {
        user_id,
        password_hash,
    }))
}
