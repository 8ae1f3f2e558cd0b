//! Security groups: the load balancer's (listener port from anywhere), the instances'
//! (app port from the load balancer only) and the cache's (6379 from the instances only).
//!
//! Ingress rules are converged exactly: missing rules are authorized and rules that the spec
//! does not ask for are revoked. Egress is left as AWS creates it (all outbound).

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, ResourceType, SecurityGroup as AwsGroup, Tag,
    TagSpecification, UserIdGroupPair,
};
use serde_json::json;

use super::{Context, Deps, Found, Health, Resource, ensure_owned};
use crate::aws::errors::{self, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};

/// The Redis port the cache group opens to the instances.
pub const REDIS_PORT: u16 = 6379;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    LoadBalancer,
    App,
    Cache,
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
        let builder = IpPermission::builder()
            .ip_protocol(&self.protocol)
            .from_port(self.from)
            .to_port(self.to);
        match &self.source {
            Source::Ipv4(cidr) => builder.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
            Source::Ipv6(cidr) => builder.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build()),
            Source::Group(id) => {
                builder.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
            }
        }
        .build()
    }

    fn describe(&self) -> String {
        let source = match &self.source {
            Source::Ipv4(c) | Source::Ipv6(c) => c.clone(),
            Source::Group(g) => g.clone(),
        };
        if self.from == self.to {
            format!("{}/{} from {source}", self.protocol, self.from)
        } else {
            format!("{}/{}-{} from {source}", self.protocol, self.from, self.to)
        }
    }
}

/// Flattens AWS's grouped permissions into single rules.
fn rules_of(group: &AwsGroup) -> BTreeSet<Rule> {
    let mut rules = BTreeSet::new();
    for permission in group.ip_permissions() {
        let protocol = permission.ip_protocol().unwrap_or("-1").to_string();
        let from = permission.from_port().unwrap_or(-1);
        let to = permission.to_port().unwrap_or(-1);
        let rule = |source| Rule {
            protocol: protocol.clone(),
            from,
            to,
            source,
        };
        for range in permission.ip_ranges() {
            rules.insert(rule(Source::Ipv4(
                range.cidr_ip().unwrap_or_default().to_string(),
            )));
        }
        for range in permission.ipv6_ranges() {
            rules.insert(rule(Source::Ipv6(
                range.cidr_ipv6().unwrap_or_default().to_string(),
            )));
        }
        for pair in permission.user_id_group_pairs() {
            rules.insert(rule(Source::Group(
                pair.group_id().unwrap_or_default().to_string(),
            )));
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

    fn description(&self) -> &'static str {
        match self.role {
            Role::LoadBalancer => "modu load balancer: listener port from anywhere",
            Role::App => "modu instances: app port from the load balancer only",
            Role::Cache => "modu cache: Redis from the instances only",
        }
    }

    fn desired_rules(&self, cx: &Context, deps: &Deps<'_>) -> Result<BTreeSet<Rule>> {
        Ok(match self.role {
            Role::LoadBalancer => {
                let port = cx.spec.load_balancer.port;
                BTreeSet::from([
                    Rule::tcp(port, Source::Ipv4("0.0.0.0/0".into())),
                    Rule::tcp(port, Source::Ipv6("::/0".into())),
                ])
            }
            Role::App => BTreeSet::from([Rule::tcp(
                cx.spec.compute.port,
                Source::Group(deps.id("sg-lb")?.to_string()),
            )]),
            Role::Cache => BTreeSet::from([Rule::tcp(
                REDIS_PORT,
                Source::Group(deps.id("sg-app")?.to_string()),
            )]),
        })
    }

    async fn describe_group(&self, cx: &Context, id: &str) -> Result<Option<AwsGroup>> {
        let result = cx
            .clients
            .ec2
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["InvalidGroup.NotFound"]) => Ok(None),
            other => Ok(other
                .context("describing", self.kind(), id)?
                .security_groups
                .unwrap_or_default()
                .into_iter()
                .next()),
        }
    }

    async fn authorize(&self, cx: &Context, id: &str, rules: &[&Rule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        cx.clients
            .ec2
            .authorize_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(rules.iter().map(|r| r.to_permission()).collect()))
            .send()
            .await
            .context("authorizing ingress on", self.kind(), id)?;
        Ok(())
    }

    async fn revoke(&self, cx: &Context, id: &str, rules: &[&Rule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        cx.clients
            .ec2
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(rules.iter().map(|r| r.to_permission()).collect()))
            .send()
            .await
            .context("revoking ingress on", self.kind(), id)?;
        Ok(())
    }
}

