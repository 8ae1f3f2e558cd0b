//! One module per AWS resource kind, all behind the small [`Resource`] trait.
//!
//! A resource's lifecycle is split so that what would change can be shown before anything
//! changes: `observe` finds it (deterministic name + the stack's ownership marker) and reads
//! the settings modu owns into a small typed struct; `diff` compares them with the spec and
//! is pure; `apply` makes exactly the changes a diff listed. `create`, `health` and `delete`
//! complete the file. The engine only sees this trait; [`for_spec`] is the one place that
//! names every kind.

pub mod alarm_topic;
pub mod alarms;
pub mod auto_scaling_group;
pub mod bucket;
pub mod cache_secret;
pub mod cache_subnet_group;
pub mod dashboard;
pub mod database;
pub mod db_subnet_group;
pub mod distribution;
pub mod dns_record;
pub mod hosted_zone;
pub mod instance_profile;
pub mod instance_role;
pub mod interface_endpoints;
pub mod launch_template;
pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod log_group;
pub mod media_access;
pub mod network;
pub mod origin_access_control;
pub mod origin_secret;
pub mod parameters;
pub mod release;
pub mod replication_group;
pub mod rollout;
pub mod s3_endpoint;
pub mod scaling_policy;
pub mod security_group;
pub mod shared;
pub mod target_group;
pub mod toolkit;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::aws::Clients;
use crate::aws::wait::{Backoff, Clock};
use crate::error::{Error, Result};
use crate::output::Progress;
use crate::spec::Spec;

pub use toolkit::{aws_int, ensure_owned, unique_reference};

/// What a value looks like in a plan before the resource that produces it exists.
pub const KNOWN_AFTER_UP: &str = "(known after up)";

/// What every resource operation gets: the spec, the clients and how to wait and report.
pub struct Context {
    pub spec: Arc<Spec>,
    pub clients: Clients,
    pub account_id: String,
    pub clock: Arc<dyn Clock>,
    /// Longest time one resource may take to converge (become ready, changed or gone),
    /// all its waits together.
    pub timeout: Duration,
    pub progress: Arc<dyn Progress>,
    /// `down --delete-data`: also delete resources that hold user data (bucket, database).
    pub delete_data: bool,
    /// `down --delete-data --no-final-snapshot`: delete the database without a snapshot.
    pub skip_final_snapshot: bool,
    /// The release `up`, `plan` and `deploy` roll out; `None` for `status` and `down`,
    /// which only look at what is there.
    pub release: Option<crate::release::Release>,
    /// `--refresh-image`: move a pinned `al2023` image to the latest one AWS publishes.
    pub refresh_image: bool,
    /// `up --rotate-origin-secret`: give the distribution's origin header a new value.
    pub rotate_origin_secret: bool,
    /// Reads that several resources share within one observation of the stack.
    reads: Mutex<Arc<shared::Reads>>,
    /// Asked to stop (Ctrl-C): nothing new starts and waits end.
    pub stop: crate::stop::Stop,
}

impl Context {
    pub fn new(
        spec: Spec,
        clients: Clients,
        account_id: String,
        clock: Arc<dyn Clock>,
        timeout: Duration,
        progress: Arc<dyn Progress>,
        delete_data: bool,
    ) -> Self {
        Context {
            spec: Arc::new(spec),
            clients,
            account_id,
            clock,
            timeout,
            progress,
            delete_data,
            skip_final_snapshot: false,
            release: None,
            refresh_image: false,
            rotate_origin_secret: false,
            reads: Mutex::default(),
            stop: crate::stop::Stop::default(),
        }
    }

    pub fn backoff(&self) -> Backoff {
        Backoff::with_timeout(self.timeout).stopping_on(self.stop.clone())
    }

    /// Runs one resource's convergence within `--timeout`: all its waits share it.
    pub async fn converging<F: std::future::Future>(&self, work: F) -> F::Output {
        crate::aws::wait::within_budget(&self.clock, self.timeout, work).await
    }

