//! The interface endpoints of `network.interface_endpoints`: one per service (SSM and its
//! two channels, CloudWatch Logs and metrics, Secrets Manager), in one private subnet per
//! zone, behind the endpoints' security group, with private DNS so the services' usual
//! names resolve to them inside the VPC. They let private instances without a NAT gateway
//! register with SSM, ship logs and metrics and read the cache secret.
//!
//! Private DNS needs the VPC's DNS support and DNS hostnames: `up` checks both before
//! creating an endpoint and says how to turn them on, rather than let AWS refuse.
//!
//! One resource for the whole set (as the alarms are): found by the stack's tags, each
//! endpoint's service says which it is.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::json;

use super::toolkit::request_token;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource, shared};
use crate::aws::ec2::{NewVpcEndpoint, Tag, VpcEndpoint, VpcEndpointChanges};
use crate::aws::errors::AwsContext;
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::{EndpointService, Spec};

pub struct InterfaceEndpoints;

const KIND: &str = "vpc-endpoints";
const INTERFACE: &str = "Interface";

/// One endpoint as AWS has it, in comparable form.
#[derive(Debug, Clone, PartialEq)]
struct Endpoint {
    id: String,
    vpc: String,
    subnets: Vec<String>,
    security_groups: Vec<String>,
    state: String,
}

/// The stack's endpoints by service name (`com.amazonaws.<region>.ssm`).
type Live = BTreeMap<String, Endpoint>;

/// What the spec asks of every endpoint.
struct Wanted {
    services: Vec<String>,
    vpc: String,
    subnets: Vec<String>,
    security_groups: Vec<String>,
}

