//! The database, SQLite or PostgreSQL, behind one `sqlx::Any` pool pair.
//!
//! Why `Any` rather than a trait with two implementations: the service's queries are
//! plain SQL that both engines accept when written with `$N` placeholders, integer
//! epoch-millisecond timestamps and text ids, so one query text serves both and the
//! engines differ only in their migrations and connection set-up (here). A trait
//! would double every query for no behavioural difference.
//!
//! SQLite allows one writer at a time; many pooled writers would queue inside
//! SQLite's busy handler, which sleeps and retries. So on SQLite writes go through a
//! pool of one connection (queueing fairly in the pool instead) and reads through a
//! separate pool — WAL lets them run beside the writer. On PostgreSQL both are the
//! same pool.
//!
//! Durability on SQLite: WAL with `synchronous=FULL`, so every commit is fsynced to
//! the WAL before the transaction returns; `NORMAL` would be faster but could lose the
//! last commits on power loss, which would break "a 201 means saved". Resume saves,
//! the hot write, share those fsyncs through `group_commit`.

mod group_commit;

pub use group_commit::{GroupCommit, GroupCommitError};

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, ConnectOptions, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub read: AnyPool,
    pub write: AnyPool,
    pub backend: Backend,
    /// SQLite only: resume saves committed in groups.
    group_commit: Option<GroupCommit>,
}

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

async fn insert_resume_rows(
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
pub async fn insert_image_rows(
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
fn insert_resume_statement(
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

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported DATABASE_URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("creating the directory of {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("connecting to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("running migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial schema",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "sessions by expiry",
        include_str!("../migrations/sqlite/0002_sessions_expiry.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial schema",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "sessions by expiry",
        include_str!("../migrations/postgres/0002_sessions_expiry.sql"),
    ),
];

impl Db {
    pub async fn connect(url: &str, pool_size: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::connect_sqlite(url, path, pool_size).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(pool_size.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(DbError::Connect)?;
            Ok(Db {
                read: pool.clone(),
                write: pool,
                backend: Backend::Postgres,
                group_commit: None,
            })
        } else {
            Err(DbError::UnsupportedUrl(url.to_owned()))
        }
    }

    async fn connect_sqlite(url: &str, path: &str, pool_size: u32) -> Result<Db, DbError> {
        let file = path.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(file).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: file.to_owned(),
                source,
            })?;
        }
        let url = if url.contains('?') {
            url.to_owned()
        } else {
            format!("{url}?mode=rwc")
        };
        let options: AnyConnectOptions = url.parse().map_err(DbError::Connect)?;

        // journal_mode is stored in the database file; set it once, on a lone connection,
        // because switching needs an exclusive lock that pooled connections would contend for.
        let mut first = options.connect().await.map_err(DbError::Connect)?;
        first
            .execute("PRAGMA journal_mode = WAL")
            .await
            .map_err(DbError::Connect)?;
        drop(first);

        let pool = |size: u32| {
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(options.clone())
        };
        let write = pool(1).await.map_err(DbError::Connect)?;
        let read = pool(pool_size.max(1)).await.map_err(DbError::Connect)?;
        let group_commit = Some(GroupCommit::start(write.clone()));
        Ok(Db {
            read,
            write,
            backend: Backend::Sqlite,
            group_commit,
        })
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        let sources = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations = sources
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sqlx::SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator::with_migrations(migrations);
        migrator.run(&self.write).await.map_err(DbError::Migrate)
    }

    /// Inserts a resume and its image rows atomically; returns once they are durable.
    pub async fn insert_resume(&self, rows: NewResumeRows) -> Result<(), GroupCommitError> {
        if let Some(group) = &self.group_commit {
            return group.insert(rows).await;
        }
        insert_resume_statement(&rows).execute(&self.write).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

/// Milliseconds since the Unix epoch, the one timestamp type both engines store alike.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
