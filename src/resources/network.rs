//! The network the stack runs in: a VPC and at least two subnets in different AZs.
//!
//! Looked up, never created or deleted: the network usually belongs to more than one stack.
//! The common case (default VPC, default subnets) costs two calls: default-for-AZ subnets
//! exist only in the default VPC, so they name it, and the zones that offer the instance
//! type narrow them down to three.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::json;

use super::{Context, Deps, Found, Health, Key, Observed, OnDown, Outputs, Resource};
use crate::aws::ec2::{Filter, Subnet};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::{Error, Result};
use crate::spec::{SubnetsRef, VpcRef};

pub struct Network;

const KIND: &str = "network";

fn no_default_vpc(cx: &Context) -> Error {
    Error::fixable(
        format!("region {} has no default VPC", cx.spec.region),
        "create one with `aws ec2 create-default-vpc`, or set `network.vpc` \
         and `network.subnets` in the spec to an existing VPC",
    )
}

fn no_such_vpc(cx: &Context, id: &str) -> Error {
    Error::fixable(
        format!("VPC {id} does not exist in region {}", cx.spec.region),
        "check `network.vpc` in the spec and the region",
    )
}

impl Network {
    /// The default VPC's id (only needed when explicit subnets must be checked against it,
    /// or to explain why no default subnets were found).
    async fn default_vpc(&self, cx: &Context) -> Result<Option<String>> {
        let vpcs = cx
            .clients
            .ec2
            .describe_vpcs(&[], &[Filter::new("is-default", ["true"])])
            .await
            .context("looking up", "vpc", "default")?;
        Ok(vpcs.into_iter().next())
    }

    async fn vpc_exists(&self, cx: &Context, id: &str) -> Result<bool> {
        let vpcs = cx
            .clients
            .ec2
            .describe_vpcs(&[id.to_string()], &[])
            .await
            .or_absent(&["InvalidVpcID.NotFound"], "looking up", "vpc", id)?;
        Ok(vpcs.is_some_and(|v| !v.is_empty()))
    }

    /// The VPC's default subnets in the zones where the spec's instance type is offered, at
    /// most [`DEFAULT_ZONES`] of them.
    async fn default_subnets(&self, cx: &Context, vpc: Option<&str>) -> Result<Vec<Subnet>> {
        let mut filters = vec![Filter::new("default-for-az", ["true"])];
        if let Some(vpc) = vpc {
            filters.push(Filter::new("vpc-id", [vpc]));
        }
        let subnets = cx
            .clients
            .ec2
            .describe_subnets(&[], &filters)
            .await
            .context("looking up", "subnets of", vpc.unwrap_or("the default VPC"))?;
        if subnets.is_empty() {
            return Ok(subnets);
        }
        let instance_type = &cx.spec.compute.instance_type;
        let offered = cx.clients.ec2.zones_offering(instance_type).await.context(
            "looking up the zones offering",
            "instance type",
            instance_type,
        )?;
        let chosen = choose_default_subnets(subnets.clone(), &offered);
        if chosen.len() < 2 && subnets.len() >= 2 {
            return Err(Error::fixable(
                format!(
                    "{instance_type} is offered in {} of the zones of the default subnets; a load \
                     balancer needs two",
                    chosen.len()
                ),
                "choose another `compute.instance_type`, or list subnets in `network.subnets`",
            ));
        }
        Ok(chosen)
    }

