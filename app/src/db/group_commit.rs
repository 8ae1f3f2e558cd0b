//! Group commit for SQLite: saves waiting for the single writer are committed together,
//! one WAL fsync for the whole group instead of one each.
//!
//! A single task owns the writer connection's transactions. It takes the first waiting
//! save, plus every other save already queued (up to `MAX_GROUP`), and commits them
//! together. Every caller is answered only after that commit returns, so "acknowledged"
//! still means "fsynced". While one group commits, the next one gathers: the busier the
//! service, the larger the groups. PostgreSQL does the same internally for concurrent
//! commits, so it does not use this.
//!
//! The group's rows go in as one multi-row INSERT per table: each statement is a round
//! trip to the connection's worker thread, and per-save statements (five for a resume
//! with two images) cost more CPU than the saves themselves under load. Should that
//! fail, the group is written again save by save, each inside its own SAVEPOINT, so
//! one bad save is refused alone and the others still commit.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use sqlx::{Any, AssertSqlSafe, Transaction};

use super::resumes::{NewResumeRows, insert_rows};

const MAX_GROUP: usize = 256;
const QUEUE: usize = 4096;
/// Bound parameters per statement, under SQLite's limit of 32,766.
const MAX_PARAMS: usize = 30_000;

struct Job {
    rows: NewResumeRows,
    done: oneshot::Sender<Result<(), sqlx::Error>>,
}

#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupCommitError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("the group-commit writer has stopped")]
    Stopped,
}

impl GroupCommit {
    pub fn start(pool: AnyPool) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx));
        GroupCommit { jobs }
    }

    pub async fn insert(&self, rows: NewResumeRows) -> Result<(), GroupCommitError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job { rows, done })
            .await
            .map_err(|_| GroupCommitError::Stopped)?;
        result.await.map_err(|_| GroupCommitError::Stopped)??;
        Ok(())
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        commit_group(&pool, &mut group).await;
    }
}

async fn commit_group(pool: &AnyPool, group: &mut Vec<Job>) {
    let batched = async {
        let mut tx = pool.begin().await?;
        insert_batched(&mut tx, group).await?;
        tx.commit().await
    }
    .await;
    if batched.is_ok() {
        for job in group.drain(..) {
            let _ = job.done.send(Ok(()));
        }
        return;
    }
    commit_one_by_one(pool, group).await;
}

