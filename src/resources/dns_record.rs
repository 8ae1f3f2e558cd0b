//! The stack's DNS names: the record viewers use (A and AAAA aliases to CloudFront, or an A
//! alias to the load balancer, which is IPv4-only), and, for an HTTPS origin, the name
//! CloudFront reaches the load balancer by (`origin-<stack>.<zone>`, an A alias to it). Each
//! has an ownership TXT record beside it.
//!
//! The TXT record (`"modu:stack=<stack>"`, the registry idea external-dns uses) is how modu
//! knows the name is its own: it refuses, changing nothing, to overwrite or delete records
//! of that name that carry no such marker or another stack's.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change as Route53Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};
use serde_json::json;

use super::distribution::CLOUDFRONT_HOSTED_ZONE_ID;
use super::shared::route53::{absolute, all_zones, short_zone_id};
use super::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource};
use crate::aws::errors::{AwsContext, built};
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::spec::DnsTarget;
use crate::spec::Spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `dns.record`, for viewers.
    Site,
    /// [`Spec::origin_name`], for CloudFront.
    Origin,
}

pub struct DnsRecord {
    role: Role,
}

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

/// Where the origin name would be: known whenever there is a zone, so that a name no longer
/// wanted is still found (and deleted).
fn origin_name_in_zone(spec: &Spec) -> Option<String> {
    let dns = spec.dns.as_ref()?;
    Some(format!("origin-{}.{}", spec.stack, dns.zone))
}

impl DnsRecord {
    pub fn site() -> Self {
        DnsRecord { role: Role::Site }
    }
    pub fn origin() -> Self {
        DnsRecord { role: Role::Origin }
    }

    /// Whether a record found by the stack's marker is this role's.
    fn is_mine(&self, stack: &str, name: &str) -> bool {
        let origin = absolute(name).starts_with(&format!("origin-{stack}."));
        origin == (self.role == Role::Origin)
    }

