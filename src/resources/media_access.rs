//! The images bucket's policy: only the stack's CloudFront distribution may read objects,
//! through its origin access control. The bucket stays private (public access blocked); a
//! service principal limited by `AWS:SourceArn` does not count as public.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::{self, AwsContext};
use crate::error::Result;
use crate::spec::Spec;

pub struct MediaAccess;

const KIND: &str = "bucket-policy";
const STATEMENT_ID: &str = "ModuCloudFrontReadsMedia";

impl MediaAccess {
    fn desired(&self, deps: &Deps<'_>) -> Result<Value> {
        let bucket = deps.id("bucket")?;
        let distribution = deps.output("cdn", "arn")?;
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
        let result = cx
            .clients
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["NoSuchBucketPolicy", "NoSuchBucket"]) => Ok(None),
            other => {
                let text = other
                    .context("reading the policy of", KIND, bucket)?
                    .policy
                    .unwrap_or_default();
                Ok(serde_json::from_str(&text).ok())
            }
        }
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

#[async_trait]
impl Resource for MediaAccess {
    fn key(&self) -> &'static str {
        "media-access"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-media-access", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["bucket", "cdn"]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cdn.is_some()
    }

    async fn find(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Found>> {
        let Some(bucket) = deps.get("bucket") else {
            return Ok(None);
        };
        Ok(self
            .current(cx, &bucket.id)
            .await?
            .filter(is_ours)
            .map(|_| Found::new(&bucket.id)))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let bucket = deps.id("bucket")?;
        self.put(cx, bucket, &self.desired(deps)?).await?;
        Ok(Found::new(bucket))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let desired = self.desired(deps)?;
        if self.current(cx, &found.id).await?.as_ref() == Some(&desired) {
            return Ok(Vec::new());
        }
        self.put(cx, &found.id, &desired).await?;
        Ok(vec!["read access for the distribution".into()])
    }

    async fn health(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let current = self.current(cx, &found.id).await?;
        let matches = match (deps.get("cdn"), &current) {
            (Some(_), Some(policy)) => self.desired(deps).is_ok_and(|d| &d == policy),
            _ => false,
        };
        Ok(Health {
            healthy: matches,
            state: if matches {
                "only the distribution reads objects".into()
            } else {
                "policy drifted".into()
            },
            details: current.unwrap_or(Value::Null),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let result = cx
            .clients
            .s3
            .delete_bucket_policy()
            .bucket(&found.id)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["NoSuchBucket", "NoSuchBucketPolicy"]) => Ok(()),
            other => other
                .map(|_| ())
                .context("deleting the policy of", KIND, &found.id),
        }
    }
}
