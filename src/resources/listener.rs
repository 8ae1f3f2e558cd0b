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

use super::target_group::{elb_tag_list, elb_tags};
use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::{self, AwsContext};
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

impl Listener {
    async fn listeners(&self, cx: &Context, load_balancer: &str) -> Result<Vec<AwsListener>> {
        let result = cx
            .clients
            .elbv2
            .describe_listeners()
            .load_balancer_arn(load_balancer)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["LoadBalancerNotFound"]) => Ok(Vec::new()),
            other => Ok(other
                .context("listing listeners of", KIND, load_balancer)?
                .listeners
                .unwrap_or_default()),
        }
    }

    /// The stack's listener: the one tagged as ours, else one on the spec's port.
    async fn ours(&self, cx: &Context, load_balancer: &str) -> Result<Option<AwsListener>> {
        let port = i32::from(cx.spec.load_balancer.port);
        let mut on_port = None;
        for listener in self.listeners(cx, load_balancer).await? {
            let arn = listener.listener_arn().unwrap_or_default();
            let tags = elb_tags(cx, arn, KIND).await?;
            if tags.get(tags::COMPONENT).map(String::as_str) == Some(self.key())
                && tags.get(tags::STACK) == Some(&cx.spec.stack)
            {
                return Ok(Some(listener));
            }
            if listener.port() == Some(port) {
                on_port = Some(listener);
            }
        }
        if let Some(listener) = on_port {
            return Err(Error::precondition(
                format!(
                    "load balancer {load_balancer} already has a listener on port {port} ({}) that is not part of stack {}",
                    listener.listener_arn().unwrap_or_default(),
                    cx.spec.stack
                ),
                "delete that listener or choose another `load_balancer.port`",
            ));
        }
        Ok(None)
    }
}

#[async_trait]
impl Resource for Listener {
    fn key(&self) -> &'static str {
        "listener"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-lb:{}", cx.spec.stack, cx.spec.load_balancer.port)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["load-balancer", "target-group"]
    }

    async fn find(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Found>> {
        let Some(load_balancer) = deps.get("load-balancer") else {
            return Ok(None);
        };
        Ok(self
            .ours(cx, &load_balancer.id)
            .await?
            .map(|l| Found::new(l.listener_arn().unwrap_or_default())))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let out = cx
            .clients
            .elbv2
            .create_listener()
            .load_balancer_arn(deps.id("load-balancer")?)
            .protocol(protocol(cx))
            .set_certificates(certificates(cx))
            .set_ssl_policy(certificates(cx).map(|_| SSL_POLICY.to_string()))
            .port(i32::from(cx.spec.load_balancer.port))
            .default_actions(forward_to(deps.id("target-group")?))
            .set_tags(Some(elb_tag_list(cx, self.key(), &name)))
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

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let Some(listener) = self.ours(cx, deps.id("load-balancer")?).await? else {
            return Err(Error::precondition(
                format!("listener {} disappeared while converging", found.id),
                "run `modu up` again",
            ));
        };
        let port = i32::from(cx.spec.load_balancer.port);
        let target_group = deps.id("target-group")?;
        let mut changes = Vec::new();
        if listener.port() != Some(port) {
            changes.push(format!(
                "port {} -> {port}",
                listener.port().unwrap_or_default()
            ));
        }
        let want_protocol = protocol(cx);
        if listener.protocol() != Some(&want_protocol) {
            changes.push(format!("protocol -> {}", want_protocol.as_str()));
        }
        let want_certificate = cx.spec.load_balancer.certificate_arn.as_deref();
        let have_certificate = listener
            .certificates()
            .first()
            .and_then(|c| c.certificate_arn());
        if want_certificate.is_some() && have_certificate != want_certificate {
            changes.push("certificate".to_string());
        }
        if forwards_to(&listener) != Some(target_group) {
            changes.push("default action -> forward to the target group".to_string());
        }
        if !changes.is_empty() {
            cx.clients
                .elbv2
                .modify_listener()
                .listener_arn(&found.id)
                .port(port)
                .protocol(want_protocol)
                .set_certificates(certificates(cx))
                .set_ssl_policy(certificates(cx).map(|_| SSL_POLICY.to_string()))
                .default_actions(forward_to(target_group))
                .send()
                .await
                .context("updating", KIND, &found.id)?;
        }
        Ok(changes)
    }

    async fn health(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let Some(load_balancer) = deps.get("load-balancer") else {
            return Ok(Health {
                healthy: false,
                state: "load balancer missing".into(),
                details: json!({}),
            });
        };
        let Some(listener) = self.ours(cx, &load_balancer.id).await? else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let target = forwards_to(&listener).map(str::to_string);
        let expected = deps.get("target-group").map(|t| t.id.clone());
        let port = listener.port().unwrap_or_default();
        Ok(Health {
            healthy: target.is_some() && target == expected,
            state: format!(
                "{}:{port} -> {}",
                listener.protocol().map(|p| p.as_str()).unwrap_or("?"),
                deps.get("target-group")
                    .and_then(|t| t.output("name"))
                    .unwrap_or("?")
            ),
            details: json!({ "arn": found.id, "port": port, "forwards_to": target }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let result = cx
            .clients
            .elbv2
            .delete_listener()
            .listener_arn(&found.id)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["ListenerNotFound"]) => Ok(()),
            other => other.map(|_| ()).context("deleting", KIND, &found.id),
        }
    }
}
