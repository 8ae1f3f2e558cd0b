//! The RDS DB subnet group: the stack's subnets, for the database.
//!
//! Its ownership marker is its description (`modu stack <stack>`), which the describe call
//! returns; a same-named group without it is refused.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::json;

use super::toolkit::refuse_unless;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::aws::wire::xml::Element;
use crate::error::Result;
use crate::spec::Spec;

pub struct DbSubnetGroup;

const KIND: &str = "db-subnet-group";
const NOT_FOUND: &[&str] = &["DBSubnetGroupNotFoundFault"];

fn description(stack: &str) -> String {
    format!("modu stack {stack}")
}

fn subnets_of(group: &Element) -> Vec<String> {
    let set: BTreeSet<String> = group
        .list("Subnets")
        .map(|s| s.string("SubnetIdentifier"))
        .collect();
    set.into_iter().collect()
}

fn wanted_subnets(deps: &Deps<'_>) -> Result<Vec<String>> {
    let set: BTreeSet<String> = deps
        .private_subnets()?
        .into_iter()
        .map(String::from)
        .collect();
    Ok(set.into_iter().collect())
}

#[async_trait]
impl Resource for DbSubnetGroup {
    fn key(&self) -> Key {
        Key::DbSubnets
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-db", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Network]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.database.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let mut params = cx.clients.rds.params("DescribeDBSubnetGroups");
        params.set("DBSubnetGroupName", &name);
        let Some(result) =
            cx.clients
                .rds
                .call(&params)
                .await
                .or_absent(NOT_FOUND, "looking up", KIND, &name)?
        else {
            return Ok(None);
        };
        let Some(group) = result.list("DBSubnetGroups").next().cloned() else {
            return Ok(None);
        };
        refuse_unless(
            cx,
            group.text_of("DBSubnetGroupDescription") == Some(description(&cx.spec.stack).as_str()),
            format!("DB subnet group {name}"),
            format!(
                "delete or rename it; modu marks its own with the description `{}`",
                description(&cx.spec.stack)
            ),
        )?;
        Ok(Some(Observed::new(Found::new(&name), subnets_of(&group))))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Vec<String> = observed.live()?;
        let mut diff = Diff::new();
        diff.list("subnets", live, &wanted_subnets(deps)?);
        Ok(diff.into_changes())
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let mut params = cx.clients.rds.params("ModifyDBSubnetGroup");
        params.set("DBSubnetGroupName", &observed.found.id).members(
            "SubnetIds",
            "SubnetIdentifier",
            &wanted_subnets(deps)?,
        );
        cx.clients.rds.call(&params).await.context(
            "updating the subnets of",
            KIND,
            &observed.found.id,
        )?;
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let tags = tags::pairs(&cx.spec, self.key().as_str(), &name);
        let mut params = cx.clients.rds.params("CreateDBSubnetGroup");
        params
            .set("DBSubnetGroupName", &name)
            .set("DBSubnetGroupDescription", description(&cx.spec.stack))
            .members("SubnetIds", "SubnetIdentifier", &wanted_subnets(deps)?)
            .member_tags("Tags", "Tag", &tags);
        cx.clients
            .rds
            .call(&params)
            .await
            .context("creating", KIND, &name)?;
        Ok(Found::new(&name))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Vec<String> = observed.live()?;
        Ok(Health::ok(
            format!("{} subnets", live.len()),
            json!({ "subnets": live }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let mut params = cx.clients.rds.params("DeleteDBSubnetGroup");
        params.set("DBSubnetGroupName", &found.id);
        // The database releases the group only once it is fully deleted.
        cx.retry_on(
            self,
            "InvalidDBSubnetGroupStateFault",
            "to be released by the database",
            || {
                let params = params.clone();
                async move {
                    cx.clients
                        .rds
                        .call(&params)
                        .await
                        .or_gone(NOT_FOUND, KIND, &found.id)
                }
            },
        )
        .await
    }
}
