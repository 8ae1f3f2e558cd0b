//! The Auto Scaling group: sizes from the spec, the stack's subnets, the target group
//! attached, ELB health checks after a grace period, tags propagated to instances.
//!
//! Desired capacity belongs to the scaling policy once the group runs, so `up` only resets it
//! when the spec's `desired` itself changed (remembered in the `modu:desired` tag) or when it
//! falls outside min..max; otherwise every `up` would undo a scale-out in the middle of a spike.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup as AwsGroup, LaunchTemplateSpecification, LifecycleState, Tag,
};
use serde_json::json;

use super::network::subnet_ids;
use super::{Context, Deps, Found, Health, Resource, aws_int, ensure_owned};
use crate::aws::errors::AwsContext;
use crate::aws::tags;
use crate::aws::wait::Poll;
use crate::error::{Error, Result};

pub struct AutoScalingGroup;

const KIND: &str = "auto-scaling-group";
/// The spec's `desired` as last applied.
const DESIRED_TAG: &str = "modu:desired";
const LAUNCH_VERSION: &str = "$Latest";

fn in_service(group: &AwsGroup) -> usize {
    group
        .instances()
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
        .count()
}

impl AutoScalingGroup {
    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsGroup>> {
        let out = cx
            .clients
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .context("looking up", KIND, name)?;
        Ok(out
            .auto_scaling_groups
            .unwrap_or_default()
            .into_iter()
            .next())
    }

    fn tags(&self, cx: &Context, name: &str) -> Vec<Tag> {
        let mut list: Vec<Tag> = tags::for_resource(&cx.spec, self.key(), name)
            .into_iter()
            .map(|(k, v)| {
                Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key(k)
                    .value(v)
                    .propagate_at_launch(true)
                    .build()
            })
            .collect();
        list.push(
            Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(DESIRED_TAG)
                .value(cx.spec.compute.desired.to_string())
                .propagate_at_launch(false)
                .build(),
        );
        list
    }

    async fn wait_in_service(&self, cx: &Context, name: &str, want: usize) -> Result<()> {
        cx.wait_for(self, "for instances in service", || async {
            let Some(group) = self.describe(cx, name).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            let ready = in_service(&group);
            Ok(if ready >= want {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{ready}/{want} in service"))
            })
        })
        .await
    }
}

