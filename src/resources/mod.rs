//! One module per AWS resource kind, all behind the small [`Resource`] trait.
//!
//! A resource file holds everything about its kind: how it is found (deterministic name +
//! `modu:stack` tag), created, compared with the spec and updated in place, waited for,
//! described for `status`, and deleted. The engine only sees this trait; the list of
//! resources a spec asks for is [`for_spec`], the one place that names them all.

pub mod alarms;
pub mod auto_scaling_group;
pub mod bucket;
pub mod cache_subnet_group;
pub mod dashboard;
pub mod distribution;
pub mod dns_record;
pub mod hosted_zone;
pub mod launch_template;
pub mod listener;
pub mod load_balancer;
pub mod media_access;
pub mod network;
pub mod origin_access_control;
pub mod replication_group;
pub mod scaling_policy;
pub mod security_group;
pub mod target_group;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::aws::wait::{self, Backoff, Clock, Poll};
use crate::aws::{Clients, tags};
use crate::error::{Error, Result};
use crate::output::{Phase, Progress};
use crate::spec::Spec;

/// What every resource operation gets: the spec, the clients and how to wait and report.
pub struct Context {
    pub spec: Arc<Spec>,
    pub clients: Clients,
    pub account_id: String,
    pub clock: Arc<dyn Clock>,
    /// Longest wait for any one resource to become ready or gone.
    pub timeout: Duration,
    pub progress: Arc<dyn Progress>,
    /// `down --delete-data`: also delete resources that hold user data (the bucket).
    pub delete_data: bool,
}

impl Context {
    pub fn backoff(&self) -> Backoff {
        Backoff::with_timeout(self.timeout)
    }

    /// Polls until `probe` is ready, showing what it sees on `resource`'s progress line.
    pub async fn wait_for<T, F, Fut>(
        &self,
        resource: &dyn Resource,
        what: &str,
        probe: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Poll<T>>>,
    {
        let name = resource.name(self);
        let label = format!("{} {name} {what}", resource.kind());
        wait::until(
            &self.clock,
            &label,
            &self.backoff(),
            |state| {
                self.progress.update(
                    resource.key(),
                    resource.kind(),
                    &name,
                    Phase::Waiting(state.to_string()),
                )
            },
            probe,
        )
        .await
    }

    /// Retries `op` while it fails with one of `codes` (e.g. `DependencyViolation` while AWS
    /// still detaches network interfaces), until the timeout.
    pub async fn retry_while<T, F, Fut>(
        &self,
        resource: &dyn Resource,
        what: &str,
        retryable: impl Fn(&Error) -> bool,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.wait_for(resource, what, || {
            let attempt = op();
            let retryable = &retryable;
            async move {
                match attempt.await {
                    Ok(value) => Ok(Poll::Ready(value)),
                    Err(err) if retryable(&err) => Ok(Poll::Pending(err.to_string())),
                    Err(err) => Err(err),
                }
            }
        })
        .await
    }
}

/// A resource as it exists in AWS: its id and the values its dependents need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub id: String,
    pub outputs: BTreeMap<&'static str, String>,
}

impl Found {
    pub fn new(id: impl Into<String>) -> Self {
        Found {
            id: id.into(),
            outputs: BTreeMap::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.outputs.insert(key, value.into());
        self
    }

    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs.get(key).map(String::as_str)
    }
}

/// What the resources a resource depends on turned out to be.
pub struct Deps<'a> {
    found: &'a BTreeMap<&'static str, Found>,
}

impl<'a> Deps<'a> {
    pub fn new(found: &'a BTreeMap<&'static str, Found>) -> Self {
        Deps { found }
    }

    /// A dependency, or `None` when it does not exist (only during `down` and `status`).
    pub fn get(&self, key: &str) -> Option<&'a Found> {
        self.found.get(key)
    }

    /// The id of a dependency the engine has already made exist.
    pub fn id(&self, key: &str) -> Result<&'a str> {
        self.get(key)
            .map(|f| f.id.as_str())
            .ok_or_else(|| missing_dependency(key))
    }

    /// A named output of a dependency the engine has already made exist.
    pub fn output(&self, key: &str, output: &str) -> Result<&'a str> {
        self.get(key)
            .and_then(|f| f.output(output))
            .ok_or_else(|| missing_dependency(&format!("{key}.{output}")))
    }
}

fn missing_dependency(what: &str) -> Error {
    Error::precondition(
        format!("internal: dependency {what} was not resolved before its dependents"),
        "this is a bug in modu; please report it with the output of `modu -v`",
    )
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
}

/// A spec number as the `i32` the AWS APIs take (validation keeps spec values far below
/// `i32::MAX`; saturating keeps this total anyway).
pub(crate) fn aws_int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A caller reference no earlier request used: AWS treats a repeated one as a retry of
/// that request, which a re-create after a delete is not.
pub(crate) fn unique_reference(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}-{millis}")
}

/// Refuses to manage `what` (a resource of the stack's name) when it lacks the stack's tag:
/// modu adopts nothing it did not create.
pub(crate) fn ensure_owned<'a>(
    cx: &Context,
    what: String,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    if tags::owned_by(tags, &cx.spec.stack) {
        return Ok(());
    }
    Err(Error::precondition(
        format!("{what} exists but is not part of stack {}", cx.spec.stack),
        format!(
            "delete or rename it, or tag it `{}={}` to let modu manage it",
            tags::STACK,
            cx.spec.stack
        ),
    ))
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
    /// The node's key in the stack graph, unique in a stack (`sg-lb`); also its
    /// `modu:component` tag.
    fn key(&self) -> &'static str;
    /// The AWS kind, for people (`security-group`).
    fn kind(&self) -> &'static str;
    /// The deterministic AWS name.
    fn name(&self, cx: &Context) -> String;
    /// Keys of the resources this one needs first.
    fn depends_on(&self) -> Vec<&'static str>;

    /// Looks the resource up; `None` when it does not exist (or a dependency it is found
    /// through does not exist).
    async fn find(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<Found>>;
    /// Creates it and waits until it is usable; ends by reading it back.
    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found>;
    /// Brings an existing resource in line with the spec where AWS allows it in place;
    /// returns what it changed (empty: nothing differed, and no mutating call was made).
    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>>;
    /// Describes it for `status`.
    async fn health(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Health>;
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
        Box::new(bucket::Bucket),
        Box::new(target_group::TargetGroup),
        Box::new(load_balancer::LoadBalancer),
        Box::new(listener::Listener),
        Box::new(launch_template::LaunchTemplate),
        Box::new(auto_scaling_group::AutoScalingGroup),
        Box::new(scaling_policy::ScalingPolicy),
        Box::new(cache_subnet_group::CacheSubnetGroup),
        Box::new(replication_group::ReplicationGroup),
        Box::new(origin_access_control::OriginAccessControl),
        Box::new(distribution::Distribution),
        Box::new(media_access::MediaAccess),
        Box::new(hosted_zone::HostedZone),
        Box::new(dns_record::DnsRecord),
        Box::new(dashboard::Dashboard),
        Box::new(alarms::Alarms),
    ]
}
