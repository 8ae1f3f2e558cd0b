//! The ElastiCache replication group for sessions and cache: one primary plus `replicas`
//! read replicas, automatic failover and multi-AZ when there is at least one replica,
//! encryption at rest and in transit, behind the cache security group.
//!
//! Replica count, node type and failover converge in place; engine and encryption cannot
//! change on a live group, so a change there is refused with the way out.

use async_trait::async_trait;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, MultiAzStatus, ReplicationGroup as AwsGroup,
};
use serde_json::json;

use super::cache_subnet_group::cache_tags;
use super::security_group::REDIS_PORT;
use super::{Context, Deps, Found, Health, Resource, aws_int, ensure_owned};
use crate::aws::errors::{self, AwsContext};
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::spec::Cache;
use crate::spec::Spec;

pub struct ReplicationGroup;

const KIND: &str = "replication-group";

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
    Found::new(group.replication_group_id().unwrap_or_default())
        .with("arn", group.arn().unwrap_or_default())
        .with(
            "primary_endpoint",
            endpoint(node_group.and_then(|n| n.primary_endpoint())),
        )
        .with(
            "reader_endpoint",
            endpoint(node_group.and_then(|n| n.reader_endpoint())),
        )
        .with("members", group.member_clusters().join(","))
}

fn replicas_of(group: &AwsGroup) -> u32 {
    (group.member_clusters().len() as u32).saturating_sub(1)
}

impl ReplicationGroup {
    fn spec<'a>(&self, cx: &'a Context) -> Result<&'a Cache> {
        cx.spec.cache.as_ref().ok_or_else(|| {
            Error::precondition(
                "internal: cache asked for without a cache section",
                "report this bug",
            )
        })
    }

    async fn describe(&self, cx: &Context, id: &str) -> Result<Option<AwsGroup>> {
        let result = cx
            .clients
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["ReplicationGroupNotFoundFault"]) => Ok(None),
            other => Ok(other
                .context("looking up", KIND, id)?
                .replication_groups
                .unwrap_or_default()
                .into_iter()
                .next()),
        }
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
}