    /// The VPC id and its subnets, as the spec names them.
    async fn resolve(&self, cx: &Context) -> Result<(String, Vec<Subnet>)> {
        let network = &cx.spec.network;
        match (&network.vpc, &network.subnets) {
            (VpcRef::Default, SubnetsRef::Default) => {
                let subnets = self.default_subnets(cx, None).await?;
                let Some(vpc) = subnets.first().map(|s| s.vpc_id.clone()) else {
                    return Err(match self.default_vpc(cx).await? {
                        None => no_default_vpc(cx),
                        Some(vpc) => Error::fixable(
                            format!("the default VPC {vpc} has no default subnets"),
                            "create them with `aws ec2 create-default-subnet`, or list subnets in `network.subnets`",
                        ),
                    });
                };
                Ok((vpc, subnets))
            }
            (VpcRef::Id(id), SubnetsRef::Default) => {
                let subnets = self.default_subnets(cx, Some(id)).await?;
                if subnets.is_empty() && !self.vpc_exists(cx, id).await? {
                    return Err(no_such_vpc(cx, id));
                }
                Ok((id.clone(), subnets))
            }
            (vpc, SubnetsRef::Ids(ids)) => {
                let vpc = match vpc {
                    VpcRef::Default => self
                        .default_vpc(cx)
                        .await?
                        .ok_or_else(|| no_default_vpc(cx))?,
                    VpcRef::Id(id) if self.vpc_exists(cx, id).await? => id.clone(),
                    VpcRef::Id(id) => return Err(no_such_vpc(cx, id)),
                };
                let result = cx.clients.ec2.describe_subnets(ids, &[]).await;
                let subnets = match result {
                    Err(err) if err.code() == Some("InvalidSubnetID.NotFound") => {
                        return Err(Error::fixable(
                            format!("a subnet in `network.subnets` does not exist: {err}"),
                            "list the VPC's subnets with `aws ec2 describe-subnets` and fix `network.subnets`",
                        ));
                    }
                    other => other.context("looking up", "subnets", &ids.join(","))?,
                };
                Ok((vpc, subnets))
            }
        }
    }
}

/// How many zones `subnets: default` spreads the stack over: enough to survive a zone's
/// loss with room to spare, without paying for a load balancer node and cross-zone
/// traffic in every zone of a large region.
const DEFAULT_ZONES: usize = 3;

/// The default subnets to use: those in zones offering the instance type (a region can
/// have a zone without it, as us-east-1 has for t3), the first [`DEFAULT_ZONES`] by zone
/// name, so every run picks the same ones.
fn choose_default_subnets(mut subnets: Vec<Subnet>, offered: &BTreeSet<String>) -> Vec<Subnet> {
    subnets.retain(|s| offered.contains(&s.availability_zone));
    subnets.sort_by(|a, b| a.availability_zone.cmp(&b.availability_zone));
    subnets.dedup_by(|a, b| a.availability_zone == b.availability_zone);
    subnets.truncate(DEFAULT_ZONES);
    subnets
}

/// Checks the subnets suit a load balancer: all in `vpc`, one per zone, at least two zones.
/// Returns (subnet ids, zones), sorted by zone.
fn check_subnets(vpc: &str, mut subnets: Vec<Subnet>) -> Result<(Vec<String>, Vec<String>)> {
    if let Some(stray) = subnets.iter().find(|s| s.vpc_id != vpc) {
        return Err(Error::fixable(
            format!(
                "subnet {} is in {}, not in the stack's VPC {vpc}",
                stray.id, stray.vpc_id
            ),
            "list subnets of the stack's VPC only in `network.subnets`",
        ));
    }
    subnets.sort_by(|a, b| a.availability_zone.cmp(&b.availability_zone));
    let mut zones: Vec<String> = subnets
        .iter()
        .map(|s| s.availability_zone.clone())
        .collect();
    let count = zones.len();
    zones.dedup();
    if zones.len() < count {
        return Err(Error::fixable(
            "two subnets in `network.subnets` are in the same availability zone",
            "a load balancer takes one subnet per availability zone: list subnets of different zones",
        ));
    }
    if zones.len() < 2 {
        return Err(Error::fixable(
            format!(
                "VPC {vpc} offers subnets in {} availability zone(s); a load balancer needs two",
                zones.len()
            ),
            "list subnets in at least two availability zones in `network.subnets`",
        ));
    }
    let ids = subnets.iter().map(|s| s.id.clone()).collect();
    Ok((ids, zones))
}