    /// The shared reads of the current observation.
    pub fn reads(&self) -> Arc<shared::Reads> {
        self.reads.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Starts a new observation: what earlier shared reads saw may be stale now.
    pub fn forget_reads(&self) {
        if let Ok(mut reads) = self.reads.lock() {
            *reads = Arc::default();
        }
    }
}

/// The key of a resource in the stack graph, unique in a stack; also its `modu:component` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Key {
    Network,
    SgLb,
    SgApp,
    SgCache,
    Bucket,
    TargetGroup,
    LoadBalancer,
    Listener,
    RedirectListener,
    ListenerRule,
    OriginSecret,
    OriginRecord,
    LaunchTemplate,
    Asg,
    ScalingPolicy,
    CacheSubnets,
    Cache,
    CdnOac,
    Cdn,
    MediaAccess,
    DnsZone,
    DnsRecord,
    Dashboard,
    AlarmTopic,
    Alarms,
    Release,
    InstanceRole,
    InstanceProfile,
    LogGroup,
    CacheSecret,
    SgDb,
    DbSubnets,
    Database,
    Parameters,
    S3Endpoint,
    SgEndpoints,
    InterfaceEndpoints,
}

impl Key {
    pub fn as_str(self) -> &'static str {
        match self {
            Key::Network => "network",
            Key::SgLb => "sg-lb",
            Key::SgApp => "sg-app",
            Key::SgCache => "sg-cache",
            Key::Bucket => "bucket",
            Key::TargetGroup => "target-group",
            Key::LoadBalancer => "load-balancer",
            Key::Listener => "listener",
            Key::RedirectListener => "redirect-listener",
            Key::ListenerRule => "origin-rule",
            Key::OriginSecret => "origin-secret",
            Key::OriginRecord => "origin-record",
            Key::LaunchTemplate => "launch-template",
            Key::Asg => "asg",
            Key::ScalingPolicy => "scaling-policy",
            Key::CacheSubnets => "cache-subnets",
            Key::Cache => "cache",
            Key::CdnOac => "cdn-oac",
            Key::Cdn => "cdn",
            Key::MediaAccess => "media-access",
            Key::DnsZone => "dns-zone",
            Key::DnsRecord => "dns-record",
            Key::Dashboard => "dashboard",
            Key::AlarmTopic => "alarm-topic",
            Key::Alarms => "alarms",
            Key::Release => "release",
            Key::InstanceRole => "instance-role",
            Key::InstanceProfile => "instance-profile",
            Key::LogGroup => "log-group",
            Key::CacheSecret => "cache-secret",
            Key::SgDb => "sg-db",
            Key::DbSubnets => "db-subnets",
            Key::Database => "database",
            Key::Parameters => "parameters",
            Key::S3Endpoint => "s3-endpoint",
            Key::SgEndpoints => "sg-endpoints",
            Key::InterfaceEndpoints => "interface-endpoints",
        }
    }
}

impl From<Key> for &'static str {
    fn from(key: Key) -> Self {
        key.as_str()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a resource gives its dependents besides its id, one variant per kind that has any.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Outputs {
    #[default]
    None,
    Network(network::Placement),
    Named {
        name: String,
    },
    Arn {
        arn: String,
    },
    LoadBalancer {
        name: String,
        dns_name: String,
        hosted_zone_id: String,
    },
    LaunchTemplate {
        name: String,
        latest_version: i64,
    },
    Cache {
        arn: String,
        primary_endpoint: String,
        reader_endpoint: String,
        members: Vec<String>,
    },
    Distribution {
        arn: String,
        domain_name: String,
    },
    HostedZone {
        name: String,
        created_by_modu: bool,
        /// The name servers AWS gave a zone modu has just created (empty otherwise: only
        /// the `up` that created it needs to say where to delegate).
        name_servers: Vec<String>,
    },
    InZone {
        zone_id: String,
    },
    ScalingPolicy {
        group: String,
    },
    Alarms {
        names: Vec<String>,
    },
    Topic {
        arn: String,
        /// The addresses the spec lists that have no confirmed subscription yet.
        pending: Vec<String>,
    },
    Release {
        key: String,
        sha256: String,
        id: String,
    },
    OriginSecret(origin_secret::Values),
    Database {
        /// `host:port`.
        endpoint: String,
        name: String,
        secret_arn: String,
    },
}

/// A resource as it exists in AWS: its id and what its dependents need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub id: String,
    pub outputs: Outputs,
}

