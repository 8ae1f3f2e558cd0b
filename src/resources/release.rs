//! The release binary in the stack's bucket, `releases/<sha256>/modu-app`: uploaded once
//! per content (a release already there is not sent again), fetched by each instance
//! with its role and checked against the hash in its user data.
//!
//! It lives and goes with the bucket: `down` keeps both, `down --delete-data` empties the
//! bucket with everything in it.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use super::instance_role::RELEASES_PREFIX;
use super::{Context, Deps, Found, Health, Key, Observed, OnDown, Outputs, Resource};
use crate::aws::errors::AwsContext;
use crate::error::{Error, Result};
use crate::spec::Spec;

pub struct ReleaseObject;

const KIND: &str = "s3-object";

fn found(key: &str, sha256: &str, id: &str) -> Found {
    Found::new(key).with(Outputs::Release {
        key: key.to_string(),
        sha256: sha256.to_string(),
        id: id.to_string(),
    })
}

#[async_trait]
impl Resource for ReleaseObject {
    fn key(&self) -> Key {
        Key::Release
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        cx.release
            .as_ref()
            .map_or_else(|| RELEASES_PREFIX.to_string(), |r| r.key())
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Bucket]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.app.is_some()
    }

    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(bucket) = deps.get(Key::Bucket)? else {
            return Ok(None);
        };
        let s3 = &cx.clients.s3;
        if let Some(release) = &cx.release {
            let key = release.key();
            let head = s3.head_object().bucket(&bucket.id).key(&key).send().await;
            return match head {
                Ok(_) => Ok(Some(Observed::new(
                    found(&key, &release.sha256, &release.id),
                    (),
                ))),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
                Err(err) => Err(err).context("looking up", KIND, &key),
            };
        }
        // Without a release at hand (`status`, `down`): the newest one uploaded.
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket.id)
            .prefix(RELEASES_PREFIX)
            .send()
            .await
            .context("listing the releases in", KIND, &bucket.id)?;
        let newest = listed
            .contents()
            .iter()
            .max_by_key(|o| o.last_modified().map(|t| t.secs()))
            .and_then(|o| o.key());
        Ok(newest.map(|key| {
            let sha256 = key
                .trim_start_matches(RELEASES_PREFIX)
                .split('/')
                .next()
                .unwrap_or_default();
            Observed::new(found(key, sha256, ""), ())
        }))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let release = cx
            .release
            .as_ref()
            .ok_or_else(|| Error::internal("a release is created only with one prepared"))?;
        let key = release.key();
        let body = ByteStream::from_path(&release.path).await.map_err(|err| {
            Error::fixable(
                format!("cannot read the release {}: {err}", release.path.display()),
                "check `app.artifact` in the spec",
            )
        })?;
        cx.clients
            .s3
            .put_object()
            .bucket(deps.id(Key::Bucket)?)
            .key(&key)
            .content_type("application/octet-stream")
            .body(body)
            .send()
            .await
            .context("uploading", KIND, &key)?;
        Ok(found(&key, &release.sha256, &release.id))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let (sha256, id) = match &observed.found.outputs {
            Outputs::Release { sha256, id, .. } => (sha256.clone(), id.clone()),
            _ => Default::default(),
        };
        Ok(Health::ok(
            format!("uploaded, sha256 {}", &sha256[..sha256.len().min(12)]),
            json!({ "key": observed.found.id, "sha256": sha256, "release": id }),
        ))
    }

    async fn delete(&self, _cx: &Context, _found: &Found) -> Result<()> {
        // Goes with the bucket (emptied by `down --delete-data`).
        Ok(())
    }

    fn on_down(&self, _cx: &Context, _found: &Found) -> OnDown {
        OnDown::Keep("kept in the bucket with the images")
    }
}
