//! The S3 bucket for uploaded images: private (every public-access block on), encrypted by
//! default, tagged.
//!
//! It holds user data, so `down` keeps it unless `--delete-data` is given; then it is emptied
//! (every object version) and deleted.
//!
//! Encryption is set when the bucket is created but not read back: since January 2023 S3
//! encrypts every object at rest (SSE-S3 at least) and that cannot be switched off, so the
//! read would cost every `plan` a request and could never find drift that matters.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use serde_json::json;

use super::toolkit::refuse_unless;
use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, OnDown, Outputs, Resource, touches,
};
use crate::aws::errors::{self, Absent, AwsContext, built};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::BucketRef;

pub struct Bucket;

const KIND: &str = "bucket";

fn found(name: &str) -> Found {
    Found::new(name).with(Outputs::Arn {
        arn: format!("arn:aws:s3:::{name}"),
    })
}

/// What modu owns on the bucket, as AWS has it.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    tags: BTreeMap<String, String>,
    private: bool,
}

/// What differs between the bucket and the spec's tags, privacy and encryption.
fn diff_live(live: &Live, desired_tags: &BTreeMap<String, String>) -> Vec<Change> {
    let mut diff = Diff::new();
    let missing = tags::missing(desired_tags, &live.tags);
    if !missing.is_empty() {
        diff.push(tags::change(&missing, &live.tags));
    }
    diff.field("public_access_blocked", &live.private, &true);
    diff.into_changes()
}

