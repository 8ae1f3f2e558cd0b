//! The cache's AUTH token, kept in Secrets Manager: the replication group is created with
//! it, and the service reads it (through the ARN in the stack's parameters) to connect
//! with TLS and AUTH. Generated once by modu; its value never appears in a plan or a log.

use async_trait::async_trait;
use serde_json::json;

use super::shared::secrets::{self, KIND, NOT_FOUND};
use super::{Context, Deps, Found, Health, Key, Observed, Outputs, Resource, ensure_owned};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::Result;
use crate::spec::Spec;

pub struct CacheSecret;

/// ElastiCache takes 16-128 printable characters; letters and digits avoid the ones it
/// refuses (`@`, `"`, `/`) and any quoting in a connection URL.
const TOKEN_LENGTH: usize = 64;

/// A fresh AUTH token.
fn new_token() -> String {
    secrets::random_value(TOKEN_LENGTH)
}

/// The secret's value, for the resources that pass it to AWS (the replication group).
pub async fn token(cx: &Context, arn: &str) -> Result<String> {
    let answer = cx
        .clients
        .secrets
        .call("GetSecretValue", &json!({ "SecretId": arn }))
        .await
        .context("reading", KIND, arn)?;
    Ok(answer["SecretString"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

#[async_trait]
impl Resource for CacheSecret {
    fn key(&self) -> Key {
        Key::CacheSecret
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("modu/{}/cache-auth-token", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cache.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let described = cx
            .clients
            .secrets
            .call("DescribeSecret", &json!({ "SecretId": name }))
            .await
            .or_absent(NOT_FOUND, "looking up", KIND, &name)?;
        // A secret scheduled for deletion still holds its name but cannot be used.
        let Some(secret) = described.filter(|s| s["DeletedDate"].is_null()) else {
            return Ok(None);
        };
        ensure_owned(cx, format!("secret {name}"), secrets::tag_pairs(&secret))?;
        let arn = secret["ARN"].as_str().unwrap_or_default().to_string();
        Ok(Some(Observed::new(
            Found::new(&name).with(Outputs::Arn { arn }),
            (),
        )))
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let description = format!("modu stack {}: the cache's AUTH token", cx.spec.stack);
        let arn =
            secrets::create(cx, self.key().as_str(), &name, description, &new_token()).await?;
        Ok(Found::new(&name).with(Outputs::Arn { arn }))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let arn = match &observed.found.outputs {
            Outputs::Arn { arn } => arn.clone(),
            _ => String::new(),
        };
        Ok(Health::ok("stored", json!({ "arn": arn })))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        secrets::delete(cx, &found.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_fresh_and_safe_in_a_url() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), TOKEN_LENGTH);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
