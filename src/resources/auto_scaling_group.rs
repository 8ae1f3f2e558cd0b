//! The Auto Scaling group: sizes from the spec, the stack's subnets, the target group
//! attached, ELB health checks after a grace period, tags propagated to instances.
//!
//! Desired capacity belongs to the scaling policy once the group runs, so `up` only resets it
//! when the spec's `desired` itself changed (remembered in the `modu:desired` tag) or when it
//! falls outside min..max; otherwise every `up` would undo a scale-out in the middle of a spike.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup as AwsGroup, LaunchTemplateSpecification, LifecycleState, Tag,
};
use serde_json::json;

use super::rollout::{self, Rollout};
use super::{
    Change, Context, Deps, Diff, Found, Health, KNOWN_AFTER_UP, Key, Observed, Outputs, Resource,
    aws_int, ensure_owned, touches,
};
use crate::aws::errors::AwsContext;
use crate::aws::tags;
use crate::aws::wait::Poll;
use crate::error::{Error, Result};

pub struct AutoScalingGroup;

const KIND: &str = "auto-scaling-group";
/// The spec's `desired` as last applied.
const DESIRED_TAG: &str = "modu:desired";

fn in_service(group: &AwsGroup) -> usize {
    group
        .instances()
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
        .count()
}

/// The group as AWS has it: what modu owns, and what `status` shows.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    min: i32,
    max: i32,
    desired: i32,
    /// The spec's `desired` when modu last set it (the `modu:desired` tag).
    last_applied_desired: Option<i32>,
    health_check_type: String,
    health_check_grace: i32,
    launch_template: String,
    launch_version: String,
    subnets: BTreeSet<String>,
    target_groups: Vec<String>,
    tags: BTreeMap<String, String>,
    in_service: usize,
    instances: usize,
    members: Vec<Member>,
    status: Option<String>,
}

/// One instance of the group, for `status`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct Member {
    id: String,
    lifecycle: String,
    health: String,
    /// The launch template version it was launched from.
    version: String,
}

/// The group as the spec asks for it.
#[derive(Debug, Clone, PartialEq)]
struct Want {
    min: i32,
    max: i32,
    desired: i32,
    health_check_grace: i32,
    launch_template: String,
    /// A literal version (never `$Latest`): a new one is rolled out, and can be rolled back.
    launch_version: String,
    subnets: BTreeSet<String>,
    target_group: String,
    tags: BTreeMap<String, String>,
}