impl Found {
    pub fn new(id: impl Into<String>) -> Self {
        Found {
            id: id.into(),
            outputs: Outputs::None,
        }
    }

    pub fn with(mut self, outputs: Outputs) -> Self {
        self.outputs = outputs;
        self
    }
}

/// A resource as `observe` saw it: where it is, and the live settings modu owns (a typed
/// struct of the resource's own module).
#[derive(Clone)]
pub struct Observed {
    pub found: Found,
    live: Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("found", &self.found)
            .finish_non_exhaustive()
    }
}

impl Observed {
    pub fn new<T: Any + Send + Sync>(found: Found, live: T) -> Self {
        Observed {
            found,
            live: Arc::new(live),
        }
    }

    /// The live settings, as the type the resource's `observe` stored.
    pub fn live<T: Any>(&self) -> Result<&T> {
        self.live.downcast_ref::<T>().ok_or_else(|| {
            Error::internal(format!(
                "observed state of {} has an unexpected type",
                self.found.id
            ))
        })
    }
}

/// What is known of a dependency while planning or running.
#[derive(Debug, Clone)]
pub enum Known {
    Exists(Found),
    /// The plan creates it: its id and outputs exist only after `up` made it.
    Pending,
}

/// What the resources a resource declared in `depends_on` turned out to be. Reading one it
/// did not declare is a bug, reported as such.
pub struct Deps<'a> {
    of: Key,
    declared: Vec<Key>,
    known: &'a BTreeMap<Key, Known>,
}

impl<'a> Deps<'a> {
    pub fn new(of: Key, declared: Vec<Key>, known: &'a BTreeMap<Key, Known>) -> Self {
        Deps {
            of,
            declared,
            known,
        }
    }

