//! The ElastiCache replication group for sessions and cache: one primary plus `replicas`
//! read replicas, automatic failover and multi-AZ when there is at least one replica,
//! encryption at rest and in transit, AUTH with the token kept in Secrets Manager (the
//! service connects with `rediss://` and that token), behind the cache security group.
//!
//! Replica count, node type and failover converge in place; a new engine replaces the group
//! (the plan says so, and `up` asks first: the cache starts empty).

use async_trait::async_trait;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, MultiAzStatus, ReplicationGroup as AwsGroup,
};
use serde_json::json;

use aws_sdk_elasticache::types::Tag;

use super::security_group::REDIS_PORT;
use super::toolkit::refuse_unless;
use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource, aws_int, touches,
};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::spec::Cache;
use crate::spec::Spec;

pub struct ReplicationGroup;

const KIND: &str = "replication-group";
const NOT_FOUND: &[&str] = &["ReplicationGroupNotFoundFault"];

fn endpoint(e: Option<&aws_sdk_elasticache::types::Endpoint>) -> String {
    e.map(|e| {
        format!(
            "{}:{}",
            e.address().unwrap_or_default(),
            e.port().unwrap_or(i32::from(REDIS_PORT))
        )
    })
    .unwrap_or_default()
}

fn found(group: &AwsGroup) -> Found {
    let node_group = group.node_groups().first();
    let primary = node_group.and_then(|n| {
        n.node_group_members()
            .iter()
            .find(|m| m.current_role() == Some("primary"))
            .and_then(|m| m.cache_cluster_id())
    });
    Found::new(group.replication_group_id().unwrap_or_default()).with(Outputs::Cache {
        arn: group.arn().unwrap_or_default().to_string(),
        primary_endpoint: endpoint(node_group.and_then(|n| n.primary_endpoint())),
        reader_endpoint: endpoint(node_group.and_then(|n| n.reader_endpoint())),
        members: primary_first(group.member_clusters(), primary),
    })
}

/// The members with the current primary first: after a failover it is no longer the
/// `-001` member the group was created with.
fn primary_first(members: &[String], primary: Option<&str>) -> Vec<String> {
    let mut ordered = members.to_vec();
    if let Some(index) = primary.and_then(|p| ordered.iter().position(|m| m == p)) {
        let primary = ordered.remove(index);
        ordered.insert(0, primary);
    }
    ordered
}

fn description(stack: &str) -> String {
    format!("modu stack {stack}: sessions and cache")
}

/// The group as AWS has it.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    status: String,
    engine: String,
    node_type: String,
    replicas: u32,
    failover: bool,
    multi_az: bool,
    at_rest_encryption: bool,
    transit_encryption: bool,
    auth_token: bool,
}

fn live_of(group: &AwsGroup) -> Live {
    Live {
        status: group.status().unwrap_or("unknown").to_string(),
        engine: group.engine().unwrap_or_default().to_string(),
        node_type: group.cache_node_type().unwrap_or_default().to_string(),
        replicas: (group.member_clusters().len() as u32).saturating_sub(1),
        failover: group.automatic_failover() == Some(&AutomaticFailoverStatus::Enabled),
        multi_az: group.multi_az() == Some(&MultiAzStatus::Enabled),
        at_rest_encryption: group.at_rest_encryption_enabled().unwrap_or(false),
        transit_encryption: group.transit_encryption_enabled().unwrap_or(false),
        auth_token: group.auth_token_enabled().unwrap_or(false),
    }
}

fn diff_group(live: &Live, want: &Cache) -> Vec<Change> {
    let mut diff = Diff::new();
    if !live.engine.is_empty() && live.engine != want.engine.aws_value() {
        // A live group keeps its engine: a new one means a new group (and an empty cache).
        diff.push(Change::new("engine", &live.engine, want.engine.aws_value()).replacing());
    }
    diff.field("replicas", &live.replicas, &want.replicas);
    diff.field("node_type", &live.node_type, &want.node_type);
    diff.field("automatic_failover", &live.failover, &(want.replicas >= 1));
    diff.field("auth_token", &live.auth_token, &true);
    diff.into_changes()
}

impl ReplicationGroup {
    /// The AUTH token, from the stack's secret.
    async fn token(&self, cx: &Context, deps: &Deps<'_>) -> Result<String> {
        match deps.outputs(Key::CacheSecret)? {
            Some(Outputs::Arn { arn }) => super::cache_secret::token(cx, arn).await,
            _ => Err(Error::internal(
                "the cache's AUTH token secret is not there",
            )),
        }
    }

