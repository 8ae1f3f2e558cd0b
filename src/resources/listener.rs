//! The load balancer's listeners. The main one is HTTPS with the spec's certificate when
//! there is one, plain HTTP otherwise; it forwards to the target group, or, when the CDN
//! is on, answers 403 to anything that lacks the distribution's secret origin header (the
//! rule that forwards is in `listener_rule.rs`). With a certificate, a second listener on
//! port 80 redirects to HTTPS.
//!
//! Found by their tags among the balancer's listeners, so a changed port is modified in
//! place rather than leaving the old listener behind.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, Listener as AwsListener,
    ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
};
use serde_json::json;

use super::shared::elbv2;
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::Spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The listener on `load_balancer.port`.
    Main,
    /// Port 80 redirecting to HTTPS, when the main listener speaks HTTPS elsewhere.
    Redirect,
}

pub struct Listener {
    role: Role,
}

const KIND: &str = "listener";
/// TLS 1.3 and 1.2 only: AWS's recommended policy for new HTTPS listeners.
const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
const HTTP_PORT: u16 = 80;
/// What the main listener answers a request that did not come through the distribution.
const REFUSED_BODY: &str = "This load balancer answers its CloudFront distribution only.\n";

/// Whether port 80 redirects to HTTPS: with a certificate on another port.
fn redirects(spec: &Spec) -> bool {
    spec.load_balancer.certificate_arn.is_some() && spec.load_balancer.port != HTTP_PORT
}

/// The ports viewers reach the load balancer on when nothing stands in front of it.
pub fn viewer_ports(spec: &Spec) -> Vec<u16> {
    let mut ports = vec![spec.load_balancer.port];
    if redirects(spec) {
        ports.push(HTTP_PORT);
    }
    ports
}

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

/// A listener's default action, in the one-line form plans show and diffs compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Forward(String),
    Refuse,
    RedirectTo(u16),
    Other,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Forward(group) => write!(f, "forward to {group}"),
            Answer::Refuse => f.write_str("403 without the origin header"),
            Answer::RedirectTo(port) => write!(f, "301 to https port {port}"),
            Answer::Other => f.write_str("(other action)"),
        }
    }
}

impl Answer {
    fn of(listener: &AwsListener) -> Answer {
        let [action] = listener.default_actions() else {
            return Answer::Other;
        };
        match action.r#type() {
            Some(ActionTypeEnum::Forward) => action
                .target_group_arn()
                .or_else(|| match action.forward_config()?.target_groups() {
                    [only] => only.target_group_arn(),
                    _ => None,
                })
                .map_or(Answer::Other, |arn| Answer::Forward(arn.to_string())),
            Some(ActionTypeEnum::FixedResponse)
                if action
                    .fixed_response_config()
                    .is_some_and(|c| c.status_code() == Some("403")) =>
            {
                Answer::Refuse
            }
            Some(ActionTypeEnum::Redirect) => action
                .redirect_config()
                .filter(|c| {
                    c.protocol() == Some("HTTPS")
                        && c.status_code() == Some(&RedirectActionStatusCodeEnum::Http301)
                })
                .and_then(|c| c.port()?.parse().ok())
                .map_or(Answer::Other, Answer::RedirectTo),
            _ => Answer::Other,
        }
    }

    fn action(&self) -> Result<Action> {
        Ok(match self {
            Answer::Forward(group) => Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(group)
                .build(),
            Answer::Refuse => Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("403")
                        .content_type("text/plain")
                        .message_body(REFUSED_BODY)
                        .build(),
                )
                .build(),
            Answer::RedirectTo(port) => Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port(port.to_string())
                        .status_code(RedirectActionStatusCodeEnum::Http301)
                        .build(),
                )
                .build(),
            Answer::Other => return Err(Error::internal("no action is wanted as `other`")),
        })
    }
}

/// What modu owns on the listener.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    port: i32,
    protocol: String,
    /// Only compared when the spec names one.
    certificate: Option<String>,
    answer: Answer,
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
    diff.field("default_action", &live.answer, &want.answer);
    diff.into_changes()
}

impl Listener {
    pub fn main() -> Self {
        Listener { role: Role::Main }
    }
    pub fn redirect() -> Self {
        Listener {
            role: Role::Redirect,
        }
    }

    fn port(&self, cx: &Context) -> u16 {
        match self.role {
            Role::Main => cx.spec.load_balancer.port,
            Role::Redirect => HTTP_PORT,
        }
    }