    fn known(&self, key: Key) -> Result<Option<&'a Known>> {
        if !self.declared.contains(&key) {
            return Err(Error::internal(format!(
                "{} read {key}, which it does not declare in depends_on",
                self.of
            )));
        }
        Ok(self.known.get(&key))
    }

    /// A dependency that exists, or `None` (absent, or only planned).
    pub fn get(&self, key: Key) -> Result<Option<&'a Found>> {
        Ok(match self.known(key)? {
            Some(Known::Exists(found)) => Some(found),
            _ => None,
        })
    }

    /// True when the dependency exists or the plan creates it.
    pub fn present(&self, key: Key) -> Result<bool> {
        Ok(self.known(key)?.is_some())
    }

    /// The id of a dependency, or [`KNOWN_AFTER_UP`] while the plan only creates it.
    pub fn id(&self, key: Key) -> Result<&'a str> {
        match self.known(key)? {
            Some(Known::Exists(found)) => Ok(found.id.as_str()),
            Some(Known::Pending) => Ok(KNOWN_AFTER_UP),
            None => Err(self.unresolved(key)),
        }
    }

    /// A dependency's outputs, or `None` while the plan only creates it.
    pub fn outputs(&self, key: Key) -> Result<Option<&'a Outputs>> {
        match self.known(key)? {
            Some(Known::Exists(found)) => Ok(Some(&found.outputs)),
            Some(Known::Pending) => Ok(None),
            None => Err(self.unresolved(key)),
        }
    }

    /// Where the network put the stack's parts (the network is looked up, never planned).
    fn placement(&self) -> Result<&'a network::Placement> {
        match self.outputs(Key::Network)? {
            Some(Outputs::Network(placement)) => Ok(placement),
            _ => Err(self.unresolved(Key::Network)),
        }
    }

    /// The load balancer's subnets.
    pub fn public_subnets(&self) -> Result<Vec<&'a str>> {
        Ok(self
            .placement()?
            .public_subnets
            .iter()
            .map(String::as_str)
            .collect())
    }

    /// The subnets of the instances, cache and database (the load balancer's, unless the
    /// spec gives private subnets).
    pub fn private_subnets(&self) -> Result<Vec<&'a str>> {
        Ok(self
            .placement()?
            .private_subnets
            .iter()
            .map(String::as_str)
            .collect())
    }

    /// One private subnet per zone, for interface endpoints; empty without private subnets.
    pub fn endpoint_subnets(&self) -> Result<Vec<&'a str>> {
        Ok(self
            .placement()?
            .endpoint_subnets
            .iter()
            .map(String::as_str)
            .collect())
    }

    /// The route tables of the private subnets; empty without them.
    pub fn private_route_tables(&self) -> Result<Vec<&'a str>> {
        Ok(self
            .placement()?
            .private_route_tables
            .iter()
            .map(String::as_str)
            .collect())
    }

    /// The load balancer's DNS name and the hosted zone of its alias target.
    pub fn load_balancer_dns(&self) -> Result<(&'a str, &'a str)> {
        match self.outputs(Key::LoadBalancer)? {
            Some(Outputs::LoadBalancer {
                dns_name,
                hosted_zone_id,
                ..
            }) => Ok((dns_name, hosted_zone_id)),
            None => Ok((KNOWN_AFTER_UP, KNOWN_AFTER_UP)),
            Some(_) => Err(self.unresolved(Key::LoadBalancer)),
        }
    }

    /// The distribution's ARN and domain name.
    pub fn distribution(&self) -> Result<(&'a str, &'a str)> {
        match self.outputs(Key::Cdn)? {
            Some(Outputs::Distribution { arn, domain_name }) => Ok((arn, domain_name)),
            None => Ok((KNOWN_AFTER_UP, KNOWN_AFTER_UP)),
            Some(_) => Err(self.unresolved(Key::Cdn)),
        }
    }

    /// The cache's member clusters, primary first; `None` when the cache is absent.
    pub fn cache_members(&self) -> Result<Option<Vec<&'a str>>> {
        if !self.present(Key::Cache)? {
            return Ok(None);
        }
        Ok(Some(match self.outputs(Key::Cache)? {
            Some(Outputs::Cache { members, .. }) => members.iter().map(String::as_str).collect(),
            _ => vec![KNOWN_AFTER_UP],
        }))
    }

    fn unresolved(&self, key: Key) -> Error {
        Error::internal(format!(
            "dependency {key} of {} was not resolved before it",
            self.of
        ))
    }
}

/// One setting that differs: what AWS has now and what the spec asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: String,
    pub to: String,
    /// AWS cannot change this field in place: the resource is deleted and created again.
    #[serde(skip)]
    pub replace: bool,
}

impl Change {
    pub fn new(field: impl Into<String>, from: impl fmt::Display, to: impl fmt::Display) -> Self {
        Change {
            field: field.into(),
            from: from.to_string(),
            to: to.to_string(),
            replace: false,
        }
    }

    pub fn replacing(mut self) -> Self {
        self.replace = true;
        self
    }
}

/// Builds a diff field by field.
#[derive(Debug, Default)]
pub struct Diff(Vec<Change>);

impl Diff {
    pub fn new() -> Self {
        Diff::default()
    }

    /// Records `field` when `live` and `want` differ.
    pub fn field<T: PartialEq + fmt::Display + ?Sized>(&mut self, field: &str, live: &T, want: &T) {
        if live != want {
            self.0.push(Change::new(field, live, want));
        }
    }

