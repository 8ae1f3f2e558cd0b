//! The S3 bucket for uploaded images: private (every public-access block on), encrypted by
//! default, reachable over TLS only, versioned, tagged.
//!
//! It holds user data, so `down` keeps it unless `--delete-data` is given; then it is emptied
//! (every object version and delete marker) and deleted.
//!
//! TLS only is a statement of the bucket's policy that refuses any request without
//! `aws:SecureTransport`; the policy's other statement (the distribution's read grant) is
//! media access's, and each keeps the other's (see [`super::shared::s3`]). Versioning keeps
//! an overwritten or deleted image recoverable; a lifecycle rule expires those noncurrent
//! versions after [`NONCURRENT_DAYS`] days, so that deleted images do not cost storage
//! forever, and aborts multipart uploads left incomplete after [`ABORT_UPLOAD_DAYS`] days.
//!
//! Encryption is set when the bucket is created but not read back: since January 2023 S3
//! encrypts every object at rest (SSE-S3 at least) and that cannot be switched off, so the
//! read would cost every `plan` a request and could never find drift that matters.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};
use serde_json::{Value, json};

use super::shared::s3::{put_statement, read_policy, same_statement, statement};
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

/// The policy statement that marks the bucket's TLS-only rule.
const TLS_ONLY_ID: &str = "ModuDenyInsecureTransport";
/// The lifecycle rule modu owns among the bucket's rules.
const LIFECYCLE_RULE_ID: &str = "modu-expire-noncurrent-versions";
/// Days an overwritten or deleted image stays recoverable.
pub const NONCURRENT_DAYS: i32 = 30;
/// Days before S3 drops the parts of a multipart upload nobody completed.
pub const ABORT_UPLOAD_DAYS: i32 = 7;

/// Every request without TLS refused, whoever makes it, on the bucket and its objects.
fn tls_only_statement(bucket: &str) -> Value {
    json!({
        "Sid": TLS_ONLY_ID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
    })
}

/// What modu's lifecycle rule expires, as S3 has it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Expiry {
    noncurrent_days: Option<i32>,
    abort_upload_days: Option<i32>,
}

const WANTED_EXPIRY: Expiry = Expiry {
    noncurrent_days: Some(NONCURRENT_DAYS),
    abort_upload_days: Some(ABORT_UPLOAD_DAYS),
};

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = |d: Option<i32>| d.map_or("never".to_string(), |d| format!("{d}d"));
        write!(
            f,
            "noncurrent versions {}, incomplete uploads {}",
            days(self.noncurrent_days),
            days(self.abort_upload_days)
        )
    }
}

/// modu's rule among `rules`, when it is enabled and covers the whole bucket.
fn expiry_of(rules: &[LifecycleRule]) -> Option<Expiry> {
    let rule = rules.iter().find(|r| r.id() == Some(LIFECYCLE_RULE_ID))?;
    // modu writes an empty filter; any other narrows the rule to part of the bucket.
    let whole_bucket = rule.filter().is_some_and(|f| {
        f.prefix().unwrap_or_default().is_empty()
            && f.tag().is_none()
            && f.and().is_none()
            && f.object_size_greater_than().is_none()
            && f.object_size_less_than().is_none()
    });
    (*rule.status() == ExpirationStatus::Enabled && whole_bucket).then(|| Expiry {
        noncurrent_days: rule
            .noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        abort_upload_days: rule
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
    })
}

/// What modu owns on the bucket, as AWS has it.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    tags: BTreeMap<String, String>,
    private: bool,
    /// The policy has modu's TLS-only statement, as modu writes it.
    tls_only: bool,
    /// `Enabled`, `Suspended`, or `Off` for a bucket that never had versioning.
    versioning: String,
    expiry: Option<Expiry>,
    /// The lifecycle rules that are not modu's, kept when modu writes its own.
    other_rules: Vec<LifecycleRule>,
}

fn show(expiry: Option<Expiry>) -> String {
    expiry.map_or("(none)".to_string(), |e| e.to_string())
}

fn tag_set(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
        .collect()
}

