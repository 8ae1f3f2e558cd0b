//! The Route53 public hosted zone the stack's record lives in.
//!
//! Usually the account's existing zone (looked up by name, never deleted). With
//! `dns.create_zone` modu creates it and deletes it on `down` — and only then. A zone modu
//! created carries the comment `modu stack <stack>` (returned by the list call, and set by
//! the create itself, so a run stopped right after it still leaves a zone that is known as
//! the stack's) besides the stack's tags, which a later run adds if that run did not.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_route53::types::{HostedZone as AwsZone, HostedZoneConfig, Tag, TagResourceType};
use serde_json::json;

use super::shared::route53::{absolute, all_zones, short_zone_id};
use super::{
    Change, Context, Deps, Found, Health, Key, Observed, OnDown, Outputs, Resource, touches,
    unique_reference,
};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::Spec;

pub struct HostedZone;

const KIND: &str = "hosted-zone";

fn comment(stack: &str) -> String {
    format!("modu stack {stack}")
}

fn created_by(zone: &AwsZone, stack: &str) -> bool {
    zone.config().and_then(|c| c.comment()) == Some(comment(stack).as_str())
}

fn found(zone: &AwsZone, created_by_modu: bool, name_servers: Vec<String>) -> Found {
    Found::new(short_zone_id(zone.id())).with(Outputs::HostedZone {
        name: zone.name().trim_end_matches('.').to_string(),
        created_by_modu,
        name_servers,
    })
}

/// The tags of a zone modu created; `None` for the account's own zone, which modu leaves as
/// it is.
struct Live {
    tags: Option<BTreeMap<String, String>>,
}

/// The zone's name as found (its id if the outputs lack it).
fn zone_name(found: &Found) -> &str {
    match &found.outputs {
        Outputs::HostedZone { name, .. } => name,
        _ => &found.id,
    }
}

fn created(found: &Found) -> bool {
    matches!(
        found.outputs,
        Outputs::HostedZone {
            created_by_modu: true,
            ..
        }
    )
}

impl HostedZone {
    /// The public zone named `zone`, if any.
    async fn by_name(&self, cx: &Context, zone: &str) -> Result<Option<AwsZone>> {
        let out = cx
            .clients
            .route53
            .list_hosted_zones_by_name()
            .dns_name(zone)
            .max_items(10)
            .send()
            .await
            .context("looking up", KIND, zone)?;
        let wanted = absolute(zone);
        Ok(out
            .hosted_zones()
            .iter()
            .find(|z| absolute(z.name()) == wanted && !z.config().is_some_and(|c| c.private_zone()))
            .cloned())
    }

