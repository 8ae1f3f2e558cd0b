//! Security groups: the load balancer's (its listener ports from anywhere, or the listener
//! port from CloudFront's origin-facing addresses only when the CDN is on), the instances'
//! (app port from the load balancer only), the cache's (6379 from the instances only) and
//! the database's (5432 from the instances only) and the interface endpoints' (HTTPS from
//! the instances only).
//!
//! Ingress rules are converged exactly: missing rules are authorized and rules that the spec
//! does not ask for are revoked. Egress is left as AWS creates it (all outbound). The three
//! groups are read with one `DescribeSecurityGroups`.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::json;

use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource, ensure_owned, shared,
};
use crate::aws::ec2::{IpPermission, SecurityGroup as AwsGroup, Tag};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};

/// The Redis port the cache group opens to the instances.
pub const REDIS_PORT: u16 = 6379;
/// The PostgreSQL port the database group opens to the instances.
pub const POSTGRES_PORT: u16 = 5432;
/// AWS's managed prefix list of the addresses CloudFront reaches origins from. A rule
/// referencing it counts as its maximum size (55) against the 60 inbound rules a group may
/// have, so the load balancer's group references it once: for the listener port only.
const CLOUDFRONT_ORIGIN_FACING: &str = "com.amazonaws.global.cloudfront.origin-facing";
/// The port AWS APIs answer on, which the endpoints' group opens to the instances.
pub const HTTPS_PORT: u16 = 443;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    LoadBalancer,
    App,
    Cache,
    Database,
    Endpoints,
}

pub struct SecurityGroup {
    role: Role,
}

/// Where traffic may come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Ipv4(String),
    Ipv6(String),
    Group(String),
    PrefixList(String),
}

/// One ingress rule, in the flattened form AWS compares by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    protocol: String,
    from: i32,
    to: i32,
    source: Source,
}

impl Rule {
    fn tcp(port: u16, source: Source) -> Self {
        Rule {
            protocol: "tcp".into(),
            from: i32::from(port),
            to: i32::from(port),
            source,
        }
    }

    fn to_permission(&self) -> IpPermission {
        let mut permission = IpPermission {
            protocol: self.protocol.clone(),
            from_port: Some(self.from),
            to_port: Some(self.to),
            ..IpPermission::default()
        };
        match &self.source {
            Source::Ipv4(cidr) => permission.ipv4_ranges.push(cidr.clone()),
            Source::Ipv6(cidr) => permission.ipv6_ranges.push(cidr.clone()),
            Source::Group(id) => permission.source_groups.push(id.clone()),
            Source::PrefixList(id) => permission.prefix_lists.push(id.clone()),
        }
        permission
    }

    fn describe(&self) -> String {
        let source = match &self.source {
            Source::Ipv4(c) | Source::Ipv6(c) => c.clone(),
            Source::Group(g) | Source::PrefixList(g) => g.clone(),
        };
        if self.from == self.to {
            format!("{}/{} from {source}", self.protocol, self.from)
        } else {
            format!("{}/{}-{} from {source}", self.protocol, self.from, self.to)
        }
    }
}

/// A group as observed: its rules, and the prefix list its wanted rules refer to.
struct Live {
    rules: BTreeSet<Rule>,
    cloudfront: Option<String>,
}

/// Flattens AWS's grouped permissions into single rules.
fn rules_of(group: &AwsGroup) -> BTreeSet<Rule> {
    let mut rules = BTreeSet::new();
    for permission in &group.ingress {
        let protocol = match permission.protocol.as_str() {
            "" => "-1".to_string(),
            protocol => protocol.to_string(),
        };
        let from = permission.from_port.unwrap_or(-1);
        let to = permission.to_port.unwrap_or(-1);
        let rule = |source| Rule {
            protocol: protocol.clone(),
            from,
            to,
            source,
        };
        for cidr in &permission.ipv4_ranges {
            rules.insert(rule(Source::Ipv4(cidr.clone())));
        }
        for cidr in &permission.ipv6_ranges {
            rules.insert(rule(Source::Ipv6(cidr.clone())));
        }
        for group in &permission.source_groups {
            rules.insert(rule(Source::Group(group.clone())));
        }
        for list in &permission.prefix_lists {
            rules.insert(rule(Source::PrefixList(list.clone())));
        }
    }
    rules
}

impl SecurityGroup {
    pub fn load_balancer() -> Self {
        SecurityGroup {
            role: Role::LoadBalancer,
        }
    }
    pub fn app() -> Self {
        SecurityGroup { role: Role::App }
    }
    pub fn cache() -> Self {
        SecurityGroup { role: Role::Cache }
    }
    pub fn database() -> Self {
        SecurityGroup {
            role: Role::Database,
        }
    }
    pub fn endpoints() -> Self {
        SecurityGroup {
            role: Role::Endpoints,
        }
    }

