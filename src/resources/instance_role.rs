//! The instances' IAM role, least privilege: read and write images under the bucket's
//! `media/` prefix, read releases under `releases/`, read the stack's parameters and
//! secrets, write the stack's log group — and `AmazonSSMManagedInstanceCore`, so that an
//! operator can open a shell with Session Manager instead of SSH.
//!
//! Its ownership marker is its path (`/modu/<stack>/`), which every read returns. The
//! permissions are an inline policy that modu converges exactly.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::toolkit::refuse_unless;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct InstanceRole;

const KIND: &str = "iam-role";
const NOT_FOUND: &[&str] = &["NoSuchEntity"];
const POLICY_NAME: &str = "modu-instance";
pub(crate) const SESSION_MANAGER: &str = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

/// The path that marks a stack's IAM roles and instance profiles.
pub fn path(stack: &str) -> String {
    format!("/modu/{stack}/")
}

/// The prefix under which the service stores images (the CDN serves it as `/media/*`).
pub const MEDIA_PREFIX: &str = "media/";
/// The prefix under which releases are uploaded.
pub const RELEASES_PREFIX: &str = "releases/";

/// The stack's log group, which the instances write.
pub fn log_group(stack: &str) -> String {
    format!("/modu/{stack}")
}

/// What the role may do; `bucket` is the images bucket's name.
fn policy(spec: &Spec, account: &str, bucket: &str) -> Value {
    let (region, stack) = (&spec.region, &spec.stack);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Images",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": format!("arn:aws:s3:::{bucket}/{MEDIA_PREFIX}*"),
            },
            {
                "Sid": "Releases",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::{bucket}/{RELEASES_PREFIX}*"),
            },
            {
                // HeadBucket (the service's storage check) needs ListBucket on the bucket.
                "Sid": "Bucket",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{bucket}"),
            },
            {
                "Sid": "Parameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"],
                "Resource": [
                    format!("arn:aws:ssm:{region}:{account}:parameter/modu/{stack}"),
                    format!("arn:aws:ssm:{region}:{account}:parameter/modu/{stack}/*"),
                ],
            },
            {
                "Sid": "StackSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": format!("arn:aws:secretsmanager:{region}:{account}:secret:modu/{stack}/*"),
            },
            {
                // RDS names the secret of a managed master password itself (`rds!db-…`) and
                // tags it with the instance it belongs to.
                "Sid": "DatabaseSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": format!("arn:aws:secretsmanager:{region}:{account}:secret:rds!db-*"),
                "Condition": { "StringEquals": {
                    "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn":
                        format!("arn:aws:rds:{region}:{account}:db:{stack}-db"),
                } },
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": format!("arn:aws:logs:{region}:{account}:log-group:{}:*", log_group(stack)),
            },
        ]
    })
}

fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ec2.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }]
    })
}

/// IAM returns policy documents URL-encoded.
fn decode_document(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&form_decode(text)).ok())
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The role as IAM has it.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    policy: Option<Value>,
    managed: BTreeSet<String>,
}

impl InstanceRole {
    fn wanted_policy(&self, cx: &Context, deps: &Deps<'_>) -> Result<Value> {
        Ok(policy(&cx.spec, &cx.account_id, deps.id(Key::Bucket)?))
    }

    async fn put_policy(&self, cx: &Context, name: &str, policy: &Value) -> Result<()> {
        let mut params = cx.clients.iam.params("PutRolePolicy");
        params
            .set("RoleName", name)
            .set("PolicyName", POLICY_NAME)
            .set("PolicyDocument", policy.to_string());
        cx.clients
            .iam
            .call(&params)
            .await
            .context("setting the policy of", KIND, name)?;
        Ok(())
    }

    async fn attach(&self, cx: &Context, name: &str, arn: &str) -> Result<()> {
        let mut params = cx.clients.iam.params("AttachRolePolicy");
        params.set("RoleName", name).set("PolicyArn", arn);
        cx.clients
            .iam
            .call(&params)
            .await
            .context("attaching a managed policy to", KIND, name)?;
        Ok(())
    }
}

