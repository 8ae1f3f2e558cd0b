//! Images as files under one directory, laid out so that a save creates only its
//! files: no directory per resume.
//!
//! A key `kind/group/name` (the service's `resumes/<resume id>/<image id>.<ext>`)
//! lives at `<root>/<kind>/<xx>/<group>_<name>`, where `xx` is the first byte, in hex,
//! of the SHA-256 of `group`: 256 shard directories per kind keep every directory
//! small without nesting, and a resume's images share one directory, so a save
//! fsyncs one directory. A directory per resume cost one more inode and more
//! directory fsyncs per save; on ext4 allocating inodes was the largest share of the
//! save's CPU time under load.
//!
//! A save writes and fsyncs every file, then fsyncs the shard directories that gained
//! entries (the entry is what makes a new file findable after a power cut); a shard
//! directory made for the first time gets its parent fsynced too. So a 201 means the
//! files survive a power cut.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{ImageStore, NewObject, StoreError, StoredObject};

#[derive(Clone)]
pub struct DiskStore {
    root: PathBuf,
    /// Shard directories known to exist and to be durable, so a save does not
    /// re-create (or re-fsync the parent of) a directory made long ago.
    known_dirs: Arc<Mutex<HashSet<PathBuf>>>,
}

/// Where a key lives under the root, or `None` for a key this store never makes. Keys
/// also arrive from URLs, so only plain names are accepted: nothing can climb out of
/// the root, and `_` (the separator on disk) cannot appear in a part.
fn relative_path(key: &str) -> Option<PathBuf> {
    let mut parts = key.split('/');
    let (kind, group, name) = (parts.next()?, parts.next()?, parts.next()?);
    let plain = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if parts.next().is_some() || ![kind, group, name].into_iter().all(plain) {
        return None;
    }
    let shard = hex::encode(&Sha256::digest(group.as_bytes())[..1]);
    Some(
        [kind, shard.as_str(), &format!("{group}_{name}")]
            .iter()
            .collect(),
    )
}

impl DiskStore {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(DiskStore {
            root,
            known_dirs: Arc::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Option<PathBuf> {
        relative_path(key).map(|rel| self.root.join(rel))
    }

    /// Makes the shard directory if needed; a new one is made durable at once (its
    /// parents fsynced), so later saves only fsync the shard itself.
    fn ensure_dir(&self, dir: &Path, key: &str) -> Result<(), StoreError> {
        if self.known_dirs.lock().expect("not poisoned").contains(dir) {
            return Ok(());
        }
        let creating = |e| StoreError::new("creating", key, e);
        std::fs::create_dir_all(dir).map_err(creating)?;
        let mut cur = dir;
        while let Some(parent) = cur.parent() {
            sync_dir(parent)?;
            if parent == self.root {
                break;
            }
            cur = parent;
        }
        self.known_dirs
            .lock()
            .expect("not poisoned")
            .insert(dir.to_path_buf());
        Ok(())
    }

    fn forget_dir(&self, dir: &Path) {
        self.known_dirs.lock().expect("not poisoned").remove(dir);
    }

    /// Writes and fsyncs every file, then fsyncs the directories that gained them.
    /// One after another on purpose: on ext4 the first fsync commits the journal and
    /// the rest find little left to do, while fsyncs issued in parallel were measured
    /// several times slower.
    fn write_durably(&self, objects: &[NewObject]) -> Result<(), StoreError> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for obj in objects {
            let path = self
                .path_of(&obj.key)
                .ok_or_else(|| StoreError::new("writing", &obj.key, "invalid key"))?;
            let dir = path.parent().expect("a path has a shard directory");
            if !dirs.iter().any(|d| d == dir) {
                self.ensure_dir(dir, &obj.key)?;
                dirs.push(dir.to_path_buf());
            }
            let mut file = match std::fs::File::create(&path) {
                // The shard was removed behind our back: make it again, once.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.forget_dir(dir);
                    self.ensure_dir(dir, &obj.key)?;
                    std::fs::File::create(&path)
                }
                other => other,
            }
            .map_err(|e| StoreError::new("creating", &obj.key, e))?;
            file.write_all(&obj.bytes)
                .map_err(|e| StoreError::new("writing", &obj.key, e))?;
            file.sync_all()
                .map_err(|e| StoreError::new("syncing", &obj.key, e))?;
        }
        dirs.iter().try_for_each(|d| sync_dir(d))
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        let Some(path) = self.path_of(key) else {
            return Ok(());
        };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::new("deleting", key, e)),
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::new("syncing directory", &dir.display().to_string(), e))
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
        let store = self.clone();
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
        let store = self.clone();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root() -> PathBuf {
        std::env::temp_dir().join(format!("modu-disk-{}", uuid::Uuid::new_v4()))
    }

    fn object(key: &str) -> NewObject {
        NewObject {
            key: key.to_owned(),
            content_type: "image/jpeg",
            bytes: Bytes::from_static(b"\xff\xd8 image bytes"),
        }
    }

    #[test]
    fn keys_map_to_one_shard_directory_without_a_directory_per_group() {
        let path = relative_path("resumes/0192-ab/5f3c.jpg").unwrap();
        let parts: Vec<_> = path.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "resumes");
        assert_eq!(parts[1].len(), 2);
        assert_eq!(parts[2], "0192-ab_5f3c.jpg");
        // A group's files share a shard, so a save fsyncs one directory.
        let sibling = relative_path("resumes/0192-ab/77aa.png").unwrap();
        assert_eq!(path.parent(), sibling.parent());
    }

    #[test]
    fn keys_that_could_escape_or_collide_are_refused() {
        for key in [
            "",
            "resumes/a",
            "resumes/a/b/c",
            "resumes/../b.jpg",
            "resumes/a/..",
            "resumes/a/.hidden",
            "resumes//b.jpg",
            "/etc/passwd/x",
            "resumes/a_b/c.jpg",
            "resumes/a/b c.jpg",
            "resumes/a\\..\\b/c.jpg",
        ] {
            assert_eq!(relative_path(key), None, "{key:?}");
        }
    }

    #[tokio::test]
    async fn stored_files_are_read_back_deleted_and_survive_a_removed_shard() {
        let root = temp_root();
        let store = DiskStore::new(&root).unwrap();
        let keys = ["resumes/r1/a.jpg", "resumes/r1/b.jpg"];
        store.put_all(&keys.map(object)).await.expect("stored");
        for key in keys {
            let got = store.get(key).await.unwrap().expect("found");
            assert_eq!(got.content_type, "image/jpeg");
            assert_eq!(&got.bytes[..], b"\xff\xd8 image bytes");
        }
        // No directory per resume: the resume id is part of the file name.
        assert!(!root.join("resumes/r1").exists());

        // A shard deleted behind the store's back is made again.
        std::fs::remove_dir_all(root.join("resumes")).unwrap();
        store
            .put_all(&[object(keys[0])])
            .await
            .expect("stored again");
        assert!(store.get(keys[0]).await.unwrap().is_some());

        store.delete(keys[0]).await.unwrap();
        store.delete(keys[0]).await.expect("deleting twice is fine");
        assert!(store.get(keys[0]).await.unwrap().is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
