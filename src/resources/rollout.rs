//! Rolling a new launch template version out to a running Auto Scaling group: one
//! instance refresh with that version as its desired configuration, launch before
//! terminate (100 % healthy minimum, 200 % maximum), a warmup as long as the target
//! group takes to call an instance healthy, and automatic rollback, also when the stack's
//! 5xx alarm fires. The wait shows each instance moving — launching, healthy in the target
//! group, old ones draining and terminated — with the refresh's percentage, and a refresh
//! that fails or rolls back is an error naming AWS's reason.

use aws_sdk_autoscaling::types::{
    AlarmSpecification, DesiredConfiguration, InstanceRefreshStatus, LaunchTemplateSpecification,
    RefreshPreferences, RefreshStrategy,
};

use super::{Context, Resource};
use crate::aws::errors::{self, AwsContext};
use crate::aws::wait::Poll;
use crate::error::{Error, Result};

const KIND: &str = "auto-scaling-group";

/// What a rollout is asked to do.
pub struct Rollout<'a> {
    pub group: &'a str,
    pub template: &'a str,
    pub version: &'a str,
    /// The target group whose health says an instance is ready.
    pub target_group: &'a str,
    /// Alarms whose firing rolls the refresh back (the stack's 5xx rate).
    pub alarms: Vec<String>,
}

/// How the refresh ended, for the caller's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub refresh_id: String,
    pub seconds: f64,
}

/// Seconds a new instance needs before the target group can call it healthy.
fn warmup(cx: &Context) -> i32 {
    let check = &cx.spec.load_balancer.health_check;
    super::aws_int(check.interval * check.healthy_threshold)
}

/// Starts the refresh and waits until it ends; `Err` unless it succeeded.
pub async fn run(cx: &Context, resource: &dyn Resource, rollout: &Rollout<'_>) -> Result<Outcome> {
    let asg = &cx.clients.autoscaling;
    let mut preferences = RefreshPreferences::builder()
        .min_healthy_percentage(100)
        .max_healthy_percentage(200)
        .instance_warmup(warmup(cx))
        .skip_matching(true)
        .auto_rollback(true);
    if !rollout.alarms.is_empty() {
        preferences = preferences.alarm_specification(
            AlarmSpecification::builder()
                .set_alarms(Some(rollout.alarms.clone()))
                .build(),
        );
    }
    let started = cx.clock.now();
    let start = asg
        .start_instance_refresh()
        .auto_scaling_group_name(rollout.group)
        .strategy(RefreshStrategy::Rolling)
        .desired_configuration(
            DesiredConfiguration::builder()
                .launch_template(
                    LaunchTemplateSpecification::builder()
                        .launch_template_id(rollout.template)
                        .version(rollout.version)
                        .build(),
                )
                .build(),
        )
        .preferences(preferences.build())
        .send()
        .await;
    let id = match start {
        Ok(refresh) => refresh
            .instance_refresh_id()
            .unwrap_or_default()
            .to_string(),
        // StartInstanceRefresh takes no client token: the SDK's retry of a start whose reply
        // was lost meets the refresh the first attempt began. One under way to this very
        // version is that one; any other is a real conflict.
        Err(err) => {
            let ours = match errors::code(&err) {
                Some("InstanceRefreshInProgress") => under_way_to(cx, rollout).await?,
                _ => None,
            };
            match ours {
                Some(id) => id,
                None => {
                    return Err(err).context(
                        "starting an instance refresh of",
                        KIND,
                        rollout.group,
                    );
                }
            }
        }
    };
    let (status, reason) = cx
        .wait_for(resource, "for the rollout", || async {
            let (status, reason, percentage) = refresh_state(cx, rollout.group, &id).await?;
            if is_over(&status) {
                return Ok(Poll::Ready((status, reason)));
            }
            let instances = instance_states(cx, rollout).await?;
            let elapsed = cx.clock.now().saturating_duration_since(started).as_secs();
            Ok(Poll::Pending(format!(
                "{} {percentage}% after {elapsed}s: {instances}",
                status.as_str()
            )))
        })
        .await?;
    let seconds = cx
        .clock
        .now()
        .saturating_duration_since(started)
        .as_secs_f64();
    match status {
        InstanceRefreshStatus::Successful => Ok(Outcome {
            refresh_id: id,
            seconds,
        }),
        other => Err(Error::fixable(
            format!(
                "the rollout of launch template {} version {} to {} ended {} after {seconds:.0}s: {}",
                rollout.template,
                rollout.version,
                rollout.group,
                other.as_str(),
                if reason.is_empty() {
                    "AWS gave no reason"
                } else {
                    &reason
                }
            ),
            "the group keeps (or went back to) the previous release; the new instances' \
             console output (`aws ec2 get-console-output`) and `modu status` say why they were not healthy",
        )),
    }
}

/// The group's latest instance refresh, as `status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LastRefresh {
    pub id: String,
    pub status: String,
    pub percentage: i32,
    pub reason: String,
}