    async fn tags_of(&self, cx: &Context, id: &str) -> Result<BTreeMap<String, String>> {
        let out = cx
            .clients
            .route53
            .list_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(id)
            .send()
            .await
            .context("reading tags of", KIND, id)?;
        Ok(out
            .resource_tag_set()
            .map(|set| set.tags())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    async fn tag(&self, cx: &Context, id: &str, zone: &str) -> Result<()> {
        let zone_tags = tags::sdk(&cx.spec, self.key().as_str(), zone, |k, v| {
            Tag::builder().key(k).value(v).build()
        });
        cx.clients
            .route53
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(id)
            .set_add_tags(Some(zone_tags))
            .send()
            .await
            .context("tagging", KIND, zone)?;
        Ok(())
    }

    /// The zone as found, with its tags when modu created it.
    async fn observed(
        &self,
        cx: &Context,
        zone: &AwsZone,
        created_by_modu: bool,
    ) -> Result<Observed> {
        let found = found(zone, created_by_modu, Vec::new());
        let tags = match created_by_modu {
            true => Some(self.tags_of(cx, &found.id).await?),
            false => None,
        };
        Ok(Observed::new(found, Live { tags }))
    }
}

#[async_trait]
impl Resource for HostedZone {
    fn key(&self) -> Key {
        Key::DnsZone
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        cx.spec
            .dns
            .as_ref()
            .map(|d| d.zone.clone())
            .unwrap_or_else(|| "(dns off)".into())
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dns.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let stack = &cx.spec.stack;
        let Some(dns) = &cx.spec.dns else {
            // `dns` left the spec: only a zone modu created for this stack is still its business.
            let zones = all_zones(cx).await?;
            return match zones.iter().find(|z| created_by(z, stack)) {
                Some(zone) => Ok(Some(self.observed(cx, zone, true).await?)),
                None => Ok(None),
            };
        };
        match self.by_name(cx, &dns.zone).await? {
            Some(zone) => Ok(Some(
                self.observed(cx, &zone, created_by(&zone, stack)).await?,
            )),
            None => Ok(None),
        }
    }

    fn diff(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        let Some(current) = &live.tags else {
            return Ok(Vec::new());
        };
        let desired = tags::for_resource(&cx.spec, self.key().as_str(), zone_name(&observed.found));
        let missing = tags::missing(&desired, current);
        Ok(match missing.is_empty() {
            true => Vec::new(),
            false => vec![tags::change(&missing, current)],
        })
    }

    async fn apply(
        &self,
        cx: &Context,
        _deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        if touches(changes, "tags") {
            let found = &observed.found;
            self.tag(cx, &found.id, zone_name(found)).await?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let dns = cx
            .spec
            .dns
            .as_ref()
            .ok_or_else(|| Error::internal("hosted zone asked for without a dns section"))?;
        if !dns.create_zone {
            return Err(Error::fixable(
                format!(
                    "the public hosted zone {} does not exist in this account",
                    dns.zone
                ),
                format!(
                    "create it (`aws route53 create-hosted-zone --name {} --caller-reference $(date +%s)`) and delegate \
                     the domain to it, or set `dns.create_zone: true` to let modu create it",
                    dns.zone
                ),
            ));
        }
        let reference = unique_reference(&format!("modu-{}", cx.spec.stack));
        let out = cx
            .clients
            .route53
            .create_hosted_zone()
            .name(&dns.zone)
            .caller_reference(reference)
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .comment(comment(&cx.spec.stack))
                    .private_zone(false)
                    .build(),
            )
            .send()
            .await
            .context("creating", KIND, &dns.zone)?;
        let zone = out.hosted_zone().ok_or(Error::Disappeared {
            kind: KIND,
            name: dns.zone.clone(),
        })?;
        self.tag(cx, short_zone_id(zone.id()), &dns.zone).await?;
        let name_servers = out
            .delegation_set()
            .map(|d| d.name_servers().to_vec())
            .unwrap_or_default();
        Ok(found(zone, true, name_servers))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let found = &observed.found;
        let (name, created) = match &found.outputs {
            Outputs::HostedZone {
                name,
                created_by_modu,
                ..
            } => (name.as_str(), *created_by_modu),
            _ => ("", false),
        };
        Ok(Health::ok(
            if created {
                "public, created by modu"
            } else {
                "public, existing"
            },
            json!({ "zone_id": found.id, "name": name, "created_by_modu": created }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let result = cx
            .clients
            .route53
            .delete_hosted_zone()
            .id(&found.id)
            .send()
            .await;
        match result {
            Err(err) if crate::aws::errors::is_code(&err, &["HostedZoneNotEmpty"]) => {
                Err(Error::fixable(
                    format!(
                        "hosted zone {} still holds records other than NS and SOA",
                        found.id
                    ),
                    "those records are not modu's: delete them yourself, then run `modu down` again",
                ))
            }
            other => other.or_gone(&["NoSuchHostedZone"], KIND, &found.id),
        }
    }

    /// Where to delegate a zone modu has just created: until the domain's registrar names
    /// these servers, nobody on the internet finds the stack's record.
    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        match &found.outputs {
            Outputs::HostedZone {
                name, name_servers, ..
            } if !name_servers.is_empty() => vec![(
                "name_servers",
                format!(
                    "{} (new zone: delegate {name} to these at its registrar)",
                    name_servers.join(", ")
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn on_down(&self, _cx: &Context, found: &Found) -> OnDown {
        if created(found) {
            OnDown::Delete
        } else {
            OnDown::Keep("existing zone, not created by modu")
        }
    }
}