#[async_trait]
impl Resource for SecurityGroup {
    fn key(&self) -> &'static str {
        match self.role {
            Role::LoadBalancer => "sg-lb",
            Role::App => "sg-app",
            Role::Cache => "sg-cache",
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
        };
        format!("{}-{suffix}", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        match self.role {
            Role::LoadBalancer => vec!["network"],
            Role::App => vec!["network", "sg-lb"],
            Role::Cache => vec!["network", "sg-app"],
        }
    }

    async fn find(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Found>> {
        let Some(network) = deps.get("network") else {
            return Ok(None);
        };
        let name = self.name(cx);
        let out = cx
            .clients
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(&network.id).build())
            .filters(Filter::builder().name("group-name").values(&name).build())
            .send()
            .await
            .context("looking up", self.kind(), &name)?;
        let Some(group) = out.security_groups().first() else {
            return Ok(None);
        };
        let id = group.group_id().unwrap_or_default();
        ensure_owned(
            cx,
            format!("security group {name} ({id}) in {}", network.id),
            group
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        )?;
        Ok(Some(Found::new(id)))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let desired = self.desired_rules(cx, deps)?;
        let tag_list: Vec<Tag> = tags::for_resource(&cx.spec, self.key(), &name)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let out = cx
            .clients
            .ec2
            .create_security_group()
            .group_name(&name)
            .description(self.description())
            .vpc_id(deps.id("network")?)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::SecurityGroup)
                    .set_tags(Some(tag_list))
                    .build(),
            )
            .send()
            .await
            .context("creating", self.kind(), &name)?;
        let id = out.group_id().unwrap_or_default().to_string();
        self.authorize(cx, &id, &desired.iter().collect::<Vec<_>>())
            .await?;
        Ok(Found::new(id))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let Some(group) = self.describe_group(cx, &found.id).await? else {
            return Err(Error::precondition(
                format!("security group {} disappeared while converging", found.id),
                "run `modu up` again",
            ));
        };
        let desired = self.desired_rules(cx, deps)?;
        let current = rules_of(&group);
        let missing: Vec<&Rule> = desired.difference(&current).collect();
        let extra: Vec<&Rule> = current.difference(&desired).collect();
        let mut changes: Vec<String> = missing
            .iter()
            .map(|r| format!("allow {}", r.describe()))
            .collect();
        changes.extend(extra.iter().map(|r| format!("revoke {}", r.describe())));
        self.authorize(cx, &found.id, &missing).await?;
        self.revoke(cx, &found.id, &extra).await?;
        Ok(changes)
    }

    async fn health(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let Some(group) = self.describe_group(cx, &found.id).await? else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let current = rules_of(&group);
        let rules: Vec<String> = current.iter().map(Rule::describe).collect();
        let drifted = match self.desired_rules(cx, deps) {
            Ok(desired) => desired != current,
            Err(_) => false,
        };
        let count = match rules.len() {
            1 => "1 ingress rule".to_string(),
            n => format!("{n} ingress rules"),
        };
        Ok(Health {
            healthy: !drifted,
            state: if drifted {
                format!("{count}, drifted from the spec")
            } else {
                count
            },
            details: json!({ "ingress": rules }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        // Network interfaces of a just-deleted load balancer or cache keep the group in use
        // for a while after their owner is gone: retry DependencyViolation until the timeout.
        cx.retry_while(
            self,
            "to be released",
            |err| matches!(err, Error::Aws { code: Some(code), .. } if code == "DependencyViolation"),
            || async {
                let result = cx.clients.ec2.delete_security_group().group_id(&found.id).send().await;
                match result {
                    Err(err) if errors::is_code(&err, &["InvalidGroup.NotFound"]) => Ok(()),
                    other => other.map(|_| ()).context("deleting", self.kind(), &found.id),
                }
            },
        )
        .await
    }
}
