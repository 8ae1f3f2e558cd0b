//! The stack's CloudWatch Logs group, `/modu/<stack>`, with a retention so that logs do
//! not pile up (and bill) forever; the instances' service writes its JSON logs into it.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::instance_role::log_group;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource, ensure_owned};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct LogGroup;

const KIND: &str = "log-group";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// Days CloudWatch keeps the service's logs.
pub const RETENTION_DAYS: u32 = 30;

#[async_trait]
impl Resource for LogGroup {
    fn key(&self) -> Key {
        Key::LogGroup
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        log_group(&cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.app.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let page = cx
            .clients
            .logs
            .call("DescribeLogGroups", &json!({ "logGroupNamePrefix": name }))
            .await
            .context("looking up", KIND, &name)?;
        let Some(group) = page["logGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["logGroupName"] == name.as_str())
            .cloned()
        else {
            return Ok(None);
        };
        let tags = cx
            .clients
            .logs
            .call("ListTagsLogGroup", &json!({ "logGroupName": name }))
            .await
            .or_absent(NOT_FOUND, "reading the tags of", KIND, &name)?
            .unwrap_or(Value::Null);
        let pairs = tags["tags"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)));
        ensure_owned(cx, format!("log group {name}"), pairs)?;
        let retention = group["retentionInDays"].as_u64().map(|d| d as u32);
        Ok(Some(Observed::new(Found::new(&name), retention)))
    }

    fn diff(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Option<u32> = observed.live()?;
        let mut diff = Diff::new();
        let show = |days: Option<u32>| days.map_or("never expire".into(), |d| format!("{d} days"));
        diff.field("retention", &show(*live), &show(Some(RETENTION_DAYS)));
        Ok(diff.into_changes())
    }

    async fn apply(
        &self,
        cx: &Context,
        _deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        cx.clients
            .logs
            .call(
                "PutRetentionPolicy",
                &json!({ "logGroupName": observed.found.id, "retentionInDays": RETENTION_DAYS }),
            )
            .await
            .context("setting the retention of", KIND, &observed.found.id)?;
        Ok(())
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let tags = tags::for_resource(&cx.spec, self.key().as_str(), &name);
        cx.clients
            .logs
            .call(
                "CreateLogGroup",
                &json!({ "logGroupName": name, "tags": tags }),
            )
            .await
            .context("creating", KIND, &name)?;
        cx.clients
            .logs
            .call(
                "PutRetentionPolicy",
                &json!({ "logGroupName": name, "retentionInDays": RETENTION_DAYS }),
            )
            .await
            .context("setting the retention of", KIND, &name)?;
        Ok(Found::new(&name))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Option<u32> = observed.live()?;
        Ok(Health::ok(
            format!("retention {} days", live.unwrap_or_default()),
            json!({ "retention_days": live }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        cx.clients
            .logs
            .call("DeleteLogGroup", &json!({ "logGroupName": found.id }))
            .await
            .or_gone(NOT_FOUND, KIND, &found.id)
    }
}