fn live_of(group: &AwsGroup) -> Live {
    let tags: BTreeMap<String, String> = group
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let template = group.launch_template();
    Live {
        min: group.min_size().unwrap_or_default(),
        max: group.max_size().unwrap_or_default(),
        desired: group.desired_capacity().unwrap_or_default(),
        last_applied_desired: tags.get(DESIRED_TAG).and_then(|v| v.parse().ok()),
        health_check_type: group.health_check_type().unwrap_or_default().to_string(),
        health_check_grace: group.health_check_grace_period().unwrap_or_default(),
        launch_template: template
            .and_then(|t| t.launch_template_id())
            .unwrap_or_default()
            .to_string(),
        launch_version: template
            .and_then(|t| t.version())
            .unwrap_or_default()
            .to_string(),
        subnets: group
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        target_groups: group.target_group_arns().to_vec(),
        tags,
        in_service: in_service(group),
        instances: group.instances().len(),
        members: group
            .instances()
            .iter()
            .map(|i| Member {
                id: i.instance_id().unwrap_or_default().to_string(),
                lifecycle: i
                    .lifecycle_state()
                    .map(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string(),
                health: i.health_status().unwrap_or_default().to_string(),
                version: i
                    .launch_template()
                    .and_then(|t| t.version())
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect(),
        status: group.status().map(String::from),
    }
}

/// How many instances run each release, e.g. `r-1a2b on 2, r-3c4d on 1`; instances
/// launched without a release tag are left out.
fn release_counts(releases: impl Iterator<Item = Option<String>>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for release in releases.flatten() {
        *counts.entry(release).or_default() += 1;
    }
    counts
        .iter()
        .map(|(release, n)| format!("{release} on {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tags (with the `modu:desired` bookmark) the group should carry, by key.
fn wanted_tags(cx: &Context, name: &str) -> BTreeMap<String, String> {
    let mut wanted = tags::for_resource(&cx.spec, Key::Asg.as_str(), name);
    wanted.insert(DESIRED_TAG.into(), cx.spec.compute.desired.to_string());
    wanted
}

/// Tags whose value differs from what is wanted, by key.
fn stale_tags<'a>(live: &Live, want: &'a Want) -> BTreeMap<&'a str, &'a str> {
    tags::missing(&want.tags, &live.tags)
}

fn diff_group(live: &Live, want: &Want) -> Vec<Change> {
    let mut diff = Diff::new();
    diff.field("min", &live.min, &want.min);
    diff.field("max", &live.max, &want.max);
    // Never undo a scale-out: only a changed spec value or an out-of-range capacity resets it.
    let spec_changed = live.last_applied_desired != Some(want.desired);
    let out_of_range = live.desired < want.min || live.desired > want.max;
    if spec_changed || out_of_range {
        diff.field("desired", &live.desired, &want.desired);
    }
    diff.field("health_check_type", live.health_check_type.as_str(), "ELB");
    diff.field(
        "health_check_grace",
        &live.health_check_grace,
        &want.health_check_grace,
    );
    diff.field(
        "launch_template",
        &format!("{} {}", live.launch_template, live.launch_version),
        &format!("{} {}", want.launch_template, want.launch_version),
    );
    let show = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
    diff.list("subnets", &show(&live.subnets), &show(&want.subnets));
    if !live.target_groups.contains(&want.target_group) {
        let mut attached = live.target_groups.clone();
        attached.push(want.target_group.clone());
        diff.list("target_groups", &live.target_groups, &attached);
    }
    let stale = stale_tags(live, want);
    // The `modu:desired` bookmark moves with a desired change listed above.
    let only_bookmark = stale.keys().all(|k| *k == DESIRED_TAG);
    let mut changes = diff.into_changes();
    let moves_with_desired = only_bookmark && touches(&changes, "desired");
    if !stale.is_empty() && !moves_with_desired {
        changes.push(tags::change(&stale, &live.tags));
    }
    changes
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

    fn want(&self, cx: &Context, deps: &Deps<'_>) -> Result<Want> {
        let compute = &cx.spec.compute;
        Ok(Want {
            min: aws_int(compute.min),
            max: aws_int(compute.max),
            desired: aws_int(compute.desired),
            health_check_grace: aws_int(compute.health_check_grace),
            launch_template: deps.id(Key::LaunchTemplate)?.to_string(),
            launch_version: match deps.outputs(Key::LaunchTemplate)? {
                Some(Outputs::LaunchTemplate { latest_version, .. }) => latest_version.to_string(),
                _ => KNOWN_AFTER_UP.to_string(),
            },
            subnets: deps
                .private_subnets()?
                .into_iter()
                .map(String::from)
                .collect(),
            target_group: deps.id(Key::TargetGroup)?.to_string(),
            tags: wanted_tags(cx, &self.name(cx)),
        })
    }

    fn sdk_tags(&self, name: &str, tags: &BTreeMap<&str, &str>) -> Vec<Tag> {
        tags.iter()
            .map(|(k, v)| {
                Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key(*k)
                    .value(*v)
                    // The bookmark is the group's own business, not the instances'.
                    .propagate_at_launch(*k != DESIRED_TAG)
                    .build()
            })
            .collect()
    }

    fn template(want: &Want) -> LaunchTemplateSpecification {
        LaunchTemplateSpecification::builder()
            .launch_template_id(&want.launch_template)
            .version(&want.launch_version)
            .build()
    }

    /// The alarms whose firing rolls a rollout back: the stack's 5xx rate, when it has one.
    fn rollback_alarms(cx: &Context) -> Vec<String> {
        match &cx.spec.dashboard {
            Some(dashboard) if dashboard.alarms => {
                vec![super::alarms::error_rate_alarm(&cx.spec.stack)]
            }
            _ => Vec::new(),
        }
    }

    /// Waits until `want` instances are in service and healthy in the target group: an
    /// instance is InService as soon as it runs, long before the app behind it answers.
    async fn wait_ready(
        &self,
        cx: &Context,
        name: &str,
        target_group: &str,
        want: usize,
    ) -> Result<()> {
        cx.wait_for(
            self,
            "for instances healthy in the target group",
            || async {
                let Some(group) = self.describe(cx, name).await? else {
                    return Ok(Poll::Pending("not visible yet".into()));
                };
                let targets = super::shared::elbv2::target_states(cx, target_group).await?;
                let serving = group
                    .instances()
                    .iter()
                    .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
                    .filter_map(|i| i.instance_id())
                    .filter(|id| targets.get(*id).is_some_and(|s| s == "healthy"))
                    .count();
                Ok(if serving >= want {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!(
                        "{}/{want} in service, {serving}/{want} healthy in the target group",
                        in_service(&group)
                    ))
                })
            },
        )
        .await
    }
}

fn found(name: &str, group: &AwsGroup) -> Found {
    Found::new(name).with(Outputs::Arn {
        arn: group
            .auto_scaling_group_arn()
            .unwrap_or_default()
            .to_string(),
    })
}

#[async_trait]
impl Resource for AutoScalingGroup {
    fn key(&self) -> Key {
        Key::Asg
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-asg", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        // After the listener: instances should register with a target group that already
        // receives traffic, so their first health checks are meaningful. After the
        // endpoints: instances in private subnets fetch the release, their parameters and
        // secrets through them as they boot.
        vec![
            Key::Network,
            Key::S3Endpoint,
            Key::InterfaceEndpoints,
            Key::LaunchTemplate,
            Key::TargetGroup,
            Key::Listener,
        ]
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
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
        Ok(Some(Observed::new(found(&name, &group), live_of(&group))))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_group(observed.live()?, &self.want(cx, deps)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let name = &observed.found.id;
        let live: &Live = observed.live()?;
        let want = self.want(cx, deps)?;
        let mut update = cx
            .clients
            .autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(name);
        let mut any = false;
        let mut set = |field: &str| {
            let hit = touches(changes, field);
            any |= hit;
            hit
        };
        if set("min") {
            update = update.min_size(want.min);
        }
        if set("max") {
            update = update.max_size(want.max);
        }
        if set("desired") {
            update = update.desired_capacity(want.desired);
        }
        if set("health_check_type") {
            update = update.health_check_type("ELB");
        }
        if set("health_check_grace") {
            update = update.health_check_grace_period(want.health_check_grace);
        }
        // Running instances get a new version of the same template through an instance
        // refresh, after the other settings; anything else is set on the group directly.
        let roll_out = touches(changes, "launch_template")
            && live.instances > 0
            && live.launch_template == want.launch_template;
        if !roll_out && set("launch_template") {
            update = update.launch_template(Self::template(&want));
        }
        if set("subnets") {
            update = update
                .vpc_zone_identifier(want.subnets.iter().cloned().collect::<Vec<_>>().join(","));
        }
        if any {
            update.send().await.context("updating", KIND, name)?;
        }
        if touches(changes, "target_groups") {
            cx.clients
                .autoscaling
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(name)
                .target_group_arns(&want.target_group)
                .send()
                .await
                .context("attaching the target group to", KIND, name)?;
        }
        let stale = stale_tags(live, &want);
        if !stale.is_empty() {
            cx.clients
                .autoscaling
                .create_or_update_tags()
                .set_tags(Some(self.sdk_tags(name, &stale)))
                .send()
                .await
                .context("tagging", KIND, name)?;
        }
        if roll_out {
            let rollout = Rollout {
                group: name,
                template: &want.launch_template,
                version: &want.launch_version,
                target_group: &want.target_group,
                alarms: Self::rollback_alarms(cx),
            };
            rollout::run(cx, self, &rollout).await?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let want = self.want(cx, deps)?;
        let all_tags: BTreeMap<&str, &str> = want
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        cx.clients
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(Self::template(&want))
            .min_size(want.min)
            .max_size(want.max)
            .desired_capacity(want.desired)
            .vpc_zone_identifier(want.subnets.iter().cloned().collect::<Vec<_>>().join(","))
            .target_group_arns(&want.target_group)
            .health_check_type("ELB")
            .health_check_grace_period(want.health_check_grace)
            .set_tags(Some(self.sdk_tags(&name, &all_tags)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        self.wait_ready(
            cx,
            &name,
            &want.target_group,
            cx.spec.compute.desired as usize,
        )
        .await?;
        let group = self.describe(cx, &name).await?.ok_or(Error::Disappeared {
            kind: KIND,
            name: name.clone(),
        })?;
        Ok(found(&name, &group))
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let ids: Vec<String> = live.members.iter().map(|m| m.id.clone()).collect();
        let instance_tags = cx.clients.ec2.describe_instance_tags(&ids).await.context(
            "reading the instances of",
            KIND,
            &observed.found.id,
        )?;
        let release_of = |id: &str| {
            instance_tags
                .get(id)
                .and_then(|tags| tags.iter().find(|t| t.key == tags::RELEASE))
                .map(|t| t.value.clone())
        };
        let instances: Vec<serde_json::Value> = live
            .members
            .iter()
            .map(|m| json!({ "instance": m, "release": release_of(&m.id) }))
            .collect();
        let releases = release_counts(live.members.iter().map(|m| release_of(&m.id)));
        let last_refresh = rollout::last(cx, &observed.found.id).await?;
        let mut state = format!(
            "{} in service of min {}/max {} (desired {})",
            live.in_service, live.min, live.max, live.desired
        );
        if !releases.is_empty() {
            let _ = write!(state, "; release {releases}");
        }
        if let Some(refresh) = &last_refresh {
            let _ = write!(state, "; last rollout {}", refresh.label());
        }
        Ok(Health {
            healthy: live.in_service as i32 >= live.min && live.status.is_none(),
            state,
            details: json!({
                "in_service": live.in_service,
                "instances": live.instances,
                "members": instances,
                "min": live.min,
                "max": live.max,
                "desired": live.desired,
                "target_group_arns": live.target_groups,
                "health_check_type": live.health_check_type,
                "last_refresh": last_refresh,
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
        cx.wait_gone(self, || async {
            Ok(self
                .describe(cx, name)
                .await?
                .map(|group| group.status().unwrap_or("deleting").to_string()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_counted_per_instance_leaving_out_untagged_ones() {
        let releases = [Some("r-b"), None, Some("r-a"), Some("r-b")];
        assert_eq!(
            release_counts(releases.iter().map(|r| r.map(String::from))),
            "r-a on 1, r-b on 2"
        );
        assert_eq!(release_counts(std::iter::empty()), "");
    }

    fn want() -> Want {
        Want {
            min: 2,
            max: 10,
            desired: 2,
            health_check_grace: 120,
            launch_template: "lt-1".into(),
            launch_version: "3".into(),
            subnets: ["s-a".to_string(), "s-b".to_string()].into(),
            target_group: "arn:tg".into(),
            tags: BTreeMap::from([
                ("modu:stack".to_string(), "web".to_string()),
                (DESIRED_TAG.to_string(), "2".to_string()),
            ]),
        }
    }

    fn live() -> Live {
        Live {
            min: 2,
            max: 10,
            desired: 2,
            last_applied_desired: Some(2),
            health_check_type: "ELB".into(),
            health_check_grace: 120,
            launch_template: "lt-1".into(),
            launch_version: "3".into(),
            subnets: ["s-a".to_string(), "s-b".to_string()].into(),
            target_groups: vec!["arn:tg".into()],
            tags: want().tags,
            in_service: 2,
            instances: 2,
            members: Vec::new(),
            status: None,
        }
    }

    fn fields(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn a_matching_group_needs_nothing() {
        assert!(diff_group(&live(), &want()).is_empty());
    }

    #[test]
    fn a_scale_out_is_never_undone() {
        let mut scaled = live();
        scaled.desired = 7;
        assert!(diff_group(&scaled, &want()).is_empty());
    }

    #[test]
    fn a_changed_spec_desired_resets_capacity_and_moves_the_bookmark() {
        let mut scaled = live();
        scaled.desired = 7;
        let mut want = want();
        want.desired = 3;
        want.tags.insert(DESIRED_TAG.into(), "3".into());
        let changes = diff_group(&scaled, &want);
        assert_eq!(changes, vec![Change::new("desired", 7, 3)]);
    }

    #[test]
    fn capacity_outside_new_bounds_is_brought_back() {
        let mut want = want();
        want.min = 3;
        want.max = 4;
        let mut scaled = live();
        scaled.desired = 7;
        assert_eq!(
            fields(&diff_group(&scaled, &want)),
            vec!["min", "max", "desired"]
        );
    }

    #[test]
    fn a_new_template_version_is_a_change_and_latest_is_never_asked_for() {
        let mut want = want();
        want.launch_version = "4".into();
        let changes = diff_group(&live(), &want);
        assert_eq!(
            changes,
            vec![Change::new("launch_template", "lt-1 3", "lt-1 4")]
        );
        let mut old = live();
        old.launch_version = "$Latest".into();
        assert_eq!(
            fields(&diff_group(&old, &self::want())),
            vec!["launch_template"]
        );
    }

    #[test]
    fn template_subnets_target_group_and_tags_are_each_a_change() {
        let mut want = want();
        want.launch_template = "lt-2".into();
        want.subnets.insert("s-c".into());
        want.target_group = "arn:tg2".into();
        want.tags.insert("team".into(), "a".into());
        let changes = diff_group(&live(), &want);
        assert_eq!(
            fields(&changes),
            vec!["launch_template", "subnets", "target_groups", "tags"]
        );
        assert_eq!(changes[3].to, "team=a");
    }
}
