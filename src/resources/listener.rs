//! The listener on the load balancer, forwarding everything to the target group: HTTPS
//! with the spec's certificate when there is one, plain HTTP otherwise.
//!
//! Found by its tag among the balancer's listeners, so a changed port is modified in place
//! rather than leaving the old listener behind.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, Listener as AwsListener, ProtocolEnum,
};
use serde_json::json;

use super::shared::elbv2;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};

pub struct Listener;

const KIND: &str = "listener";
/// TLS 1.3 and 1.2 only: AWS's recommended policy for new HTTPS listeners.
const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// HTTPS when the spec gives a certificate, HTTP otherwise.
fn protocol(cx: &Context) -> ProtocolEnum {
    match cx.spec.load_balancer.certificate_arn {
        Some(_) => ProtocolEnum::Https,
        None => ProtocolEnum::Http,
    }
}

fn certificates(cx: &Context) -> Option<Vec<Certificate>> {
    cx.spec
        .load_balancer
        .certificate_arn
        .as_ref()
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
}

fn forward_to(target_group: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group)
        .build()
}

/// The target group a listener's default action forwards to, if it is a plain forward.
fn forwards_to(listener: &AwsListener) -> Option<&str> {
    match listener.default_actions() {
        [action] if action.r#type() == Some(&ActionTypeEnum::Forward) => {
            action.target_group_arn().or_else(|| {
                let groups = action.forward_config()?.target_groups();
                match groups {
                    [only] => only.target_group_arn(),
                    _ => None,
                }
            })
        }
        _ => None,
    }
}

/// What modu owns on the listener.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    port: i32,
    protocol: String,
    /// Only compared when the spec names one.
    certificate: Option<String>,
    forwards_to: String,
}

fn wanted(cx: &Context, target_group: &str) -> Settings {
    Settings {
        port: i32::from(cx.spec.load_balancer.port),
        protocol: protocol(cx).as_str().to_string(),
        certificate: cx.spec.load_balancer.certificate_arn.clone(),
        forwards_to: target_group.to_string(),
    }
}

fn diff_settings(live: &Settings, want: &Settings) -> Vec<Change> {
    let mut diff = Diff::new();
    diff.field("port", &live.port, &want.port);
    diff.field("protocol", &live.protocol, &want.protocol);
    if let Some(certificate) = &want.certificate {
        diff.field(
            "certificate",
            live.certificate.as_deref().unwrap_or("(none)"),
            certificate.as_str(),
        );
    }
    diff.field("forwards_to", &live.forwards_to, &want.forwards_to);
    diff.into_changes()
}

#[async_trait]
impl Resource for Listener {
    fn key(&self) -> Key {
        Key::Listener
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-lb:{}", cx.spec.stack, cx.spec.load_balancer.port)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::LoadBalancer, Key::TargetGroup]
    }

    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(load_balancer) = deps.get(Key::LoadBalancer)? else {
            return Ok(None);
        };
        let reads = cx.reads();
        let view = elbv2::view(
            cx,
            &reads,
            &super::target_group::name(cx),
            &super::load_balancer::name(cx),
        )
        .await?;
        let port = i32::from(cx.spec.load_balancer.port);
        let ours = view.listeners.iter().find(|l| {
            let mut tags = view.tags_of(l.listener_arn().unwrap_or_default());
            let tags: Vec<(&str, &str)> = tags.by_ref().collect();
            tags.contains(&(tags::COMPONENT, self.key().as_str()))
                && tags.contains(&(tags::STACK, cx.spec.stack.as_str()))
        });
        let Some(listener) = ours else {
            if let Some(other) = view.listeners.iter().find(|l| l.port() == Some(port)) {
                return Err(Error::NotOwned {
                    what: format!(
                        "a listener on port {port} of load balancer {} ({})",
                        load_balancer.id,
                        other.listener_arn().unwrap_or_default()
                    ),
                    stack: cx.spec.stack.clone(),
                    help: Some(
                        "delete that listener or choose another `load_balancer.port`".into(),
                    ),
                });
            }
            return Ok(None);
        };
        let live = Settings {
            port: listener.port().unwrap_or_default(),
            protocol: listener
                .protocol()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            certificate: listener
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(String::from),
            forwards_to: forwards_to(listener)
                .unwrap_or("(other action)")
                .to_string(),
        };
        Ok(Some(Observed::new(
            Found::new(listener.listener_arn().unwrap_or_default()),
            live,
        )))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_settings(
            observed.live()?,
            &wanted(cx, deps.id(Key::TargetGroup)?),
        ))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        // ModifyListener takes the whole definition: every field is sent as the spec has it.
        cx.clients
            .elbv2
            .modify_listener()
            .listener_arn(&observed.found.id)
            .port(i32::from(cx.spec.load_balancer.port))
            .protocol(protocol(cx))
            .set_certificates(certificates(cx))
            .set_ssl_policy(certificates(cx).map(|_| SSL_POLICY.to_string()))
            .default_actions(forward_to(deps.id(Key::TargetGroup)?))
            .send()
            .await
            .context("updating", KIND, &observed.found.id)?;
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let out = cx
            .clients
            .elbv2
            .create_listener()
            .load_balancer_arn(deps.id(Key::LoadBalancer)?)
            .protocol(protocol(cx))
            .set_certificates(certificates(cx))
            .set_ssl_policy(certificates(cx).map(|_| SSL_POLICY.to_string()))
            .port(i32::from(cx.spec.load_balancer.port))
            .default_actions(forward_to(deps.id(Key::TargetGroup)?))
            .set_tags(Some(elbv2::tag_list(cx, self.key().as_str(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .unwrap_or_default();
        Ok(Found::new(arn))
    }

    async fn health(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Settings = observed.live()?;
        let expected = deps.get(Key::TargetGroup)?.map(|t| t.id.as_str());
        Ok(Health {
            healthy: expected == Some(live.forwards_to.as_str()),
            state: format!(
                "{}:{} -> {}",
                live.protocol,
                live.port,
                super::target_group::name(cx)
            ),
            details: json!({ "arn": observed.found.id, "port": live.port, "forwards_to": live.forwards_to }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        cx.clients
            .elbv2
            .delete_listener()
            .listener_arn(&found.id)
            .send()
            .await
            .or_gone(&["ListenerNotFound"], KIND, &found.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            port: 80,
            protocol: "HTTP".into(),
            certificate: None,
            forwards_to: "arn:tg".into(),
        }
    }

    #[test]
    fn the_same_listener_needs_nothing() {
        assert!(diff_settings(&settings(), &settings()).is_empty());
    }

    #[test]
    fn port_protocol_certificate_and_target_are_compared() {
        let want = Settings {
            port: 443,
            protocol: "HTTPS".into(),
            certificate: Some("arn:cert".into()),
            forwards_to: crate::resources::KNOWN_AFTER_UP.into(),
        };
        let fields: Vec<String> = diff_settings(&settings(), &want)
            .into_iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
            .collect();
        assert_eq!(
            fields,
            vec![
                "port: 80 -> 443",
                "protocol: HTTP -> HTTPS",
                "certificate: (none) -> arn:cert",
                "forwards_to: arn:tg -> (known after up)",
            ]
        );
    }

    #[test]
    fn a_certificate_the_spec_does_not_name_is_left_alone() {
        let mut live = settings();
        live.certificate = Some("arn:someone".into());
        assert!(diff_settings(&live, &settings()).is_empty());
    }
}