    /// The record sets modu wants at the name, by type.
    fn desired(&self, cx: &Context, deps: &Deps<'_>, name: &str) -> Result<AtName> {
        let dns = cx
            .spec
            .dns
            .as_ref()
            .ok_or_else(|| Error::internal("dns record asked for without a dns section"))?;
        let mut sets = AtName::new();
        let to_cdn =
            self.role == Role::Site && dns.target == DnsTarget::Cdn && cx.spec.cdn.is_some();
        if to_cdn {
            let (_, domain) = deps.distribution()?;
            sets.insert(
                "A".into(),
                alias(RrType::A, name, CLOUDFRONT_HOSTED_ZONE_ID, domain, false)?,
            );
            sets.insert(
                "AAAA".into(),
                alias(RrType::Aaaa, name, CLOUDFRONT_HOSTED_ZONE_ID, domain, false)?,
            );
        } else {
            let (domain, zone) = deps.load_balancer_dns()?;
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

    async fn change(
        &self,
        cx: &Context,
        zone: &str,
        name: &str,
        changes: Vec<Route53Change>,
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

    /// Upserts what differs and deletes alias types no longer wanted, marker first.
    async fn converge_sets(
        &self,
        cx: &Context,
        zone: &str,
        name: &str,
        current: &AtName,
        desired: &AtName,
    ) -> Result<()> {
        let mut changes = Vec::new();
        for (kind, set) in desired {
            if current.get(kind).map(fingerprint) != Some(fingerprint(set)) {
                changes.push(record_change(ChangeAction::Upsert, set)?);
            }
        }
        for (kind, set) in current {
            if matches!(kind.as_str(), "A" | "AAAA") && !desired.contains_key(kind) {
                changes.push(record_change(ChangeAction::Delete, set)?);
            }
        }
        // Ownership first, so a half-applied batch never leaves records without a marker.
        changes.sort_by_key(|c| c.resource_record_set().map(|s| s.r#type() != &RrType::Txt));
        self.change(cx, zone, name, changes).await
    }
}

fn record_change(action: ChangeAction, set: &ResourceRecordSet) -> Result<Route53Change> {
    built(
        Route53Change::builder()
            .action(action)
            .resource_record_set(set.clone())
            .build(),
    )
}

/// Refuses a name whose records exist without this stack's marker.
fn check_owner(cx: &Context, name: &str, sets: &AtName) -> Result<()> {
    let relevant = sets
        .keys()
        .any(|t| matches!(t.as_str(), "A" | "AAAA" | "CNAME" | "TXT"));
    match owner(sets) {
        Some(stack) if stack == cx.spec.stack => Ok(()),
        Some(other) => Err(Error::NotOwned {
            what: format!("{name} (it belongs to modu stack {other})"),
            stack: cx.spec.stack.clone(),
            help: Some(
                "choose another `dns.record`, or remove it from the other stack first".into(),
            ),
        }),
        None if relevant => Err(Error::NotOwned {
            what: format!(
                "{name} with {} records not managed by modu",
                sets.keys().cloned().collect::<Vec<_>>().join("/")
            ),
            stack: cx.spec.stack.clone(),
            help: Some(
                "choose another `dns.record`, or delete those records yourself if they are unused"
                    .into(),
            ),
        }),
        None => Ok(()),
    }
}

/// The record sets at a name, what modu compares and changes.
#[derive(Debug, Clone)]
struct Live {
    zone: String,
    sets: AtName,
}

fn diff_sets(live: &AtName, desired: &AtName) -> Vec<Change> {
    let mut diff = Diff::new();
    for (kind, set) in desired {
        let current = live
            .get(kind)
            .map(fingerprint)
            .unwrap_or_else(|| "(none)".into());
        diff.field(kind, &current, &fingerprint(set));
    }
    for kind in live.keys() {
        if matches!(kind.as_str(), "A" | "AAAA") && !desired.contains_key(kind) {
            diff.field(kind, &fingerprint(&live[kind]), &"(none)".to_string());
        }
    }
    diff.into_changes()
}

fn found(name: &str, zone: &str) -> Found {
    Found::new(name.trim_end_matches('.')).with(Outputs::InZone {
        zone_id: zone.to_string(),
    })
}

#[async_trait]
impl Resource for DnsRecord {
    fn key(&self) -> Key {
        match self.role {
            Role::Site => Key::DnsRecord,
            Role::Origin => Key::OriginRecord,
        }
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        let name = match self.role {
            Role::Site => cx.spec.dns.as_ref().map(|d| d.record.clone()),
            Role::Origin => origin_name_in_zone(&cx.spec),
        };
        name.unwrap_or_else(|| "(dns off)".into())
    }
    fn depends_on(&self) -> Vec<Key> {
        match self.role {
            Role::Site => vec![Key::DnsZone, Key::LoadBalancer, Key::Cdn],
            Role::Origin => vec![Key::DnsZone, Key::LoadBalancer],
        }
    }
    fn wanted(&self, spec: &Spec) -> bool {
        match self.role {
            Role::Site => spec.dns.is_some(),
            Role::Origin => spec.origin_name().is_some(),
        }
    }

    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        if cx.spec.dns.is_none() {
            // `dns` left the spec: look for this stack's marker in every zone.
            let marker = ownership_value(&cx.spec.stack);
            for zone in all_zones(cx).await? {
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
                        && self.is_mine(&cx.spec.stack, s.name())
                        && s.resource_records().iter().any(|r| r.value() == marker)
                });
                if let Some(set) = hit {
                    let name = set.name().to_string();
                    let sets = self.at_name(cx, &zone_id, &name).await?;
                    let live = Live {
                        zone: zone_id.clone(),
                        sets,
                    };
                    return Ok(Some(Observed::new(found(&name, &zone_id), live)));
                }
            }
            return Ok(None);
        }
        let Some(zone) = deps.get(Key::DnsZone)? else {
            return Ok(None);
        };
        let name = self.name(cx);
        let sets = self.at_name(cx, &zone.id, &name).await?;
        check_owner(cx, &name, &sets)?;
        if owner(&sets).is_none() {
            return Ok(None);
        }
        let live = Live {
            zone: zone.id.clone(),
            sets,
        };
        Ok(Some(Observed::new(found(&name, &zone.id), live)))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        let desired = self.desired(cx, deps, &self.name(cx))?;
        Ok(diff_sets(&live.sets, &desired))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let live: &Live = observed.live()?;
        let name = self.name(cx);
        let desired = self.desired(cx, deps, &name)?;
        self.converge_sets(cx, &live.zone, &name, &live.sets, &desired)
            .await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let zone = deps.id(Key::DnsZone)?;
        // Read again right before writing: nothing of that name may have appeared meanwhile.
        let current = self.at_name(cx, zone, &name).await?;
        check_owner(cx, &name, &current)?;
        let desired = self.desired(cx, deps, &name)?;
        self.converge_sets(cx, zone, &name, &current, &desired)
            .await?;
        Ok(found(&name, zone))
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let targets: BTreeMap<&str, String> = live
            .sets
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
        let name = &observed.found.id;
        Ok(Health {
            healthy: targets.contains_key("A")
                && owner(&live.sets).as_deref() == Some(cx.spec.stack.as_str()),
            state: format!(
                "{name} -> {target} ({})",
                targets.keys().copied().collect::<Vec<_>>().join("+")
            ),
            details: json!({ "zone_id": live.zone, "name": name, "targets": targets }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let Outputs::InZone { zone_id: zone } = &found.outputs else {
            return Ok(());
        };
        let current = self.at_name(cx, zone, &found.id).await?;
        if current.is_empty() {
            return Ok(());
        }
        check_owner(cx, &found.id, &current)?;
        let mut changes = current
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "A" | "AAAA" | "TXT"))
            .map(|(_, set)| record_change(ChangeAction::Delete, set))
            .collect::<Result<Vec<_>>>()?;
        // The marker goes last, so an interrupted delete can be resumed by the next `down`.
        changes.sort_by_key(|c| c.resource_record_set().map(|s| s.r#type() == &RrType::Txt));
        self.change(cx, zone, &found.id, changes).await
    }

    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        match self.role {
            Role::Site => vec![("url", format!("https://{}/", found.id))],
            Role::Origin => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(stack: &str) -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name("www.example.com.")
            .r#type(RrType::Txt)
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value(ownership_value(stack))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn at(sets: Vec<(&str, ResourceRecordSet)>) -> AtName {
        sets.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn moving_from_the_cdn_to_the_load_balancer_drops_aaaa() {
        let cdn = at(vec![
            (
                "A",
                alias(
                    RrType::A,
                    "www",
                    CLOUDFRONT_HOSTED_ZONE_ID,
                    "d1.cloudfront.net",
                    false,
                )
                .unwrap(),
            ),
            (
                "AAAA",
                alias(
                    RrType::Aaaa,
                    "www",
                    CLOUDFRONT_HOSTED_ZONE_ID,
                    "d1.cloudfront.net",
                    false,
                )
                .unwrap(),
            ),
            ("TXT", txt("web")),
        ]);
        let lb = at(vec![
            (
                "A",
                alias(
                    RrType::A,
                    "www",
                    "Z35SXDOTRQ7X7K",
                    "web-lb.elb.amazonaws.com",
                    true,
                )
                .unwrap(),
            ),
            ("TXT", txt("web")),
        ]);
        let changes = diff_sets(&cdn, &lb);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["A", "AAAA"]);
        assert_eq!(changes[1].to, "(none)");
        assert!(diff_sets(&lb, &lb).is_empty());
    }

    #[test]
    fn the_marker_names_the_owning_stack() {
        assert_eq!(
            owner(&at(vec![("TXT", txt("web"))])).as_deref(),
            Some("web")
        );
        assert_eq!(owner(&AtName::new()), None);
    }
}
