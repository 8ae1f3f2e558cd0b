//! What every handler may use: the shared parts chosen at start (database, image
//! store, sessions, cache), the job categories and the upload limits. `startup`
//! builds it from the settings; `routes` only read it, so neither depends on the other
//! through it.

use std::sync::Arc;

use redis::aio::ConnectionManager;

use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::Task;
use crate::protection::uploads::UploadBudget;
use crate::startup::Draining;
use crate::storage::{Cache, ImageStore, SessionStore};

/// Upload limits, derived once from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_image_bytes: usize,
    pub max_images: usize,
    /// The largest request body that can carry `max_images` images of the largest size.
    pub max_body_bytes: usize,
    /// Image bytes one user may store over all their resumes.
    pub user_quota_bytes: u64,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        Limits {
            max_image_bytes: settings.max_image_bytes(),
            max_images: settings.max_images.into(),
            max_body_bytes: settings.max_body_bytes(),
            user_quota_bytes: settings.user_quota_bytes(),
        }
    }
}

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub images: Arc<dyn ImageStore>,
    pub sessions: SessionStore,
    pub cache: Cache,
    /// For `/readyz`; sessions and cache hold their own handles.
    pub redis: Option<ConnectionManager>,
    pub tasks: Arc<Vec<Task>>,
    pub limits: Limits,
    /// Memory shared by the uploads being read and saved.
    pub uploads: UploadBudget,
    /// Prefix of image URLs, without a trailing slash.
    pub media_base_url: String,
    /// Set on SIGTERM; `/readyz` fails from then on.
    pub draining: Draining,
}
