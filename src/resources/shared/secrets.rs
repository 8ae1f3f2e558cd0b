//! Secrets Manager: what the stack's secrets (the cache's AUTH token, the origin header)
//! share: their values' alphabet, their tags, creating and deleting them.

use serde_json::{Value, json};

use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::resources::Context;
use crate::resources::toolkit::request_token;

pub const KIND: &str = "secret";
pub const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// A fresh value of `length` letters and digits: safe unquoted in a URL, a header and a
/// listener condition, and none of the characters ElastiCache refuses (`@`, `"`, `/`).
pub fn random_value(length: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..length)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// The tags of a DescribeSecret answer.
pub fn tag_pairs(value: &Value) -> impl Iterator<Item = (&str, &str)> {
    value["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["Key"].as_str()?, t["Value"].as_str()?)))
}

/// Creates the stack's secret `name` (component `component`) holding `value`; its ARN.
pub async fn create(
    cx: &Context,
    component: &str,
    name: &str,
    description: String,
    value: &str,
) -> Result<String> {
    let tags: Vec<Value> = tags::for_resource(&cx.spec, component, name)
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
                "Description": description,
                "SecretString": value,
                "ClientRequestToken": request_token(),
                "Tags": tags,
            }),
        )
        .await
        .context("creating", KIND, name)?;
    Ok(created["ARN"].as_str().unwrap_or_default().to_string())
}

/// Deletes a secret without a recovery window, so that a later `up` can create the name
/// again; one already gone is success.
pub async fn delete(cx: &Context, id: &str) -> Result<()> {
    cx.clients
        .secrets
        .call(
            "DeleteSecret",
            &json!({ "SecretId": id, "ForceDeleteWithoutRecovery": true }),
        )
        .await
        .or_gone(NOT_FOUND, KIND, id)
}
