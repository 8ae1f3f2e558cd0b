//! Images as files under one directory. A resume's files are written, fsynced, and
//! then their directory and its parent are fsynced too, so a 201 means the files
//! survive a power cut (the directory entry is what makes a new file findable).

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use super::{ImageStore, NewObject, StoreError, StoredObject};

pub struct DiskStore {
    root: PathBuf,
}

impl DiskStore {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(DiskStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Keys are made by the service, but `get` serves keys from URLs: refuse anything
    /// that could climb out of the root.
    fn path_of(&self, key: &str) -> Option<PathBuf> {
        let rel = Path::new(key);
        if key.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        Some(self.root.join(rel))
    }

    /// Writes and fsyncs every file, then fsyncs the new directories and the
    /// directories that gained them as entries. One after another on purpose: on ext4
    /// the first fsync commits the journal and the rest find little left to do, while
    /// fsyncs issued in parallel were measured several times slower.
    fn write_durably(&self, objects: &[NewObject]) -> Result<(), StoreError> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for obj in objects {
            let path = self
                .path_of(&obj.key)
                .ok_or_else(|| StoreError::new("writing", &obj.key, "invalid key"))?;
            let dir = path
                .parent()
                .expect("a key has a parent directory")
                .to_path_buf();
            if !dirs.contains(&dir) {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| StoreError::new("creating", &obj.key, e))?;
                dirs.push(dir);
            }
            let mut file = std::fs::File::create(&path)
                .map_err(|e| StoreError::new("creating", &obj.key, e))?;
            file.write_all(&obj.bytes)
                .map_err(|e| StoreError::new("writing", &obj.key, e))?;
            file.sync_all()
                .map_err(|e| StoreError::new("syncing", &obj.key, e))?;
        }
        let mut to_sync = dirs.clone();
        for dir in &dirs {
            if let Some(parent) = dir.parent()
                && !to_sync.iter().any(|d| d == parent)
            {
                to_sync.push(parent.to_path_buf());
            }
        }
        for dir in to_sync {
            std::fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::new("syncing directory", &dir.display().to_string(), e))?;
        }
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        let Some(path) = self.path_of(key) else {
            return Ok(());
        };
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::new("deleting", key, e)),
        }
        // Drop the resume's directory once it is empty; a non-empty one stays.
        if let Some(dir) = path.parent()
            && dir != self.root
        {
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }
}

fn content_type_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    }
}

#[async_trait::async_trait]
impl ImageStore for DiskStore {
    async fn put_all(&self, objects: &[NewObject]) -> Result<(), StoreError> {
        if objects.is_empty() {
            return Ok(());
        }
        let store = DiskStore {
            root: self.root.clone(),
        };
        let objs = objects.to_vec();
        tokio::task::spawn_blocking(move || {
            let r = store.write_durably(&objs);
            if r.is_err() {
                for o in &objs {
                    let _ = store.remove(&o.key);
                }
            }
            r
        })
        .await
        .map_err(|e| StoreError::new("writing", "images", e))?
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let store = DiskStore {
            root: self.root.clone(),
        };
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || store.remove(&key))
            .await
            .map_err(|e| StoreError::new("deleting", "images", e))?
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let Some(path) = self.path_of(key) else {
            return Ok(None);
        };
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(StoredObject {
                content_type: content_type_of(&path).to_owned(),
                bytes: Bytes::from(bytes),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::new("reading", key, e)),
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        let meta = tokio::fs::metadata(&self.root)
            .await
            .map_err(|e| StoreError::new("checking", &self.root.display().to_string(), e))?;
        if !meta.is_dir() || meta.permissions().readonly() {
            return Err(StoreError::new(
                "checking",
                &self.root.display().to_string(),
                "not a writable directory",
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("disk:{}", self.root.display())
    }
}
