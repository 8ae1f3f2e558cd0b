//! The target group: HTTP to the app's port on each instance, the spec's health check, and
//! the load-balancing algorithm (`load_balancing.algorithm.type`).
//!
//! Health check, algorithm and deregistration delay converge in place; port and VPC cannot
//! change on an existing target group, so a change there is refused with a clear message.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, Tag, TargetGroup as AwsTargetGroup, TargetGroupAttribute,
    TargetHealthStateEnum, TargetTypeEnum,
};
use serde_json::json;

use super::{Context, Deps, Found, Health, Resource, aws_int, ensure_owned};
use crate::aws::errors::{self, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};

pub struct TargetGroup;

const KIND: &str = "target-group";
const ALGORITHM: &str = "load_balancing.algorithm.type";
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

/// Reads an ELBv2 resource's tags (shared by the load balancer and listener modules).
pub(super) async fn elb_tags(
    cx: &Context,
    arn: &str,
    kind: &'static str,
) -> Result<BTreeMap<String, String>> {
    let out = cx
        .clients
        .elbv2
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .context("reading tags of", kind, arn)?;
    Ok(out
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// ELBv2 tags for a resource of the stack.
pub(super) fn elb_tag_list(cx: &Context, component: &str, name: &str) -> Vec<Tag> {
    tags::for_resource(&cx.spec, component, name)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Refuses to manage an ELBv2 resource of the right name that another stack (or a person) owns.
pub(super) async fn check_owned(
    cx: &Context,
    arn: &str,
    kind: &'static str,
    name: &str,
) -> Result<()> {
    let current = elb_tags(cx, arn, kind).await?;
    ensure_owned(
        cx,
        format!("{kind} {name}"),
        current.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

impl TargetGroup {
    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsTargetGroup>> {
        let result = cx
            .clients
            .elbv2
            .describe_target_groups()
            .names(name)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["TargetGroupNotFound"]) => Ok(None),
            other => Ok(other
                .context("looking up", KIND, name)?
                .target_groups
                .unwrap_or_default()
                .into_iter()
                .next()),
        }
    }

    fn desired_attributes(&self, cx: &Context) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            (
                ALGORITHM,
                cx.spec.load_balancer.algorithm.aws_value().to_string(),
            ),
            (
                DEREGISTRATION_DELAY,
                cx.spec.load_balancer.deregistration_delay.to_string(),
            ),
        ])
    }

    async fn set_attributes(
        &self,
        cx: &Context,
        arn: &str,
        attributes: &BTreeMap<&'static str, String>,
    ) -> Result<()> {
        if attributes.is_empty() {
            return Ok(());
        }
        cx.clients
            .elbv2
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(
                attributes
                    .iter()
                    .map(|(k, v)| TargetGroupAttribute::builder().key(*k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .context("setting attributes of", KIND, arn)?;
        Ok(())
    }

    async fn attributes(&self, cx: &Context, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = cx
            .clients
            .elbv2
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .context("reading attributes of", KIND, arn)?;
        Ok(out
            .attributes()
            .iter()
            .map(|a| {
                (
                    a.key().unwrap_or_default().to_string(),
                    a.value().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    /// What differs between the health check in AWS and in the spec.
    fn health_check_drift(&self, cx: &Context, group: &AwsTargetGroup) -> Vec<String> {
        let want = &cx.spec.load_balancer.health_check;
        let mut drift = Vec::new();
        let mut check = |field: &str, current: String, desired: String| {
            if current != desired {
                drift.push(format!("health check {field} {current} -> {desired}"));
            }
        };
        check(
            "path",
            group.health_check_path().unwrap_or_default().into(),
            want.path.clone(),
        );
        check(
            "interval",
            opt(group.health_check_interval_seconds()),
            want.interval.to_string(),
        );
        check(
            "timeout",
            opt(group.health_check_timeout_seconds()),
            want.timeout.to_string(),
        );
        check(
            "healthy threshold",
            opt(group.healthy_threshold_count()),
            want.healthy_threshold.to_string(),
        );
        check(
            "unhealthy threshold",
            opt(group.unhealthy_threshold_count()),
            want.unhealthy_threshold.to_string(),
        );
        check(
            "matcher",
            group
                .matcher()
                .and_then(|m| m.http_code())
                .unwrap_or_default()
                .into(),
            want.matcher.clone(),
        );
        drift
    }
}

fn opt(value: Option<i32>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

#[async_trait]
impl Resource for TargetGroup {
    fn key(&self) -> &'static str {
        "target-group"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-tg", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["network"]
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        let Some(group) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        let arn = group.target_group_arn().unwrap_or_default();
        check_owned(cx, arn, KIND, &name).await?;
        Ok(Some(Found::new(arn).with("name", name)))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let hc = &cx.spec.load_balancer.health_check;
        let out = cx
            .clients
            .elbv2
            .create_target_group()
            .name(&name)
            .protocol(ProtocolEnum::Http)
            .port(i32::from(cx.spec.compute.port))
            .vpc_id(deps.id("network")?)
            .target_type(TargetTypeEnum::Instance)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(aws_int(hc.interval))
            .health_check_timeout_seconds(aws_int(hc.timeout))
            .healthy_threshold_count(aws_int(hc.healthy_threshold))
            .unhealthy_threshold_count(aws_int(hc.unhealthy_threshold))
            .matcher(Matcher::builder().http_code(&hc.matcher).build())
            .set_tags(Some(elb_tag_list(cx, self.key(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .unwrap_or_default()
            .to_string();
        self.set_attributes(cx, &arn, &self.desired_attributes(cx))
            .await?;
        Ok(Found::new(arn).with("name", name))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let name = self.name(cx);
        let Some(group) = self.describe(cx, &name).await? else {
            return Err(Error::precondition(
                format!("target group {name} disappeared while converging"),
                "run `modu up` again",
            ));
        };
        let port = i32::from(cx.spec.compute.port);
        if group.port() != Some(port) || group.vpc_id() != Some(deps.id("network")?) {
            return Err(Error::precondition(
                format!(
                    "target group {name} forwards to port {} in {}, the spec asks for port {port} in {}",
                    opt(group.port()),
                    group.vpc_id().unwrap_or("?"),
                    deps.id("network")?
                ),
                "a target group's port and VPC cannot change in place: run `modu down` then `modu up` to replace it",
            ));
        }
        let mut changes = self.health_check_drift(cx, &group);
        if !changes.is_empty() {
            let hc = &cx.spec.load_balancer.health_check;
            cx.clients
                .elbv2
                .modify_target_group()
                .target_group_arn(&found.id)
                .health_check_path(&hc.path)
                .health_check_interval_seconds(aws_int(hc.interval))
                .health_check_timeout_seconds(aws_int(hc.timeout))
                .healthy_threshold_count(aws_int(hc.healthy_threshold))
                .unhealthy_threshold_count(aws_int(hc.unhealthy_threshold))
                .matcher(Matcher::builder().http_code(&hc.matcher).build())
                .send()
                .await
                .context("updating the health check of", KIND, &name)?;
        }
        let current = self.attributes(cx, &found.id).await?;
        let drifted: BTreeMap<&'static str, String> = self
            .desired_attributes(cx)
            .into_iter()
            .filter(|(k, v)| current.get(*k) != Some(v))
            .collect();
        changes.extend(drifted.iter().map(|(k, v)| format!("{k} -> {v}")));
        self.set_attributes(cx, &found.id, &drifted).await?;
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let out = cx
            .clients
            .elbv2
            .describe_target_health()
            .target_group_arn(&found.id)
            .send()
            .await
            .context("reading target health of", KIND, &found.id)?;
        let targets = out.target_health_descriptions();
        let healthy = targets
            .iter()
            .filter(|t| {
                t.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
            })
            .count();
        let attributes = self.attributes(cx, &found.id).await?;
        let algorithm = attributes.get(ALGORITHM).cloned().unwrap_or_default();
        Ok(Health {
            healthy: healthy > 0 && healthy == targets.len(),
            state: format!("targets healthy {healthy}/{}", targets.len()),
            details: json!({
                "targets": targets.len(),
                "healthy_targets": healthy,
                "algorithm": algorithm,
                "health_check_path": cx.spec.load_balancer.health_check.path,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        // A listener that was just deleted can keep the group "in use" for a moment.
        cx.retry_while(
            self,
            "to be released by its listener",
            |err| matches!(err, Error::Aws { code: Some(code), .. } if code == "ResourceInUse"),
            || async {
                let result = cx
                    .clients
                    .elbv2
                    .delete_target_group()
                    .target_group_arn(&found.id)
                    .send()
                    .await;
                match result {
                    Err(err) if errors::is_code(&err, &["TargetGroupNotFound"]) => Ok(()),
                    other => other.map(|_| ()).context("deleting", KIND, &found.id),
                }
            },
        )
        .await
    }
}
