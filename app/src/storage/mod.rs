//! Where state lives outside the request: images (local disk or S3), sessions
//! (database or Redis) and the resume-list cache (in-process or Redis). Each is
//! chosen once at start from the settings; handlers only see the interface.

mod cache;
mod disk;
mod s3;
mod sessions;

pub use cache::Cache;
pub use disk::DiskStore;
pub use s3::{S3Store, https_client};
pub use sessions::{SessionStore, SessionUser, sweep_expired, sweep_forever};

use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
#[error("{action} {key}: {message}")]
pub struct StoreError {
    pub action: &'static str,
    pub key: String,
    pub message: String,
}

impl StoreError {
    pub fn new(action: &'static str, key: &str, err: impl std::fmt::Display) -> Self {
        StoreError {
            action,
            key: key.to_owned(),
            message: err.to_string(),
        }
    }
}

/// One object to store.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub key: String,
    pub content_type: &'static str,
    pub bytes: Bytes,
}

/// An object read back, for serving `/media/...` when no CDN is in front.
pub struct StoredObject {
    pub content_type: String,
    pub bytes: Bytes,
}

/// Image storage. `put_all` returns only once every object is durable (fsynced on
/// disk, acknowledged by S3); if it fails, whatever it did store is removed again.
#[async_trait::async_trait]
pub trait ImageStore: Send + Sync {
    async fn put_all(&self, objects: &[NewObject]) -> Result<(), StoreError>;
    /// Deleting an absent key succeeds, so a clean-up can always be re-run.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    async fn get(&self, key: &str) -> Result<Option<StoredObject>, StoreError>;
    /// Is the store reachable and writable? For `/readyz`.
    async fn check(&self) -> Result<(), StoreError>;
    fn describe(&self) -> String;

    /// Deletes every key, logging failures and going on; returns how many failed.
    async fn delete_all(&self, keys: &[String]) -> usize {
        let mut failed = 0;
        for key in keys {
            if let Err(e) = self.delete(key).await {
                tracing::warn!(error = %e, "cannot delete image");
                failed += 1;
            }
        }
        failed
    }
}
