//! The secret the distribution adds to every request it sends the load balancer (as the
//! [`HEADER`] header), kept in Secrets Manager. The load balancer forwards only requests
//! that carry it, so the stack answers through CloudFront alone even though the load
//! balancer's name is public.
//!
//! Rotating it (`up --rotate-origin-secret`) must not refuse a single request, while some
//! CloudFront edges still send the old value and others the new one. So the new value is
//! first stored beside the current one under Secrets Manager's own `AWSPENDING` label;
//! the listener rule accepts both, the distribution switches to the pending value and is
//! waited for, and only then [`promote`] makes it current, after which the rule drops the
//! old one. Each step is re-run by the next `up` when an earlier one was interrupted.

use std::fmt;

use async_trait::async_trait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::shared::secrets::{self, KIND, NOT_FOUND};
use super::{Change, Context, Deps, Found, Health, Key, Observed, Outputs, Resource, touches};
use super::{Diff, ensure_owned, toolkit::request_token};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::{Error, Result};
use crate::spec::Spec;

pub struct OriginSecret;

/// The header CloudFront adds to origin requests and the listener rule checks.
pub const HEADER: &str = "X-Origin-Verify";

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
/// The fields of the secret's changes: a new value, or a rotation to finish.
const VALUE: &str = "value";
const ROTATION: &str = "rotation";
/// Letters and digits: a header value and a listener condition take them unquoted. The
/// condition takes at most 128 characters.
const LENGTH: usize = 64;

/// A secret header value. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue(String);

impl SecretValue {
    fn fresh() -> Self {
        SecretValue(secrets::random_value(LENGTH))
    }

    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    /// The value itself, for the calls that hand it to AWS.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What plans and status show instead: enough to tell two values apart.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("secret {hex}")
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// The values a stack's origin secret has now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Values {
    pub current: SecretValue,
    /// A rotation under way: accepted already, sent once the distribution has it.
    pub pending: Option<SecretValue>,
}

impl Values {
    /// What the listener rule accepts: the current value and a pending one.
    pub fn accepted(&self) -> Vec<&SecretValue> {
        std::iter::once(&self.current)
            .chain(self.pending.as_ref())
            .collect()
    }

    /// What the distribution sends: a pending value as soon as there is one.
    pub fn sent(&self) -> &SecretValue {
        self.pending.as_ref().unwrap_or(&self.current)
    }
}

fn name(spec: &Spec) -> String {
    format!("modu/{}/origin-header", spec.stack)
}

/// The version id that carries `stage`, from a DescribeSecret answer.
fn version_with<'a>(described: &'a Value, stage: &str) -> Option<&'a str> {
    described["VersionIdsToStages"]
        .as_object()?
        .iter()
        .find(|(_, stages)| {
            stages
                .as_array()
                .is_some_and(|s| s.iter().any(|v| v == stage))
        })
        .map(|(id, _)| id.as_str())
}