fn is_ours(endpoint: &VpcEndpoint, stack: &str) -> bool {
    let tagged = |key: &str, value: &str| {
        endpoint
            .tags
            .iter()
            .any(|t| t.key == key && t.value == value)
    };
    endpoint.kind == INTERFACE
        && tagged(tags::STACK, stack)
        && tagged(tags::COMPONENT, Key::InterfaceEndpoints.as_str())
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

fn wanted(cx: &Context, deps: &Deps<'_>) -> Result<Wanted> {
    let region = &cx.spec.region;
    Ok(Wanted {
        services: cx
            .spec
            .network
            .interface_endpoints
            .iter()
            .map(|s| s.service_name(region))
            .collect(),
        vpc: deps.id(Key::Network)?.to_string(),
        subnets: sorted(
            deps.endpoint_subnets()?
                .into_iter()
                .map(String::from)
                .collect(),
        ),
        security_groups: vec![deps.id(Key::SgEndpoints)?.to_string()],
    })
}

/// The changes from `live` to `want`: services to add or remove, and per kept endpoint its
/// subnets and security groups. Endpoints in another VPC are replaced, all of them.
fn diff_endpoints(live: &Live, want: &Wanted) -> Vec<Change> {
    if let Some(moved) = live.values().find(|e| e.vpc != want.vpc) {
        return vec![Change::new("vpc", &moved.vpc, &want.vpc).replacing()];
    }
    let mut diff = Diff::new();
    let live_services: Vec<String> = live.keys().cloned().collect();
    diff.list("services", &live_services, &sorted(want.services.clone()));
    for service in &want.services {
        let Some(endpoint) = live.get(service) else {
            continue;
        };
        let short = service.rsplit('.').next().unwrap_or(service);
        diff.list(
            &format!("{short}.subnets"),
            &endpoint.subnets,
            &want.subnets,
        );
        diff.list(
            &format!("{short}.security_groups"),
            &endpoint.security_groups,
            &want.security_groups,
        );
    }
    diff.into_changes()
}

/// What is in `a` and not in `b`.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

impl InterfaceEndpoints {
    /// Private DNS answers only in a VPC with DNS support and DNS hostnames on.
    async fn check_dns(&self, cx: &Context, vpc: &str) -> Result<()> {
        for attribute in ["enableDnsSupport", "enableDnsHostnames"] {
            let on = cx.clients.ec2.vpc_attribute(vpc, attribute).await.context(
                "reading the DNS settings of",
                "vpc",
                vpc,
            )?;
            if !on {
                return Err(Error::fixable(
                    format!(
                        "VPC {vpc} has {attribute} off; interface endpoints with private DNS \
                         need it on"
                    ),
                    format!(
                        "turn it on with `aws ec2 modify-vpc-attribute --vpc-id {vpc} \
                         --{} `, or remove `network.interface_endpoints`",
                        if attribute == "enableDnsSupport" {
                            "enable-dns-support"
                        } else {
                            "enable-dns-hostnames"
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Creates the endpoint of `service` and waits until it is available.
    async fn create_one(&self, cx: &Context, want: &Wanted, service: &str) -> Result<()> {
        let name = format!(
            "{}-{}",
            self.name(cx),
            service.rsplit('.').next().unwrap_or("")
        );
        let tag_list = tags::sdk(&cx.spec, self.key().as_str(), &name, Tag::new);
        let endpoint = cx
            .clients
            .ec2
            .create_vpc_endpoint(&NewVpcEndpoint {
                vpc_id: &want.vpc,
                service_name: service,
                kind: INTERFACE,
                subnets: &want.subnets,
                security_groups: &want.security_groups,
                tags: &tag_list,
                client_token: &request_token(),
                ..NewVpcEndpoint::default()
            })
            .await
            .context("creating", "vpc-endpoint", &name)?;
        shared::ec2::wait_endpoint_available(cx, self, &endpoint.id).await
    }
}

#[async_trait]
impl Resource for InterfaceEndpoints {
    fn key(&self) -> Key {
        Key::InterfaceEndpoints
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-endpoints", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Network, Key::SgEndpoints]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        !spec.network.interface_endpoints.is_empty()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let reads = cx.reads();
        let live: Live = shared::ec2::vpc_endpoints(cx, &reads)
            .await?
            .iter()
            .filter(|e| is_ours(e, &cx.spec.stack))
            .map(|e| {
                let endpoint = Endpoint {
                    id: e.id.clone(),
                    vpc: e.vpc_id.clone(),
                    subnets: sorted(e.subnets.clone()),
                    security_groups: sorted(e.security_groups.clone()),
                    state: e.state.clone(),
                };
                (e.service_name.clone(), endpoint)
            })
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        Ok(Some(Observed::new(Found::new(self.name(cx)), live)))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        Ok(diff_endpoints(live, &wanted(cx, deps)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let live: &Live = observed.live()?;
        let want = wanted(cx, deps)?;
        let extra: Vec<&str> = live
            .iter()
            .filter(|(service, _)| !want.services.contains(service))
            .map(|(_, e)| e.id.as_str())
            .collect();
        if !extra.is_empty() {
            shared::ec2::delete_vpc_endpoints(cx, self, &extra).await?;
        }
        let missing: Vec<&String> = want
            .services
            .iter()
            .filter(|s| !live.contains_key(*s))
            .collect();
        if !missing.is_empty() {
            self.check_dns(cx, &want.vpc).await?;
        }
        for service in missing {
            self.create_one(cx, &want, service).await?;
        }
        for (service, endpoint) in live.iter().filter(|(s, _)| want.services.contains(s)) {
            let changes = VpcEndpointChanges {
                add_subnets: &minus(&want.subnets, &endpoint.subnets),
                remove_subnets: &minus(&endpoint.subnets, &want.subnets),
                add_security_groups: &minus(&want.security_groups, &endpoint.security_groups),
                remove_security_groups: &minus(&endpoint.security_groups, &want.security_groups),
                ..VpcEndpointChanges::default()
            };
            if changes == VpcEndpointChanges::default() {
                continue;
            }
            cx.clients
                .ec2
                .modify_vpc_endpoint(&endpoint.id, &changes)
                .await
                .context("changing", "vpc-endpoint", service)?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let want = wanted(cx, deps)?;
        self.check_dns(cx, &want.vpc).await?;
        for service in &want.services {
            self.create_one(cx, &want, service).await?;
        }
        Ok(Found::new(self.name(cx)))
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let available = live.values().filter(|e| e.state == "available").count();
        let wanted: Vec<String> = EndpointService::ALL
            .iter()
            .filter(|s| cx.spec.network.interface_endpoints.contains(s))
            .map(|s| s.as_str().to_string())
            .collect();
        let details = json!({
            "endpoints": live
                .iter()
                .map(|(service, e)| json!({
                    "service": service,
                    "id": e.id,
                    "state": e.state,
                    "subnet_ids": e.subnets,
                }))
                .collect::<Vec<_>>(),
            "wanted": wanted,
        });
        let state = format!("{available}/{} available", live.len());
        Ok(if available == live.len() {
            Health::ok(state, details)
        } else {
            Health::unhealthy(state, details)
        })
    }

    async fn delete(&self, cx: &Context, _found: &Found) -> Result<()> {
        // The ids come from a fresh read: `found` names the set, not its members.
        let ids: Vec<String> = cx
            .clients
            .ec2
            .describe_vpc_endpoints(
                &[],
                &[
                    crate::aws::ec2::Filter::new(
                        &format!("tag:{}", tags::STACK),
                        [cx.spec.stack.as_str()],
                    ),
                    crate::aws::ec2::Filter::new(
                        &format!("tag:{}", tags::COMPONENT),
                        [Key::InterfaceEndpoints.as_str()],
                    ),
                ],
            )
            .await
            .context("looking up", KIND, &self.name(cx))?
            .into_iter()
            .filter(|e| is_ours(e, &cx.spec.stack) && !shared::ec2::ended(&e.state))
            .map(|e| e.id)
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        shared::ec2::delete_vpc_endpoints(cx, self, &ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(vpc: &str, subnets: &[&str]) -> Endpoint {
        Endpoint {
            id: "vpce-1".into(),
            vpc: vpc.into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            security_groups: vec!["sg-e".into()],
            state: "available".into(),
        }
    }

    fn want(services: &[&str]) -> Wanted {
        Wanted {
            services: services
                .iter()
                .map(|s| format!("com.amazonaws.r.{s}"))
                .collect(),
            vpc: "vpc-1".into(),
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-e".into()],
        }
    }

    #[test]
    fn services_and_subnets_that_differ_are_named() {
        let live = Live::from([
            (
                "com.amazonaws.r.logs".into(),
                endpoint("vpc-1", &["subnet-a"]),
            ),
            (
                "com.amazonaws.r.ssm".into(),
                endpoint("vpc-1", &["subnet-a", "subnet-b"]),
            ),
        ]);
        assert!(diff_endpoints(&live, &want(&["ssm", "logs"])).len() == 1);
        let changes = diff_endpoints(&live, &want(&["ssm", "monitoring"]));
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["services"]);
        let subnets = diff_endpoints(&live, &want(&["logs", "ssm"]));
        assert_eq!(subnets[0].field, "logs.subnets");
    }

    #[test]
    fn endpoints_in_another_vpc_are_replaced() {
        let live = Live::from([(
            "com.amazonaws.r.ssm".into(),
            endpoint("vpc-0", &["subnet-a"]),
        )]);
        let changes = diff_endpoints(&live, &want(&["ssm"]));
        assert!(changes.len() == 1 && changes[0].replace, "{changes:?}");
    }
}
