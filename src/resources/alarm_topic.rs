//! The SNS topic `<stack>-alarms` that the stack's alarms notify when `dashboard.notify`
//! lists addresses, with one email subscription per address.
//!
//! Found by its ARN, which name, region and account make deterministic; its `modu:stack` tag
//! marks it the stack's. modu converges the email subscriptions only (a chat webhook someone
//! added is left alone): an address the spec lists is subscribed, one it no longer lists is
//! unsubscribed. A new subscription waits until its address confirms the email AWS sends; until
//! then its ARN reads `PendingConfirmation`, AWS refuses to delete it and drops it unconfirmed
//! after 48 hours (SNS Developer Guide, "Deleting an Amazon SNS subscription and topic"). So a
//! pending address counts as subscribed, and one the spec no longer lists is left to expire.
//!
//! No topic policy: a topic's default policy lets its own account publish, and CloudWatch
//! publishes a same-account alarm's notifications under it; a topic in another account, or
//! one encrypted with a KMS key, needs grants (sns:Publish for `cloudwatch.amazonaws.com`, the
//! key's use) that only its owner can give, which is why `topic_arn` leaves that to them. The
//! topic is not encrypted for the same reason: CloudWatch cannot use the AWS-managed `aws/sns`
//! key, and a customer key would need its own policy.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::json;

use super::toolkit::is_code;
use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource, ensure_owned,
    touches,
};
use crate::aws::direct::QueryClient;
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct AlarmTopic;

const KIND: &str = "sns-topic";
const NOT_FOUND: &[&str] = &["NotFound", "ResourceNotFound"];
/// What SNS lists as the ARN of a subscription its endpoint has not confirmed.
const PENDING: &str = "PendingConfirmation";
const EMAIL: &str = "email";

/// One subscription of the topic, as SNS lists it.
#[derive(Debug, Clone, PartialEq)]
struct Subscription {
    arn: String,
    protocol: String,
    endpoint: String,
}

impl Subscription {
    fn pending(&self) -> bool {
        self.arn == PENDING
    }
}

/// The topic as SNS has it.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    tags: BTreeMap<String, String>,
    subscriptions: Vec<Subscription>,
}

/// What `up` does to the topic's email subscriptions.
#[derive(Debug, Default, PartialEq)]
struct SubscriptionChanges {
    subscribe: Vec<String>,
    /// Confirmed subscriptions of addresses the spec no longer lists.
    unsubscribe: Vec<Subscription>,
}

fn subscription_changes(live: &[Subscription], want: &[String]) -> SubscriptionChanges {
    let emails: Vec<&Subscription> = live.iter().filter(|s| s.protocol == EMAIL).collect();
    SubscriptionChanges {
        subscribe: want
            .iter()
            .filter(|w| !emails.iter().any(|s| &s.endpoint == *w))
            .cloned()
            .collect(),
        unsubscribe: emails
            .into_iter()
            .filter(|s| !s.pending() && !want.contains(&s.endpoint))
            .cloned()
            .collect(),
    }
}

/// The addresses the spec lists that have no confirmed subscription: pending ones, and those
/// the next `up` subscribes (so that the `up` that adds one says it must be confirmed).
fn unconfirmed(live: &[Subscription], want: &[String]) -> Vec<String> {
    want.iter()
        .filter(|w| {
            !live
                .iter()
                .any(|s| s.protocol == EMAIL && !s.pending() && &s.endpoint == *w)
        })
        .cloned()
        .collect()
}

fn diff_live(live: &Live, desired_tags: &BTreeMap<String, String>, want: &[String]) -> Vec<Change> {
    let mut diff = Diff::new();
    let missing = tags::missing(desired_tags, &live.tags);
    if !missing.is_empty() {
        diff.push(tags::change(&missing, &live.tags));
    }
    let changes = subscription_changes(&live.subscriptions, want);
    if changes != SubscriptionChanges::default() {
        let current: BTreeSet<&str> = live
            .subscriptions
            .iter()
            .filter(|s| s.protocol == EMAIL && (!s.pending() || want.contains(&s.endpoint)))
            .map(|s| s.endpoint.as_str())
            .collect();
        let wanted: BTreeSet<&str> = want.iter().map(String::as_str).collect();
        diff.list(
            "subscriptions",
            &current.into_iter().collect::<Vec<_>>(),
            &wanted.into_iter().collect::<Vec<_>>(),
        );
    }
    diff.into_changes()
}

fn found(arn: &str, pending: Vec<String>) -> Found {
    Found::new(arn).with(Outputs::Topic {
        arn: arn.to_string(),
        pending,
    })
}

impl AlarmTopic {
    fn arn(&self, cx: &Context) -> String {
        format!(
            "arn:aws:sns:{}:{}:{}",
            cx.spec.region,
            cx.account_id,
            self.name(cx)
        )
    }

