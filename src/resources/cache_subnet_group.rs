//! The ElastiCache subnet group: the stack's subnets, for the replication group.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_elasticache::types::{CacheSubnetGroup as AwsGroup, Tag};
use serde_json::json;

use super::network::subnet_ids;
use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::{self, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::Spec;

pub struct CacheSubnetGroup;

const KIND: &str = "cache-subnet-group";

/// ElastiCache tags for a resource of the stack (shared with the replication group).
pub(super) fn cache_tags(cx: &Context, component: &str, name: &str) -> Vec<Tag> {
    tags::for_resource(&cx.spec, component, name)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn subnets_of(group: &AwsGroup) -> BTreeSet<String> {
    group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .map(String::from)
        .collect()
}

impl CacheSubnetGroup {
    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsGroup>> {
        let result = cx
            .clients
            .elasticache
            .describe_cache_subnet_groups()
            .cache_subnet_group_name(name)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["CacheSubnetGroupNotFoundFault"]) => Ok(None),
            other => Ok(other
                .context("looking up", KIND, name)?
                .cache_subnet_groups
                .unwrap_or_default()
                .into_iter()
                .next()),
        }
    }
}

#[async_trait]
impl Resource for CacheSubnetGroup {
    fn key(&self) -> &'static str {
        "cache-subnets"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-cache", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["network"]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cache.is_some()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        Ok(self
            .describe(cx, &name)
            .await?
            .map(|g| Found::new(&name).with("arn", g.arn().unwrap_or_default())))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let out = cx
            .clients
            .elasticache
            .create_cache_subnet_group()
            .cache_subnet_group_name(&name)
            .cache_subnet_group_description(format!("modu stack {}", cx.spec.stack))
            .set_subnet_ids(Some(
                subnet_ids(deps)?.into_iter().map(String::from).collect(),
            ))
            .set_tags(Some(cache_tags(cx, self.key(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let arn = out
            .cache_subnet_group()
            .and_then(|g| g.arn())
            .unwrap_or_default();
        Ok(Found::new(&name).with("arn", arn))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let Some(group) = self.describe(cx, &found.id).await? else {
            return Err(Error::precondition(
                format!("cache subnet group {} disappeared", found.id),
                "run `modu up` again",
            ));
        };
        let want: BTreeSet<String> = subnet_ids(deps)?.into_iter().map(String::from).collect();
        if subnets_of(&group) == want {
            return Ok(Vec::new());
        }
        cx.clients
            .elasticache
            .modify_cache_subnet_group()
            .cache_subnet_group_name(&found.id)
            .set_subnet_ids(Some(want.into_iter().collect()))
            .send()
            .await
            .context("updating the subnets of", KIND, &found.id)?;
        Ok(vec!["subnets".into()])
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let Some(group) = self.describe(cx, &found.id).await? else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let subnets = subnets_of(&group);
        Ok(Health::ok(
            format!("{} subnets", subnets.len()),
            json!({ "subnets": subnets, "vpc_id": group.vpc_id() }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        // The replication group releases the subnet group only once it is fully gone.
        cx.retry_while(
            self,
            "to be released by the replication group",
            |err| matches!(err, Error::Aws { code: Some(code), .. } if code == "CacheSubnetGroupInUse"),
            || async {
                let result = cx.clients.elasticache.delete_cache_subnet_group().cache_subnet_group_name(&found.id).send().await;
                match result {
                    Err(err) if errors::is_code(&err, &["CacheSubnetGroupNotFoundFault"]) => Ok(()),
                    other => other.map(|_| ()).context("deleting", KIND, &found.id),
                }
            },
        )
        .await
    }
}