async fn value_of(cx: &Context, id: &str, version: &str) -> Result<SecretValue> {
    let answer = cx
        .clients
        .secrets
        .call(
            "GetSecretValue",
            &json!({ "SecretId": id, "VersionId": version }),
        )
        .await
        .context("reading", KIND, id)?;
    Ok(SecretValue(
        answer["SecretString"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

/// The secret as it is, `None` when there is none (or only one scheduled for deletion).
async fn describe(cx: &Context) -> Result<Option<Value>> {
    let name = name(&cx.spec);
    let described = cx
        .clients
        .secrets
        .call("DescribeSecret", &json!({ "SecretId": name }))
        .await
        .or_absent(NOT_FOUND, "looking up", KIND, &name)?;
    Ok(described.filter(|s| s["DeletedDate"].is_null()))
}

/// Ends a rotation whose pending value the distribution sends now: it becomes the current
/// one (the old one keeps Secrets Manager's `AWSPREVIOUS` label, which nothing accepts).
/// Returns whether there was one to end; the caller converges again so that the listener
/// rule drops the old value.
pub async fn promote(cx: &Context) -> Result<bool> {
    let name = name(&cx.spec);
    let Some(described) = describe(cx).await? else {
        return Ok(false);
    };
    let (Some(current), Some(pending)) = (
        version_with(&described, CURRENT),
        version_with(&described, PENDING),
    ) else {
        return Ok(false);
    };
    // A run stopped between the two calls left the current label on the new value already.
    if current != pending {
        cx.clients
            .secrets
            .call(
                "UpdateSecretVersionStage",
                &json!({
                    "SecretId": name,
                    "VersionStage": CURRENT,
                    "MoveToVersionId": pending,
                    "RemoveFromVersionId": current,
                }),
            )
            .await
            .context("promoting the new value of", KIND, &name)?;
    }
    cx.clients
        .secrets
        .call(
            "UpdateSecretVersionStage",
            &json!({ "SecretId": name, "VersionStage": PENDING, "RemoveFromVersionId": pending }),
        )
        .await
        .context("ending the rotation of", KIND, &name)?;
    Ok(true)
}

fn found(arn: &str, values: Values) -> Found {
    Found::new(arn).with(Outputs::OriginSecret(values))
}

/// The values a dependency saw, or `None` while the plan creates or rotates the secret.
pub fn values<'a>(deps: &Deps<'a>) -> Result<Option<&'a Values>> {
    Ok(match deps.outputs(Key::OriginSecret)? {
        Some(Outputs::OriginSecret(values)) => Some(values),
        _ => None,
    })
}

#[async_trait]
impl Resource for OriginSecret {
    fn key(&self) -> Key {
        Key::OriginSecret
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        name(&cx.spec)
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cdn.is_some()
    }
    /// A rotation adds a value: the rule and the distribution see it once it is stored.
    fn versioned(&self) -> bool {
        true
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let Some(described) = describe(cx).await? else {
            return Ok(None);
        };
        ensure_owned(cx, format!("secret {name}"), secrets::tag_pairs(&described))?;
        let arn = described["ARN"].as_str().unwrap_or_default().to_string();
        let Some(current) = version_with(&described, CURRENT) else {
            return Err(Error::internal(format!(
                "secret {name} has no current value"
            )));
        };
        let current = value_of(cx, &arn, current).await?;
        let pending = match version_with(&described, PENDING) {
            Some(version) => Some(value_of(cx, &arn, version).await?),
            None => None,
        };
        let values = Values { current, pending };
        Ok(Some(Observed::new(found(&arn, values.clone()), values)))
    }

    fn diff(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Values = observed.live()?;
        let mut diff = Diff::new();
        if live.pending.is_some() {
            // A rotation a stopped run left under way is finished (by `up`, once the
            // distribution sends the new value: see `promote`), not started again. As a
            // change it is made under the stack's lease, like any other.
            diff.push(Change::new(ROTATION, "under way", "finished"));
        } else if cx.rotate_origin_secret {
            diff.push(Change::new(VALUE, &live.current, "(a new value)"));
        }
        Ok(diff.into_changes())
    }

    async fn apply(
        &self,
        cx: &Context,
        _deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        // Finishing a rotation needs the distribution converged first: `up` promotes after it.
        if !touches(changes, VALUE) {
            return Ok(());
        }
        cx.clients
            .secrets
            .call(
                "PutSecretValue",
                &json!({
                    "SecretId": observed.found.id,
                    "SecretString": SecretValue::fresh().expose(),
                    "VersionStages": [PENDING],
                    "ClientRequestToken": request_token(),
                }),
            )
            .await
            .context("storing a new value of", KIND, &observed.found.id)?;
        Ok(())
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let value = SecretValue::fresh();
        let description = format!(
            "modu stack {}: the header CloudFront sends the load balancer",
            cx.spec.stack
        );
        let arn =
            &secrets::create(cx, self.key().as_str(), &name, description, value.expose()).await?;
        Ok(found(
            arn,
            Values {
                current: value,
                pending: None,
            },
        ))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Values = observed.live()?;
        let state = match &live.pending {
            Some(_) => "rotation under way (the next `up` finishes it)",
            None => "stored",
        };
        Ok(Health {
            healthy: live.pending.is_none(),
            state: state.into(),
            details: json!({
                "arn": observed.found.id,
                "current": live.current.fingerprint(),
                "pending": live.pending.as_ref().map(SecretValue::fingerprint),
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        secrets::delete(cx, &found.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_long_fresh_and_never_shown() {
        let (a, b) = (SecretValue::fresh(), SecretValue::fresh());
        assert_eq!(a.expose().len(), LENGTH);
        assert_ne!(a, b);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        for shown in [
            format!("{a}"),
            format!("{a:?}"),
            format!("{:?}", Values::default()),
        ] {
            assert!(!shown.contains(a.expose()), "{shown}");
        }
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn a_pending_value_is_accepted_and_sent_before_it_is_current() {
        let current = SecretValue::new("old");
        let mut values = Values {
            current: current.clone(),
            pending: None,
        };
        assert_eq!(values.accepted(), [&current]);
        assert_eq!(values.sent(), &current);
        let pending = SecretValue::new("new");
        values.pending = Some(pending.clone());
        assert_eq!(values.accepted(), [&current, &pending]);
        assert_eq!(values.sent(), &pending);
    }

    #[test]
    fn stages_are_found_by_version() {
        let described = json!({ "VersionIdsToStages": {
            "v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT"], "v3": ["AWSPENDING"] } });
        assert_eq!(version_with(&described, CURRENT), Some("v2"));
        assert_eq!(version_with(&described, PENDING), Some("v3"));
        assert_eq!(version_with(&json!({}), PENDING), None);
    }
}