impl LastRefresh {
    /// `Successful`, `InProgress 50%`, `RollbackSuccessful: <AWS's reason>`.
    pub fn label(&self) -> String {
        let mut label = self.status.clone();
        if self.percentage < 100 {
            label.push_str(&format!(" {}%", self.percentage));
        }
        if !self.reason.is_empty() {
            label.push_str(&format!(": {}", self.reason));
        }
        label
    }
}

/// The group's latest instance refresh (AWS lists the newest first), if it ever had one.
pub async fn last(cx: &Context, group: &str) -> Result<Option<LastRefresh>> {
    let out = cx
        .clients
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(1)
        .send()
        .await
        .context("reading the instance refreshes of", KIND, group)?;
    Ok(out.instance_refreshes().first().map(|r| LastRefresh {
        id: r.instance_refresh_id().unwrap_or_default().to_string(),
        status: r
            .status()
            .map(|s| s.as_str())
            .unwrap_or_default()
            .to_string(),
        percentage: r.percentage_complete().unwrap_or_default(),
        reason: r.status_reason().unwrap_or_default().to_string(),
    }))
}

/// The id of the group's refresh that is under way with `rollout`'s launch template version
/// as its desired configuration, if there is one.
async fn under_way_to(cx: &Context, rollout: &Rollout<'_>) -> Result<Option<String>> {
    let out = cx
        .clients
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(rollout.group)
        .send()
        .await
        .context("reading the instance refreshes of", KIND, rollout.group)?;
    Ok(out
        .instance_refreshes()
        .iter()
        .filter(|r| r.status().is_some_and(|s| !is_over(s)))
        .find(|r| {
            let template = r.desired_configuration().and_then(|d| d.launch_template());
            template.is_some_and(|t| {
                t.launch_template_id() == Some(rollout.template)
                    && t.version() == Some(rollout.version)
            })
        })
        .and_then(|r| r.instance_refresh_id())
        .map(str::to_string))
}

fn is_over(status: &InstanceRefreshStatus) -> bool {
    matches!(
        status,
        InstanceRefreshStatus::Successful
            | InstanceRefreshStatus::Failed
            | InstanceRefreshStatus::Cancelled
            | InstanceRefreshStatus::RollbackSuccessful
            | InstanceRefreshStatus::RollbackFailed
    )
}

async fn refresh_state(
    cx: &Context,
    group: &str,
    id: &str,
) -> Result<(InstanceRefreshStatus, String, i32)> {
    let out = cx
        .clients
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .instance_refresh_ids(id)
        .send()
        .await
        .context("watching the instance refresh of", KIND, group)?;
    let refresh = out.instance_refreshes().first().ok_or(Error::Disappeared {
        kind: "instance-refresh",
        name: id.to_string(),
    })?;
    Ok((
        refresh
            .status()
            .cloned()
            .unwrap_or(InstanceRefreshStatus::Pending),
        refresh.status_reason().unwrap_or_default().to_string(),
        refresh.percentage_complete().unwrap_or_default(),
    ))
}

/// One word per instance: new or old, and where it is (launching, healthy, draining…).
async fn instance_states(cx: &Context, rollout: &Rollout<'_>) -> Result<String> {
    let groups = cx
        .clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(rollout.group)
        .send()
        .await
        .context("looking up", KIND, rollout.group)?;
    let targets = super::shared::elbv2::target_states(cx, rollout.target_group).await?;
    let mut words = Vec::new();
    for instance in groups
        .auto_scaling_groups()
        .iter()
        .flat_map(|g| g.instances())
    {
        let id = instance.instance_id().unwrap_or_default();
        let new = instance
            .launch_template()
            .and_then(|t| t.version())
            .is_some_and(|v| v == rollout.version);
        let lifecycle = instance
            .lifecycle_state()
            .map(|s| s.as_str())
            .unwrap_or("unknown");
        let state = match (lifecycle, targets.get(id).map(String::as_str)) {
            ("Pending" | "Pending:Wait" | "Pending:Proceed", _) => "launching",
            (_, Some("draining")) => "draining",
            (l, _) if l.starts_with("Terminating") => "terminating",
            (_, Some(state)) => state,
            (l, None) => l,
        };
        words.push(format!("{} {id} {state}", if new { "new" } else { "old" }));
    }
    words.sort();
    Ok(if words.is_empty() {
        "no instances".to_string()
    } else {
        words.join(", ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refresh(status: &str, percentage: i32, reason: &str) -> LastRefresh {
        LastRefresh {
            id: "r-1".into(),
            status: status.into(),
            percentage,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_refresh_reads_as_its_status_what_is_left_and_why() {
        assert_eq!(refresh("Successful", 100, "").label(), "Successful");
        assert_eq!(refresh("InProgress", 50, "").label(), "InProgress 50%");
        assert_eq!(
            refresh("RollbackSuccessful", 0, "Health checks failed").label(),
            "RollbackSuccessful 0%: Health checks failed"
        );
    }
}