    fn description(&self) -> &'static str {
        match self.role {
            Role::LoadBalancer => "modu load balancer: listener ports from viewers or CloudFront",
            Role::App => "modu instances: app port from the load balancer only",
            Role::Cache => "modu cache: Redis from the instances only",
            Role::Database => "modu database: PostgreSQL from the instances only",
            Role::Endpoints => "modu interface endpoints: HTTPS from the instances only",
        }
    }

    /// `cloudfront`: the id of CloudFront's origin-facing prefix list, looked up when the
    /// CDN is on (see [`Self::cloudfront_list`]).
    fn desired_rules(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        cloudfront: Option<&str>,
    ) -> Result<BTreeSet<Rule>> {
        Ok(match self.role {
            Role::LoadBalancer => {
                let port = cx.spec.load_balancer.port;
                match cloudfront {
                    Some(list) => {
                        BTreeSet::from([Rule::tcp(port, Source::PrefixList(list.into()))])
                    }
                    None => super::listener::viewer_ports(&cx.spec)
                        .into_iter()
                        .flat_map(|port| {
                            [
                                Rule::tcp(port, Source::Ipv4("0.0.0.0/0".into())),
                                Rule::tcp(port, Source::Ipv6("::/0".into())),
                            ]
                        })
                        .collect(),
                }
            }
            Role::App => BTreeSet::from([Rule::tcp(
                cx.spec.compute.port,
                Source::Group(deps.id(Key::SgLb)?.to_string()),
            )]),
            Role::Cache => BTreeSet::from([Rule::tcp(
                REDIS_PORT,
                Source::Group(deps.id(Key::SgApp)?.to_string()),
            )]),
            Role::Database => BTreeSet::from([Rule::tcp(
                POSTGRES_PORT,
                Source::Group(deps.id(Key::SgApp)?.to_string()),
            )]),
            Role::Endpoints => BTreeSet::from([Rule::tcp(
                HTTPS_PORT,
                Source::Group(deps.id(Key::SgApp)?.to_string()),
            )]),
        })
    }

    /// CloudFront's origin-facing prefix list when the load balancer admits only CloudFront.
    async fn cloudfront_list(&self, cx: &Context) -> Result<Option<String>> {
        if self.role != Role::LoadBalancer || !cx.spec.origin_behind_cdn() {
            return Ok(None);
        }
        let id = cx
            .clients
            .ec2
            .prefix_list_id(CLOUDFRONT_ORIGIN_FACING)
            .await
            .context("looking up", "prefix-list", CLOUDFRONT_ORIGIN_FACING)?;
        id.map(Some).ok_or_else(|| {
            Error::internal(format!(
                "region {} has no managed prefix list {CLOUDFRONT_ORIGIN_FACING}, which every \
                 commercial AWS region has",
                cx.spec.region
            ))
        })
    }

    async fn authorize(&self, cx: &Context, id: &str, rules: &[&Rule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        cx.clients
            .ec2
            .authorize_security_group_ingress(
                id,
                &rules.iter().map(|r| r.to_permission()).collect::<Vec<_>>(),
            )
            .await
            // The rules of one call are added together: "already exists" after the SDK's
            // retry means the first attempt added them (its reply was lost).
            .or_absent(
                &["InvalidPermission.Duplicate"],
                "authorizing ingress on",
                self.kind(),
                id,
            )?;
        Ok(())
    }

    async fn revoke(&self, cx: &Context, id: &str, rules: &[&Rule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        cx.clients
            .ec2
            .revoke_security_group_ingress(
                id,
                &rules.iter().map(|r| r.to_permission()).collect::<Vec<_>>(),
            )
            .await
            // Likewise, "not found" after a retry: the first attempt removed them.
            .or_gone(&["InvalidPermission.NotFound"], self.kind(), id)?;
        Ok(())
    }
}

/// The security group names of a stack, for the one shared lookup.
fn all_names(stack: &str) -> Vec<String> {
    ["lb", "app", "cache", "db", "endpoints"]
        .iter()
        .map(|suffix| format!("{stack}-{suffix}"))
        .collect()
}

/// The ingress change that turns `live` into `want`, if they differ.
fn diff_rules(live: &BTreeSet<Rule>, want: &BTreeSet<Rule>) -> Vec<Change> {
    let mut diff = Diff::new();
    let show =
        |rules: &BTreeSet<Rule>| -> Vec<String> { rules.iter().map(Rule::describe).collect() };
    diff.list("ingress", &show(live), &show(want));
    diff.into_changes()
}

#[async_trait]
impl Resource for SecurityGroup {
    fn key(&self) -> Key {
        match self.role {
            Role::LoadBalancer => Key::SgLb,
            Role::App => Key::SgApp,
            Role::Cache => Key::SgCache,
            Role::Database => Key::SgDb,
            Role::Endpoints => Key::SgEndpoints,
        }
    }
    fn kind(&self) -> &'static str {
        "security-group"
    }
    fn name(&self, cx: &Context) -> String {
        let suffix = match self.role {
            Role::LoadBalancer => "lb",
            Role::App => "app",
            Role::Cache => "cache",
            Role::Database => "db",
            Role::Endpoints => "endpoints",
        };
        format!("{}-{suffix}", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        match self.role {
            Role::LoadBalancer => vec![Key::Network],
            Role::App => vec![Key::Network, Key::SgLb],
            Role::Cache | Role::Database | Role::Endpoints => vec![Key::Network, Key::SgApp],
        }
    }
    fn wanted(&self, spec: &crate::spec::Spec) -> bool {
        match self.role {
            Role::Database => spec.database.is_some(),
            Role::Endpoints => !spec.network.interface_endpoints.is_empty(),
            _ => true,
        }
    }

    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>> {
        let Some(network) = deps.get(Key::Network)? else {
            return Ok(None);
        };
        let name = self.name(cx);
        let reads = cx.reads();
        let groups =
            shared::ec2::security_groups(cx, &reads, &network.id, &all_names(&cx.spec.stack))
                .await?;
        let Some(group) = groups.iter().find(|g| g.name == name) else {
            return Ok(None);
        };
        let id = &group.id;
        ensure_owned(
            cx,
            format!("security group {name} ({id}) in {}", network.id),
            group
                .tags
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str())),
        )?;
        let live = Live {
            rules: rules_of(group),
            cloudfront: self.cloudfront_list(cx).await?,
        };
        Ok(Some(Observed::new(Found::new(id.as_str()), live)))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        let want = self.desired_rules(cx, deps, live.cloudfront.as_deref())?;
        Ok(diff_rules(&live.rules, &want))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let live: &Live = observed.live()?;
        let desired = self.desired_rules(cx, deps, live.cloudfront.as_deref())?;
        let missing: Vec<&Rule> = desired.difference(&live.rules).collect();
        let extra: Vec<&Rule> = live.rules.difference(&desired).collect();
        self.authorize(cx, &observed.found.id, &missing).await?;
        self.revoke(cx, &observed.found.id, &extra).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let cloudfront = self.cloudfront_list(cx).await?;
        let desired = self.desired_rules(cx, deps, cloudfront.as_deref())?;
        let tag_list = tags::sdk(&cx.spec, self.key().as_str(), &name, Tag::new);
        let id = cx
            .clients
            .ec2
            .create_security_group(&name, self.description(), deps.id(Key::Network)?, &tag_list)
            .await
            .context("creating", self.kind(), &name)?;
        self.authorize(cx, &id, &desired.iter().collect::<Vec<_>>())
            .await?;
        Ok(Found::new(id))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let rules: Vec<String> = live.rules.iter().map(Rule::describe).collect();
        let count = match rules.len() {
            1 => "1 ingress rule".to_string(),
            n => format!("{n} ingress rules"),
        };
        Ok(Health::ok(count, json!({ "ingress": rules })))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        // Network interfaces of a just-deleted load balancer or cache keep the group in use
        // for a while after their owner is gone.
        cx.retry_on(self, "DependencyViolation", "to be released", || async {
            cx.clients
                .ec2
                .delete_security_group(&found.id)
                .await
                .or_gone(&["InvalidGroup.NotFound"], self.kind(), &found.id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[Rule]) -> BTreeSet<Rule> {
        list.iter().cloned().collect()
    }

    #[test]
    fn matching_rules_make_no_change() {
        let want = rules(&[Rule::tcp(80, Source::Ipv4("0.0.0.0/0".into()))]);
        assert!(diff_rules(&want, &want).is_empty());
    }

    #[test]
    fn a_changed_port_shows_both_rule_sets() {
        let live = rules(&[
            Rule::tcp(80, Source::Ipv4("0.0.0.0/0".into())),
            Rule::tcp(22, Source::Ipv4("10.0.0.0/8".into())),
        ]);
        let want = rules(&[Rule::tcp(8080, Source::Ipv4("0.0.0.0/0".into()))]);
        assert_eq!(
            diff_rules(&live, &want),
            vec![Change::new(
                "ingress",
                "tcp/22 from 10.0.0.0/8,tcp/80 from 0.0.0.0/0",
                "tcp/8080 from 0.0.0.0/0"
            )]
        );
    }

    #[test]
    fn a_group_source_not_yet_created_is_known_after_up() {
        let live = rules(&[Rule::tcp(8000, Source::Group("sg-old".into()))]);
        let want = rules(&[Rule::tcp(
            8000,
            Source::Group(crate::resources::KNOWN_AFTER_UP.into()),
        )]);
        let changes = diff_rules(&live, &want);
        assert_eq!(changes[0].to, "tcp/8000 from (known after up)");
    }

    #[test]
    fn permissions_flatten_into_single_rules() {
        let group = AwsGroup {
            ingress: vec![IpPermission {
                protocol: "tcp".into(),
                from_port: Some(80),
                to_port: Some(80),
                ipv4_ranges: vec!["0.0.0.0/0".into()],
                ipv6_ranges: vec!["::/0".into()],
                source_groups: vec![],
                prefix_lists: vec!["pl-1".into()],
            }],
            ..AwsGroup::default()
        };
        assert_eq!(
            rules_of(&group),
            rules(&[
                Rule::tcp(80, Source::Ipv4("0.0.0.0/0".into())),
                Rule::tcp(80, Source::Ipv6("::/0".into())),
                Rule::tcp(80, Source::PrefixList("pl-1".into())),
            ])
        );
    }
}
