//! The images bucket's read grant: only the stack's CloudFront distribution may read
//! objects, through its origin access control. The bucket stays private (public access
//! blocked); a service principal limited by `AWS:SourceArn` does not count as public.
//!
//! The grant is one statement of the bucket's policy, marked by its `Sid`; the bucket
//! owns another (it refuses plain HTTP), which this resource keeps whatever it does
//! (see [`super::shared::s3`]).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::shared::s3::{put_statement, read_policy, remove_statement, same_statement, statement};
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource};
use crate::error::Result;
use crate::spec::Spec;

pub struct MediaAccess;

const KIND: &str = "bucket-policy";
const STATEMENT_ID: &str = "ModuCloudFrontReadsMedia";

impl MediaAccess {
    /// The statement modu wants in the bucket's policy.
    fn desired(&self, deps: &Deps<'_>) -> Result<Value> {
        let bucket = deps.id(Key::Bucket)?;
        let (distribution, _) = deps.distribution()?;
        Ok(json!({
            "Sid": STATEMENT_ID,
            "Effect": "Allow",
            "Principal": { "Service": "cloudfront.amazonaws.com" },
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
            "Condition": { "StringEquals": { "AWS:SourceArn": distribution } }
        }))
    }
}

/// The statement as a one-line summary for a plan: what it allows, on which condition.
fn summary(statement: &Value) -> String {
    format!(
        "{} {} if {}",
        statement["Effect"].as_str().unwrap_or("?"),
        statement["Action"],
        statement["Condition"]
    )
}

fn diff_statement(live: &Value, want: &Value) -> Vec<Change> {
    let mut diff = Diff::new();
    if !same_statement(live, want) {
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

    /// Lives in the stack's own bucket's policy; its statement id marks it.
    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(bucket) = deps.get(Key::Bucket)? else {
            return Ok(None);
        };
        let policy = read_policy(cx, KIND, &bucket.id).await?;
        Ok(policy
            .as_ref()
            .and_then(|p| statement(p, STATEMENT_ID))
            .map(|ours| Observed::new(Found::new(&bucket.id), ours.clone())))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_statement(observed.live()?, &self.desired(deps)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        put_statement(cx, KIND, &observed.found.id, self.desired(deps)?).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let bucket = deps.id(Key::Bucket)?;
        put_statement(cx, KIND, bucket, self.desired(deps)?).await?;
        Ok(Found::new(bucket))
    }

    async fn health(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let current: &Value = observed.live()?;
        let matches = deps.get(Key::Cdn)?.is_some()
            && self
                .desired(deps)
                .is_ok_and(|d| same_statement(current, &d));
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
        remove_statement(cx, KIND, &found.id, STATEMENT_ID).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(source: &str) -> Value {
        json!({"Sid": STATEMENT_ID, "Effect": "Allow", "Action": "s3:GetObject",
            "Condition": {"StringEquals": {"AWS:SourceArn": source}}})
    }

    #[test]
    fn the_same_grant_needs_nothing_and_a_new_distribution_is_a_change() {
        assert!(diff_statement(&grant("arn:d1"), &grant("arn:d1")).is_empty());
        let changes = diff_statement(&grant("arn:d1"), &grant("arn:d2"));
        assert_eq!(changes.len(), 1);
        assert!(changes[0].from.contains("arn:d1") && changes[0].to.contains("arn:d2"));
    }
}