    fn spec<'a>(&self, cx: &'a Context) -> Result<&'a Cache> {
        cx.spec
            .cache
            .as_ref()
            .ok_or_else(|| Error::internal("cache asked for without a cache section"))
    }

    async fn describe(&self, cx: &Context, id: &str) -> Result<Option<AwsGroup>> {
        Ok(cx
            .clients
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .or_absent(NOT_FOUND, "looking up", KIND, id)?
            .and_then(|out| {
                out.replication_groups
                    .unwrap_or_default()
                    .into_iter()
                    .next()
            }))
    }

    async fn wait_available(&self, cx: &Context, id: &str) -> Result<AwsGroup> {
        cx.wait_for(self, "to become available", || async {
            Ok(match self.describe(cx, id).await? {
                None => Poll::Pending("not visible yet".into()),
                Some(group) if group.status() == Some("available") => Poll::Ready(group),
                Some(group) => Poll::Pending(group.status().unwrap_or("unknown").to_string()),
            })
        })
        .await
    }

    async fn set_replicas(&self, cx: &Context, id: &str, grow: bool, count: u32) -> Result<()> {
        let ec = &cx.clients.elasticache;
        if grow {
            ec.increase_replica_count()
                .replication_group_id(id)
                .new_replica_count(aws_int(count))
                .apply_immediately(true)
                .send()
                .await
                .context("adding replicas to", KIND, id)?;
        } else {
            ec.decrease_replica_count()
                .replication_group_id(id)
                .new_replica_count(aws_int(count))
                .apply_immediately(true)
                .send()
                .await
                .context("removing replicas from", KIND, id)?;
        }
        self.wait_available(cx, id).await.map(|_| ())
    }
}

#[async_trait]
impl Resource for ReplicationGroup {
    fn key(&self) -> Key {
        Key::Cache
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-cache", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        // Only network and security groups: its long creation overlaps the load balancer's
        // and the Auto Scaling group's instead of following them.
        vec![Key::CacheSubnets, Key::SgCache, Key::CacheSecret]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cache.is_some()
    }

