//! The stack's DNS name: A and AAAA aliases to CloudFront (or an A alias to the load
//! balancer, which is IPv4-only), plus an ownership TXT record beside them.
//!
//! The TXT record (`"modu:stack=<stack>"`, the registry idea external-dns uses) is how modu
//! knows the name is its own: it refuses, changing nothing, to overwrite or delete records
//! of that name that carry no such marker or another stack's.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};
use serde_json::json;

use super::distribution::CLOUDFRONT_HOSTED_ZONE_ID;
use super::hosted_zone::{HostedZone, absolute, short_zone_id};
use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::{AwsContext, built};
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::spec::DnsTarget;
use crate::spec::Spec;

pub struct DnsRecord;

const KIND: &str = "dns-record";
const OWNERSHIP_PREFIX: &str = "modu:stack=";

fn ownership_value(stack: &str) -> String {
    format!("\"{OWNERSHIP_PREFIX}{stack}\"")
}

/// The record sets at one name, by type.
type AtName = BTreeMap<String, ResourceRecordSet>;

/// Which stack's ownership marker the TXT record at a name carries, if any.
fn owner(sets: &AtName) -> Option<String> {
    sets.get("TXT")?.resource_records().iter().find_map(|r| {
        r.value()
            .trim_matches('"')
            .strip_prefix(OWNERSHIP_PREFIX)
            .map(str::to_string)
    })
}

fn alias(
    kind: RrType,
    name: &str,
    zone: &str,
    target: &str,
    evaluate: bool,
) -> Result<ResourceRecordSet> {
    built(
        ResourceRecordSet::builder()
            .name(name)
            .r#type(kind)
            .alias_target(built(
                AliasTarget::builder()
                    .hosted_zone_id(zone)
                    .dns_name(absolute(target))
                    .evaluate_target_health(evaluate)
                    .build(),
            )?)
            .build(),
    )
}

/// Comparable form of a record set: alias target or sorted values.
fn fingerprint(set: &ResourceRecordSet) -> String {
    match set.alias_target() {
        Some(a) => format!("alias {} {}", a.hosted_zone_id(), absolute(a.dns_name())),
        None => {
            let mut values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
            values.sort_unstable();
            format!("values {}", values.join(" "))
        }
    }
}