    fn wanted_settings(&self, cx: &Context, deps: &Deps<'_>) -> Result<Settings> {
        Ok(match self.role {
            Role::Main => Settings {
                port: i32::from(cx.spec.load_balancer.port),
                protocol: protocol(cx).as_str().to_string(),
                certificate: cx.spec.load_balancer.certificate_arn.clone(),
                answer: match cx.spec.origin_behind_cdn() {
                    true => Answer::Refuse,
                    false => Answer::Forward(deps.id(Key::TargetGroup)?.to_string()),
                },
            },
            Role::Redirect => Settings {
                port: i32::from(HTTP_PORT),
                protocol: ProtocolEnum::Http.as_str().to_string(),
                certificate: None,
                answer: Answer::RedirectTo(cx.spec.load_balancer.port),
            },
        })
    }

    fn certificates(&self, cx: &Context) -> Option<Vec<Certificate>> {
        match self.role {
            Role::Main => certificates(cx),
            Role::Redirect => None,
        }
    }

    fn protocol(&self, cx: &Context) -> ProtocolEnum {
        match self.role {
            Role::Main => protocol(cx),
            Role::Redirect => ProtocolEnum::Http,
        }
    }
}

#[async_trait]
impl Resource for Listener {
    fn key(&self) -> Key {
        match self.role {
            Role::Main => Key::Listener,
            Role::Redirect => Key::RedirectListener,
        }
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-lb:{}", cx.spec.stack, self.port(cx))
    }
    fn depends_on(&self) -> Vec<Key> {
        match self.role {
            Role::Main => vec![Key::LoadBalancer, Key::TargetGroup],
            // After the main listener, so that a port moving between them is free first.
            Role::Redirect => vec![Key::LoadBalancer, Key::Listener],
        }
    }
    fn wanted(&self, spec: &Spec) -> bool {
        self.role == Role::Main || redirects(spec)
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
        let port = i32::from(self.port(cx));
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
            answer: Answer::of(listener),
        };
        Ok(Some(Observed::new(
            Found::new(listener.listener_arn().unwrap_or_default()),
            live,
        )))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_settings(
            observed.live()?,
            &self.wanted_settings(cx, deps)?,
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
        let want = self.wanted_settings(cx, deps)?;
        cx.clients
            .elbv2
            .modify_listener()
            .listener_arn(&observed.found.id)
            .port(want.port)
            .protocol(self.protocol(cx))
            .set_certificates(self.certificates(cx))
            .set_ssl_policy(self.certificates(cx).map(|_| SSL_POLICY.to_string()))
            .default_actions(want.answer.action()?)
            .send()
            .await
            .context("updating", KIND, &observed.found.id)?;
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let want = self.wanted_settings(cx, deps)?;
        let out = cx
            .clients
            .elbv2
            .create_listener()
            .load_balancer_arn(deps.id(Key::LoadBalancer)?)
            .protocol(self.protocol(cx))
            .set_certificates(self.certificates(cx))
            .set_ssl_policy(self.certificates(cx).map(|_| SSL_POLICY.to_string()))
            .port(want.port)
            .default_actions(want.answer.action()?)
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
        let want = self.wanted_settings(cx, deps)?;
        let answer = match &live.answer {
            Answer::Forward(_) => format!("forward to {}", super::target_group::name(cx)),
            other => other.to_string(),
        };
        Ok(Health {
            healthy: live.answer == want.answer,
            state: format!("{}:{} {answer}", live.protocol, live.port),
            details: json!({
                "arn": observed.found.id,
                "port": live.port,
                "default_action": live.answer.to_string(),
            }),
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
            answer: Answer::Forward("arn:tg".into()),
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
            answer: Answer::Refuse,
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
                "default_action: forward to arn:tg -> 403 without the origin header",
            ]
        );
    }

    #[test]
    fn each_answer_reads_back_from_the_action_it_makes() {
        for answer in [
            Answer::Forward("arn:tg".into()),
            Answer::Refuse,
            Answer::RedirectTo(443),
        ] {
            let listener = AwsListener::builder()
                .default_actions(answer.action().unwrap())
                .build();
            assert_eq!(Answer::of(&listener), answer);
        }
        let two = AwsListener::builder()
            .default_actions(Answer::Refuse.action().unwrap())
            .default_actions(Answer::Refuse.action().unwrap())
            .build();
        assert_eq!(Answer::of(&two), Answer::Other);
    }

    #[test]
    fn a_certificate_the_spec_does_not_name_is_left_alone() {
        let mut live = settings();
        live.certificate = Some("arn:someone".into());
        assert!(diff_settings(&live, &settings()).is_empty());
    }
}