/// What differs between the bucket and the spec's tags, privacy, transport, versioning and
/// lifecycle.
fn diff_live(live: &Live, desired_tags: &BTreeMap<String, String>) -> Vec<Change> {
    let mut diff = Diff::new();
    let missing = tags::missing(desired_tags, &live.tags);
    if !missing.is_empty() {
        diff.push(tags::change(&missing, &live.tags));
    }
    diff.field("public_access_blocked", &live.private, &true);
    diff.field("tls_only", &live.tls_only, &true);
    diff.field("versioning", live.versioning.as_str(), "Enabled");
    diff.field("lifecycle", &show(live.expiry), &show(Some(WANTED_EXPIRY)));
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

    async fn versioning(&self, cx: &Context, name: &str) -> Result<String> {
        let out = cx
            .clients
            .s3
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
            .context("reading versioning of", KIND, name)?;
        Ok(out
            .status()
            .map_or("Off".to_string(), |s| s.as_str().to_string()))
    }

    async fn enable_versioning(&self, cx: &Context, name: &str) -> Result<()> {
        cx.clients
            .s3
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .context("enabling versioning on", KIND, name)?;
        Ok(())
    }

    async fn lifecycle_rules(&self, cx: &Context, name: &str) -> Result<Vec<LifecycleRule>> {
        let out = cx
            .clients
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await
            .or_absent(
                &["NoSuchLifecycleConfiguration"],
                "reading the lifecycle of",
                KIND,
                name,
            )?;
        Ok(out.map(|o| o.rules().to_vec()).unwrap_or_default())
    }

    /// Writes modu's lifecycle rule beside `others` (S3 replaces the whole configuration).
    async fn put_lifecycle(
        &self,
        cx: &Context,
        name: &str,
        others: &[LifecycleRule],
    ) -> Result<()> {
        let ours = built(
            LifecycleRule::builder()
                .id(LIFECYCLE_RULE_ID)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(NONCURRENT_DAYS)
                        .build(),
                )
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(ABORT_UPLOAD_DAYS)
                        .build(),
                )
                .build(),
        )?;
        let mut rules = others.to_vec();
        rules.push(ours);
        cx.clients
            .s3
            .put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(built(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build(),
            )?)
            .send()
            .await
            .context("setting the lifecycle of", KIND, name)?;
        Ok(())
    }

    async fn put_tags(
        &self,
        cx: &Context,
        name: &str,
        all: &BTreeMap<String, String>,
    ) -> Result<()> {
        let tag_set = tag_set(all)?;
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
            let out = s3
                .delete_objects()
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
            // A batch answers 200 even when some keys were not deleted: listing again would
            // find them again, for ever.
            if let Some(failed) = out.errors().first() {
                return Err(Error::Aws {
                    action: "emptying",
                    kind: KIND,
                    name: name.to_string(),
                    code: failed.code().map(str::to_string),
                    message: format!(
                        "{} of {} not deleted, e.g. {}: {}",
                        out.errors().len(),
                        batch.len(),
                        failed.key().unwrap_or_default(),
                        failed.message().unwrap_or_default()
                    ),
                    help: None,
                });
            }
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
        let tls_only = read_policy(cx, KIND, &name)
            .await?
            .as_ref()
            .and_then(|p| statement(p, TLS_ONLY_ID))
            .is_some_and(|st| same_statement(st, &tls_only_statement(&name)));
        let rules = self.lifecycle_rules(cx, &name).await?;
        let live = Live {
            tags: current,
            private: self.is_private(cx, &name).await?,
            tls_only,
            versioning: self.versioning(cx, &name).await?,
            expiry: expiry_of(&rules),
            other_rules: rules
                .into_iter()
                .filter(|r| r.id() != Some(LIFECYCLE_RULE_ID))
                .collect(),
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
        if touches(changes, "tls_only") {
            put_statement(cx, KIND, name, tls_only_statement(name)).await?;
        }
        // Versioning first: a noncurrent-version rule means nothing without it.
        if touches(changes, "versioning") {
            self.enable_versioning(cx, name).await?;
        }
        if touches(changes, "lifecycle") {
            self.put_lifecycle(cx, name, &live.other_rules).await?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        // Tagged in the same request: a run stopped right after it leaves a bucket the next
        // run recognises as the stack's, never an untagged one it must refuse.
        let mut configuration = CreateBucketConfiguration::builder().set_tags(Some(tag_set(
            &tags::for_resource(&cx.spec, self.key().as_str(), &name),
        )?));
        // us-east-1 is the one region that must not be named as a location constraint.
        if cx.spec.region != "us-east-1" {
            configuration = configuration
                .location_constraint(BucketLocationConstraint::from(cx.spec.region.as_str()));
        }
        let result = cx
            .clients
            .s3
            .create_bucket()
            .bucket(&name)
            .create_bucket_configuration(configuration.build())
            .send()
            .await;
        if let Err(err) = &result
            && errors::is_code(err, &["BucketAlreadyExists"])
        {
            return Err(Error::fixable(
                format!("bucket name {name} is already taken by another AWS account"),
                "bucket names are global: choose another `storage.bucket` in the spec (or `auto`)",
            ));
        }
        result.context("creating", KIND, &name)?;
        self.block_public_access(cx, &name).await?;
        self.encrypt(cx, &name).await?;
        put_statement(cx, KIND, &name, tls_only_statement(&name)).await?;
        self.enable_versioning(cx, &name).await?;
        self.put_lifecycle(cx, &name, &[]).await?;
        Ok(found(&name))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let mut problems = Vec::new();
        if !live.private {
            problems.push("PUBLIC ACCESS NOT BLOCKED".to_string());
        }
        if !live.tls_only {
            problems.push("plain HTTP not refused".to_string());
        }
        if live.versioning != "Enabled" {
            problems.push(format!("versioning {}", live.versioning));
        }
        if live.expiry != Some(WANTED_EXPIRY) {
            problems.push(format!("lifecycle {}", show(live.expiry)));
        }
        let state = if problems.is_empty() {
            "private, encrypted, TLS only, versioned".to_string()
        } else {
            problems.join(", ")
        };
        Ok(Health {
            healthy: problems.is_empty(),
            state,
            details: json!({
                "public_access_blocked": live.private,
                "default_encryption": true,
                "tls_only": live.tls_only,
                "versioning": live.versioning,
                "lifecycle": show(live.expiry),
            }),
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
            tls_only: true,
            versioning: "Enabled".into(),
            expiry: Some(WANTED_EXPIRY),
            other_rules: Vec::new(),
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

    #[test]
    fn plain_http_versioning_and_lifecycle_drift_are_each_a_change() {
        let want = BTreeMap::from([("modu:stack".to_string(), "web".to_string())]);
        let drifted = Live {
            tls_only: false,
            versioning: "Suspended".into(),
            expiry: Some(Expiry {
                noncurrent_days: Some(90),
                abort_upload_days: None,
            }),
            ..live(true)
        };
        let changes = diff_live(&drifted, &want);
        let fields: Vec<(&str, &str, &str)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.from.as_str(), c.to.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("tls_only", "false", "true"),
                ("versioning", "Suspended", "Enabled"),
                (
                    "lifecycle",
                    "noncurrent versions 90d, incomplete uploads never",
                    "noncurrent versions 30d, incomplete uploads 7d"
                ),
            ]
        );
    }

    #[test]
    fn only_an_enabled_whole_bucket_rule_of_modu_counts() {
        let rule = |id: &str, status: ExpirationStatus, prefix: &str| {
            LifecycleRule::builder()
                .id(id)
                .status(status)
                .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(30)
                        .build(),
                )
                .build()
                .unwrap()
        };
        let ours = rule(LIFECYCLE_RULE_ID, ExpirationStatus::Enabled, "");
        assert_eq!(
            expiry_of(&[rule("other", ExpirationStatus::Enabled, ""), ours]),
            Some(Expiry {
                noncurrent_days: Some(30),
                abort_upload_days: None
            })
        );
        assert_eq!(
            expiry_of(&[rule(LIFECYCLE_RULE_ID, ExpirationStatus::Disabled, "")]),
            None
        );
        assert_eq!(
            expiry_of(&[rule(LIFECYCLE_RULE_ID, ExpirationStatus::Enabled, "media/")]),
            None
        );
    }

    #[test]
    fn the_tls_statement_refuses_plain_http_on_the_bucket_and_its_objects() {
        let st = tls_only_statement("b");
        assert_eq!(st["Effect"], "Deny");
        assert_eq!(st["Principal"], "*");
        assert_eq!(
            st["Resource"],
            json!(["arn:aws:s3:::b", "arn:aws:s3:::b/*"])
        );
        assert_eq!(st["Condition"]["Bool"]["aws:SecureTransport"], "false");
    }
}
