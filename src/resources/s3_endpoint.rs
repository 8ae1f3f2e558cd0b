//! The S3 gateway endpoint of the private subnets: instances without a public address
//! fetch the release from the bucket and store images through it, at no charge and without
//! a NAT gateway.
//!
//! Only with `network.private_subnets`: instances in public subnets reach S3 through the
//! internet gateway already, and the default VPC's main route table serves every subnet of
//! the VPC, whose S3 traffic a stack has no business rerouting.
//!
//! The endpoint is the stack's (tagged `modu:stack` and `modu:component`, found by those
//! tags); the route tables are not: modu only associates them with its endpoint (which adds
//! a route to S3's prefix list) and dissociates them again. A table that another S3 gateway
//! endpoint already serves is left to it: a table takes one route per prefix list.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::json;

use super::toolkit::request_token;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource, shared};
use crate::aws::ec2::{NewVpcEndpoint, Tag, VpcEndpoint, VpcEndpointChanges};
use crate::aws::errors::AwsContext;
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct S3Endpoint;

const KIND: &str = "vpc-endpoint";
const GATEWAY: &str = "Gateway";

/// The endpoint as AWS has it, and the route tables of its VPC that other S3 gateway
/// endpoints serve.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    vpc: String,
    route_tables: Vec<String>,
    state: String,
    served_by_others: BTreeSet<String>,
}

fn is_s3_gateway(endpoint: &VpcEndpoint, region: &str) -> bool {
    endpoint.kind == GATEWAY && endpoint.service_name == shared::ec2::s3_service(region)
}

fn is_ours(endpoint: &VpcEndpoint, stack: &str) -> bool {
    let tagged = |key: &str, value: &str| {
        endpoint
            .tags
            .iter()
            .any(|t| t.key == key && t.value == value)
    };
    tagged(tags::STACK, stack) && tagged(tags::COMPONENT, Key::S3Endpoint.as_str())
}

/// The route tables the endpoint should serve: the private subnets' tables that no other
/// S3 gateway endpoint serves, sorted.
fn wanted_tables(private: &[&str], served_by_others: &BTreeSet<String>) -> Vec<String> {
    let tables: BTreeSet<String> = private
        .iter()
        .filter(|t| !served_by_others.contains(**t))
        .map(|t| t.to_string())
        .collect();
    tables.into_iter().collect()
}

/// The changes from `live` to the wanted VPC and route tables.
fn diff_endpoint(live: &Live, vpc: &str, tables: &[String]) -> Vec<Change> {
    if live.vpc != vpc {
        // An endpoint belongs to one VPC for good.
        return vec![Change::new("vpc", &live.vpc, vpc).replacing()];
    }
    let mut diff = Diff::new();
    diff.list("route_tables", &live.route_tables, tables);
    diff.into_changes()
}

/// What is in `a` and not in `b`.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

