//! The target group: HTTP to the app's port on each instance, the spec's health check, and
//! the load-balancing algorithm (`load_balancing.algorithm.type`).
//!
//! Health check, algorithm and deregistration delay converge in place; port and VPC cannot
//! change on an existing target group (and the listener keeps using it), so a change there
//! is refused with the way out.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum,
};
use serde_json::json;

use super::shared::elbv2;
use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource, aws_int,
    ensure_owned, touches,
};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::{Error, Result};

pub struct TargetGroup;

const KIND: &str = "target-group";
const ALGORITHM: &str = "load_balancing.algorithm.type";
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

/// The deterministic name (also read by the load balancer for the shared ELBv2 lookup).
pub(crate) fn name(cx: &Context) -> String {
    format!("{}-tg", cx.spec.stack)
}

/// The health check as modu sets it.
#[derive(Debug, Clone, PartialEq)]
struct HealthCheck {
    path: String,
    interval: i32,
    timeout: i32,
    healthy_threshold: i32,
    unhealthy_threshold: i32,
    matcher: String,
}

/// What modu owns on a target group.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    port: i32,
    vpc: String,
    health_check: HealthCheck,
    algorithm: String,
    deregistration_delay: String,
}

fn wanted(cx: &Context, vpc: &str) -> Settings {
    let lb = &cx.spec.load_balancer;
    let hc = &lb.health_check;
    Settings {
        port: i32::from(cx.spec.compute.port),
        vpc: vpc.to_string(),
        health_check: HealthCheck {
            path: hc.path.clone(),
            interval: aws_int(hc.interval),
            timeout: aws_int(hc.timeout),
            healthy_threshold: aws_int(hc.healthy_threshold),
            unhealthy_threshold: aws_int(hc.unhealthy_threshold),
            matcher: hc.matcher.clone(),
        },
        algorithm: lb.algorithm.aws_value().to_string(),
        deregistration_delay: lb.deregistration_delay.to_string(),
    }
}

fn diff_settings(name: &str, live: &Settings, want: &Settings) -> Result<Vec<Change>> {
    if live.port != want.port || live.vpc != want.vpc {
        return Err(Error::fixable(
            format!(
                "target group {name} forwards to port {} in {}, the spec asks for port {} in {}",
                live.port, live.vpc, want.port, want.vpc
            ),
            "a target group's port and VPC cannot change in place: run `modu down` then `modu up` to replace it",
        ));
    }
    let (l, w) = (&live.health_check, &want.health_check);
    let mut diff = Diff::new();
    diff.field("health_check.path", &l.path, &w.path);
    diff.field("health_check.interval", &l.interval, &w.interval);
    diff.field("health_check.timeout", &l.timeout, &w.timeout);
    diff.field(
        "health_check.healthy_threshold",
        &l.healthy_threshold,
        &w.healthy_threshold,
    );
    diff.field(
        "health_check.unhealthy_threshold",
        &l.unhealthy_threshold,
        &w.unhealthy_threshold,
    );
    diff.field("health_check.matcher", &l.matcher, &w.matcher);
    diff.field("algorithm", &live.algorithm, &want.algorithm);
    diff.field(
        "deregistration_delay",
        &live.deregistration_delay,
        &want.deregistration_delay,
    );
    Ok(diff.into_changes())
}

impl TargetGroup {
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
}

fn found(arn: &str, name: &str) -> Found {
    Found::new(arn).with(Outputs::Named { name: name.into() })
}

