//! The S3 bucket for uploaded images: private (every public-access block on), encrypted by
//! default, tagged.
//!
//! It holds user data, so `down` keeps it unless `--delete-data` is given; then it is emptied
//! (every object version) and deleted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use serde_json::json;

use super::{Context, Deps, Found, Health, OnDown, Resource};
use crate::aws::errors::{self, AwsContext, built};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::BucketRef;

pub struct Bucket;

const KIND: &str = "bucket";

impl Bucket {
    async fn current_tags(&self, cx: &Context, name: &str) -> Result<BTreeMap<String, String>> {
        let result = cx.clients.s3.get_bucket_tagging().bucket(name).send().await;
        match result {
            Err(err) if errors::is_code(&err, &["NoSuchTagSet", "NoSuchTagSetError"]) => {
                Ok(BTreeMap::new())
            }
            other => Ok(other
                .context("reading tags of", KIND, name)?
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()),
        }
    }

    async fn is_private(&self, cx: &Context, name: &str) -> Result<bool> {
        let result = cx
            .clients
            .s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["NoSuchPublicAccessBlockConfiguration"]) => {
                Ok(false)
            }
            other => {
                let out = other.context("reading public access block of", KIND, name)?;
                Ok(out.public_access_block_configuration().is_some_and(|c| {
                    c.block_public_acls() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                }))
            }
        }
    }

    async fn is_encrypted(&self, cx: &Context, name: &str) -> Result<bool> {
        let result = cx
            .clients
            .s3
            .get_bucket_encryption()
            .bucket(name)
            .send()
            .await;
        match result {
            Err(err)
                if errors::is_code(&err, &["ServerSideEncryptionConfigurationNotFoundError"]) =>
            {
                Ok(false)
            }
            other => {
                let out = other.context("reading encryption of", KIND, name)?;
                Ok(out
                    .server_side_encryption_configuration()
                    .is_some_and(|c| !c.rules().is_empty()))
            }
        }
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
    fn key(&self) -> &'static str {
        "bucket"
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
    fn depends_on(&self) -> Vec<&'static str> {
        Vec::new()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        let result = cx.clients.s3.head_bucket().bucket(&name).send().await;
        if let Err(err) = &result {
            match errors::status(err) {
                Some(404) => return Ok(None),
                Some(403) => {
                    return Err(Error::precondition(
                        format!("bucket {name} exists and belongs to another AWS account"),
                        "bucket names are global: choose another `storage.bucket` in the spec (or `auto`)",
                    ));
                }
                _ => {}
            }
        }
        result.context("looking up", KIND, &name)?;
        let current = self.current_tags(cx, &name).await?;
        if current.get(tags::STACK) != Some(&cx.spec.stack) {
            return Err(Error::precondition(
                format!(
                    "bucket {name} exists in this account but is not part of stack {}",
                    cx.spec.stack
                ),
                format!(
                    "choose another `storage.bucket`, or tag the bucket `{}={}` to let modu manage it",
                    tags::STACK,
                    cx.spec.stack
                ),
            ));
        }
        Ok(Some(
            Found::new(&name).with("arn", format!("arn:aws:s3:::{name}")),
        ))
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
            return Err(Error::precondition(
                format!("bucket name {name} is already taken by another AWS account"),
                "bucket names are global: choose another `storage.bucket` in the spec (or `auto`)",
            ));
        }
        result.context("creating", KIND, &name)?;
        self.put_tags(cx, &name, &tags::for_resource(&cx.spec, self.key(), &name))
            .await?;
        self.block_public_access(cx, &name).await?;
        self.encrypt(cx, &name).await?;
        Ok(Found::new(&name).with("arn", format!("arn:aws:s3:::{name}")))
    }

    async fn converge(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let name = &found.id;
        let mut changes = Vec::new();
        let current = self.current_tags(cx, name).await?;
        let desired = tags::for_resource(&cx.spec, self.key(), name);
        if !tags::missing(&desired, &current).is_empty() {
            let mut merged = current.clone();
            merged.extend(desired);
            self.put_tags(cx, name, &merged).await?;
            changes.push("tags".to_string());
        }
        if !self.is_private(cx, name).await? {
            self.block_public_access(cx, name).await?;
            changes.push("public access blocked".to_string());
        }
        if !self.is_encrypted(cx, name).await? {
            self.encrypt(cx, name).await?;
            changes.push("default encryption".to_string());
        }
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let private = self.is_private(cx, &found.id).await?;
        let encrypted = self.is_encrypted(cx, &found.id).await?;
        let state = match (private, encrypted) {
            (true, true) => "private, encrypted".to_string(),
            (false, _) => "PUBLIC ACCESS NOT BLOCKED".to_string(),
            (true, false) => "private, NOT ENCRYPTED".to_string(),
        };
        Ok(Health {
            healthy: private && encrypted,
            state,
            details: json!({ "public_access_blocked": private, "default_encryption": encrypted }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let name = &found.id;
        let count = self.empty(cx, name).await?;
        tracing::info!(bucket = %name, objects = count, "emptied bucket");
        let result = cx.clients.s3.delete_bucket().bucket(name).send().await;
        match result {
            Err(err) if errors::is_code(&err, &["NoSuchBucket"]) => Ok(()),
            other => other.map(|_| ()).context("deleting", KIND, name),
        }
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
