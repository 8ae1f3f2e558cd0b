//! The ElastiCache subnet group: the stack's subnets, for the replication group.
//!
//! Its ownership marker is its description (`modu stack <stack>`), which the describe call
//! returns, so no tag read is needed; a same-named group without it is refused.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_elasticache::types::{CacheSubnetGroup as AwsGroup, Tag};
use serde_json::json;

use super::toolkit::refuse_unless;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct CacheSubnetGroup;

const KIND: &str = "cache-subnet-group";
const NOT_FOUND: &[&str] = &["CacheSubnetGroupNotFoundFault"];

fn description(stack: &str) -> String {
    format!("modu stack {stack}")
}

/// The subnets and VPC as AWS has them.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    subnets: Vec<String>,
    vpc: String,
}

fn live_of(group: &AwsGroup) -> Live {
    let subnets: BTreeSet<String> = group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .map(String::from)
        .collect();
    Live {
        subnets: subnets.into_iter().collect(),
        vpc: group.vpc_id().unwrap_or_default().to_string(),
    }
}

fn wanted_subnets(deps: &Deps<'_>) -> Result<Vec<String>> {
    let set: BTreeSet<String> = deps
        .private_subnets()?
        .into_iter()
        .map(String::from)
        .collect();
    Ok(set.into_iter().collect())
}

fn found(name: &str, group: &AwsGroup) -> Found {
    Found::new(name).with(Outputs::Arn {
        arn: group.arn().unwrap_or_default().to_string(),
    })
}

impl CacheSubnetGroup {
    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsGroup>> {
        Ok(cx
            .clients
            .elasticache
            .describe_cache_subnet_groups()
            .cache_subnet_group_name(name)
            .send()
            .await
            .or_absent(NOT_FOUND, "looking up", KIND, name)?
            .and_then(|out| {
                out.cache_subnet_groups
                    .unwrap_or_default()
                    .into_iter()
                    .next()
            }))
    }
}

#[async_trait]
impl Resource for CacheSubnetGroup {
    fn key(&self) -> Key {
        Key::CacheSubnets
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-cache", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Network]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cache.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let Some(group) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        refuse_unless(
            cx,
            group.cache_subnet_group_description() == Some(description(&cx.spec.stack).as_str()),
            format!("cache subnet group {name}"),
            format!(
                "delete or rename it; modu marks its own with the description `{}`",
                description(&cx.spec.stack)
            ),
        )?;
        Ok(Some(Observed::new(found(&name, &group), live_of(&group))))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        let mut diff = Diff::new();
        diff.list("subnets", &live.subnets, &wanted_subnets(deps)?);
        Ok(diff.into_changes())
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        cx.clients
            .elasticache
            .modify_cache_subnet_group()
            .cache_subnet_group_name(&observed.found.id)
            .set_subnet_ids(Some(wanted_subnets(deps)?))
            .send()
            .await
            .context("updating the subnets of", KIND, &observed.found.id)?;
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let out = cx
            .clients
            .elasticache
            .create_cache_subnet_group()
            .cache_subnet_group_name(&name)
            .cache_subnet_group_description(description(&cx.spec.stack))
            .set_subnet_ids(Some(wanted_subnets(deps)?))
            .set_tags(Some(tags::sdk(
                &cx.spec,
                self.key().as_str(),
                &name,
                |k, v| Tag::builder().key(k).value(v).build(),
            )))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let arn = out
            .cache_subnet_group()
            .and_then(|g| g.arn())
            .unwrap_or_default();
        Ok(Found::new(&name).with(Outputs::Arn { arn: arn.into() }))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        Ok(Health::ok(
            format!("{} subnets", live.subnets.len()),
            json!({ "subnets": live.subnets, "vpc_id": live.vpc }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        // The replication group releases the subnet group only once it is fully gone.
        cx.retry_on(
            self,
            "CacheSubnetGroupInUse",
            "to be released by the replication group",
            || async {
                cx.clients
                    .elasticache
                    .delete_cache_subnet_group()
                    .cache_subnet_group_name(&found.id)
                    .send()
                    .await
                    .or_gone(NOT_FOUND, KIND, &found.id)
            },
        )
        .await
    }
}