    fn wanted_emails<'a>(&self, cx: &'a Context) -> &'a [String] {
        cx.spec.dashboard.as_ref().map_or(&[], |d| d.emails())
    }

    fn sns<'a>(&self, cx: &'a Context) -> &'a QueryClient {
        &cx.clients.sns
    }

    async fn subscriptions(&self, cx: &Context, arn: &str) -> Result<Vec<Subscription>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = self.sns(cx).params("ListSubscriptionsByTopic");
            params.set("TopicArn", arn);
            if let Some(token) = &token {
                params.set("NextToken", token);
            }
            let page = self.sns(cx).call(&params).await.context(
                "listing the subscriptions of",
                KIND,
                arn,
            )?;
            all.extend(page.list("Subscriptions").map(|s| Subscription {
                arn: s.string("SubscriptionArn"),
                protocol: s.string("Protocol"),
                endpoint: s.string("Endpoint"),
            }));
            token = page
                .text_of("NextToken")
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(all);
            }
        }
    }

    async fn subscribe(&self, cx: &Context, arn: &str, email: &str) -> Result<()> {
        let mut params = self.sns(cx).params("Subscribe");
        params
            .set("TopicArn", arn)
            .set("Protocol", EMAIL)
            .set("Endpoint", email);
        self.sns(cx)
            .call(&params)
            .await
            .context("subscribing an address to", KIND, arn)?;
        Ok(())
    }

    async fn unsubscribe(&self, cx: &Context, subscription: &Subscription) -> Result<()> {
        let mut params = self.sns(cx).params("Unsubscribe");
        params.set("SubscriptionArn", &subscription.arn);
        self.sns(cx)
            .call(&params)
            .await
            .or_gone(NOT_FOUND, KIND, &subscription.arn)
    }
}

#[async_trait]
impl Resource for AlarmTopic {
    fn key(&self) -> Key {
        Key::AlarmTopic
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-alarms", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dashboard
            .as_ref()
            .is_some_and(|d| !d.emails().is_empty())
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let arn = self.arn(cx);
        let mut params = self.sns(cx).params("GetTopicAttributes");
        params.set("TopicArn", &arn);
        let exists =
            self.sns(cx)
                .call(&params)
                .await
                .or_absent(NOT_FOUND, "looking up", KIND, &arn)?;
        if exists.is_none() {
            return Ok(None);
        }
        let mut params = self.sns(cx).params("ListTagsForResource");
        params.set("ResourceArn", &arn);
        let listed = self
            .sns(cx)
            .call(&params)
            .await
            .context("reading the tags of", KIND, &arn)?;
        let tags: BTreeMap<String, String> = listed
            .list("Tags")
            .map(|t| (t.string("Key"), t.string("Value")))
            .collect();
        ensure_owned(
            cx,
            format!("SNS topic {}", self.name(cx)),
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )?;
        let subscriptions = self.subscriptions(cx, &arn).await?;
        let waiting = unconfirmed(&subscriptions, self.wanted_emails(cx));
        Ok(Some(Observed::new(
            found(&arn, waiting),
            Live {
                tags,
                subscriptions,
            },
        )))
    }

    fn diff(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let desired = tags::for_resource(&cx.spec, self.key().as_str(), &self.name(cx));
        Ok(diff_live(
            observed.live()?,
            &desired,
            self.wanted_emails(cx),
        ))
    }

