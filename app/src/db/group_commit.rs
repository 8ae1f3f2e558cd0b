//! Group commit for SQLite: saves waiting for the single writer are committed together,
//! one WAL fsync for the whole group instead of one each.
//!
//! A single task owns the writer connection's transactions. It takes the first waiting
//! save, plus every other save already queued (up to `MAX_GROUP`), runs each inside its
//! own SAVEPOINT — so one failing save is rolled back alone — and commits once. Every
//! caller is answered only after that commit returns, so "acknowledged" still means
//! "fsynced". While one group commits, the next one gathers: the busier the service,
//! the larger the groups. PostgreSQL does the same internally for concurrent commits,
//! so it does not use this.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::{NewResumeRows, insert_resume_rows};

const MAX_GROUP: usize = 256;
const QUEUE: usize = 4096;

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
    let mut outcomes: Vec<Result<(), sqlx::Error>> = Vec::with_capacity(group.len());
    let committed = async {
        let mut tx = pool.begin().await?;
        for job in group.iter() {
            sqlx::query("SAVEPOINT save").execute(&mut *tx).await?;
            match insert_resume_rows(&mut tx, &job.rows).await {
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
