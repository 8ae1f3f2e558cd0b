//! The target-tracking scaling policy: keep the group's average CPU at `cpu_target`.
//!
//! `PutScalingPolicy` on an existing name updates it in place (same ARN), which is how the
//! target converges. AWS creates and deletes the policy's two CloudWatch alarms itself.

use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalingPolicy as AwsPolicy,
    TargetTrackingConfiguration,
};
use serde_json::json;

use super::{Context, Deps, Found, Health, Resource, aws_int};
use crate::aws::errors::AwsContext;
use crate::error::Result;

pub struct ScalingPolicy;

const KIND: &str = "scaling-policy";
const POLICY_TYPE: &str = "TargetTrackingScaling";

impl ScalingPolicy {
    async fn describe(&self, cx: &Context, group: &str) -> Result<Option<AwsPolicy>> {
        let name = self.name(cx);
        let out = cx
            .clients
            .autoscaling
            .describe_policies()
            .auto_scaling_group_name(group)
            .policy_names(&name)
            .send()
            .await
            .context("looking up", KIND, &name)?;
        Ok(out.scaling_policies.unwrap_or_default().into_iter().next())
    }

    async fn put(&self, cx: &Context, group: &str) -> Result<String> {
        let name = self.name(cx);
        let out = cx
            .clients
            .autoscaling
            .put_scaling_policy()
            .auto_scaling_group_name(group)
            .policy_name(&name)
            .policy_type(POLICY_TYPE)
            .estimated_instance_warmup(aws_int(cx.spec.compute.health_check_grace))
            .target_tracking_configuration(
                TargetTrackingConfiguration::builder()
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(MetricType::AsgAverageCpuUtilization)
                            .build(),
                    )
                    .target_value(cx.spec.compute.cpu_target)
                    .disable_scale_in(false)
                    .build(),
            )
            .send()
            .await
            .context("putting", KIND, &name)?;
        Ok(out.policy_arn().unwrap_or_default().to_string())
    }
}

/// What the policy tracks, as (metric, target).
fn tracking(policy: &AwsPolicy) -> (Option<&MetricType>, Option<f64>) {
    let config = policy.target_tracking_configuration();
    (
        config
            .and_then(|c| c.predefined_metric_specification())
            .and_then(|m| m.predefined_metric_type()),
        config.and_then(|c| c.target_value()),
    )
}

#[async_trait]
impl Resource for ScalingPolicy {
    fn key(&self) -> &'static str {
        "scaling-policy"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-cpu", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["asg"]
    }

    async fn find(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Found>> {
        let Some(group) = deps.get("asg") else {
            return Ok(None);
        };
        Ok(self
            .describe(cx, &group.id)
            .await?
            .map(|p| Found::new(p.policy_arn().unwrap_or_default()).with("group", &group.id)))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let group = deps.id("asg")?;
        let arn = self.put(cx, group).await?;
        Ok(Found::new(arn).with("group", group))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, _found: &Found) -> Result<Vec<String>> {
        let group = deps.id("asg")?;
        let current = self.describe(cx, group).await?;
        let want = cx.spec.compute.cpu_target;
        let mut changes = Vec::new();
        match &current {
            None => changes.push("recreated".to_string()),
            Some(policy) => {
                if policy.policy_type() != Some(POLICY_TYPE) {
                    changes.push(format!(
                        "type {} -> {POLICY_TYPE}",
                        policy.policy_type().unwrap_or("?")
                    ));
                }
                let (metric, target) = tracking(policy);
                if metric != Some(&MetricType::AsgAverageCpuUtilization) {
                    changes.push("metric -> ASGAverageCPUUtilization".into());
                }
                if target.is_none_or(|t| (t - want).abs() > f64::EPSILON) {
                    changes.push(format!(
                        "CPU target {}% -> {want}%",
                        target.unwrap_or_default()
                    ));
                }
                // AWS documents `Enabled` as true unless disabled; an absent flag means enabled.
                if policy.enabled() == Some(false) {
                    changes.push("enabled".into());
                }
            }
        }
        if !changes.is_empty() {
            self.put(cx, group).await?;
        }
        Ok(changes)
    }

    async fn health(&self, cx: &Context, deps: &Deps<'_>, _found: &Found) -> Result<Health> {
        let group = deps.id("asg")?;
        let Some(policy) = self.describe(cx, group).await? else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let (metric, target) = tracking(&policy);
        let enabled = policy.enabled() != Some(false);
        Ok(Health {
            healthy: enabled,
            state: format!(
                "CPU {}%{}",
                target.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
                if enabled { "" } else { " (disabled)" }
            ),
            details: json!({
                "policy_type": policy.policy_type(),
                "metric": metric.map(|m| m.as_str()),
                "target_value": target,
                "enabled": enabled,
                "alarms": policy.alarms().iter().filter_map(|a| a.alarm_name()).collect::<Vec<_>>(),
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let Some(group) = found.output("group") else {
            return Ok(());
        };
        // Already gone with its group, or by hand: nothing to do.
        if self.describe(cx, group).await?.is_none() {
            return Ok(());
        }
        cx.clients
            .autoscaling
            .delete_policy()
            .auto_scaling_group_name(group)
            .policy_name(self.name(cx))
            .send()
            .await
            .context("deleting", KIND, &found.id)?;
        Ok(())
    }
}
