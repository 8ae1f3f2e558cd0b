//! The SQL of job categories: the migrations seed them and nothing changes them, so
//! they are read once, at start.

use super::Db;
use crate::domain::Task;

pub async fn all(db: &Db) -> Result<Vec<Task>, sqlx::Error> {
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM tasks ORDER BY id")
        .fetch_all(&db.read)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| Task { id, name })
        .collect())
}
