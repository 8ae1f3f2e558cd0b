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

use super::network::subnet_ids;
use super::target_group::{check_owned, elb_tag_list};
use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::{self, AwsContext};
use crate::aws::wait::Poll;
use crate::error::{Error, Result};

pub struct LoadBalancer;

const KIND: &str = "load-balancer";

impl LoadBalancer {
    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsLoadBalancer>> {
        let result = cx
            .clients
            .elbv2
            .describe_load_balancers()
            .names(name)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["LoadBalancerNotFound"]) => Ok(None),
            other => Ok(other
                .context("looking up", KIND, name)?
                .load_balancers
                .unwrap_or_default()
                .into_iter()
                .next()),
        }
    }

    fn found(name: &str, lb: &AwsLoadBalancer) -> Found {
        Found::new(lb.load_balancer_arn().unwrap_or_default())
            .with("name", name)
            .with("dns_name", lb.dns_name().unwrap_or_default())
            .with(
                "hosted_zone_id",
                lb.canonical_hosted_zone_id().unwrap_or_default(),
            )
    }

    async fn wait_active(&self, cx: &Context, name: &str) -> Result<AwsLoadBalancer> {
        cx.wait_for(self, "to become active", || async {
            let Some(lb) = self.describe(cx, name).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            let state = lb.state().and_then(|s| s.code()).cloned();
            match state {
                Some(LoadBalancerStateEnum::Active) => Ok(Poll::Ready(lb)),
                Some(LoadBalancerStateEnum::Failed) => Err(Error::precondition(
                    format!(
                        "load balancer {name} failed to provision: {}",
                        lb.state().and_then(|s| s.reason()).unwrap_or("no reason given")
                    ),
                    "check the subnets and security group in the AWS console, then run `modu up` again",
                )),
                other => Ok(Poll::Pending(other.map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into()))),
            }
        })
        .await
    }
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

#[async_trait]
impl Resource for LoadBalancer {
    fn key(&self) -> &'static str {
        "load-balancer"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-lb", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["network", "sg-lb"]
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        let Some(lb) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        check_owned(cx, lb.load_balancer_arn().unwrap_or_default(), KIND, &name).await?;
        Ok(Some(Self::found(&name, &lb)))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        cx.clients
            .elbv2
            .create_load_balancer()
            .name(&name)
            .set_subnets(Some(
                subnet_ids(deps)?.into_iter().map(String::from).collect(),
            ))
            .security_groups(deps.id("sg-lb")?)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .r#type(LoadBalancerTypeEnum::Application)
            .ip_address_type(IpAddressType::Ipv4)
            .set_tags(Some(elb_tag_list(cx, self.key(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let lb = self.wait_active(cx, &name).await?;
        Ok(Self::found(&name, &lb))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let name = self.name(cx);
        let Some(lb) = self.describe(cx, &name).await? else {
            return Err(Error::precondition(
                format!("load balancer {name} disappeared while converging"),
                "run `modu up` again",
            ));
        };
        let mut changes = Vec::new();
        let want_subnets = sorted(subnet_ids(deps)?.into_iter().map(String::from).collect());
        let have_subnets = sorted(
            lb.availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id())
                .map(String::from)
                .collect(),
        );
        if want_subnets != have_subnets {
            cx.clients
                .elbv2
                .set_subnets()
                .load_balancer_arn(&found.id)
                .set_subnets(Some(want_subnets.clone()))
                .send()
                .await
                .context("setting subnets of", KIND, &name)?;
            changes.push(format!("subnets -> {}", want_subnets.join(",")));
        }
        let want_groups = vec![deps.id("sg-lb")?.to_string()];
        if sorted(lb.security_groups().to_vec()) != want_groups {
            cx.clients
                .elbv2
                .set_security_groups()
                .load_balancer_arn(&found.id)
                .set_security_groups(Some(want_groups.clone()))
                .send()
                .await
                .context("setting security groups of", KIND, &name)?;
            changes.push(format!("security groups -> {}", want_groups.join(",")));
        }
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let name = self.name(cx);
        let Some(lb) = self.describe(cx, &name).await? else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let state = lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
        Ok(Health {
            healthy: state == "active",
            state: state.clone(),
            details: json!({
                "dns_name": found.output("dns_name"),
                "scheme": lb.scheme().map(|s| s.as_str()),
                "subnets": lb.availability_zones().iter().filter_map(|z| z.subnet_id()).collect::<Vec<_>>(),
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let result = cx
            .clients
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(&found.id)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["LoadBalancerNotFound"]) => return Ok(()),
            other => other.context("deleting", KIND, &found.id)?,
        };
        let name = self.name(cx);
        cx.wait_for(self, "to be deleted", || async {
            Ok(match self.describe(cx, &name).await? {
                None => Poll::Ready(()),
                Some(lb) => Poll::Pending(
                    lb.state()
                        .and_then(|s| s.code())
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_else(|| "deleting".into()),
                ),
            })
        })
        .await
    }

    fn stack_outputs(&self, cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        let dns = found.output("dns_name").unwrap_or_default();
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