    /// Like [`Diff::field`] for values that print as lists.
    pub fn list<T: PartialEq + fmt::Display>(&mut self, field: &str, live: &[T], want: &[T]) {
        if live != want {
            self.0.push(Change::new(field, join(live), join(want)));
        }
    }

    pub fn push(&mut self, change: Change) {
        self.0.push(change);
    }

    pub fn into_changes(self) -> Vec<Change> {
        self.0
    }
}

fn join<T: fmt::Display>(values: &[T]) -> String {
    if values.is_empty() {
        return "(none)".into();
    }
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// True when any change's field is `field` or lies under `field.`.
pub fn touches(changes: &[Change], field: &str) -> bool {
    changes.iter().any(|c| {
        c.field == field
            || c.field
                .strip_prefix(field)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// How `status` sees a resource that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub healthy: bool,
    /// One short human line: "active", "targets healthy 2/2", "2 in service (min 2, max 10)".
    pub state: String,
    pub details: serde_json::Value,
}

impl Health {
    pub fn ok(state: impl Into<String>, details: serde_json::Value) -> Self {
        Health {
            healthy: true,
            state: state.into(),
            details,
        }
    }

    pub fn unhealthy(state: impl Into<String>, details: serde_json::Value) -> Self {
        Health {
            healthy: false,
            state: state.into(),
            details,
        }
    }
}

/// What `down` does with a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnDown {
    Delete,
    /// Left in place, with the reason shown in the summary.
    Keep(&'static str),
}

/// One kind of AWS resource in a stack.
#[async_trait]
pub trait Resource: Send + Sync {
    fn key(&self) -> Key;
    /// The AWS kind, for people (`security-group`).
    fn kind(&self) -> &'static str;
    /// The deterministic AWS name.
    fn name(&self, cx: &Context) -> String;
    /// The resources this one needs first; the only ones it may read.
    fn depends_on(&self) -> Vec<Key>;

    /// Finds the resource and reads the settings modu owns; `None` when it does not exist
    /// (or a dependency it is found through does not). A resource of the stack's name that
    /// lacks the stack's ownership marker is an error, never adopted.
    async fn observe(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Observed>>;
    /// The changes that bring what `observe` saw to the spec; empty when nothing differs.
    /// Pure: no AWS call. Kinds that are only looked up, or have no settings, keep the default.
    fn diff(&self, _cx: &Context, _deps: &Deps<'_>, _observed: &Observed) -> Result<Vec<Change>> {
        Ok(Vec::new())
    }
    /// Makes exactly `changes` (a non-empty result of `diff`) and waits until they hold.
    async fn apply(
        &self,
        _cx: &Context,
        _deps: &Deps<'_>,
        _observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        Err(Error::internal(format!(
            "{} has no settings to change, yet its diff listed {changes:?}",
            self.kind()
        )))
    }
    /// Creates it and waits until it is usable.
    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found>;
    /// Describes it for `status`, from what `observe` saw (plus live health where AWS has it).
    async fn health(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Health>;
    /// Deletes it and waits until it is gone; a resource already gone is success.
    async fn delete(&self, cx: &Context, found: &Found) -> Result<()>;

    /// Whether the spec asks for this resource. An unwanted resource that exists (its tier was
    /// switched off) is deleted by `up`, after its dependents have converged without it.
    fn wanted(&self, _spec: &Spec) -> bool {
        true
    }

    fn on_down(&self, _cx: &Context, _found: &Found) -> OnDown {
        OnDown::Delete
    }
    /// An update makes a new version of it (a launch template) rather than changing it in
    /// place: dependents plan against its outputs as known after `up`, and see the new ones
    /// once it is applied.
    fn versioned(&self) -> bool {
        false
    }
    /// Stack-level outputs this resource provides (the load balancer URL…).
    fn stack_outputs(&self, _cx: &Context, _found: &Found) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Every resource a stack can have. Tiers the spec switches off stay in the list (their
/// `wanted` is false) so that `up` can remove what an earlier spec created.
pub fn for_spec(_spec: &Spec) -> Vec<Box<dyn Resource>> {
    vec![
        Box::new(network::Network),
        Box::new(security_group::SecurityGroup::load_balancer()),
        Box::new(security_group::SecurityGroup::app()),
        Box::new(security_group::SecurityGroup::cache()),
        Box::new(security_group::SecurityGroup::database()),
        Box::new(security_group::SecurityGroup::endpoints()),
        Box::new(s3_endpoint::S3Endpoint),
        Box::new(interface_endpoints::InterfaceEndpoints),
        Box::new(bucket::Bucket),
        Box::new(release::ReleaseObject),
        Box::new(instance_role::InstanceRole),
        Box::new(instance_profile::InstanceProfile),
        Box::new(log_group::LogGroup),
        Box::new(target_group::TargetGroup),
        Box::new(load_balancer::LoadBalancer),
        Box::new(listener::Listener::main()),
        Box::new(listener::Listener::redirect()),
        Box::new(origin_secret::OriginSecret),
        Box::new(listener_rule::ListenerRule),
        Box::new(launch_template::LaunchTemplate),
        Box::new(auto_scaling_group::AutoScalingGroup),
        Box::new(scaling_policy::ScalingPolicy),
        Box::new(cache_subnet_group::CacheSubnetGroup),
        Box::new(cache_secret::CacheSecret),
        Box::new(replication_group::ReplicationGroup),
        Box::new(db_subnet_group::DbSubnetGroup),
        Box::new(database::Database),
        Box::new(origin_access_control::OriginAccessControl),
        Box::new(distribution::Distribution),
        Box::new(media_access::MediaAccess),
        Box::new(hosted_zone::HostedZone),
        Box::new(dns_record::DnsRecord::site()),
        Box::new(dns_record::DnsRecord::origin()),
        Box::new(parameters::Parameters),
        Box::new(dashboard::Dashboard),
        Box::new(alarm_topic::AlarmTopic),
        Box::new(alarms::Alarms),
    ]
}

/// Every key of [`for_spec`], for code that lists the stack's components.
pub fn keys(spec: &Spec) -> BTreeSet<Key> {
    for_spec(spec).iter().map(|r| r.key()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_records_only_what_differs() {
        let mut diff = Diff::new();
        diff.field("a", &1, &1);
        diff.field("b", "x", "y");
        diff.list("c", &["s1", "s2"], &["s1"]);
        let changes = diff.into_changes();
        assert_eq!(
            changes,
            vec![Change::new("b", "x", "y"), Change::new("c", "s1,s2", "s1")]
        );
        assert!(touches(&changes, "b") && !touches(&changes, "a"));
    }

    #[test]
    fn touches_matches_whole_segments() {
        let changes = vec![Change::new("health_check.path", "/", "/healthz")];
        assert!(touches(&changes, "health_check"));
        assert!(!touches(&changes, "health"));
    }

    #[test]
    fn deps_refuse_undeclared_reads_and_show_planned_values() {
        let known = BTreeMap::from([
            (Key::Network, Known::Exists(Found::new("vpc-1"))),
            (Key::SgLb, Known::Pending),
        ]);
        let deps = Deps::new(Key::SgApp, vec![Key::Network, Key::SgLb], &known);
        assert_eq!(deps.id(Key::Network).unwrap(), "vpc-1");
        assert_eq!(deps.id(Key::SgLb).unwrap(), KNOWN_AFTER_UP);
        assert!(deps.get(Key::SgLb).unwrap().is_none());
        let err = deps.id(Key::Bucket).unwrap_err().to_string();
        assert!(err.contains("does not declare"), "{err}");
    }

    #[test]
    fn keys_render_as_their_component_tag() {
        assert_eq!(Key::SgLb.to_string(), "sg-lb");
        assert_eq!(serde_json::to_value(Key::Asg).unwrap(), "asg");
    }
}