#[async_trait]
impl Resource for TargetGroup {
    fn key(&self) -> Key {
        Key::TargetGroup
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        name(cx)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Network]
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = name(cx);
        let reads = cx.reads();
        let view = elbv2::view(cx, &reads, &name, &super::load_balancer::name(cx)).await?;
        let Some(group) = &view.target_group else {
            return Ok(None);
        };
        let arn = group.target_group_arn().unwrap_or_default();
        ensure_owned(cx, format!("target group {name}"), view.tags_of(arn))?;
        let attribute = |key: &str| {
            view.target_group_attributes
                .get(key)
                .cloned()
                .unwrap_or_default()
        };
        let live = Settings {
            port: group.port().unwrap_or_default(),
            vpc: group.vpc_id().unwrap_or_default().to_string(),
            health_check: HealthCheck {
                path: group.health_check_path().unwrap_or_default().into(),
                interval: group.health_check_interval_seconds().unwrap_or_default(),
                timeout: group.health_check_timeout_seconds().unwrap_or_default(),
                healthy_threshold: group.healthy_threshold_count().unwrap_or_default(),
                unhealthy_threshold: group.unhealthy_threshold_count().unwrap_or_default(),
                matcher: group
                    .matcher()
                    .and_then(|m| m.http_code())
                    .unwrap_or_default()
                    .into(),
            },
            algorithm: attribute(ALGORITHM),
            deregistration_delay: attribute(DEREGISTRATION_DELAY),
        };
        Ok(Some(Observed::new(found(arn, &name), live)))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        diff_settings(
            &name(cx),
            observed.live()?,
            &wanted(cx, deps.id(Key::Network)?),
        )
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let want = wanted(cx, deps.id(Key::Network)?);
        let arn = &observed.found.id;
        if touches(changes, "health_check") {
            let hc = &want.health_check;
            cx.clients
                .elbv2
                .modify_target_group()
                .target_group_arn(arn)
                .health_check_path(&hc.path)
                .health_check_interval_seconds(hc.interval)
                .health_check_timeout_seconds(hc.timeout)
                .healthy_threshold_count(hc.healthy_threshold)
                .unhealthy_threshold_count(hc.unhealthy_threshold)
                .matcher(Matcher::builder().http_code(&hc.matcher).build())
                .send()
                .await
                .context("updating the health check of", KIND, arn)?;
        }
        let mut attributes = BTreeMap::new();
        if touches(changes, "algorithm") {
            attributes.insert(ALGORITHM, want.algorithm);
        }
        if touches(changes, "deregistration_delay") {
            attributes.insert(DEREGISTRATION_DELAY, want.deregistration_delay);
        }
        self.set_attributes(cx, arn, &attributes).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = name(cx);
        let want = wanted(cx, deps.id(Key::Network)?);
        let hc = &want.health_check;
        let out = cx
            .clients
            .elbv2
            .create_target_group()
            .name(&name)
            .protocol(ProtocolEnum::Http)
            .port(want.port)
            .vpc_id(&want.vpc)
            .target_type(TargetTypeEnum::Instance)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(hc.interval)
            .health_check_timeout_seconds(hc.timeout)
            .healthy_threshold_count(hc.healthy_threshold)
            .unhealthy_threshold_count(hc.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&hc.matcher).build())
            .set_tags(Some(elbv2::tag_list(cx, self.key().as_str(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .unwrap_or_default()
            .to_string();
        let attributes = BTreeMap::from([
            (ALGORITHM, want.algorithm.clone()),
            (DEREGISTRATION_DELAY, want.deregistration_delay.clone()),
        ]);
        self.set_attributes(cx, &arn, &attributes).await?;
        Ok(found(&arn, &name))
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let targets = super::shared::elbv2::target_states(cx, &observed.found.id).await?;
        let healthy = targets.values().filter(|s| *s == "healthy").count();
        let live: &Settings = observed.live()?;
        Ok(Health {
            healthy: healthy > 0 && healthy == targets.len(),
            state: format!("targets healthy {healthy}/{}", targets.len()),
            details: json!({
                "targets": targets.len(),
                "healthy_targets": healthy,
                "algorithm": live.algorithm,
                "health_check_path": live.health_check.path,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        // A listener that was just deleted can keep the group "in use" for a moment.
        cx.retry_on(
            self,
            "ResourceInUse",
            "to be released by its listener",
            || async {
                cx.clients
                    .elbv2
                    .delete_target_group()
                    .target_group_arn(&found.id)
                    .send()
                    .await
                    .or_gone(&["TargetGroupNotFound"], KIND, &found.id)
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            port: 8000,
            vpc: "vpc-1".into(),
            health_check: HealthCheck {
                path: "/healthz".into(),
                interval: 15,
                timeout: 5,
                healthy_threshold: 2,
                unhealthy_threshold: 3,
                matcher: "200".into(),
            },
            algorithm: "round_robin".into(),
            deregistration_delay: "30".into(),
        }
    }

    #[test]
    fn identical_settings_make_no_change() {
        assert!(
            diff_settings("web-tg", &settings(), &settings())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn health_check_and_attributes_are_named_field_by_field() {
        let mut want = settings();
        want.health_check.path = "/readyz".into();
        want.health_check.interval = 10;
        want.algorithm = "least_outstanding_requests".into();
        let changes = diff_settings("web-tg", &settings(), &want).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::new("health_check.path", "/healthz", "/readyz"),
                Change::new("health_check.interval", 15, 10),
                Change::new("algorithm", "round_robin", "least_outstanding_requests"),
            ]
        );
        assert!(touches(&changes, "health_check") && !touches(&changes, "deregistration_delay"));
    }

    #[test]
    fn a_new_port_is_refused_with_the_way_out() {
        let mut want = settings();
        want.port = 9000;
        let err = diff_settings("web-tg", &settings(), &want)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("port 8000") && err.contains("port 9000"),
            "{err}"
        );
    }
}
