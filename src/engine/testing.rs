//! A fake resource for unit tests of the engine: an in-memory "cloud" that records calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::resources::{Change, Context, Deps, Diff, Found, Health, Key, Observed, Resource};
use crate::spec::Spec;

/// Shared state of the fake cloud: which keys exist, and every call made, in order.
#[derive(Debug, Default)]
pub struct FakeCloud {
    pub existing: BTreeMap<String, u32>,
    pub calls: Vec<String>,
    pub fail_on: Option<String>,
    /// Calls AWS refuses for want of a permission (`find bucket`).
    pub denied: Vec<String>,
}

pub struct FakeResource {
    key: Key,
    deps: Vec<Key>,
    /// The "spec" value; a diff reports it when the cloud's value differs.
    pub wanted: u32,
    /// Whether the spec asks for it at all (a tier switched on).
    pub enabled: bool,
    pub cloud: Arc<Mutex<FakeCloud>>,
}

impl FakeResource {
    pub fn new(key: Key, deps: &[Key]) -> Self {
        Self::in_cloud(key, deps, Arc::default(), 1)
    }

    pub fn in_cloud(key: Key, deps: &[Key], cloud: Arc<Mutex<FakeCloud>>, wanted: u32) -> Self {
        FakeResource {
            enabled: true,
            key,
            deps: deps.to_vec(),
            wanted,
            cloud,
        }
    }

