//! The stack's configuration for its instances, in SSM Parameter Store under
//! `/modu/<stack>/`: the bucket and its image prefix, the image base URL (through the
//! CDN when there is one, at the stack's record when the CDN has a certificate for it),
//! the database's and the cache's endpoints and secret ARNs, the release id and the log
//! group. The service reads them at start with its role, so the launch template depends
//! on none of these parts and instances boot while RDS and ElastiCache are still being
//! created. Nothing secret is stored here: only ARNs.
//!
//! The path is modu's namespace for the stack: every parameter under it is converged
//! exactly (missing ones put, changed ones overwritten, others deleted).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::instance_role::{MEDIA_PREFIX, log_group};
use super::{
    Change, Context, Deps, Found, Health, KNOWN_AFTER_UP, Key, Observed, Outputs, Resource,
};
use crate::aws::errors::AwsContext;
use crate::aws::tags;
use crate::error::Result;
use crate::spec::{DnsTarget, Spec};

pub struct Parameters;

const KIND: &str = "ssm-parameters";

type Values = BTreeMap<String, String>;

/// The stack's parameter path, with its trailing slash.
pub fn path(stack: &str) -> String {
    format!("/modu/{stack}/")
}

/// The stack's DNS record when it is one of the distribution's certified aliases.
fn certified_record(spec: &Spec) -> Option<&str> {
    let dns = spec.dns.as_ref()?;
    let certified = spec.cdn.as_ref()?.certificate_arn.is_some();
    (certified && dns.target == DnsTarget::Cdn).then_some(dns.record.as_str())
}

impl Parameters {
    fn wanted_values(&self, cx: &Context, deps: &Deps<'_>) -> Result<Values> {
        let mut values = Values::new();
        let mut put = |name: &str, value: &str| values.insert(name.to_string(), value.to_string());
        put("bucket", deps.id(Key::Bucket)?);
        put("media-prefix", MEDIA_PREFIX);
        let media = if deps.present(Key::Cdn)? {
            let (_, domain) = deps.distribution()?;
            if let Some(record) = certified_record(&cx.spec) {
                // The name viewers browse, so image URLs stay on the page's own origin.
                format!("https://{record}/media")
            } else if domain == KNOWN_AFTER_UP {
                KNOWN_AFTER_UP.to_string()
            } else {
                format!("https://{domain}/media")
            }
        } else {
            "/media".to_string()
        };
        put("media-base-url", &media);
        put("log-group", &log_group(&cx.spec.stack));
        put(
            "release",
            cx.release
                .as_ref()
                .map_or(KNOWN_AFTER_UP, |r| r.id.as_str()),
        );
        if deps.present(Key::Database)? {
            let (endpoint, name, secret) = match deps.outputs(Key::Database)? {
                Some(Outputs::Database {
                    endpoint,
                    name,
                    secret_arn,
                }) => (endpoint.as_str(), name.as_str(), secret_arn.as_str()),
                _ => (KNOWN_AFTER_UP, KNOWN_AFTER_UP, KNOWN_AFTER_UP),
            };
            put("database/endpoint", endpoint);
            put("database/name", name);
            put("database/secret-arn", secret);
        }
        if deps.present(Key::Cache)? {
            let endpoint = match deps.outputs(Key::Cache)? {
                Some(Outputs::Cache {
                    primary_endpoint, ..
                }) => primary_endpoint.as_str(),
                _ => KNOWN_AFTER_UP,
            };
            let secret = match deps.outputs(Key::CacheSecret)? {
                Some(Outputs::Arn { arn }) => arn.as_str(),
                _ => KNOWN_AFTER_UP,
            };
            put("cache/endpoint", endpoint);
            put("cache/secret-arn", secret);
        }
        Ok(values)
    }