#[async_trait]
impl Resource for S3Endpoint {
    fn key(&self) -> Key {
        Key::S3Endpoint
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-s3", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Network]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.network.is_private()
    }

    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(network) = deps.get(Key::Network)? else {
            return Ok(None);
        };
        let reads = cx.reads();
        let endpoints = shared::ec2::vpc_endpoints(cx, &reads).await?;
        let region = &cx.spec.region;
        let Some(ours) = endpoints
            .iter()
            .find(|e| is_s3_gateway(e, region) && is_ours(e, &cx.spec.stack))
        else {
            return Ok(None);
        };
        let served_by_others = endpoints
            .iter()
            .filter(|e| is_s3_gateway(e, region) && e.vpc_id == network.id && e.id != ours.id)
            .flat_map(|e| e.route_tables.iter().cloned())
            .collect();
        let mut route_tables = ours.route_tables.clone();
        route_tables.sort();
        let live = Live {
            vpc: ours.vpc_id.clone(),
            route_tables,
            state: ours.state.clone(),
            served_by_others,
        };
        Ok(Some(Observed::new(Found::new(&ours.id), live)))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        let tables = wanted_tables(&deps.private_route_tables()?, &live.served_by_others);
        Ok(diff_endpoint(live, deps.id(Key::Network)?, &tables))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let live: &Live = observed.live()?;
        let want = wanted_tables(&deps.private_route_tables()?, &live.served_by_others);
        let id = &observed.found.id;
        cx.clients
            .ec2
            .modify_vpc_endpoint(
                id,
                &VpcEndpointChanges {
                    add_route_tables: &minus(&want, &live.route_tables),
                    remove_route_tables: &minus(&live.route_tables, &want),
                    ..VpcEndpointChanges::default()
                },
            )
            .await
            .context("changing the route tables of", KIND, id)
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let vpc = deps.id(Key::Network)?;
        // Tables other S3 endpoints serve, as the observation before this `up` saw them.
        let reads = cx.reads();
        let region = &cx.spec.region;
        let served_by_others: BTreeSet<String> = shared::ec2::vpc_endpoints(cx, &reads)
            .await?
            .iter()
            .filter(|e| is_s3_gateway(e, region) && e.vpc_id == vpc)
            .flat_map(|e| e.route_tables.iter().cloned())
            .collect();
        let tables = wanted_tables(&deps.private_route_tables()?, &served_by_others);
        let tag_list = tags::sdk(&cx.spec, self.key().as_str(), &name, Tag::new);
        let endpoint = cx
            .clients
            .ec2
            .create_vpc_endpoint(&NewVpcEndpoint {
                vpc_id: vpc,
                service_name: &shared::ec2::s3_service(region),
                kind: GATEWAY,
                route_tables: &tables,
                tags: &tag_list,
                client_token: &request_token(),
                ..NewVpcEndpoint::default()
            })
            .await
            .context("creating", KIND, &name)?;
        shared::ec2::wait_endpoint_available(cx, self, &endpoint.id).await?;
        Ok(Found::new(endpoint.id))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let details = json!({
            "vpc_id": live.vpc,
            "route_table_ids": live.route_tables,
            "state": live.state,
        });
        let state = format!(
            "S3 gateway, {}, route tables {}",
            live.state,
            if live.route_tables.is_empty() {
                "(none)".to_string()
            } else {
                live.route_tables.join(",")
            }
        );
        Ok(if live.state == "available" {
            Health::ok(state, details)
        } else {
            Health::unhealthy(state, details)
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        shared::ec2::delete_vpc_endpoints(cx, self, &[found.id.as_str()]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(tables: &[&str]) -> Live {
        Live {
            vpc: "vpc-1".into(),
            route_tables: tables.iter().map(|t| t.to_string()).collect(),
            state: "available".into(),
            served_by_others: BTreeSet::new(),
        }
    }

    #[test]
    fn the_endpoint_serves_the_private_tables_no_other_endpoint_serves() {
        let others = BTreeSet::from(["rtb-b".to_string()]);
        assert_eq!(
            wanted_tables(&["rtb-c", "rtb-b", "rtb-a", "rtb-a"], &others),
            ["rtb-a", "rtb-c"]
        );
    }

    #[test]
    fn changed_tables_are_one_change_and_another_vpc_replaces() {
        let want = vec!["rtb-a".to_string(), "rtb-b".to_string()];
        assert!(diff_endpoint(&live(&["rtb-a", "rtb-b"]), "vpc-1", &want).is_empty());
        let changes = diff_endpoint(&live(&["rtb-a"]), "vpc-1", &want);
        assert_eq!(
            changes,
            vec![Change::new("route_tables", "rtb-a", "rtb-a,rtb-b")]
        );
        let moved = diff_endpoint(&live(&["rtb-a"]), "vpc-2", &want);
        assert!(moved.len() == 1 && moved[0].replace, "{moved:?}");
        assert_eq!(minus(&want, &["rtb-a".to_string()]), ["rtb-b"]);
    }
}