    /// The ownership marker is the description, which the describe call returns.
    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let Some(group) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        refuse_unless(
            cx,
            group.description() == Some(description(&cx.spec.stack).as_str()),
            format!("replication group {name}"),
            format!(
                "delete or rename it; modu marks its own with the description `{}`",
                description(&cx.spec.stack)
            ),
        )?;
        Ok(Some(Observed::new(found(&group), live_of(&group))))
    }

    fn diff(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_group(observed.live()?, self.spec(cx)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let cache = self.spec(cx)?;
        let live: &Live = observed.live()?;
        let id = &observed.found.id;
        if touches(changes, "auth_token") {
            // A group made before AUTH: set the token (transit encryption is already on).
            cx.clients
                .elasticache
                .modify_replication_group()
                .replication_group_id(id)
                .auth_token(self.token(cx, deps).await?)
                .auth_token_update_strategy(
                    aws_sdk_elasticache::types::AuthTokenUpdateStrategyType::Set,
                )
                .apply_immediately(true)
                .send()
                .await
                .context("setting the AUTH token of", KIND, id)?;
            self.wait_available(cx, id).await?;
        }
        // Replicas first when growing (failover needs one), failover first when shrinking to none.
        if touches(changes, "replicas") && cache.replicas > live.replicas {
            self.set_replicas(cx, id, true, cache.replicas).await?;
        }
        let failover = touches(changes, "automatic_failover");
        let node_type = touches(changes, "node_type");
        if failover || node_type {
            let mut modify = cx
                .clients
                .elasticache
                .modify_replication_group()
                .replication_group_id(id)
                .apply_immediately(true);
            if failover {
                let on = cache.replicas >= 1;
                modify = modify.automatic_failover_enabled(on).multi_az_enabled(on);
            }
            if node_type {
                modify = modify.cache_node_type(&cache.node_type);
            }
            modify.send().await.context("updating", KIND, id)?;
            self.wait_available(cx, id).await?;
        }
        if touches(changes, "replicas") && cache.replicas < live.replicas {
            self.set_replicas(cx, id, false, cache.replicas).await?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let cache = self.spec(cx)?;
        let failover = cache.replicas >= 1;
        cx.clients
            .elasticache
            .create_replication_group()
            .replication_group_id(&name)
            .replication_group_description(description(&cx.spec.stack))
            .engine(cache.engine.aws_value())
            .cache_node_type(&cache.node_type)
            .num_cache_clusters(aws_int(1 + cache.replicas))
            .automatic_failover_enabled(failover)
            .multi_az_enabled(failover)
            .at_rest_encryption_enabled(true)
            .transit_encryption_enabled(true)
            .auth_token(self.token(cx, deps).await?)
            .port(i32::from(REDIS_PORT))
            .cache_subnet_group_name(deps.id(Key::CacheSubnets)?)
            .security_group_ids(deps.id(Key::SgCache)?)
            .set_tags(Some(tags::sdk(
                &cx.spec,
                self.key().as_str(),
                &name,
                |k, v| Tag::builder().key(k).value(v).build(),
            )))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let group = self.wait_available(cx, &name).await?;
        Ok(found(&group))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let (primary, reader, members) = match &observed.found.outputs {
            Outputs::Cache {
                primary_endpoint,
                reader_endpoint,
                members,
                ..
            } => (
                primary_endpoint.as_str(),
                reader_endpoint.as_str(),
                members.clone(),
            ),
            _ => ("", "", Vec::new()),
        };
        Ok(Health {
            healthy: live.status == "available",
            state: format!(
                "{}, {} replica(s), primary {}",
                live.status,
                live.replicas,
                if primary.is_empty() { "-" } else { primary }
            ),
            details: json!({
                "status": live.status,
                "engine": live.engine,
                "node_type": live.node_type,
                "replicas": live.replicas,
                "automatic_failover": if live.failover { "enabled" } else { "disabled" },
                "multi_az": live.multi_az,
                "at_rest_encryption": live.at_rest_encryption,
                "transit_encryption": live.transit_encryption,
                "primary_endpoint": primary,
                "reader_endpoint": reader,
                "members": members,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found_now: &Found) -> Result<()> {
        match self.describe(cx, &found_now.id).await? {
            None => return Ok(()),
            Some(group) if group.status() == Some("deleting") => {}
            Some(_) => {
                cx.clients
                    .elasticache
                    .delete_replication_group()
                    .replication_group_id(&found_now.id)
                    .send()
                    .await
                    .or_gone(NOT_FOUND, KIND, &found_now.id)?;
            }
        }
        cx.wait_gone(self, || async {
            Ok(self
                .describe(cx, &found_now.id)
                .await?
                .map(|group| group.status().unwrap_or("deleting").to_string()))
        })
        .await
    }

    fn stack_outputs(&self, _cx: &Context, found_now: &Found) -> Vec<(&'static str, String)> {
        let Outputs::Cache {
            primary_endpoint,
            reader_endpoint,
            ..
        } = &found_now.outputs
        else {
            return Vec::new();
        };
        vec![
            ("cache_primary_endpoint", primary_endpoint.clone()),
            ("cache_reader_endpoint", reader_endpoint.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_leads_the_members_wherever_it_is() {
        let members = ["c-001".to_string(), "c-002".into(), "c-003".into()];
        assert_eq!(
            primary_first(&members, Some("c-002")),
            ["c-002", "c-001", "c-003"]
        );
        assert_eq!(primary_first(&members, None), members);
        assert_eq!(primary_first(&members, Some("gone")), members);
    }
    use crate::spec::CacheEngine;

    fn want(replicas: u32) -> Cache {
        Cache {
            engine: CacheEngine::Redis,
            node_type: "cache.t3.micro".into(),
            replicas,
        }
    }

    fn live(replicas: u32) -> Live {
        Live {
            status: "available".into(),
            engine: "redis".into(),
            node_type: "cache.t3.micro".into(),
            replicas,
            failover: replicas >= 1,
            multi_az: replicas >= 1,
            at_rest_encryption: true,
            transit_encryption: true,
            auth_token: true,
        }
    }

    #[test]
    fn the_same_group_needs_nothing() {
        assert!(diff_group(&live(1), &want(1)).is_empty());
    }

    #[test]
    fn replicas_and_node_type_change_in_place() {
        let mut bigger = want(2);
        bigger.node_type = "cache.r7g.large".into();
        assert_eq!(
            diff_group(&live(1), &bigger),
            vec![
                Change::new("replicas", 1, 2),
                Change::new("node_type", "cache.t3.micro", "cache.r7g.large"),
            ]
        );
        assert_eq!(
            diff_group(&live(1), &want(0)),
            vec![
                Change::new("replicas", 1, 0),
                Change::new("automatic_failover", true, false),
            ]
        );
    }

    #[test]
    fn a_new_engine_replaces_the_group() {
        let mut valkey = want(1);
        valkey.engine = CacheEngine::Valkey;
        let changes = diff_group(&live(1), &valkey);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].replace);
        assert_eq!(
            (changes[0].from.as_str(), changes[0].to.as_str()),
            ("redis", "valkey")
        );
    }
}
