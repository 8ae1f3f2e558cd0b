//! The main listener's one rule when the CDN is on: a request carrying the distribution's
//! secret origin header is forwarded to the target group; the listener's default action
//! refuses every other one (403). The rule accepts the current value and, during a
//! rotation, the pending one (see `origin_secret.rs`).
//!
//! Found by its priority among the rules of the stack's own listener (tagged all the same).

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, HttpHeaderConditionConfig, Rule as AwsRule, RuleCondition,
};
use serde_json::json;

use super::origin_secret::{self, HEADER, SecretValue};
use super::shared::elbv2;
use super::{Change, Context, Deps, Diff, Found, Health, KNOWN_AFTER_UP, Key, Observed, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::Result;
use crate::spec::Spec;

pub struct ListenerRule;

const KIND: &str = "listener-rule";
/// The only rule on a listener modu owns.
const PRIORITY: i32 = 1;

/// What modu owns on the rule, in comparable form (values as fingerprints).
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    header: String,
    accepts: Vec<String>,
    forwards_to: String,
}

fn settings_of(rule: &AwsRule) -> Settings {
    let (header, accepts) = rule
        .conditions()
        .iter()
        .find_map(|c| c.http_header_config())
        .map(|h| {
            (
                h.http_header_name().unwrap_or_default().to_string(),
                h.values()
                    .iter()
                    .map(|v| SecretValue::new(v.as_str()).fingerprint())
                    .collect(),
            )
        })
        .unwrap_or_default();
    let forwards_to = match rule.actions() {
        [action] if action.r#type() == Some(&ActionTypeEnum::Forward) => action
            .target_group_arn()
            .unwrap_or("(other action)")
            .to_string(),
        _ => "(other action)".into(),
    };
    Settings {
        header,
        accepts,
        forwards_to,
    }
}

fn wanted(deps: &Deps<'_>) -> Result<Settings> {
    let accepts = match origin_secret::values(deps)? {
        Some(values) => values
            .accepted()
            .into_iter()
            .map(SecretValue::fingerprint)
            .collect(),
        None => vec![KNOWN_AFTER_UP.to_string()],
    };
    Ok(Settings {
        header: HEADER.to_string(),
        accepts,
        forwards_to: deps.id(Key::TargetGroup)?.to_string(),
    })
}

fn diff_settings(live: &Settings, want: &Settings) -> Vec<Change> {
    let mut diff = Diff::new();
    diff.field("header", &live.header, &want.header);
    diff.list("accepts", &live.accepts, &want.accepts);
    diff.field("forwards_to", &live.forwards_to, &want.forwards_to);
    diff.into_changes()
}

/// The rule's condition and action, with the secret values themselves.
fn definition(deps: &Deps<'_>) -> Result<(RuleCondition, Action)> {
    let values = origin_secret::values(deps)?
        .map(|v| {
            v.accepted()
                .into_iter()
                .map(|s| s.expose().to_string())
                .collect()
        })
        .unwrap_or_default();
    let condition = RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name(HEADER)
                .set_values(Some(values))
                .build(),
        )
        .build();
    let action = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(deps.id(Key::TargetGroup)?)
        .build();
    Ok((condition, action))
}

#[async_trait]
impl Resource for ListenerRule {
    fn key(&self) -> Key {
        Key::ListenerRule
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!(
            "{}-lb:{} {HEADER}",
            cx.spec.stack, cx.spec.load_balancer.port
        )
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::Listener, Key::TargetGroup, Key::OriginSecret]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.origin_behind_cdn()
    }

    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(listener) = deps.get(Key::Listener)? else {
            return Ok(None);
        };
        let elb = &cx.clients.elbv2;
        let rules = elb
            .describe_rules()
            .listener_arn(&listener.id)
            .send()
            .await
            .or_absent(
                &["ListenerNotFound"],
                "listing rules of",
                KIND,
                &listener.id,
            )?
            .and_then(|out| out.rules)
            .unwrap_or_default();
        // The listener is the stack's own (found by its tag), so its rule at modu's
        // priority is too: no second read for the rule's tags.
        let Some(rule) = rules
            .iter()
            .find(|r| r.priority() == Some(PRIORITY.to_string().as_str()))
        else {
            return Ok(None);
        };
        let arn = rule.rule_arn().unwrap_or_default();
        Ok(Some(Observed::new(Found::new(arn), settings_of(rule))))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_settings(observed.live()?, &wanted(deps)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let (condition, action) = definition(deps)?;
        cx.clients
            .elbv2
            .modify_rule()
            .rule_arn(&observed.found.id)
            .conditions(condition)
            .actions(action)
            .send()
            .await
            .context("updating", KIND, &observed.found.id)?;
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let (condition, action) = definition(deps)?;
        let out = cx
            .clients
            .elbv2
            .create_rule()
            .listener_arn(deps.id(Key::Listener)?)
            .priority(PRIORITY)
            .conditions(condition)
            .actions(action)
            .set_tags(Some(elbv2::tag_list(cx, self.key().as_str(), &name)))
            .send()
            .await
            .context("creating", KIND, &name)?;
        let arn = out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default();
        Ok(Found::new(arn))
    }

    async fn health(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Settings = observed.live()?;
        let healthy = diff_settings(live, &wanted(deps)?).is_empty();
        Ok(Health {
            healthy,
            state: format!(
                "{HEADER} ({} value{}) -> {}",
                live.accepts.len(),
                if live.accepts.len() == 1 { "" } else { "s" },
                super::target_group::name(cx)
            ),
            details: json!({
                "arn": observed.found.id,
                "header": live.header,
                "accepts": live.accepts,
                "forwards_to": live.forwards_to,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        cx.clients
            .elbv2
            .delete_rule()
            .rule_arn(&found.id)
            .send()
            .await
            .or_gone(&["RuleNotFound"], KIND, &found.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_back_as_the_values_it_accepts_never_the_values_themselves() {
        let rule = AwsRule::builder()
            .conditions(
                RuleCondition::builder()
                    .field("http-header")
                    .http_header_config(
                        HttpHeaderConditionConfig::builder()
                            .http_header_name(HEADER)
                            .values("s3cr3t")
                            .build(),
                    )
                    .build(),
            )
            .actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn("arn:tg")
                    .build(),
            )
            .build();
        let live = settings_of(&rule);
        assert_eq!(live.header, HEADER);
        assert_eq!(live.accepts, [SecretValue::new("s3cr3t").fingerprint()]);
        assert!(!format!("{live:?}").contains("s3cr3t"));
        assert_eq!(live.forwards_to, "arn:tg");
    }

    #[test]
    fn a_second_accepted_value_is_a_change() {
        let live = Settings {
            header: HEADER.into(),
            accepts: vec!["secret 01".into()],
            forwards_to: "arn:tg".into(),
        };
        let mut want = live.clone();
        want.accepts.push("secret 02".into());
        let changes = diff_settings(&live, &want);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].to, "secret 01,secret 02");
    }
}
