//! The cache of resume-list pages. Entries are filed under a generation number that
//! every write bumps, so invalidation is one increment and a reader that raced a
//! writer files its (possibly stale) page under a generation nobody reads any more.
//! In-process for a lone instance; Redis when instances share state.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use redis::aio::ConnectionManager;

use crate::error::{Context, Error};

/// Pages expire anyway after this long, a bound on staleness if a bump were lost.
const TTL_SECS: u64 = 60;
/// The in-process cache forgets everything when it grows past this many pages.
const LOCAL_MAX_ENTRIES: usize = 1024;

#[derive(Clone)]
pub enum Cache {
    Local(Arc<LocalCache>),
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
}

#[derive(Default)]
pub struct LocalCache {
    generation: AtomicU64,
    pages: std::sync::RwLock<HashMap<String, (u64, Bytes)>>,
}

/// A read that missed, remembering the generation it saw so `fill` can tell whether
/// a write happened meanwhile.
pub struct Miss {
    generation: u64,
    key: String,
}

impl Cache {
    pub fn local() -> Self {
        Cache::Local(Arc::default())
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Cache::Local(_) => "in-process",
            Cache::Redis { .. } => "redis",
        }
    }

    pub async fn get(&self, key: &str) -> Result<Result<Bytes, Miss>, Error> {
        match self {
            Cache::Local(local) => {
                let generation = local.generation.load(Ordering::Acquire);
                let pages = local.pages.read().unwrap_or_else(|e| e.into_inner());
                match pages.get(key) {
                    Some((g, page)) if *g == generation => Ok(Ok(page.clone())),
                    _ => Ok(Err(Miss {
                        generation,
                        key: key.to_owned(),
                    })),
                }
            }
            Cache::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let generation: Option<u64> = redis::cmd("GET")
                    .arg(format!("{prefix}resumes:generation"))
                    .query_async(&mut conn)
                    .await
                    .context("reading the cache generation")?;
                let generation = generation.unwrap_or(0);
                let page: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(format!("{prefix}resumes:{generation}:{key}"))
                    .query_async(&mut conn)
                    .await
                    .context("reading a cached page")?;
                Ok(page.map(Bytes::from).ok_or_else(|| Miss {
                    generation,
                    key: key.to_owned(),
                }))
            }
        }
    }

    pub async fn fill(&self, miss: Miss, page: Bytes) -> Result<(), Error> {
        match self {
            Cache::Local(local) => {
                let mut pages = local.pages.write().unwrap_or_else(|e| e.into_inner());
                if local.generation.load(Ordering::Acquire) != miss.generation {
                    return Ok(());
                }
                if pages.len() >= LOCAL_MAX_ENTRIES {
                    pages.clear();
                }
                pages.insert(miss.key, (miss.generation, page));
            }
            Cache::Redis { conn, prefix } => {
                redis::cmd("SET")
                    .arg(format!("{prefix}resumes:{}:{}", miss.generation, miss.key))
                    .arg(page.as_ref())
                    .arg("EX")
                    .arg(TTL_SECS)
                    .query_async::<()>(&mut conn.clone())
                    .await
                    .context("caching a page")?;
            }
        }
        Ok(())
    }

    pub async fn invalidate(&self) -> Result<(), Error> {
        match self {
            Cache::Local(local) => {
                let mut pages = local.pages.write().unwrap_or_else(|e| e.into_inner());
                local.generation.fetch_add(1, Ordering::AcqRel);
                pages.clear();
            }
            Cache::Redis { conn, prefix } => {
                redis::cmd("INCR")
                    .arg(format!("{prefix}resumes:generation"))
                    .query_async::<()>(&mut conn.clone())
                    .await
                    .context("invalidating the cache")?;
            }
        }
        Ok(())
    }
}
