//! The Route53 public hosted zone the stack's record lives in.
//!
//! Usually the account's existing zone (looked up by name, never deleted). With
//! `dns.create_zone` modu creates it, tags it, and deletes it on `down` — and only then.

use async_trait::async_trait;
use aws_sdk_route53::types::{HostedZone as AwsZone, HostedZoneConfig, Tag, TagResourceType};
use serde_json::json;

use super::{Context, Deps, Found, Health, OnDown, Resource, unique_reference};
use crate::aws::errors::{self, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::Spec;

pub struct HostedZone;

const KIND: &str = "hosted-zone";

/// `Z123` from `/hostedzone/Z123`.
pub(super) fn short_zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A DNS name in the absolute form Route53 answers with.
pub(super) fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.')).to_ascii_lowercase()
}

impl HostedZone {
    async fn zone_tags(&self, cx: &Context, ids: &[String]) -> Result<Vec<(String, bool)>> {
        let mut owned = Vec::new();
        for chunk in ids.chunks(10) {
            let out = cx
                .clients
                .route53
                .list_tags_for_resources()
                .resource_type(TagResourceType::Hostedzone)
                .set_resource_ids(Some(chunk.to_vec()))
                .send()
                .await
                .context("reading tags of", KIND, &chunk.join(","))?;
            for set in out.resource_tag_sets() {
                let mine = tags::owned_by(
                    set.tags()
                        .iter()
                        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                    &cx.spec.stack,
                );
                owned.push((set.resource_id().unwrap_or_default().to_string(), mine));
            }
        }
        Ok(owned)
    }

    /// Public zones whose name is `zone`.
    async fn by_name(&self, cx: &Context, zone: &str) -> Result<Vec<AwsZone>> {
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
            .filter(|z| {
                absolute(z.name()) == wanted && !z.config().is_some_and(|c| c.private_zone())
            })
            .cloned()
            .collect())
    }

    /// Every zone in the account (for cleaning up after `dns` left the spec).
    pub(super) async fn all(cx: &Context) -> Result<Vec<AwsZone>> {
        let mut zones = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = cx
                .clients
                .route53
                .list_hosted_zones()
                .set_marker(marker.clone())
                .send()
                .await
                .context("listing", KIND, "all")?;
            zones.extend(out.hosted_zones().iter().cloned());
            match out.next_marker() {
                Some(next) if out.is_truncated() => marker = Some(next.to_string()),
                _ => return Ok(zones),
            }
        }
    }

    fn found(zone: &AwsZone, created_by_modu: bool) -> Found {
        Found::new(short_zone_id(zone.id()))
            .with("name", zone.name().trim_end_matches('.'))
            .with("created_by_modu", created_by_modu.to_string())
    }
}

#[async_trait]
impl Resource for HostedZone {
    fn key(&self) -> &'static str {
        "dns-zone"
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
    fn depends_on(&self) -> Vec<&'static str> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dns.is_some()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let Some(dns) = &cx.spec.dns else {
            // `dns` left the spec: only a zone modu created for this stack is still its business.
            let zones = Self::all(cx).await?;
            let ids: Vec<String> = zones
                .iter()
                .map(|z| short_zone_id(z.id()).to_string())
                .collect();
            let owned = self.zone_tags(cx, &ids).await?;
            return Ok(zones
                .iter()
                .find(|z| {
                    owned
                        .iter()
                        .any(|(id, mine)| *mine && id == short_zone_id(z.id()))
                })
                .map(|z| Self::found(z, true)));
        };
        let zones = self.by_name(cx, &dns.zone).await?;
        let Some(zone) = zones.first() else {
            return Ok(None);
        };
        let ids = vec![short_zone_id(zone.id()).to_string()];
        let mine = self
            .zone_tags(cx, &ids)
            .await?
            .iter()
            .any(|(_, mine)| *mine);
        Ok(Some(Self::found(zone, mine)))
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let dns =
            cx.spec.dns.as_ref().ok_or_else(|| {
                Error::precondition("internal: no dns section", "report this bug")
            })?;
        if !dns.create_zone {
            return Err(Error::precondition(
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
                    .comment(format!("modu stack {}", cx.spec.stack))
                    .private_zone(false)
                    .build(),
            )
            .send()
            .await
            .context("creating", KIND, &dns.zone)?;
        let zone = out.hosted_zone().ok_or_else(|| {
            Error::precondition("Route53 returned no zone", "run `modu up` again")
        })?;
        let zone_tags: Vec<Tag> = tags::for_resource(&cx.spec, self.key(), &dns.zone)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        cx.clients
            .route53
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(short_zone_id(zone.id()))
            .set_add_tags(Some(zone_tags))
            .send()
            .await
            .context("tagging", KIND, &dns.zone)?;
        Ok(Self::found(zone, true))
    }

    async fn converge(
        &self,
        _cx: &Context,
        _deps: &Deps<'_>,
        _found: &Found,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let created = found.output("created_by_modu") == Some("true");
        Ok(Health::ok(
            if created {
                "public, created by modu"
            } else {
                "public, existing"
            },
            json!({ "zone_id": found.id, "name": found.output("name"), "created_by_modu": created }),
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
            Err(err) if errors::is_code(&err, &["NoSuchHostedZone"]) => Ok(()),
            Err(err) if errors::is_code(&err, &["HostedZoneNotEmpty"]) => Err(Error::precondition(
                format!(
                    "hosted zone {} still holds records other than NS and SOA",
                    found.output("name").unwrap_or(&found.id)
                ),
                "those records are not modu's: delete them yourself, then run `modu down` again",
            )),
            other => other.map(|_| ()).context("deleting", KIND, &found.id),
        }
    }

    fn on_down(&self, _cx: &Context, found: &Found) -> OnDown {
        if found.output("created_by_modu") == Some("true") {
            OnDown::Delete
        } else {
            OnDown::Keep("existing zone, not created by modu")
        }
    }
}