impl Bucket {
    /// The bucket's tags; `None` when the bucket does not exist.
    async fn current_tags(
        &self,
        cx: &Context,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>> {
        let result = cx.clients.s3.get_bucket_tagging().bucket(name).send().await;
        match result {
            // Both answer 404: the code tells a bucket without tags from no bucket.
            Err(err) if errors::is_code(&err, &["NoSuchTagSet", "NoSuchTagSetError"]) => {
                Ok(Some(BTreeMap::new()))
            }
            Err(err)
                if errors::is_code(&err, &["NoSuchBucket"])
                    || errors::status(&err) == Some(404) =>
            {
                Ok(None)
            }
            Err(err) if errors::status(&err) == Some(403) => Err(Error::fixable(
                format!("bucket {name} exists and belongs to another AWS account"),
                "bucket names are global: choose another `storage.bucket` in the spec (or `auto`)",
            )),
            other => Ok(Some(
                other
                    .context("reading tags of", KIND, name)?
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            )),
        }
    }

    async fn is_private(&self, cx: &Context, name: &str) -> Result<bool> {
        let out = cx
            .clients
            .s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .or_absent(
                &["NoSuchPublicAccessBlockConfiguration"],
                "reading public access block of",
                KIND,
                name,
            )?;
        Ok(out
            .and_then(|o| o.public_access_block_configuration)
            .is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }))
    }

    async fn block_public_access(&self, cx: &Context, name: &str) -> Result<()> {
        cx.clients
            .s3
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .context("blocking public access to", KIND, name)?;
        Ok(())
    }

    async fn encrypt(&self, cx: &Context, name: &str) -> Result<()> {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(built(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build(),
            )?)
            .bucket_key_enabled(true)
            .build();
        cx.clients
            .s3
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(built(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build(),
            )?)
            .send()
            .await
            .context("enabling default encryption on", KIND, name)?;
        Ok(())
    }

    async fn put_tags(
        &self,
        cx: &Context,
        name: &str,
        all: &BTreeMap<String, String>,
    ) -> Result<()> {
        let tag_set = all
            .iter()
            .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
            .collect::<Result<Vec<_>>>()?;
        cx.clients
            .s3
            .put_bucket_tagging()
            .bucket(name)
            .tagging(built(
                Tagging::builder().set_tag_set(Some(tag_set)).build(),
            )?)
            .send()
            .await
            .context("tagging", KIND, name)?;
        Ok(())
    }

    /// Deletes every object version and delete marker, a thousand at a time.
    async fn empty(&self, cx: &Context, name: &str) -> Result<u64> {
        let s3 = &cx.clients.s3;
        let mut deleted = 0u64;
        loop {
            let page = s3
                .list_object_versions()
                .bucket(name)
                .max_keys(1000)
                .send()
                .await
                .context("listing objects of", KIND, name)?;
            let mut batch = Vec::new();
            for v in page.versions() {
                batch.push((v.key().unwrap_or_default(), v.version_id()));
            }
            for m in page.delete_markers() {
                batch.push((m.key().unwrap_or_default(), m.version_id()));
            }
            if batch.is_empty() {
                return Ok(deleted);
            }
            let objects = batch
                .iter()
                .map(|(key, version)| {
                    built(
                        ObjectIdentifier::builder()
                            .key(*key)
                            .set_version_id(version.map(str::to_string))
                            .build(),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            deleted += objects.len() as u64;
            s3.delete_objects()
                .bucket(name)
                .delete(built(
                    Delete::builder()
                        .set_objects(Some(objects))
                        .quiet(true)
                        .build(),
                )?)
                .send()
                .await
                .context("emptying", KIND, name)?;
        }
    }
}

#[async_trait]
impl Resource for Bucket {
    fn key(&self) -> Key {
        Key::Bucket
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        match &cx.spec.storage.bucket {
            BucketRef::Auto => format!("{}-images-{}", cx.spec.stack, cx.account_id),
            BucketRef::Named(name) => name.clone(),
        }
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let Some(current) = self.current_tags(cx, &name).await? else {
            return Ok(None);
        };
        refuse_unless(
            cx,
            current.get(tags::STACK) == Some(&cx.spec.stack),
            format!("bucket {name}"),
            format!(
                "choose another `storage.bucket`, or tag the bucket `{}={}` to let modu manage it",
                tags::STACK,
                cx.spec.stack
            ),
        )?;
        let live = Live {
            tags: current,
            private: self.is_private(cx, &name).await?,
        };
        Ok(Some(Observed::new(found(&name), live)))
    }

    fn diff(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let desired = tags::for_resource(&cx.spec, self.key().as_str(), &observed.found.id);
        Ok(diff_live(observed.live()?, &desired))
    }

    async fn apply(
        &self,
        cx: &Context,
        _deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let name = &observed.found.id;
        let live: &Live = observed.live()?;
        if touches(changes, "tags") {
            let mut merged = live.tags.clone();
            merged.extend(tags::for_resource(&cx.spec, self.key().as_str(), name));
            self.put_tags(cx, name, &merged).await?;
        }
        if touches(changes, "public_access_blocked") {
            self.block_public_access(cx, name).await?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let mut request = cx.clients.s3.create_bucket().bucket(&name);
        // us-east-1 is the one region that must not be named as a location constraint.
        if cx.spec.region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(cx.spec.region.as_str()))
                    .build(),
            );
        }
        let result = request.send().await;
        if let Err(err) = &result
            && errors::is_code(err, &["BucketAlreadyExists"])
        {
            return Err(Error::fixable(
                format!("bucket name {name} is already taken by another AWS account"),
                "bucket names are global: choose another `storage.bucket` in the spec (or `auto`)",
            ));
        }
        result.context("creating", KIND, &name)?;
        self.put_tags(
            cx,
            &name,
            &tags::for_resource(&cx.spec, self.key().as_str(), &name),
        )
        .await?;
        self.block_public_access(cx, &name).await?;
        self.encrypt(cx, &name).await?;
        Ok(found(&name))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let state = if live.private {
            "private, encrypted"
        } else {
            "PUBLIC ACCESS NOT BLOCKED"
        };
        Ok(Health {
            healthy: live.private,
            state: state.into(),
            details: json!({ "public_access_blocked": live.private, "default_encryption": true }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let name = &found.id;
        let count = self.empty(cx, name).await?;
        tracing::info!(bucket = %name, objects = count, "emptied bucket");
        cx.clients
            .s3
            .delete_bucket()
            .bucket(name)
            .send()
            .await
            .or_gone(&["NoSuchBucket"], KIND, name)
    }

    fn on_down(&self, cx: &Context, _found: &Found) -> OnDown {
        if cx.delete_data {
            OnDown::Delete
        } else {
            OnDown::Keep("holds uploaded images; `down --delete-data` deletes it")
        }
    }

    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        vec![("bucket", found.id.clone())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(private: bool) -> Live {
        Live {
            tags: BTreeMap::from([("modu:stack".to_string(), "web".to_string())]),
            private,
        }
    }

    #[test]
    fn a_private_encrypted_tagged_bucket_needs_nothing() {
        let want = BTreeMap::from([("modu:stack".to_string(), "web".to_string())]);
        assert!(diff_live(&live(true), &want).is_empty());
    }

    #[test]
    fn missing_privacy_and_tags_are_each_a_change() {
        let want = BTreeMap::from([
            ("modu:stack".to_string(), "web".to_string()),
            ("team".to_string(), "a".to_string()),
        ]);
        let changes = diff_live(&live(false), &want);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["tags", "public_access_blocked"]);
        assert_eq!(changes[0].from, "team=(none)");
        assert_eq!(changes[0].to, "team=a");
        assert_eq!(
            (changes[1].from.as_str(), changes[1].to.as_str()),
            ("false", "true")
        );
    }
}
