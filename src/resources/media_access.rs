//! The images bucket's policy: only the stack's CloudFront distribution may read objects,
//! through its origin access control. The bucket stays private (public access blocked); a
//! service principal limited by `AWS:SourceArn` does not count as public.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::Result;
use crate::spec::Spec;

pub struct MediaAccess;

const KIND: &str = "bucket-policy";
const STATEMENT_ID: &str = "ModuCloudFrontReadsMedia";
const NOT_FOUND: &[&str] = &["NoSuchBucketPolicy", "NoSuchBucket"];

impl MediaAccess {
    fn desired(&self, deps: &Deps<'_>) -> Result<Value> {
        let bucket = deps.id(Key::Bucket)?;
        let (distribution, _) = deps.distribution()?;
        Ok(json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": STATEMENT_ID,
                "Effect": "Allow",
                "Principal": { "Service": "cloudfront.amazonaws.com" },
                "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::{bucket}/*"),
                "Condition": { "StringEquals": { "AWS:SourceArn": distribution } }
            }]
        }))
    }

    async fn current(&self, cx: &Context, bucket: &str) -> Result<Option<Value>> {
        let out = cx
            .clients
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .or_absent(NOT_FOUND, "reading the policy of", KIND, bucket)?;
        Ok(out
            .and_then(|o| o.policy)
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    async fn put(&self, cx: &Context, bucket: &str, policy: &Value) -> Result<()> {
        cx.clients
            .s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .context("putting the policy of", KIND, bucket)?;
        Ok(())
    }
}

/// True when `policy` carries modu's statement.
fn is_ours(policy: &Value) -> bool {
    policy["Statement"]
        .as_array()
        .is_some_and(|s| s.iter().any(|st| st["Sid"] == STATEMENT_ID))
}

/// The policy as a one-line summary for a plan: who may do what.
fn summary(policy: &Value) -> String {
    policy["Statement"]
        .as_array()
        .map(|statements| {
            statements
                .iter()
                .map(|st| {
                    format!(
                        "{} {} if {}",
                        st["Sid"].as_str().unwrap_or("?"),
                        st["Action"],
                        st["Condition"]
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| "(none)".into())
}

fn diff_policy(live: &Value, want: &Value) -> Vec<Change> {
    let mut diff = Diff::new();
    if live != want {
        diff.push(Change::new("policy", summary(live), summary(want)));
    }
    diff.into_changes()
}

#[async_trait]
impl Resource for MediaAccess {
    fn key(&self) -> Key {
        Key::MediaAccess
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-media-access", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Bucket, Key::Cdn]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cdn.is_some()
    }

    /// Lives in the stack's own bucket; modu's statement id marks it.
    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(bucket) = deps.get(Key::Bucket)? else {
            return Ok(None);
        };
        Ok(self
            .current(cx, &bucket.id)
            .await?
            .filter(is_ours)
            .map(|policy| Observed::new(Found::new(&bucket.id), policy)))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_policy(observed.live()?, &self.desired(deps)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        self.put(cx, &observed.found.id, &self.desired(deps)?).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let bucket = deps.id(Key::Bucket)?;
        self.put(cx, bucket, &self.desired(deps)?).await?;
        Ok(Found::new(bucket))
    }

    async fn health(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let current: &Value = observed.live()?;
        let matches =
            deps.get(Key::Cdn)?.is_some() && self.desired(deps).is_ok_and(|d| &d == current);
        Ok(Health {
            healthy: matches,
            state: if matches {
                "only the distribution reads objects".into()
            } else {
                "policy drifted".into()
            },
            details: current.clone(),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        cx.clients
            .s3
            .delete_bucket_policy()
            .bucket(&found.id)
            .send()
            .await
            .or_gone(NOT_FOUND, KIND, &found.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(source: &str) -> Value {
        json!({"Statement": [{"Sid": STATEMENT_ID, "Action": "s3:GetObject",
            "Condition": {"StringEquals": {"AWS:SourceArn": source}}}]})
    }

    #[test]
    fn the_same_policy_needs_nothing_and_a_new_distribution_is_a_change() {
        assert!(diff_policy(&policy("arn:d1"), &policy("arn:d1")).is_empty());
        let changes = diff_policy(&policy("arn:d1"), &policy("arn:d2"));
        assert_eq!(changes.len(), 1);
        assert!(changes[0].from.contains("arn:d1") && changes[0].to.contains("arn:d2"));
        assert!(is_ours(&policy("x")) && !is_ours(&json!({"Statement": []})));
    }
}
