//! The Application Load Balancer: internet-facing, in the stack's subnets, behind the load
//! balancer security group.
//!
//! Subnets and security groups converge in place. Creation waits until the balancer is
//! `active`; deletion waits until AWS no longer knows it, since its network interfaces keep
//! the security group busy until then.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer as AwsLoadBalancer, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use serde_json::json;

use super::shared::elbv2;
use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource, ensure_owned,
    touches,
};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::wait::Poll;
use crate::error::{Error, Result};

pub struct LoadBalancer;

const KIND: &str = "load-balancer";

/// The deterministic name (also read by the target group for the shared ELBv2 lookup).
pub(crate) fn name(cx: &Context) -> String {
    format!("{}-lb", cx.spec.stack)
}

/// What modu owns on a load balancer, plus its state for `status`.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    subnets: Vec<String>,
    security_groups: Vec<String>,
    state: String,
    scheme: String,
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

fn live_of(lb: &AwsLoadBalancer) -> Live {
    Live {
        subnets: sorted(
            lb.availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id())
                .map(String::from)
                .collect(),
        ),
        security_groups: sorted(lb.security_groups().to_vec()),
        state: lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        scheme: lb
            .scheme()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    }
}

fn diff_live(live: &Live, subnets: &[String], security_group: &str) -> Vec<Change> {
    let mut diff = Diff::new();
    diff.list("subnets", &live.subnets, &sorted(subnets.to_vec()));
    diff.list(
        "security_groups",
        &live.security_groups,
        &[security_group.to_string()],
    );
    diff.into_changes()
}

fn found(name: &str, lb: &AwsLoadBalancer) -> Found {
    Found::new(lb.load_balancer_arn().unwrap_or_default()).with(Outputs::LoadBalancer {
        name: name.into(),
        dns_name: lb.dns_name().unwrap_or_default().into(),
        hosted_zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().into(),
    })
}

impl LoadBalancer {
    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsLoadBalancer>> {
        Ok(cx
            .clients
            .elbv2
            .describe_load_balancers()
            .names(name)
            .send()
            .await
            .or_absent(&["LoadBalancerNotFound"], "looking up", KIND, name)?
            .and_then(|out| out.load_balancers.unwrap_or_default().into_iter().next()))
    }

    async fn wait_active(&self, cx: &Context, name: &str) -> Result<AwsLoadBalancer> {
        cx.wait_for(self, "to become active", || async {
            let Some(lb) = self.describe(cx, name).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            let state = lb.state().and_then(|s| s.code()).cloned();
            match state {
                Some(LoadBalancerStateEnum::Active) => Ok(Poll::Ready(lb)),
                Some(LoadBalancerStateEnum::Failed) => Err(Error::fixable(
                    format!(
                        "load balancer {name} failed to provision: {}",
                        lb.state().and_then(|s| s.reason()).unwrap_or("no reason given")
                    ),
                    "check the subnets and security group in the AWS console, then run `modu up` again",
                )),
                other => Ok(Poll::Pending(
                    other
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "unknown".into()),
                )),
            }
        })
        .await
    }
}

#[async_trait]
impl Resource for LoadBalancer {
    fn key(&self) -> Key {
        Key::LoadBalancer
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        name(cx)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Network, Key::SgLb]
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = name(cx);
        let reads = cx.reads();
        let view = elbv2::view(cx, &reads, &super::target_group::name(cx), &name).await?;
        let Some(lb) = &view.load_balancer else {
            return Ok(None);
        };
        ensure_owned(
            cx,
            format!("load balancer {name}"),
            view.tags_of(lb.load_balancer_arn().unwrap_or_default()),
        )?;
        Ok(Some(Observed::new(found(&name, lb), live_of(lb))))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let subnets: Vec<String> = deps
            .public_subnets()?
            .into_iter()
            .map(String::from)
            .collect();
        Ok(diff_live(observed.live()?, &subnets, deps.id(Key::SgLb)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let arn = &observed.found.id;
        if touches(changes, "subnets") {
            let subnets: Vec<String> = deps
                .public_subnets()?
                .into_iter()
                .map(String::from)
                .collect();
            cx.clients
                .elbv2
                .set_subnets()
                .load_balancer_arn(arn)
                .set_subnets(Some(subnets))
                .send()
                .await
                .context("setting subnets of", KIND, arn)?;
        }
        if touches(changes, "security_groups") {
            cx.clients
                .elbv2
                .set_security_groups()
                .load_balancer_arn(arn)
                .security_groups(deps.id(Key::SgLb)?)
                .send()
                .await
                .context("setting security groups of", KIND, arn)?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = name(cx);
        cx.clients
            .elbv2
            .create_load_balancer()
            .name(&name)
            .set_subnets(Some(
                deps.public_subnets()?
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ))
            .security_groups(deps.id(Key::SgLb)?)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .r#type(LoadBalancerTypeEnum::Application)
            .ip_address_type(IpAddressType::Ipv4)
            .set_tags(Some(elbv2::tag_list(cx, self.key().as_str(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let lb = self.wait_active(cx, &name).await?;
        Ok(found(&name, &lb))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let dns = match &observed.found.outputs {
            Outputs::LoadBalancer { dns_name, .. } => dns_name.as_str(),
            _ => "",
        };
        Ok(Health {
            healthy: live.state == "active",
            state: live.state.clone(),
            details: json!({
                "dns_name": dns,
                "scheme": live.scheme,
                "subnets": live.subnets,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        cx.clients
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(&found.id)
            .send()
            .await
            .or_gone(&["LoadBalancerNotFound"], KIND, &found.id)?;
        let name = name(cx);
        cx.wait_gone(self, || async {
            Ok(self.describe(cx, &name).await?.map(|lb| {
                let state = live_of(&lb).state;
                if state.is_empty() {
                    "deleting".to_string()
                } else {
                    state
                }
            }))
        })
        .await
    }

    fn stack_outputs(&self, cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        let Outputs::LoadBalancer { dns_name: dns, .. } = &found.outputs else {
            return Vec::new();
        };
        let lb = &cx.spec.load_balancer;
        let url = match (lb.certificate_arn.is_some(), lb.port) {
            (false, 80) => format!("http://{dns}/"),
            (false, port) => format!("http://{dns}:{port}/"),
            (true, 443) => format!("https://{dns}/"),
            (true, port) => format!("https://{dns}:{port}/"),
        };
        vec![("load_balancer_url", url)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Live {
        Live {
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-1".into()],
            state: "active".into(),
            scheme: "internet-facing".into(),
        }
    }

    #[test]
    fn subnet_order_does_not_matter() {
        let subnets = vec!["subnet-b".to_string(), "subnet-a".to_string()];
        assert!(diff_live(&live(), &subnets, "sg-1").is_empty());
    }

    #[test]
    fn new_subnets_and_groups_are_changes() {
        let subnets = vec!["subnet-a".to_string(), "subnet-c".to_string()];
        let changes = diff_live(&live(), &subnets, "sg-2");
        assert_eq!(
            changes,
            vec![
                Change::new("subnets", "subnet-a,subnet-b", "subnet-a,subnet-c"),
                Change::new("security_groups", "sg-1", "sg-2"),
            ]
        );
    }
}
