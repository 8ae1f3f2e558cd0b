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
//!
//! Every SQL statement of the service lives under this module, one file per table
//! group: `users`, `sessions`, `tasks` and `resumes` (with their images). Handlers
//! call these functions and never write SQL; a missing row or a refused write comes
//! back as a value (`Option`, an outcome enum), a failure as an internal error
//! naming what was being done.

mod group_commit;
pub mod resumes;
pub mod sessions;
pub mod tasks;
pub mod users;

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
    /// SQLite only: the file whose lock serialises migrations between processes
    /// (PostgreSQL has sqlx's advisory lock; sqlx takes none on SQLite).
    migration_lock: Option<std::path::PathBuf>,
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
    #[error("locking {path} to run migrations: {source}")]
    MigrationLock {
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
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "sessions by expiry",
        include_str!("../../migrations/sqlite/0002_sessions_expiry.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial schema",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "sessions by expiry",
        include_str!("../../migrations/postgres/0002_sessions_expiry.sql"),
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
                migration_lock: None,
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
            migration_lock: Some(std::path::PathBuf::from(format!("{file}.migrate-lock"))),
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
        // Several processes on one SQLite file would each see a migration as pending and
        // run it: an exclusive file lock makes them take turns (the later ones find
        // nothing to do). Released when the file is dropped.
        let _held = match &self.migration_lock {
            Some(path) => Some(lock_file(path.clone()).await?),
            None => None,
        };
        migrator.run(&self.write).await.map_err(DbError::Migrate)
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

/// Opens `path` and waits for its exclusive lock, off the async threads.
async fn lock_file(path: std::path::PathBuf) -> Result<std::fs::File, DbError> {
    let shown = path.display().to_string();
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    locked.map_err(|source| DbError::MigrationLock {
        path: shown,
        source,
    })
}

/// Milliseconds since the Unix epoch, the one timestamp type both engines store alike.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