/// Every save of the group in as few statements as the parameter limit allows.
async fn insert_batched(tx: &mut Transaction<'_, Any>, group: &[Job]) -> Result<(), sqlx::Error> {
    const RESUME_COLUMNS: usize = 7;
    for chunk in group.chunks(MAX_PARAMS / RESUME_COLUMNS) {
        let sql = format!(
            "INSERT INTO resumes (id, owner_id, task_id, name, motivation, created_at, updated_at) \
             VALUES {}",
            placeholders(chunk.len(), RESUME_COLUMNS)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for rows in chunk.iter().map(|j| &j.rows) {
            query = query
                .bind(rows.id.clone())
                .bind(rows.owner_id)
                .bind(rows.task_id)
                .bind(rows.name.clone())
                .bind(rows.motivation.clone())
                .bind(rows.now)
                .bind(rows.now);
        }
        query.execute(&mut **tx).await?;
    }

    const IMAGE_COLUMNS: usize = 7;
    let images: Vec<_> = group
        .iter()
        .flat_map(|j| {
            (0_i64..)
                .zip(&j.rows.images)
                .map(move |(position, img)| (&j.rows.id, position, img))
        })
        .collect();
    for chunk in images.chunks(MAX_PARAMS / IMAGE_COLUMNS) {
        let sql = format!(
            "INSERT INTO resume_images \
             (key, resume_id, position, content_type, width, height, size_bytes) VALUES {}",
            placeholders(chunk.len(), IMAGE_COLUMNS)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for (resume_id, position, img) in chunk {
            query = query
                .bind(img.key.clone())
                .bind((*resume_id).clone())
                .bind(*position)
                .bind(img.content_type)
                .bind(img.width)
                .bind(img.height)
                .bind(img.size_bytes);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `($1, $2, …), ($8, …)…`: `rows` tuples of `columns` numbered placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for col in 0..columns {
            if col > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(row * columns + col + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// The slow path: each save in its own SAVEPOINT, so a failing one is rolled back alone.
async fn commit_one_by_one(pool: &AnyPool, group: &mut Vec<Job>) {
    let mut outcomes: Vec<Result<(), sqlx::Error>> = Vec::with_capacity(group.len());
    let committed = async {
        let mut tx = pool.begin().await?;
        for job in group.iter() {
            sqlx::query("SAVEPOINT save").execute(&mut *tx).await?;
            match insert_rows(&mut tx, &job.rows).await {
                Ok(()) => {
                    sqlx::query("RELEASE save").execute(&mut *tx).await?;
                    outcomes.push(Ok(()));
                }
                Err(e) => {
                    sqlx::query("ROLLBACK TO save").execute(&mut *tx).await?;
                    sqlx::query("RELEASE save").execute(&mut *tx).await?;
                    outcomes.push(Err(e));
                }
            }
        }
        tx.commit().await
    }
    .await;

    for (i, job) in group.drain(..).enumerate() {
        let outcome = match &committed {
            Ok(()) => outcomes
                .get_mut(i)
                .map_or(Ok(()), |o| std::mem::replace(o, Ok(()))),
            // The commit (or the transaction around the savepoints) failed: nobody's
            // save is durable.
            Err(e) => Err(sqlx::Error::Protocol(format!("group commit failed: {e}"))),
        };
        let _ = job.done.send(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::db::resumes::NewImageRow;

    async fn temp_db() -> (Db, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("modu-group-{}", uuid::Uuid::new_v4()));
        let db = Db::connect(&format!("sqlite://{}/modu.db", dir.display()), 2)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'kim', 'x', 0)",
        )
        .execute(&db.write)
        .await
        .unwrap();
        (db, dir)
    }

    fn job(task_id: i64, images: usize) -> (Job, oneshot::Receiver<Result<(), sqlx::Error>>) {
        let id = uuid::Uuid::now_v7().to_string();
        let rows = NewResumeRows {
            images: (0..images)
                .map(|i| NewImageRow {
                    key: format!("resumes/{id}/{i}.jpg"),
                    content_type: "image/jpeg",
                    width: 1,
                    height: 1,
                    size_bytes: 1,
                })
                .collect(),
            id,
            owner_id: 1,
            task_id,
            name: "Kim".into(),
            motivation: "m".into(),
            now: 0,
        };
        let (done, result) = oneshot::channel();
        (Job { rows, done }, result)
    }

    async fn count(db: &Db, table: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&db.read)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn one_bad_save_is_refused_alone_and_the_rest_of_its_group_commits() {
        let (db, dir) = temp_db().await;
        // Task 999 does not exist: its foreign key fails the batched insert.
        let (jobs, results): (Vec<_>, Vec<_>) =
            [job(1, 2), job(999, 2), job(3, 2)].into_iter().unzip();
        let mut group = jobs;
        commit_group(&db.write, &mut group).await;
        let outcomes: Vec<bool> = futures::future::join_all(results)
            .await
            .into_iter()
            .map(|r| r.unwrap().is_ok())
            .collect();
        assert_eq!(outcomes, [true, false, true]);
        assert_eq!(count(&db, "resumes").await, 2);
        assert_eq!(count(&db, "resume_images").await, 4);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_full_group_with_many_images_spans_several_statements() {
        let (db, dir) = temp_db().await;
        // 256 saves × 20 images = 5,120 image rows: more than one statement can bind.
        let (mut group, results): (Vec<_>, Vec<_>) = (0..MAX_GROUP).map(|_| job(2, 20)).unzip();
        commit_group(&db.write, &mut group).await;
        for r in futures::future::join_all(results).await {
            r.unwrap().unwrap();
        }
        assert_eq!(count(&db, "resumes").await, MAX_GROUP as i64);
        assert_eq!(count(&db, "resume_images").await, MAX_GROUP as i64 * 20);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn placeholders_number_every_column_of_every_row() {
        assert_eq!(placeholders(1, 2), "($1, $2)");
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