#[async_trait]
impl Resource for ReplicationGroup {
    fn key(&self) -> &'static str {
        "cache"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-cache", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        // Only network and security groups: its long creation overlaps the load balancer's
        // and the Auto Scaling group's instead of following them.
        vec!["cache-subnets", "sg-cache"]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cache.is_some()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        let Some(group) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        let arn = group.arn().unwrap_or_default();
        let out = cx
            .clients
            .elasticache
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .context("reading tags of", KIND, &name)?;
        ensure_owned(
            cx,
            format!("replication group {name}"),
            out.tag_list()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        )?;
        Ok(Some(found(&group)))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let cache = self.spec(cx)?;
        let failover = cache.replicas >= 1;
        cx.clients
            .elasticache
            .create_replication_group()
            .replication_group_id(&name)
            .replication_group_description(format!(
                "modu stack {}: sessions and cache",
                cx.spec.stack
            ))
            .engine(cache.engine.aws_value())
            .cache_node_type(&cache.node_type)
            .num_cache_clusters(aws_int(1 + cache.replicas))
            .automatic_failover_enabled(failover)
            .multi_az_enabled(failover)
            .at_rest_encryption_enabled(true)
            .transit_encryption_enabled(true)
            .port(i32::from(REDIS_PORT))
            .cache_subnet_group_name(deps.id("cache-subnets")?)
            .security_group_ids(deps.id("sg-cache")?)
            .set_tags(Some(cache_tags(cx, self.key(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let group = self.wait_available(cx, &name).await?;
        Ok(found(&group))
    }

    async fn converge(
        &self,
        cx: &Context,
        _deps: &Deps<'_>,
        found_now: &Found,
    ) -> Result<Vec<String>> {
        let cache = self.spec(cx)?;
        let Some(group) = self.describe(cx, &found_now.id).await? else {
            return Err(Error::precondition(
                format!("replication group {} disappeared", found_now.id),
                "run `modu up` again",
            ));
        };
        if group
            .engine()
            .is_some_and(|e| e != cache.engine.aws_value())
        {
            return Err(Error::precondition(
                format!(
                    "replication group {} runs {}, the spec asks for {}",
                    found_now.id,
                    group.engine().unwrap_or("?"),
                    cache.engine.aws_value()
                ),
                "the engine cannot change in place: switch `cache.enabled` off, run `modu up`, then back on",
            ));
        }
        let ec = &cx.clients.elasticache;
        let mut changes = Vec::new();
        let failover = cache.replicas >= 1;
        let have_failover = group.automatic_failover() == Some(&AutomaticFailoverStatus::Enabled);
        let have_replicas = replicas_of(&group);

        // Replicas first when growing (failover needs one), failover first when shrinking to none.
        if cache.replicas > have_replicas {
            ec.increase_replica_count()
                .replication_group_id(&found_now.id)
                .new_replica_count(aws_int(cache.replicas))
                .apply_immediately(true)
                .send()
                .await
                .context("adding replicas to", KIND, &found_now.id)?;
            changes.push(format!("replicas {have_replicas} -> {}", cache.replicas));
            self.wait_available(cx, &found_now.id).await?;
        }
        let node_type_changed = group.cache_node_type() != Some(cache.node_type.as_str());
        if have_failover != failover || node_type_changed {
            let mut modify = ec
                .modify_replication_group()
                .replication_group_id(&found_now.id)
                .apply_immediately(true);
            if have_failover != failover {
                modify = modify
                    .automatic_failover_enabled(failover)
                    .multi_az_enabled(failover);
                changes.push(format!(
                    "automatic failover -> {}",
                    if failover { "on" } else { "off" }
                ));
            }
            if node_type_changed {
                modify = modify.cache_node_type(&cache.node_type);
                changes.push(format!(
                    "node type {} -> {}",
                    group.cache_node_type().unwrap_or("?"),
                    cache.node_type
                ));
            }
            modify
                .send()
                .await
                .context("updating", KIND, &found_now.id)?;
            self.wait_available(cx, &found_now.id).await?;
        }
        if cache.replicas < have_replicas {
            ec.decrease_replica_count()
                .replication_group_id(&found_now.id)
                .new_replica_count(aws_int(cache.replicas))
                .apply_immediately(true)
                .send()
                .await
                .context("removing replicas from", KIND, &found_now.id)?;
            changes.push(format!("replicas {have_replicas} -> {}", cache.replicas));
            self.wait_available(cx, &found_now.id).await?;
        }
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found_now: &Found) -> Result<Health> {
        let Some(group) = self.describe(cx, &found_now.id).await? else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let status = group.status().unwrap_or("unknown").to_string();
        let now = found(&group);
        Ok(Health {
            healthy: status == "available",
            state: format!(
                "{status}, {} replica(s), primary {}",
                replicas_of(&group),
                now.output("primary_endpoint").unwrap_or("-")
            ),
            details: json!({
                "status": status,
                "engine": group.engine(),
                "node_type": group.cache_node_type(),
                "replicas": replicas_of(&group),
                "automatic_failover": group.automatic_failover().map(|a| a.as_str()),
                "multi_az": group.multi_az() == Some(&MultiAzStatus::Enabled),
                "at_rest_encryption": group.at_rest_encryption_enabled(),
                "transit_encryption": group.transit_encryption_enabled(),
                "primary_endpoint": now.output("primary_endpoint"),
                "reader_endpoint": now.output("reader_endpoint"),
                "members": group.member_clusters(),
            }),
        })
    }

    async fn delete(&self, cx: &Context, found_now: &Found) -> Result<()> {
        match self.describe(cx, &found_now.id).await? {
            None => return Ok(()),
            Some(group) if group.status() == Some("deleting") => {}
            Some(_) => {
                let result = cx
                    .clients
                    .elasticache
                    .delete_replication_group()
                    .replication_group_id(&found_now.id)
                    .send()
                    .await;
                match result {
                    Err(err) if errors::is_code(&err, &["ReplicationGroupNotFoundFault"]) => {
                        return Ok(());
                    }
                    other => other.context("deleting", KIND, &found_now.id)?,
                };
            }
        }
        cx.wait_for(self, "to be deleted", || async {
            Ok(match self.describe(cx, &found_now.id).await? {
                None => Poll::Ready(()),
                Some(group) => Poll::Pending(group.status().unwrap_or("deleting").to_string()),
            })
        })
        .await
    }

    fn stack_outputs(&self, _cx: &Context, found_now: &Found) -> Vec<(&'static str, String)> {
        vec![
            (
                "cache_primary_endpoint",
                found_now
                    .output("primary_endpoint")
                    .unwrap_or_default()
                    .to_string(),
            ),
            (
                "cache_reader_endpoint",
                found_now
                    .output("reader_endpoint")
                    .unwrap_or_default()
                    .to_string(),
            ),
        ]
    }
}
