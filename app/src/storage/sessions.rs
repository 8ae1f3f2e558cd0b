//! Login sessions. A token is 256 random bits, handed to the client once; only its
//! SHA-256 is stored, so a leaked database or Redis dump holds no usable token.
//! Sessions live in Redis when it is configured (every instance behind the load
//! balancer then accepts them), else in the database.

use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::db::{Db, now_ms};
use crate::error::{Context, Error};

/// Sessions last a week.
const TTL_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: i64,
    pub username: String,
}

#[derive(Clone)]
pub enum SessionStore {
    Database(Db),
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
}

fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// `None` for anything that is not shaped like a token we issued, so garbage never
/// reaches the store.
fn token_hash(token: &str) -> Option<String> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(hex::encode(Sha256::digest(token.as_bytes())))
}

impl SessionStore {
    pub fn describe(&self) -> &'static str {
        match self {
            SessionStore::Database(_) => "database",
            SessionStore::Redis { .. } => "redis",
        }
    }

    /// Starts a session and returns its token.
    pub async fn create(&self, user: &SessionUser) -> Result<String, Error> {
        let token = new_token();
        let hash = token_hash(&token).expect("a fresh token is well-formed");
        match self {
            SessionStore::Database(db) => {
                let now = now_ms();
                let expires_at = now + (TTL_SECS as i64) * 1000;
                crate::db::sessions::insert(db, &hash, user.user_id, now, expires_at).await?;
            }
            SessionStore::Redis { conn, prefix } => {
                let value = format!("{}\t{}", user.user_id, user.username);
                redis::cmd("SET")
                    .arg(format!("{prefix}session:{hash}"))
                    .arg(value)
                    .arg("EX")
                    .arg(TTL_SECS)
                    .query_async::<()>(&mut conn.clone())
                    .await
                    .context("storing a session in Redis")?;
            }
        }
        Ok(token)
    }

    pub async fn lookup(&self, token: &str) -> Result<Option<SessionUser>, Error> {
        let Some(hash) = token_hash(token) else {
            return Ok(None);
        };
        match self {
            SessionStore::Database(db) => {
                let row = crate::db::sessions::find(db, &hash, now_ms()).await?;
                Ok(row.map(|r| SessionUser {
                    user_id: r.user_id,
                    username: r.username,
                }))
            }
            SessionStore::Redis { conn, prefix } => {
                let value: Option<String> = redis::cmd("GET")
                    .arg(format!("{prefix}session:{hash}"))
                    .query_async(&mut conn.clone())
                    .await
                    .context("reading a session from Redis")?;
                Ok(value.and_then(|v| {
                    let (id, name) = v.split_once('\t')?;
                    Some(SessionUser {
                        user_id: id.parse().ok()?,
                        username: name.to_owned(),
                    })
                }))
            }
        }
    }

    /// Revoking an unknown token is not an error: logging out twice is fine.
    pub async fn revoke(&self, token: &str) -> Result<(), Error> {
        let Some(hash) = token_hash(token) else {
            return Ok(());
        };
        match self {
            SessionStore::Database(db) => crate::db::sessions::delete(db, &hash).await?,
            SessionStore::Redis { conn, prefix } => {
                redis::cmd("DEL")
                    .arg(format!("{prefix}session:{hash}"))
                    .query_async::<()>(&mut conn.clone())
                    .await
                    .context("revoking a session in Redis")?;
            }
        }
        Ok(())
    }
}

/// Rows removed per statement while sweeping: SQLite has one writer, shared with the
/// saves, so a sweep never holds it for long.
const SWEEP_BATCH: i64 = 500;

/// Deletes expired database sessions, a batch at a time; returns how many. Redis
/// expires its sessions itself, but the table is swept whichever store is in use, so
/// a deployment that moved its sessions to Redis leaves nothing behind.
pub async fn sweep_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    loop {
        let done = crate::db::sessions::delete_expired(db, now_ms(), SWEEP_BATCH).await?;
        removed += done;
        if done < SWEEP_BATCH as u64 {
            return Ok(removed);
        }
    }
}

/// Sweeps expired sessions every `every`, for as long as the service runs.
pub async fn sweep_forever(db: Db, every: std::time::Duration) {
    // The first sweep waits a period too: a service starting up has better things to do.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "swept expired sessions"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep expired sessions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_unique() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(token_hash(&a).is_some());
        assert!(token_hash("not-a-token").is_none());
        assert_ne!(token_hash(&a).unwrap(), a);
    }
}