#[async_trait]
impl Resource for InstanceRole {
    fn key(&self) -> Key {
        Key::InstanceRole
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-instance", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Bucket]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.app.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let mut params = cx.clients.iam.params("GetRole");
        params.set("RoleName", &name);
        let Some(result) =
            cx.clients
                .iam
                .call(&params)
                .await
                .or_absent(NOT_FOUND, "looking up", KIND, &name)?
        else {
            return Ok(None);
        };
        let role = result.child("Role").cloned().unwrap_or_default();
        refuse_unless(
            cx,
            role.text_of("Path") == Some(path(&cx.spec.stack).as_str()),
            format!("IAM role {name}"),
            format!(
                "delete or rename it; modu creates its own under the path `{}`",
                path(&cx.spec.stack)
            ),
        )?;
        let mut params = cx.clients.iam.params("GetRolePolicy");
        params.set("RoleName", &name).set("PolicyName", POLICY_NAME);
        let policy = cx
            .clients
            .iam
            .call(&params)
            .await
            .or_absent(NOT_FOUND, "reading the policy of", KIND, &name)?
            .and_then(|r| decode_document(r.text_of("PolicyDocument").unwrap_or_default()));
        let mut params = cx.clients.iam.params("ListAttachedRolePolicies");
        params.set("RoleName", &name);
        let attached = cx.clients.iam.call(&params).await.context(
            "listing the managed policies of",
            KIND,
            &name,
        )?;
        let managed = attached
            .list("AttachedPolicies")
            .map(|p| p.string("PolicyArn"))
            .collect();
        let found = Found::new(&name).with(Outputs::Arn {
            arn: role.string("Arn"),
        });
        Ok(Some(Observed::new(found, Live { policy, managed })))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        let mut diff = Diff::new();
        let want = self.wanted_policy(cx, deps)?;
        if live.policy.as_ref() != Some(&want) {
            diff.push(Change::new(
                "policy",
                if live.policy.is_some() {
                    "other"
                } else {
                    "(none)"
                },
                "least privilege for the stack",
            ));
        }
        let managed: Vec<&str> = live.managed.iter().map(String::as_str).collect();
        if !live.managed.contains(SESSION_MANAGER) {
            diff.list("managed_policies", &managed, &[SESSION_MANAGER]);
        }
        Ok(diff.into_changes())
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        if super::touches(changes, "policy") {
            self.put_policy(cx, &observed.found.id, &self.wanted_policy(cx, deps)?)
                .await?;
        }
        if super::touches(changes, "managed_policies") {
            self.attach(cx, &observed.found.id, SESSION_MANAGER).await?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let tags = tags::pairs(&cx.spec, self.key().as_str(), &name);
        let mut params = cx.clients.iam.params("CreateRole");
        params
            .set("RoleName", &name)
            .set("Path", path(&cx.spec.stack))
            .set("AssumeRolePolicyDocument", trust_policy().to_string())
            .set(
                "Description",
                format!("modu stack {}: the instances", cx.spec.stack),
            )
            .member_tags("Tags", "member", &tags);
        let created = cx
            .clients
            .iam
            .call(&params)
            .await
            .context("creating", KIND, &name)?;
        self.put_policy(cx, &name, &self.wanted_policy(cx, deps)?)
            .await?;
        self.attach(cx, &name, SESSION_MANAGER).await?;
        let arn = created
            .child("Role")
            .map(|r| r.string("Arn"))
            .unwrap_or_default();
        Ok(Found::new(&name).with(Outputs::Arn { arn }))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        Ok(Health::ok(
            format!("{} managed policies", live.managed.len()),
            json!({ "managed_policies": live.managed, "inline_policy": live.policy.is_some() }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let iam = &cx.clients.iam;
        let mut params = iam.params("ListAttachedRolePolicies");
        params.set("RoleName", &found.id);
        let Some(attached) = iam.call(&params).await.or_absent(
            NOT_FOUND,
            "listing the managed policies of",
            KIND,
            &found.id,
        )?
        else {
            return Ok(());
        };
        for arn in attached
            .list("AttachedPolicies")
            .map(|p| p.string("PolicyArn"))
        {
            let mut params = iam.params("DetachRolePolicy");
            params.set("RoleName", &found.id).set("PolicyArn", &arn);
            iam.call(&params)
                .await
                .or_gone(NOT_FOUND, KIND, &found.id)?;
        }
        let mut params = iam.params("DeleteRolePolicy");
        params
            .set("RoleName", &found.id)
            .set("PolicyName", POLICY_NAME);
        iam.call(&params)
            .await
            .or_gone(NOT_FOUND, KIND, &found.id)?;
        let mut params = iam.params("DeleteRole");
        params.set("RoleName", &found.id);
        // The instance profile lets go of the role just before; IAM may lag behind.
        cx.retry_on(
            self,
            "DeleteConflict",
            "to be released by its instance profile",
            || {
                let params = params.clone();
                async move { iam.call(&params).await.or_gone(NOT_FOUND, KIND, &found.id) }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_read_encoded_or_not() {
        let doc = json!({ "Version": "2012-10-17", "Statement": [] });
        assert_eq!(decode_document(&doc.to_string()), Some(doc.clone()));
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(decode_document(encoded), Some(doc));
    }

    #[test]
    fn the_policy_names_only_the_stack_own_parts() {
        let spec = crate::spec::parse_str(
            "stack: shop\nregion: eu-west-1\ncompute:\n  instance_type: t3.micro\napp: {}\n",
            std::path::Path::new("modu.yaml"),
        )
        .unwrap();
        let text = policy(&spec, "123456789012", "shop-images").to_string();
        for part in [
            "arn:aws:s3:::shop-images/media/*",
            "arn:aws:s3:::shop-images/releases/*",
            "parameter/modu/shop/*",
            "secret:modu/shop/*",
            "db:shop-db",
            "log-group:/modu/shop:*",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        assert!(!text.contains("\"*\""), "no wildcard resource: {text}");
    }
}
