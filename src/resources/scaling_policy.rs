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

use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource, aws_int,
};
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

/// The policy as AWS has it.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    policy_type: String,
    metric: String,
    target: f64,
    enabled: bool,
    alarms: Vec<String>,
}

fn live_of(policy: &AwsPolicy) -> Live {
    let config = policy.target_tracking_configuration();
    Live {
        policy_type: policy.policy_type().unwrap_or_default().to_string(),
        metric: config
            .and_then(|c| c.predefined_metric_specification())
            .and_then(|m| m.predefined_metric_type())
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
        target: config.and_then(|c| c.target_value()).unwrap_or_default(),
        // AWS documents `Enabled` as true unless disabled; an absent flag means enabled.
        enabled: policy.enabled() != Some(false),
        alarms: policy
            .alarms()
            .iter()
            .filter_map(|a| a.alarm_name())
            .map(String::from)
            .collect(),
    }
}

fn diff_policy(live: &Live, cpu_target: f64) -> Vec<Change> {
    let mut diff = Diff::new();
    diff.field("policy_type", live.policy_type.as_str(), POLICY_TYPE);
    diff.field(
        "metric",
        live.metric.as_str(),
        MetricType::AsgAverageCpuUtilization.as_str(),
    );
    if (live.target - cpu_target).abs() > f64::EPSILON {
        diff.push(Change::new("cpu_target", live.target, cpu_target));
    }
    diff.field("enabled", &live.enabled, &true);
    diff.into_changes()
}

#[async_trait]
impl Resource for ScalingPolicy {
    fn key(&self) -> Key {
        Key::ScalingPolicy
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-cpu", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Asg]
    }

    /// Found within the stack's own group (policies carry no tags), so it is the stack's.
    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(group) = deps.get(Key::Asg)? else {
            return Ok(None);
        };
        Ok(self.describe(cx, &group.id).await?.map(|policy| {
            Observed::new(
                found(policy.policy_arn().unwrap_or_default(), &group.id),
                live_of(&policy),
            )
        }))
    }

    fn diff(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_policy(observed.live()?, cx.spec.compute.cpu_target))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        _observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        self.put(cx, deps.id(Key::Asg)?).await.map(|_| ())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let group = deps.id(Key::Asg)?;
        let arn = self.put(cx, group).await?;
        Ok(found(&arn, group))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        Ok(Health {
            healthy: live.enabled,
            state: format!(
                "CPU {}%{}",
                live.target,
                if live.enabled { "" } else { " (disabled)" }
            ),
            details: json!({
                "policy_type": live.policy_type,
                "metric": live.metric,
                "target_value": live.target,
                "enabled": live.enabled,
                "alarms": live.alarms,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let Outputs::ScalingPolicy { group } = &found.outputs else {
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

fn found(arn: &str, group: &str) -> Found {
    Found::new(arn).with(Outputs::ScalingPolicy {
        group: group.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Live {
        Live {
            policy_type: POLICY_TYPE.into(),
            metric: "ASGAverageCPUUtilization".into(),
            target: 80.0,
            enabled: true,
            alarms: vec![],
        }
    }

    #[test]
    fn the_same_target_needs_nothing() {
        assert!(diff_policy(&live(), 80.0).is_empty());
    }

    #[test]
    fn a_new_target_or_a_disabled_policy_is_a_change() {
        assert_eq!(
            diff_policy(&live(), 60.0),
            vec![Change::new("cpu_target", 80, 60)]
        );
        let mut disabled = live();
        disabled.enabled = false;
        assert_eq!(
            diff_policy(&disabled, 80.0),
            vec![Change::new("enabled", false, true)]
        );
    }
}
