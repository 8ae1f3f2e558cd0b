//! The cache's AUTH token, kept in Secrets Manager: the replication group is created with
//! it, and the service reads it (through the ARN in the stack's parameters) to connect
//! with TLS and AUTH. Generated once by modu; its value never appears in a plan or a log.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Context, Deps, Found, Health, Key, Observed, Outputs, Resource, ensure_owned};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct CacheSecret;

const KIND: &str = "secret";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// ElastiCache takes 16-128 printable characters; letters and digits avoid the ones it
/// refuses (`@`, `"`, `/`) and any quoting in a connection URL.
const TOKEN_LENGTH: usize = 64;

/// A fresh AUTH token.
fn new_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..TOKEN_LENGTH)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
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

fn tag_pairs(value: &Value) -> impl Iterator<Item = (&str, &str)> {
    value["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["Key"].as_str()?, t["Value"].as_str()?)))
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
        ensure_owned(cx, format!("secret {name}"), tag_pairs(&secret))?;
        let arn = secret["ARN"].as_str().unwrap_or_default().to_string();
        Ok(Some(Observed::new(
            Found::new(&name).with(Outputs::Arn { arn }),
            (),
        )))
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let tags: Vec<Value> = tags::for_resource(&cx.spec, self.key().as_str(), &name)
            .into_iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        let created = cx
            .clients
            .secrets
            .call(
                "CreateSecret",
                &json!({
                    "Name": name,
                    "Description": format!("modu stack {}: the cache's AUTH token", cx.spec.stack),
                    "SecretString": new_token(),
                    "ClientRequestToken": super::toolkit::request_token(),
                    "Tags": tags,
                }),
            )
            .await
            .context("creating", KIND, &name)?;
        let arn = created["ARN"].as_str().unwrap_or_default().to_string();
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
        // Without a recovery window, so that a later `up` can create the name again.
        cx.clients
            .secrets
            .call(
                "DeleteSecret",
                &json!({ "SecretId": found.id, "ForceDeleteWithoutRecovery": true }),
            )
            .await
            .or_gone(NOT_FOUND, KIND, &found.id)
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