impl DnsRecord {
    /// The record sets modu wants at the name, by type.
    fn desired(&self, cx: &Context, deps: &Deps<'_>, name: &str) -> Result<AtName> {
        let dns =
            cx.spec.dns.as_ref().ok_or_else(|| {
                Error::precondition("internal: no dns section", "report this bug")
            })?;
        let mut sets = AtName::new();
        let to_cdn = dns.target == DnsTarget::Cdn && cx.spec.cdn.is_some();
        if to_cdn {
            let domain = deps.output("cdn", "domain_name")?;
            sets.insert(
                "A".into(),
                alias(RrType::A, name, CLOUDFRONT_HOSTED_ZONE_ID, domain, false)?,
            );
            sets.insert(
                "AAAA".into(),
                alias(RrType::Aaaa, name, CLOUDFRONT_HOSTED_ZONE_ID, domain, false)?,
            );
        } else {
            let zone = deps.output("load-balancer", "hosted_zone_id")?;
            let domain = deps.output("load-balancer", "dns_name")?;
            sets.insert("A".into(), alias(RrType::A, name, zone, domain, true)?);
        }
        sets.insert(
            "TXT".into(),
            built(
                ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::Txt)
                    .ttl(300)
                    .resource_records(built(
                        ResourceRecord::builder()
                            .value(ownership_value(&cx.spec.stack))
                            .build(),
                    )?)
                    .build(),
            )?,
        );
        Ok(sets)
    }

    async fn at_name(&self, cx: &Context, zone: &str, name: &str) -> Result<AtName> {
        let out = cx
            .clients
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(name)
            .max_items(20)
            .send()
            .await
            .context("reading records of", KIND, name)?;
        Ok(out
            .resource_record_sets()
            .iter()
            .filter(|s| absolute(s.name()) == absolute(name) && s.set_identifier().is_none())
            .map(|s| (s.r#type().as_str().to_string(), s.clone()))
            .collect())
    }

    /// Refuses a name whose records exist without this stack's marker.
    fn check_owner(&self, cx: &Context, name: &str, sets: &AtName) -> Result<()> {
        let relevant = sets
            .keys()
            .any(|t| matches!(t.as_str(), "A" | "AAAA" | "CNAME" | "TXT"));
        match owner(sets) {
            Some(stack) if stack == cx.spec.stack => Ok(()),
            Some(other) => Err(Error::precondition(
                format!(
                    "{name} belongs to modu stack {other}, not {}",
                    cx.spec.stack
                ),
                "choose another `dns.record`, or remove it from the other stack first",
            )),
            None if relevant => Err(Error::precondition(
                format!(
                    "{name} already has {} records that are not managed by modu; refusing to overwrite them",
                    sets.keys().cloned().collect::<Vec<_>>().join("/")
                ),
                "choose another `dns.record`, or delete those records yourself if they are unused",
            )),
            None => Ok(()),
        }
    }

    async fn apply(
        &self,
        cx: &Context,
        zone: &str,
        name: &str,
        changes: Vec<Change>,
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let out = cx
            .clients
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(built(
                ChangeBatch::builder()
                    .comment(format!("modu stack {}", cx.spec.stack))
                    .set_changes(Some(changes))
                    .build(),
            )?)
            .send()
            .await
            .context("changing records of", KIND, name)?;
        let Some(change) = out.change_info().map(|c| c.id().to_string()) else {
            return Ok(());
        };
        cx.wait_for(self, "to propagate", || async {
            let status = cx
                .clients
                .route53
                .get_change()
                .id(short_zone_id(&change))
                .send()
                .await
                .context("checking the change of", KIND, name)?
                .change_info()
                .map(|c| c.status().clone());
            Ok(match status {
                Some(ChangeStatus::Insync) => Poll::Ready(()),
                other => Poll::Pending(
                    other
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "PENDING".into()),
                ),
            })
        })
        .await
    }

    /// Upserts what differs and deletes alias types no longer wanted.
    async fn converge_sets(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        zone: &str,
        name: &str,
    ) -> Result<Vec<String>> {
        let current = self.at_name(cx, zone, name).await?;
        self.check_owner(cx, name, &current)?;
        let desired = self.desired(cx, deps, name)?;
        let mut changes = Vec::new();
        let mut described = Vec::new();
        for (kind, set) in &desired {
            if current.get(kind).map(fingerprint) != Some(fingerprint(set)) {
                changes.push(built(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(set.clone())
                        .build(),
                )?);
                described.push(format!("{kind} -> {}", fingerprint(set)));
            }
        }
        for (kind, set) in &current {
            if matches!(kind.as_str(), "A" | "AAAA") && !desired.contains_key(kind) {
                changes.push(built(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(set.clone())
                        .build(),
                )?);
                described.push(format!("{kind} removed"));
            }
        }
        // Ownership first, so a half-applied batch never leaves records without a marker.
        changes.sort_by_key(|c| c.resource_record_set().map(|s| s.r#type() != &RrType::Txt));
        self.apply(cx, zone, name, changes).await?;
        Ok(described)
    }
}

#[async_trait]
impl Resource for DnsRecord {
    fn key(&self) -> &'static str {
        "dns-record"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        cx.spec
            .dns
            .as_ref()
            .map(|d| d.record.clone())
            .unwrap_or_else(|| "(dns off)".into())
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["dns-zone", "load-balancer", "cdn"]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dns.is_some()
    }

    async fn find(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Found>> {
        let Some(dns) = &cx.spec.dns else {
            // `dns` left the spec: look for this stack's marker in every zone.
            let marker = ownership_value(&cx.spec.stack);
            for zone in HostedZone::all(cx).await? {
                let zone_id = short_zone_id(zone.id()).to_string();
                let out = cx
                    .clients
                    .route53
                    .list_resource_record_sets()
                    .hosted_zone_id(&zone_id)
                    .send()
                    .await
                    .context("reading records of", KIND, zone.name())?;
                let hit = out.resource_record_sets().iter().find(|s| {
                    s.r#type() == &RrType::Txt
                        && s.resource_records().iter().any(|r| r.value() == marker)
                });
                if let Some(set) = hit {
                    return Ok(Some(
                        Found::new(set.name().trim_end_matches('.')).with("zone_id", zone_id),
                    ));
                }
            }
            return Ok(None);
        };
        let Some(zone) = deps.get("dns-zone") else {
            return Ok(None);
        };
        let current = self.at_name(cx, &zone.id, &dns.record).await?;
        // Records without this stack's marker are not ours: absent for `down` and `status`;
        // `up` then tries to create and refuses in `check_owner`, changing nothing.
        if owner(&current).as_deref() != Some(cx.spec.stack.as_str()) {
            return Ok(None);
        }
        Ok(Some(
            Found::new(dns.record.trim_end_matches('.')).with("zone_id", &zone.id),
        ))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let zone = deps.id("dns-zone")?;
        self.converge_sets(cx, deps, zone, &name).await?;
        Ok(Found::new(name.trim_end_matches('.')).with("zone_id", zone))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let zone = deps.id("dns-zone")?;
        self.converge_sets(cx, deps, zone, &found.id).await
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let zone = found.output("zone_id").unwrap_or_default();
        let current = self.at_name(cx, zone, &found.id).await?;
        let targets: BTreeMap<&str, String> = current
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "A" | "AAAA"))
            .map(|(k, s)| {
                (
                    k.as_str(),
                    s.alias_target()
                        .map(|a| a.dns_name().trim_end_matches('.').to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let target = targets.get("A").cloned().unwrap_or_else(|| "-".into());
        Ok(Health {
            healthy: targets.contains_key("A")
                && owner(&current).as_deref() == Some(cx.spec.stack.as_str()),
            state: format!(
                "{} -> {target} ({})",
                found.id,
                targets.keys().copied().collect::<Vec<_>>().join("+")
            ),
            details: json!({ "zone_id": zone, "name": found.id, "targets": targets }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let zone = found.output("zone_id").unwrap_or_default();
        let current = self.at_name(cx, zone, &found.id).await?;
        if current.is_empty() {
            return Ok(());
        }
        self.check_owner(cx, &found.id, &current)?;
        let mut changes = current
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "A" | "AAAA" | "TXT"))
            .map(|(_, set)| {
                built(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(set.clone())
                        .build(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        // The marker goes last, so an interrupted delete can be resumed by the next `down`.
        changes.sort_by_key(|c| c.resource_record_set().map(|s| s.r#type() == &RrType::Txt));
        self.apply(cx, zone, &found.id, changes).await
    }

    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        vec![("url", format!("https://{}/", found.id))]
    }
}