#[async_trait]
impl Resource for AutoScalingGroup {
    fn key(&self) -> &'static str {
        "asg"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-asg", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        // After the listener: instances should register with a target group that already
        // receives traffic, so their first health checks are meaningful.
        vec!["network", "launch-template", "target-group", "listener"]
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        let Some(group) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        ensure_owned(
            cx,
            format!("auto scaling group {name}"),
            group
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        )?;
        Ok(Some(Found::new(&name).with(
            "arn",
            group.auto_scaling_group_arn().unwrap_or_default(),
        )))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let compute = &cx.spec.compute;
        cx.clients
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(deps.id("launch-template")?)
                    .version(LAUNCH_VERSION)
                    .build(),
            )
            .min_size(aws_int(compute.min))
            .max_size(aws_int(compute.max))
            .desired_capacity(aws_int(compute.desired))
            .vpc_zone_identifier(subnet_ids(deps)?.join(","))
            .target_group_arns(deps.id("target-group")?)
            .health_check_type("ELB")
            .health_check_grace_period(aws_int(compute.health_check_grace))
            .set_tags(Some(self.tags(cx, &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        self.wait_in_service(cx, &name, compute.desired as usize)
            .await?;
        let found = self.find(cx, deps).await?;
        found.ok_or_else(|| {
            Error::precondition(
                format!("auto scaling group {name} vanished after creation"),
                "run `modu up` again",
            )
        })
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let name = self.name(cx);
        let Some(group) = self.describe(cx, &name).await? else {
            return Err(Error::precondition(
                format!("auto scaling group {name} disappeared while converging"),
                "run `modu up` again",
            ));
        };
        let compute = &cx.spec.compute;
        let (min, max) = (aws_int(compute.min), aws_int(compute.max));
        let mut update = cx
            .clients
            .autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(&name);
        let mut changes = Vec::new();

        if group.min_size() != Some(min) {
            changes.push(format!(
                "min {} -> {min}",
                group.min_size().unwrap_or_default()
            ));
            update = update.min_size(min);
        }
        if group.max_size() != Some(max) {
            changes.push(format!(
                "max {} -> {max}",
                group.max_size().unwrap_or_default()
            ));
            update = update.max_size(max);
        }
        let last_applied = group
            .tags()
            .iter()
            .find(|t| t.key() == Some(DESIRED_TAG))
            .and_then(|t| t.value())
            .and_then(|v| v.parse::<u32>().ok());
        let current_desired = group.desired_capacity().unwrap_or_default();
        let spec_changed = last_applied != Some(compute.desired);
        let out_of_range = current_desired < min || current_desired > max;
        if (spec_changed || out_of_range) && current_desired != aws_int(compute.desired) {
            changes.push(format!("desired {current_desired} -> {}", compute.desired));
            update = update.desired_capacity(aws_int(compute.desired));
        }
        if group.health_check_type() != Some("ELB") {
            changes.push("health check type -> ELB".into());
            update = update.health_check_type("ELB");
        }
        if group.health_check_grace_period() != Some(aws_int(compute.health_check_grace)) {
            changes.push(format!(
                "health check grace -> {}s",
                compute.health_check_grace
            ));
            update = update.health_check_grace_period(aws_int(compute.health_check_grace));
        }
        let template = deps.id("launch-template")?;
        let current_template = group.launch_template();
        if current_template.and_then(|t| t.launch_template_id()) != Some(template)
            || current_template.and_then(|t| t.version()) != Some(LAUNCH_VERSION)
        {
            changes.push("launch template".into());
            update = update.launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(template)
                    .version(LAUNCH_VERSION)
                    .build(),
            );
        }
        let want_subnets: BTreeSet<&str> = subnet_ids(deps)?.into_iter().collect();
        let have_subnets: BTreeSet<&str> = group
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .collect();
        if want_subnets != have_subnets {
            changes.push("subnets".into());
            update = update
                .vpc_zone_identifier(want_subnets.iter().copied().collect::<Vec<_>>().join(","));
        }
        if !changes.is_empty() {
            update.send().await.context("updating", KIND, &name)?;
        }

        let target_group = deps.id("target-group")?;
        if !group
            .target_group_arns()
            .iter()
            .any(|arn| arn == target_group)
        {
            cx.clients
                .autoscaling
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(&name)
                .target_group_arns(target_group)
                .send()
                .await
                .context("attaching the target group to", KIND, &name)?;
            changes.push("target group attached".into());
        }

        let current_tags: std::collections::BTreeMap<String, String> = group
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let stale: Vec<Tag> = self
            .tags(cx, &name)
            .into_iter()
            .filter(|t| {
                current_tags
                    .get(t.key().unwrap_or_default())
                    .map(String::as_str)
                    != t.value()
            })
            .collect();
        if !stale.is_empty() {
            // The `modu:desired` bookmark usually moves with a desired change listed above.
            if changes.is_empty() || stale.iter().any(|t| t.key() != Some(DESIRED_TAG)) {
                changes.push("tags".into());
            }
            cx.clients
                .autoscaling
                .create_or_update_tags()
                .set_tags(Some(stale))
                .send()
                .await
                .context("tagging", KIND, &found.id)?;
        }
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let Some(group) = self.describe(cx, &found.id).await? else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let ready = in_service(&group);
        let min = group.min_size().unwrap_or_default();
        let max = group.max_size().unwrap_or_default();
        let desired = group.desired_capacity().unwrap_or_default();
        Ok(Health {
            healthy: ready as i32 >= min && group.status().is_none(),
            state: format!("{ready} in service of min {min}/max {max} (desired {desired})"),
            details: json!({
                "in_service": ready,
                "instances": group.instances().len(),
                "min": min,
                "max": max,
                "desired": desired,
                "target_group_arns": group.target_group_arns(),
                "health_check_type": group.health_check_type(),
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let name = &found.id;
        if self.describe(cx, name).await?.is_none() {
            return Ok(());
        }
        // Scale to zero first and wait, so instances drain from the target group before the
        // launch template and security groups they use are deleted.
        cx.clients
            .autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(0)
            .max_size(0)
            .desired_capacity(0)
            .send()
            .await
            .context("scaling to zero", KIND, name)?;
        cx.wait_for(self, "to scale to zero", || async {
            Ok(match self.describe(cx, name).await? {
                None => Poll::Ready(()),
                Some(group) if group.instances().is_empty() => Poll::Ready(()),
                Some(group) => {
                    Poll::Pending(format!("{} instances terminating", group.instances().len()))
                }
            })
        })
        .await?;
        cx.clients
            .autoscaling
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .send()
            .await
            .context("deleting", KIND, name)?;
        cx.wait_for(self, "to be deleted", || async {
            Ok(match self.describe(cx, name).await? {
                None => Poll::Ready(()),
                Some(group) => Poll::Pending(group.status().unwrap_or("deleting").to_string()),
            })
        })
        .await
    }
}
