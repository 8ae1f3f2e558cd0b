//! The network the stack runs in: a VPC and at least two subnets in different AZs.
//!
//! Looked up, never created or deleted: the network usually belongs to more than one stack.

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, Subnet};
use serde_json::json;

use super::{Context, Deps, Found, Health, OnDown, Resource};
use crate::aws::errors::{self, AwsContext};
use crate::error::{Error, Result};
use crate::spec::{SubnetsRef, VpcRef};

pub struct Network;

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

impl Network {
    async fn vpc_id(&self, cx: &Context) -> Result<String> {
        let ec2 = &cx.clients.ec2;
        match &cx.spec.network.vpc {
            VpcRef::Default => {
                let out = ec2
                    .describe_vpcs()
                    .filters(filter("is-default", "true"))
                    .send()
                    .await
                    .context("looking up", "vpc", "default")?;
                out.vpcs()
                    .iter()
                    .find_map(|v| v.vpc_id())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::precondition(
                            format!("region {} has no default VPC", cx.spec.region),
                            "create one with `aws ec2 create-default-vpc`, or set `network.vpc` \
                             and `network.subnets` in the spec to an existing VPC",
                        )
                    })
            }
            VpcRef::Id(id) => {
                let result = ec2.describe_vpcs().vpc_ids(id).send().await;
                match result {
                    Err(err) if errors::is_code(&err, &["InvalidVpcID.NotFound"]) => {
                        Err(Error::precondition(
                            format!("VPC {id} does not exist in region {}", cx.spec.region),
                            "check `network.vpc` in the spec and the region",
                        ))
                    }
                    other => {
                        let out = other.context("looking up", "vpc", id)?;
                        match out.vpcs().first() {
                            Some(_) => Ok(id.clone()),
                            None => Err(Error::precondition(
                                format!("VPC {id} does not exist in region {}", cx.spec.region),
                                "check `network.vpc` in the spec and the region",
                            )),
                        }
                    }
                }
            }
        }
    }

    async fn subnets(&self, cx: &Context, vpc: &str) -> Result<Vec<Subnet>> {
        let ec2 = &cx.clients.ec2;
        let subnets = match &cx.spec.network.subnets {
            SubnetsRef::Default => ec2
                .describe_subnets()
                .filters(filter("vpc-id", vpc))
                .filters(filter("default-for-az", "true"))
                .send()
                .await
                .context("looking up", "subnets of", vpc)?
                .subnets
                .unwrap_or_default(),
            SubnetsRef::Ids(ids) => {
                let result = ec2
                    .describe_subnets()
                    .set_subnet_ids(Some(ids.clone()))
                    .send()
                    .await;
                match result {
                    Err(err) if errors::is_code(&err, &["InvalidSubnetID.NotFound"]) => {
                        return Err(Error::precondition(
                            format!(
                                "a subnet in `network.subnets` does not exist: {}",
                                errors::message(&err)
                            ),
                            "list the VPC's subnets with `aws ec2 describe-subnets` and fix `network.subnets`",
                        ));
                    }
                    other => other
                        .context("looking up", "subnets", &ids.join(","))?
                        .subnets
                        .unwrap_or_default(),
                }
            }
        };
        for subnet in &subnets {
            if subnet.vpc_id() != Some(vpc) {
                return Err(Error::precondition(
                    format!(
                        "subnet {} is in {}, not in the stack's VPC {vpc}",
                        subnet.subnet_id().unwrap_or("?"),
                        subnet.vpc_id().unwrap_or("?")
                    ),
                    "list subnets of the stack's VPC only in `network.subnets`",
                ));
            }
        }
        Ok(subnets)
    }
}

#[async_trait]
impl Resource for Network {
    fn key(&self) -> &'static str {
        "network"
    }
    fn kind(&self) -> &'static str {
        "network"
    }
    fn name(&self, cx: &Context) -> String {
        match &cx.spec.network.vpc {
            VpcRef::Default => "default-vpc".into(),
            VpcRef::Id(id) => id.clone(),
        }
    }
    fn depends_on(&self) -> Vec<&'static str> {
        Vec::new()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let vpc = self.vpc_id(cx).await?;
        let mut subnets = self.subnets(cx, &vpc).await?;
        subnets.sort_by(|a, b| a.availability_zone().cmp(&b.availability_zone()));
        let mut zones: Vec<&str> = subnets
            .iter()
            .filter_map(|s| s.availability_zone())
            .collect();
        let count = zones.len();
        zones.dedup();
        if zones.len() < count {
            return Err(Error::precondition(
                "two subnets in `network.subnets` are in the same availability zone",
                "a load balancer takes one subnet per availability zone: list subnets of different zones",
            ));
        }
        if zones.len() < 2 {
            return Err(Error::precondition(
                format!(
                    "VPC {vpc} offers subnets in {} availability zone(s); a load balancer needs two",
                    zones.len()
                ),
                "list subnets in at least two availability zones in `network.subnets`",
            ));
        }
        let ids: Vec<&str> = subnets.iter().filter_map(|s| s.subnet_id()).collect();
        Ok(Some(
            Found::new(vpc)
                .with("subnets", ids.join(","))
                .with("zones", zones.join(",")),
        ))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        // `find` either finds the network or explains why it cannot be used.
        self.find(cx, deps).await?.ok_or_else(|| {
            Error::precondition(
                "the stack's network was not found",
                "check `network` in the spec",
            )
        })
    }

    async fn converge(
        &self,
        _cx: &Context,
        _deps: &Deps<'_>,
        _found: &Found,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let subnets: Vec<&str> = found
            .output("subnets")
            .unwrap_or_default()
            .split(',')
            .collect();
        let zones = found.output("zones").unwrap_or_default();
        Ok(Health::ok(
            format!("{} subnets in {zones}", subnets.len()),
            json!({ "vpc_id": found.id, "subnet_ids": subnets, "zones": zones.split(',').collect::<Vec<_>>() }),
        ))
    }

    async fn delete(&self, _cx: &Context, _found: &Found) -> Result<()> {
        Ok(())
    }

    fn on_down(&self, _cx: &Context, _found: &Found) -> OnDown {
        OnDown::Keep("looked up, not owned by the stack")
    }
}

/// The subnet ids the network resolved to.
pub fn subnet_ids<'a>(deps: &Deps<'a>) -> Result<Vec<&'a str>> {
    Ok(deps.output("network", "subnets")?.split(',').collect())
}