    async fn read(&self, cx: &Context) -> Result<Values> {
        let root = path(&cx.spec.stack);
        let mut values = Values::new();
        let mut next: Option<String> = None;
        loop {
            let mut input = json!({ "Path": root, "Recursive": true });
            if let Some(token) = &next {
                input["NextToken"] = json!(token);
            }
            let page = cx
                .clients
                .ssm
                .call("GetParametersByPath", &input)
                .await
                .context("reading", KIND, &root)?;
            for parameter in page["Parameters"].as_array().into_iter().flatten() {
                if let (Some(name), Some(value)) =
                    (parameter["Name"].as_str(), parameter["Value"].as_str())
                {
                    let relative = name.strip_prefix(&root).unwrap_or(name);
                    values.insert(relative.to_string(), value.to_string());
                }
            }
            match page["NextToken"].as_str() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => return Ok(values),
            }
        }
    }

    async fn put(&self, cx: &Context, name: &str, value: &str, new: bool) -> Result<()> {
        let full = format!("{}{name}", path(&cx.spec.stack));
        let mut input = json!({ "Name": full, "Value": value, "Type": "String" });
        // AWS takes tags only with a new parameter, and Overwrite only without tags.
        if new {
            let tags: Vec<Value> = tags::for_resource(&cx.spec, self.key().as_str(), &full)
                .into_iter()
                .map(|(k, v)| json!({ "Key": k, "Value": v }))
                .collect();
            input["Tags"] = json!(tags);
        } else {
            input["Overwrite"] = json!(true);
        }
        match cx.clients.ssm.call("PutParameter", &input).await {
            // A retried create whose first call was applied (its reply lost): the parameter
            // has its tags from that call; write the value over it.
            Err(err) if new && err.code() == Some("ParameterAlreadyExists") => {
                let input =
                    json!({ "Name": full, "Value": value, "Type": "String", "Overwrite": true });
                cx.clients
                    .ssm
                    .call("PutParameter", &input)
                    .await
                    .context("putting", KIND, &full)?;
            }
            other => {
                other.context("putting", KIND, &full)?;
            }
        }
        Ok(())
    }

    async fn remove(&self, cx: &Context, names: &[&String]) -> Result<()> {
        let root = path(&cx.spec.stack);
        // DeleteParameters takes at most 10 names.
        for chunk in names.chunks(10) {
            let full: Vec<String> = chunk.iter().map(|n| format!("{root}{n}")).collect();
            cx.clients
                .ssm
                .call("DeleteParameters", &json!({ "Names": full }))
                .await
                .context("deleting", KIND, &root)?;
        }
        Ok(())
    }
}

fn diff_values(live: &Values, want: &Values) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, value) in want {
        match live.get(name) {
            Some(current) if current == value => {}
            Some(current) => changes.push(Change::new(name.as_str(), current, value)),
            None => changes.push(Change::new(name.as_str(), "(none)", value)),
        }
    }
    for (name, current) in live {
        if !want.contains_key(name) {
            changes.push(Change::new(name.as_str(), current, "(none)"));
        }
    }
    changes
}

#[async_trait]
impl Resource for Parameters {
    fn key(&self) -> Key {
        Key::Parameters
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        path(&cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![
            Key::Bucket,
            Key::Cdn,
            Key::Cache,
            Key::CacheSecret,
            Key::Database,
            Key::Release,
        ]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.app.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let values = self.read(cx).await?;
        if values.is_empty() {
            return Ok(None);
        }
        Ok(Some(Observed::new(Found::new(self.name(cx)), values)))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Values = observed.live()?;
        let mut want = self.wanted_values(cx, deps)?;
        // Without a prepared release (`status` of `artifact: build`) the id is not known:
        // no drift is claimed for it.
        if cx.release.is_none()
            && let Some(current) = live.get("release")
        {
            want.insert("release".to_string(), current.clone());
        }
        Ok(diff_values(live, &want))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let live: &Values = observed.live()?;
        let want = self.wanted_values(cx, deps)?;
        for (name, value) in &want {
            match live.get(name) {
                Some(current) if current == value => {}
                current => self.put(cx, name, value, current.is_none()).await?,
            }
        }
        let extra: Vec<&String> = live.keys().filter(|k| !want.contains_key(*k)).collect();
        self.remove(cx, &extra).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        for (name, value) in &self.wanted_values(cx, deps)? {
            self.put(cx, name, value, true).await?;
        }
        Ok(Found::new(self.name(cx)))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Values = observed.live()?;
        let release = live.get("release").map_or("-", String::as_str);
        Ok(Health::ok(
            format!("{} parameters, release {release}", live.len()),
            json!(live),
        ))
    }

    async fn delete(&self, cx: &Context, _found: &Found) -> Result<()> {
        let live = self.read(cx).await?;
        let names: Vec<&String> = live.keys().collect();
        self.remove(cx, &names).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_converges_exactly() {
        let live = Values::from([
            ("bucket".into(), "b".into()),
            ("release".into(), "old".into()),
            ("stray".into(), "x".into()),
        ]);
        let want = Values::from([
            ("bucket".into(), "b".into()),
            ("release".into(), "new".into()),
            ("log-group".into(), "/modu/s".into()),
        ]);
        let fields: Vec<(String, String, String)> = diff_values(&live, &want)
            .into_iter()
            .map(|c| (c.field, c.from, c.to))
            .collect();
        assert_eq!(
            fields,
            [
                ("log-group".into(), "(none)".into(), "/modu/s".into()),
                ("release".into(), "old".into(), "new".into()),
                ("stray".into(), "x".into(), "(none)".into()),
            ]
        );
    }
}