#[async_trait]
impl Resource for Network {
    fn key(&self) -> Key {
        Key::Network
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        match &cx.spec.network.vpc {
            VpcRef::Default => "default-vpc".into(),
            VpcRef::Id(id) => id.clone(),
        }
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let (vpc, subnets) = self.resolve(cx).await?;
        let (subnets, zones) = check_subnets(&vpc, subnets)?;
        let found = Found::new(vpc).with(Outputs::Network { subnets, zones });
        Ok(Some(Observed::new(found, ())))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        // `observe` either finds the network or explains why it cannot be used.
        match self.observe(cx, deps).await? {
            Some(observed) => Ok(observed.found),
            None => Err(Error::fixable(
                "the stack's network was not found",
                "check `network` in the spec",
            )),
        }
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let found = &observed.found;
        let (subnets, zones) = match &found.outputs {
            Outputs::Network { subnets, zones } => (subnets.clone(), zones.clone()),
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Health::ok(
            format!("{} subnets in {}", subnets.len(), zones.join(",")),
            json!({ "vpc_id": found.id, "subnet_ids": subnets, "zones": zones }),
        ))
    }

    async fn delete(&self, _cx: &Context, _found: &Found) -> Result<()> {
        Ok(())
    }

    fn on_down(&self, _cx: &Context, _found: &Found) -> OnDown {
        OnDown::Keep("looked up, not owned by the stack")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, vpc: &str, zone: &str) -> Subnet {
        Subnet {
            id: id.into(),
            vpc_id: vpc.into(),
            availability_zone: zone.into(),
        }
    }

    #[test]
    fn default_subnets_are_three_zones_that_offer_the_instance_type() {
        let subnets: Vec<Subnet> = ["1f", "1a", "1e", "1c", "1b", "1d"]
            .iter()
            .map(|z| subnet(&format!("subnet-{z}"), "vpc-1", &format!("us-east-{z}")))
            .collect();
        let offered: BTreeSet<String> = ["1a", "1b", "1c", "1d", "1f"]
            .iter()
            .map(|z| format!("us-east-{z}"))
            .collect();
        let zones: Vec<String> = choose_default_subnets(subnets.clone(), &offered)
            .into_iter()
            .map(|s| s.availability_zone)
            .collect();
        assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);
        // Where the type is offered in one zone only, one subnet is all there is.
        let one: BTreeSet<String> = ["us-east-1e".to_string()].into();
        assert_eq!(choose_default_subnets(subnets, &one).len(), 1);
    }

    #[test]
    fn subnets_are_sorted_by_zone_and_need_two_zones() {
        let (ids, zones) = check_subnets(
            "vpc-1",
            vec![
                subnet("s-b", "vpc-1", "us-east-1b"),
                subnet("s-a", "vpc-1", "us-east-1a"),
            ],
        )
        .unwrap();
        assert_eq!(ids, vec!["s-a", "s-b"]);
        assert_eq!(zones, vec!["us-east-1a", "us-east-1b"]);
        let one = check_subnets("vpc-1", vec![subnet("s-a", "vpc-1", "us-east-1a")]);
        assert!(one.unwrap_err().to_string().contains("needs two"));
    }

    #[test]
    fn subnets_of_another_vpc_or_a_shared_zone_are_refused() {
        let stray = check_subnets(
            "vpc-1",
            vec![subnet("s-a", "vpc-1", "a"), subnet("s-b", "vpc-2", "b")],
        );
        assert!(
            stray
                .unwrap_err()
                .to_string()
                .contains("not in the stack's VPC")
        );
        let same = check_subnets(
            "vpc-1",
            vec![subnet("s-a", "vpc-1", "a"), subnet("s-b", "vpc-1", "a")],
        );
        assert!(
            same.unwrap_err()
                .to_string()
                .contains("same availability zone")
        );
    }
}