    fn record(&self, call: &str) -> Result<()> {
        let mut cloud = self.cloud.lock().unwrap();
        let entry = format!("{call} {}", self.key);
        cloud.calls.push(entry.clone());
        if cloud.denied.contains(&entry) {
            return Err(Error::Aws {
                action: "finding",
                kind: "fake",
                name: entry,
                code: Some("AccessDenied".into()),
                message: "not authorized".into(),
                help: None,
            });
        }
        if cloud.fail_on.as_deref() == Some(entry.as_str()) {
            return Err(Error::fixable(format!("injected failure: {entry}"), "test"));
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for FakeResource {
    fn key(&self) -> Key {
        self.key
    }
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn name(&self, _cx: &Context) -> String {
        format!("fake-{}", self.key)
    }
    fn depends_on(&self) -> Vec<Key> {
        self.deps.clone()
    }

    fn wanted(&self, _spec: &Spec) -> bool {
        self.enabled
    }

    async fn observe(&self, _cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        self.record("find")?;
        let cloud = self.cloud.lock().unwrap();
        Ok(cloud
            .existing
            .get(self.key.as_str())
            .map(|value| Observed::new(Found::new(format!("id-{}", self.key)), *value)))
    }

    fn diff(&self, _cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        for dep in &self.deps {
            if deps.present(*dep)? {
                deps.id(*dep)?;
            }
        }
        let mut diff = Diff::new();
        diff.field("value", observed.live::<u32>()?, &self.wanted);
        Ok(diff.into_changes())
    }

    async fn apply(
        &self,
        _cx: &Context,
        _deps: &Deps<'_>,
        _observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        self.record("update")?;
        self.cloud
            .lock()
            .unwrap()
            .existing
            .insert(self.key.as_str().into(), self.wanted);
        Ok(())
    }

    async fn create(&self, _cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        for dep in &self.deps {
            let id = deps.id(*dep)?;
            assert_ne!(
                id,
                crate::resources::KNOWN_AFTER_UP,
                "created before its dependency"
            );
        }
        self.record("create")?;
        self.cloud
            .lock()
            .unwrap()
            .existing
            .insert(self.key.as_str().into(), self.wanted);
        Ok(Found::new(format!("id-{}", self.key)))
    }

    async fn health(
        &self,
        _cx: &Context,
        _deps: &Deps<'_>,
        _observed: &Observed,
    ) -> Result<Health> {
        Ok(Health::ok("fine", serde_json::json!({})))
    }

    async fn delete(&self, _cx: &Context, _found: &Found) -> Result<()> {
        self.record("delete")?;
        self.cloud
            .lock()
            .unwrap()
            .existing
            .remove(self.key.as_str());
        Ok(())
    }
}

/// A context whose AWS clients are never called (fake resources don't use them).
pub fn context() -> Context {
    let config = aws_types::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .build();
    let spec = crate::spec::parse_str(
        "stack: test\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n",
        std::path::Path::new("test.yaml"),
    )
    .expect("the test spec is valid");
    Context::new(
        spec,
        crate::aws::Clients::new(&config),
        "123456789012".into(),
        crate::aws::wait::testing::FakeClock::new(),
        std::time::Duration::from_secs(60),
        Arc::new(crate::output::SilentProgress),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Graph, down, status, up};
    use crate::output::Outcome;

    const NET: Key = Key::Network;
    const SG: Key = Key::SgLb;
    const LB: Key = Key::LoadBalancer;
    const BUCKET: Key = Key::Bucket;

    fn stack(cloud: &Arc<Mutex<FakeCloud>>, wanted: u32) -> Graph {
        let node = |k, d: &[Key]| {
            Box::new(FakeResource::in_cloud(k, d, cloud.clone(), wanted)) as Box<dyn Resource>
        };
        Graph::new(vec![
            node(NET, &[]),
            node(SG, &[NET]),
            node(LB, &[SG]),
            node(BUCKET, &[]),
        ])
        .unwrap()
    }

    fn mutations(cloud: &Arc<Mutex<FakeCloud>>) -> Vec<String> {
        cloud
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| !c.starts_with("find"))
            .cloned()
            .collect()
    }

    #[tokio::test]
    async fn up_creates_in_dependency_order_then_a_second_up_changes_nothing() {
        let cx = context();
        let cloud = Arc::default();
        let graph = stack(&cloud, 1);
        let (summary, err) = up(&cx, &graph).await;
        assert!(err.is_none());
        assert!(summary.rows.iter().all(|r| r.outcome == Outcome::Created));
        let created = mutations(&cloud);
        let pos = |c: &str| created.iter().position(|x| x == c).unwrap();
        assert!(
            pos("create network") < pos("create sg-lb")
                && pos("create sg-lb") < pos("create load-balancer")
        );

        cloud.lock().unwrap().calls.clear();
        let (summary, err) = up(&cx, &graph).await;
        assert!(err.is_none());
        assert!(summary.rows.iter().all(|r| r.outcome == Outcome::Unchanged));
        assert!(mutations(&cloud).is_empty(), "{:?}", mutations(&cloud));
    }

    #[tokio::test]
    async fn up_converges_drift_in_place() {
        let cx = context();
        let cloud = Arc::default();
        up(&cx, &stack(&cloud, 1)).await;
        cloud.lock().unwrap().calls.clear();
        let (summary, _) = up(&cx, &stack(&cloud, 2)).await;
        assert!(
            summary
                .rows
                .iter()
                .all(|r| matches!(r.outcome, Outcome::Updated(_)))
        );
        assert!(mutations(&cloud).iter().all(|c| c.starts_with("update")));
    }

    #[tokio::test]
    async fn a_failure_skips_dependents_but_not_independent_branches() {
        let cx = context();
        let cloud: Arc<Mutex<FakeCloud>> = Arc::default();
        cloud.lock().unwrap().fail_on = Some("create sg-lb".into());
        let (summary, err) = up(&cx, &stack(&cloud, 1)).await;
        assert!(err.unwrap().to_string().contains("injected failure"));
        let outcome = |k: &str| {
            summary
                .rows
                .iter()
                .find(|r| r.key == k)
                .unwrap()
                .outcome
                .clone()
        };
        assert!(matches!(outcome("sg-lb"), Outcome::Failed(_)));
        assert_eq!(outcome("load-balancer"), Outcome::Skipped);
        assert_eq!(outcome("bucket"), Outcome::Created);
    }

    #[tokio::test]
    async fn down_deletes_dependents_first_and_is_idempotent() {
        let cx = context();
        let cloud = Arc::default();
        let graph = stack(&cloud, 1);
        up(&cx, &graph).await;
        cloud.lock().unwrap().calls.clear();
        let (summary, err) = down(&cx, &graph).await;
        assert!(err.is_none());
        assert!(summary.rows.iter().all(|r| r.outcome == Outcome::Deleted));
        let deleted = mutations(&cloud);
        let pos = |c: &str| deleted.iter().position(|x| x == c).unwrap();
        assert!(
            pos("delete load-balancer") < pos("delete sg-lb")
                && pos("delete sg-lb") < pos("delete network")
        );

        cloud.lock().unwrap().calls.clear();
        let (summary, err) = down(&cx, &graph).await;
        assert!(err.is_none());
        assert!(summary.rows.iter().all(|r| r.outcome == Outcome::Absent));
        assert!(mutations(&cloud).is_empty());
    }

    #[tokio::test]
    async fn switching_a_resource_off_deletes_it_after_its_dependents_converge() {
        let cx = context();
        let cloud: Arc<Mutex<FakeCloud>> = Arc::default();
        up(&cx, &stack(&cloud, 1)).await;
        cloud.lock().unwrap().calls.clear();

        let node = |k, d: &[Key], enabled| {
            let mut r = FakeResource::in_cloud(k, d, cloud.clone(), 1);
            r.enabled = enabled;
            Box::new(r) as Box<dyn Resource>
        };
        // `sg` is switched off; `lb` (which depends on it) stays and converges first.
        let graph = Graph::new(vec![
            node(NET, &[], true),
            node(SG, &[NET], false),
            node(LB, &[SG], true),
            node(BUCKET, &[], true),
        ])
        .unwrap();
        let (summary, err) = up(&cx, &graph).await;
        assert!(err.is_none());
        let outcome = |k: &str| {
            summary
                .rows
                .iter()
                .find(|r| r.key == k)
                .map(|r| r.outcome.clone())
        };
        assert_eq!(outcome("sg-lb"), Some(Outcome::Deleted));
        assert_eq!(outcome("load-balancer"), Some(Outcome::Unchanged));
        assert_eq!(mutations(&cloud), vec!["delete sg-lb".to_string()]);

        // Once gone, it no longer shows up anywhere.
        let (summary, _) = up(&cx, &graph).await;
        assert!(summary.rows.iter().all(|r| r.key != "sg-lb"));
        let report = status(&cx, &graph).await.unwrap();
        assert!(report.complete && report.healthy);
        assert!(report.resources.iter().all(|r| r.key != "sg-lb"));
    }

    #[tokio::test]
    async fn status_reports_missing_resources() {
        let cx = context();
        let cloud: Arc<Mutex<FakeCloud>> = Arc::default();
        let graph = stack(&cloud, 1);
        up(&cx, &graph).await;
        cloud.lock().unwrap().existing.remove("load-balancer");
        let report = status(&cx, &graph).await.unwrap();
        assert!(!report.complete && !report.healthy);
        let lb = report
            .resources
            .iter()
            .find(|r| r.key == "load-balancer")
            .unwrap();
        assert!(!lb.exists && lb.id.is_none());
        assert!(
            report
                .resources
                .iter()
                .filter(|r| r.key != "load-balancer")
                .all(|r| r.exists && r.healthy)
        );
    }

    #[tokio::test]
    async fn a_refused_look_for_a_switched_off_resource_finds_nothing_but_a_wanted_one_fails() {
        let cx = context();
        let cloud: Arc<Mutex<FakeCloud>> = Arc::default();
        cloud.lock().unwrap().denied = vec!["find bucket".into()];
        let node = |k, d: &[Key], enabled| {
            let mut r = FakeResource::in_cloud(k, d, cloud.clone(), 1);
            r.enabled = enabled;
            Box::new(r) as Box<dyn Resource>
        };
        // The bucket's tier is off, and the policy does not cover it.
        let graph = Graph::new(vec![node(NET, &[], true), node(BUCKET, &[], false)]).unwrap();
        let (summary, err) = up(&cx, &graph).await;
        assert!(err.is_none(), "{err:?}");
        assert!(summary.rows.iter().all(|r| r.key != "bucket"));
        assert_eq!(mutations(&cloud), vec!["create network".to_string()]);

        // Wanted, the same refusal is the error it is.
        let graph = Graph::new(vec![node(NET, &[], true), node(BUCKET, &[], true)]).unwrap();
        let (_, err) = up(&cx, &graph).await;
        assert!(err.unwrap().is_access_denied());
    }
}
