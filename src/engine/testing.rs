//! A fake resource for unit tests of the engine: an in-memory "cloud" that records calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::resources::{Context, Deps, Found, Health, Resource};
use crate::spec::Spec;

/// Shared state of the fake cloud: which keys exist, and every call made, in order.
#[derive(Debug, Default)]
pub struct FakeCloud {
    pub existing: BTreeMap<String, u32>,
    pub calls: Vec<String>,
    pub fail_on: Option<String>,
}

pub struct FakeResource {
    key: &'static str,
    deps: Vec<&'static str>,
    /// The "spec" value; converge updates the cloud's value when it differs.
    pub wanted: u32,
    /// Whether the spec asks for it at all (a tier switched on).
    pub enabled: bool,
    pub cloud: Arc<Mutex<FakeCloud>>,
}

impl FakeResource {
    pub fn new(key: &'static str, deps: &[&'static str]) -> Self {
        Self::in_cloud(key, deps, Arc::default(), 1)
    }

    pub fn in_cloud(
        key: &'static str,
        deps: &[&'static str],
        cloud: Arc<Mutex<FakeCloud>>,
        wanted: u32,
    ) -> Self {
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
        if cloud.fail_on.as_deref() == Some(entry.as_str()) {
            return Err(Error::precondition(
                format!("injected failure: {entry}"),
                "test",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for FakeResource {
    fn key(&self) -> &'static str {
        self.key
    }
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn name(&self, _cx: &Context) -> String {
        format!("fake-{}", self.key)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        self.deps.clone()
    }

    fn wanted(&self, _spec: &Spec) -> bool {
        self.enabled
    }

    async fn find(&self, _cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        self.record("find")?;
        let cloud = self.cloud.lock().unwrap();
        Ok(cloud
            .existing
            .get(self.key)
            .map(|_| Found::new(format!("id-{}", self.key))))
    }

    async fn create(&self, _cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        for dep in &self.deps {
            deps.id(dep)?;
        }
        self.record("create")?;
        self.cloud
            .lock()
            .unwrap()
            .existing
            .insert(self.key.into(), self.wanted);
        Ok(Found::new(format!("id-{}", self.key)))
    }

    async fn converge(
        &self,
        _cx: &Context,
        _deps: &Deps<'_>,
        _found: &Found,
    ) -> Result<Vec<String>> {
        let current = self.cloud.lock().unwrap().existing.get(self.key).copied();
        if current == Some(self.wanted) {
            return Ok(Vec::new());
        }
        self.record("update")?;
        self.cloud
            .lock()
            .unwrap()
            .existing
            .insert(self.key.into(), self.wanted);
        Ok(vec![format!("value -> {}", self.wanted)])
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, _found: &Found) -> Result<Health> {
        Ok(Health::ok("fine", serde_json::json!({})))
    }

    async fn delete(&self, _cx: &Context, _found: &Found) -> Result<()> {
        self.record("delete")?;
        self.cloud.lock().unwrap().existing.remove(self.key);
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
    Context {
        spec: Arc::new(spec),
        clients: crate::aws::Clients::new(&config),
        account_id: "123456789012".into(),
        clock: crate::aws::wait::testing::FakeClock::new(),
        timeout: std::time::Duration::from_secs(60),
        progress: Arc::new(crate::output::SilentProgress),
        delete_data: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Graph, down, status, up};
    use crate::output::Outcome;

    fn stack(cloud: &Arc<Mutex<FakeCloud>>, wanted: u32) -> Graph {
        let node = |k, d: &[&'static str]| {
            Box::new(FakeResource::in_cloud(k, d, cloud.clone(), wanted)) as Box<dyn Resource>
        };
        Graph::new(vec![
            node("net", &[]),
            node("sg", &["net"]),
            node("lb", &["sg"]),
            node("bucket", &[]),
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
        assert!(pos("create net") < pos("create sg") && pos("create sg") < pos("create lb"));

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
        cloud.lock().unwrap().fail_on = Some("create sg".into());
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
        assert!(matches!(outcome("sg"), Outcome::Failed(_)));
        assert_eq!(outcome("lb"), Outcome::Skipped);
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
        assert!(pos("delete lb") < pos("delete sg") && pos("delete sg") < pos("delete net"));

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

        let node = |k, d: &[&'static str], enabled| {
            let mut r = FakeResource::in_cloud(k, d, cloud.clone(), 1);
            r.enabled = enabled;
            Box::new(r) as Box<dyn Resource>
        };
        // `sg` is switched off; `lb` (which depends on it) stays and converges first.
        let graph = Graph::new(vec![
            node("net", &[], true),
            node("sg", &["net"], false),
            node("lb", &["sg"], true),
            node("bucket", &[], true),
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
        assert_eq!(outcome("sg"), Some(Outcome::Deleted));
        assert_eq!(outcome("lb"), Some(Outcome::Unchanged));
        assert_eq!(mutations(&cloud), vec!["delete sg".to_string()]);

        // Once gone, it no longer shows up anywhere.
        let (summary, _) = up(&cx, &graph).await;
        assert!(summary.rows.iter().all(|r| r.key != "sg"));
        let report = status(&cx, &graph).await.unwrap();
        assert!(report.complete && report.healthy);
        assert!(report.resources.iter().all(|r| r.key != "sg"));
    }

    #[tokio::test]
    async fn status_reports_missing_resources() {
        let cx = context();
        let cloud: Arc<Mutex<FakeCloud>> = Arc::default();
        let graph = stack(&cloud, 1);
        up(&cx, &graph).await;
        cloud.lock().unwrap().existing.remove("lb");
        let report = status(&cx, &graph).await.unwrap();
        assert!(!report.complete && !report.healthy);
        let lb = report.resources.iter().find(|r| r.key == "lb").unwrap();
        assert!(!lb.exists && lb.id.is_none());
        assert!(
            report
                .resources
                .iter()
                .filter(|r| r.key != "lb")
                .all(|r| r.exists && r.healthy)
        );
    }
}