    async fn apply(
        &self,
        cx: &Context,
        _deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let arn = &observed.found.id;
        let live: &Live = observed.live()?;
        if touches(changes, "tags") {
            let tags = tags::pairs(&cx.spec, self.key().as_str(), &self.name(cx));
            let mut params = self.sns(cx).params("TagResource");
            params
                .set("ResourceArn", arn)
                .member_tags("Tags", "member", &tags);
            self.sns(cx)
                .call(&params)
                .await
                .context("tagging", KIND, arn)?;
        }
        if touches(changes, "subscriptions") {
            let plan = subscription_changes(&live.subscriptions, self.wanted_emails(cx));
            for email in &plan.subscribe {
                self.subscribe(cx, arn, email).await?;
            }
            for subscription in &plan.unsubscribe {
                self.unsubscribe(cx, subscription).await?;
            }
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let tags = tags::pairs(&cx.spec, self.key().as_str(), &name);
        let mut params = self.sns(cx).params("CreateTopic");
        params
            .set("Name", &name)
            .member_tags("Tags", "member", &tags);
        let created = self
            .sns(cx)
            .call(&params)
            .await
            .context("creating", KIND, &name)?;
        let arn = created.string("TopicArn");
        let emails = self.wanted_emails(cx);
        for email in emails {
            self.subscribe(cx, &arn, email).await?;
        }
        Ok(found(&arn, emails.to_vec()))
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let want = self.wanted_emails(cx);
        let waiting = unconfirmed(&live.subscriptions, want);
        let confirmed: Vec<&str> = live
            .subscriptions
            .iter()
            .filter(|s| s.protocol == EMAIL && !s.pending())
            .map(|s| s.endpoint.as_str())
            .collect();
        let expiring: Vec<&str> = live
            .subscriptions
            .iter()
            .filter(|s| s.protocol == EMAIL && s.pending() && !want.contains(&s.endpoint))
            .map(|s| s.endpoint.as_str())
            .collect();
        let mut state = format!("{} confirmed", confirmed.len());
        if !waiting.is_empty() {
            state.push_str(&format!(", awaiting confirmation: {}", waiting.join(", ")));
        }
        if !expiring.is_empty() {
            state.push_str(&format!(
                ", no longer listed (AWS drops them unconfirmed): {}",
                expiring.join(", ")
            ));
        }
        // An address that has not confirmed is the recipient's step, not a fault of the stack.
        Ok(Health::ok(
            state,
            json!({ "confirmed": confirmed, "pending": waiting, "expiring": expiring }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let arn = &found.id;
        // Confirmed subscriptions first: AWS removes a deleted topic's subscriptions only
        // eventually. Pending ones cannot be deleted and expire on their own.
        let subscriptions = match self.subscriptions(cx, arn).await {
            Err(err) if is_code(&err, "NotFound") => return Ok(()),
            other => other?,
        };
        for subscription in subscriptions.iter().filter(|s| !s.pending()) {
            self.unsubscribe(cx, subscription).await?;
        }
        let mut params = self.sns(cx).params("DeleteTopic");
        params.set("TopicArn", arn);
        self.sns(cx)
            .call(&params)
            .await
            .or_gone(NOT_FOUND, KIND, arn)
    }

    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        match &found.outputs {
            Outputs::Topic { pending, .. } if !pending.is_empty() => vec![(
                "alarm_emails_to_confirm",
                format!(
                    "{}: each address must open the email from AWS Notifications and confirm \
                     the subscription, or it receives no alarm",
                    pending.join(", ")
                ),
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(arn: &str, endpoint: &str) -> Subscription {
        Subscription {
            arn: arn.into(),
            protocol: EMAIL.into(),
            endpoint: endpoint.into(),
        }
    }

    fn emails(list: &[&str]) -> Vec<String> {
        list.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn missing_addresses_are_subscribed_and_confirmed_extras_unsubscribed() {
        let live = vec![
            sub("arn:s:1", "keep@example.org"),
            sub("arn:s:2", "gone@example.org"),
            sub(PENDING, "waiting@example.org"),
        ];
        let changes = subscription_changes(
            &live,
            &emails(&["keep@example.org", "new@example.org", "waiting@example.org"]),
        );
        assert_eq!(changes.subscribe, ["new@example.org"]);
        assert_eq!(changes.unsubscribe, [sub("arn:s:2", "gone@example.org")]);
    }

    #[test]
    fn a_pending_extra_cannot_be_deleted_and_is_no_change() {
        let live = Live {
            tags: BTreeMap::from([("modu:stack".to_string(), "web".to_string())]),
            subscriptions: vec![
                sub("arn:s:1", "keep@example.org"),
                sub(PENDING, "former@example.org"),
                Subscription {
                    arn: "arn:s:3".into(),
                    protocol: "https".into(),
                    endpoint: "https://chat.example.org/hook".into(),
                },
            ],
        };
        let want = BTreeMap::from([("modu:stack".to_string(), "web".to_string())]);
        assert!(diff_live(&live, &want, &emails(&["keep@example.org"])).is_empty());
        assert!(unconfirmed(&live.subscriptions, &emails(&["keep@example.org"])).is_empty());
    }

    #[test]
    fn the_diff_shows_the_addresses_before_and_after() {
        let live = Live {
            tags: BTreeMap::from([("modu:stack".to_string(), "web".to_string())]),
            subscriptions: vec![
                sub("arn:s:1", "b@example.org"),
                sub(PENDING, "a@example.org"),
            ],
        };
        let want = BTreeMap::from([("modu:stack".to_string(), "web".to_string())]);
        let changes = diff_live(&live, &want, &emails(&["a@example.org", "c@example.org"]));
        assert_eq!(
            changes,
            [Change::new(
                "subscriptions",
                "a@example.org,b@example.org",
                "a@example.org,c@example.org"
            )]
        );
        assert_eq!(
            unconfirmed(
                &live.subscriptions,
                &emails(&["a@example.org", "b@example.org", "c@example.org"])
            ),
            ["a@example.org", "c@example.org"],
            "pending, and about to be subscribed"
        );
    }
}
