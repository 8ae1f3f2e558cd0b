//! The optional tiers (cdn, cache, dashboard, dns) one by one: a stack that
//! leaves them out or switches them off creates nothing for them, switching a
//! tier off on a deployed stack removes just that tier, and `status` reports
//! every tier of a full stack.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::{
    Aws, Emulator, RECORD, Run, Spec, ZONE, absolute, arg, describe_calls, expect_no_change,
    metric_rows, modu, modu_on_terminal, search_expressions,
};

/// The resource keys of the compute tier, always present.
const CORE_KEYS: [&str; 11] = [
    "network",
    "sg-lb",
    "sg-app",
    "sg-cache",
    "bucket",
    "target-group",
    "load-balancer",
    "listener",
    "launch-template",
    "asg",
    "scaling-policy",
];

/// The resource keys of the optional tiers.
const TIER_KEYS: [&str; 13] = [
    "cache-subnets",
    "cache-secret",
    "cache",
    "cdn-oac",
    "cdn",
    "origin-secret",
    "origin-rule",
    "media-access",
    "dns-zone",
    "dns-record",
    "dashboard",
    "alarm-topic",
    "alarms",
];

/// The services only the optional tiers use.
const TIER_SERVICES: [&str; 5] = ["cloudfront", "elasticache", "monitoring", "route53", "sns"];

async fn status_json(emulator: &Emulator, file: &str) -> (Run, Value) {
    let run = modu(emulator, &["status", "-f", file, "--output", "json"]).await;
    let doc = run.json();
    (run, doc)
}

fn keys(doc: &Value) -> BTreeSet<String> {
    doc["resources"]
        .as_array()
        .expect("`resources` is an array")
        .iter()
        .filter_map(|r| r["key"].as_str().map(str::to_string))
        .collect()
}

fn key_set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[track_caller]
fn resource<'a>(doc: &'a Value, key: &str) -> &'a Value {
    doc["resources"]
        .as_array()
        .expect("`resources` is an array")
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no resource {key} in {doc:#}"))
}

/// Asserts that nothing of the optional tiers exists in the emulator at all.
async fn assert_no_tier_resources(aws: &Aws, stack: &str) {
    assert_eq!(aws.distributions().await.len(), 0, "no distribution");
    assert_eq!(
        aws.origin_access_control_names().await,
        Vec::<String>::new()
    );
    assert_eq!(aws.replication_group_ids().await, Vec::<String>::new());
    assert!(
        !aws.cache_subnet_group_names()
            .await
            .contains(&format!("{stack}-cache")),
        "no cache subnet group"
    );
    assert_eq!(aws.dashboard_names().await, Vec::<String>::new());
    assert_eq!(aws.alarm_names_of_stack(stack).await, Vec::<String>::new());
    assert_eq!(aws.topics().await, Vec::<String>::new(), "no alarm topic");
    assert_eq!(aws.hosted_zones().await, Vec::<(String, String)>::new());
}

#[tokio::test]
async fn a_stack_without_the_optional_tiers_creates_nothing_for_them() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();

    // Left out, as in examples/minimal.yaml.
    let bare = Spec::new("bare");
    let bare_file = bare.write(dir.path());
    let run = modu(&emulator, &["up", "-f", arg(&bare_file)]).await;
    run.expect_success();
    let touched: Vec<_> = emulator
        .mutating_calls_since(0)
        .into_iter()
        .filter(|c| TIER_SERVICES.contains(&c.service.as_str()))
        .collect();
    assert!(
        touched.is_empty(),
        "a stack without tiers changed: {}\n{run}",
        describe_calls(&touched)
    );
    assert_no_tier_resources(&aws, "bare").await;
    assert_eq!(aws.tagged_with_stack("bare").await.len(), 12);
    let (status, doc) = status_json(&emulator, arg(&bare_file)).await;
    status.expect_success();
    assert_eq!(keys(&doc), key_set(&CORE_KEYS), "{status}");

    // Present but switched off.
    let mut off = Spec::full("off");
    off.cdn_mut().enabled = false;
    off.cache_mut().enabled = false;
    off.dashboard_mut().enabled = false;
    off.dns_mut().enabled = false;
    let off_file = off.write(dir.path());
    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&off_file)]).await;
    run.expect_success();
    let touched: Vec<_> = emulator
        .mutating_calls_since(mark)
        .into_iter()
        .filter(|c| TIER_SERVICES.contains(&c.service.as_str()))
        .collect();
    assert!(
        touched.is_empty(),
        "a stack with every tier off changed: {}\n{run}",
        describe_calls(&touched)
    );
    assert_no_tier_resources(&aws, "off").await;
    assert_eq!(aws.tagged_with_stack("off").await.len(), 12);
    let (status, doc) = status_json(&emulator, arg(&off_file)).await;
    status.expect_success();
    assert_eq!(keys(&doc), key_set(&CORE_KEYS), "{status}");
}

#[tokio::test]
async fn on_a_terminal_up_asks_before_deleting_and_no_keeps_everything() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::full("asked");
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    // Nothing to delete: no question, even on a terminal.
    let quiet = modu_on_terminal(&emulator, &["up", "-f", arg(&file)], "n").await;
    quiet.expect_success();
    assert!(quiet.stderr.contains("[on_terminal: not asked]"), "{quiet}");

    spec.cdn_mut().enabled = false;
    spec.write(dir.path());
    let mark = emulator.mark();
    let declined = modu_on_terminal(&emulator, &["up", "-f", arg(&file)], "n").await;
    declined.expect_code(1);
    assert!(
        declined.stderr.contains("This deletes or replaces ")
            && declined.stderr.contains("distribution modu:asked")
            && declined.stderr.contains("[on_terminal: asked]"),
        "{declined}"
    );
    let mutations = emulator.mutating_calls_since(mark);
    assert!(mutations.is_empty(), "{mutations:?}\n{declined}");
    assert!(aws.distribution_of_stack("asked").await.is_some());

    let accepted = modu_on_terminal(&emulator, &["up", "-f", arg(&file)], "y").await;
    accepted.expect_success();
    assert!(
        accepted.stderr.contains("[on_terminal: asked]"),
        "{accepted}"
    );
    assert!(
        aws.distribution_of_stack("asked").await.is_none(),
        "{accepted}"
    );
}

#[tokio::test]
async fn switching_a_tier_off_removes_it() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::full("shrink");
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();
    let bucket = spec.bucket_name();
    let lb = aws.load_balancer("shrink-lb").await;
    let zone = aws
        .hosted_zone_id(ZONE)
        .await
        .expect("modu created the zone");
    assert!(aws.bucket_policy(&bucket).await.is_some());

    // No CDN: the distribution, its access control and the bucket policy go,
    // and the name points at the load balancer instead.
    spec.cdn_mut().enabled = false;
    spec.write(dir.path());
    // Without a terminal and without --yes, `up` refuses the deletions and changes nothing.
    let mark = emulator.mark();
    let refused = modu(&emulator, &["up", "-f", arg(&file)]).await;
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("refusing without confirmation")
            && refused.stderr.contains("distribution modu:shrink")
            && refused.stderr.contains("modu up --yes"),
        "{refused}"
    );
    let mutations = emulator.mutating_calls_since(mark);
    assert!(mutations.is_empty(), "{mutations:?}\n{refused}");
    assert!(aws.distribution_of_stack("shrink").await.is_some());
    let run = modu(&emulator, &["up", "-f", arg(&file), "--yes"]).await;
    run.expect_success();
    assert!(aws.distribution_of_stack("shrink").await.is_none(), "{run}");
    assert_eq!(
        aws.origin_access_control_names().await,
        Vec::<String>::new(),
        "{run}"
    );
    // The read grant goes; the bucket's own TLS-only deny stays.
    let policy = aws
        .bucket_policy(&bucket)
        .await
        .expect("the bucket keeps a policy");
    assert_eq!(
        policy["Statement"].as_array().map(Vec::len),
        Some(1),
        "only the TLS-only deny is left: {policy:#}\n{run}"
    );
    aws.assert_bucket_is_safe(&bucket).await;
    let records = aws.records_at(&zone, RECORD).await;
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["A", "TXT"],
        "{records:#?}\n{run}"
    );
    let alias = records["A"].alias_target().expect("an alias");
    assert_eq!(
        (alias.hosted_zone_id(), absolute(alias.dns_name())),
        (
            lb.canonical_hosted_zone_id().unwrap(),
            absolute(lb.dns_name().unwrap())
        )
    );
    let rows = metric_rows(&aws.dashboard_body("shrink").await.unwrap());
    assert!(
        !rows.iter().any(|r| r.namespace == "AWS/CloudFront"),
        "the dashboard drops the CloudFront widgets: {rows:#?}"
    );

    // No cache: the replication group, its subnet group and its alarm go.
    spec.cache_mut().enabled = false;
    spec.write(dir.path());
    let run = modu(&emulator, &["up", "-f", arg(&file), "--yes"]).await;
    run.expect_success();
    assert!(
        aws.replication_group("shrink-cache").await.is_none(),
        "{run}"
    );
    assert!(
        !aws.cache_subnet_group_names()
            .await
            .contains(&"shrink-cache".to_string()),
        "{run}"
    );
    assert_eq!(
        aws.alarm_names_of_stack("shrink").await,
        ["shrink-alb-5xx-rate", "shrink-unhealthy-hosts"],
        "{run}"
    );
    let body = aws.dashboard_body("shrink").await.unwrap();
    let searches = search_expressions(&body);
    assert!(
        !metric_rows(&body)
            .iter()
            .any(|r| r.namespace == "AWS/ElastiCache")
            && !searches.iter().any(|(_, e)| e.contains("AWS/ElastiCache")),
        "the dashboard drops the cache widgets: {searches:#?}"
    );

    // No dashboard: the dashboard, the alarms and their topic go.
    assert_eq!(aws.topics().await.len(), 1);
    spec.dashboard_mut().enabled = false;
    spec.write(dir.path());
    let run = modu(&emulator, &["up", "-f", arg(&file), "--yes"]).await;
    run.expect_success();
    assert_eq!(aws.dashboard_names().await, Vec::<String>::new(), "{run}");
    assert_eq!(
        aws.alarm_names_of_stack("shrink").await,
        Vec::<String>::new(),
        "{run}"
    );
    assert_eq!(aws.topics().await, Vec::<String>::new(), "{run}");

    // No dns section: the records go, and the zone with them, as modu made it.
    spec.dns = None;
    spec.write(dir.path());
    let run = modu(&emulator, &["up", "-f", arg(&file), "--yes"]).await;
    run.expect_success();
    assert_eq!(
        aws.hosted_zones().await,
        Vec::<(String, String)>::new(),
        "{run}"
    );

    // What is left is exactly the compute tier, and it is stable.
    let (status, doc) = status_json(&emulator, arg(&file)).await;
    status.expect_success();
    assert_eq!(keys(&doc), key_set(&CORE_KEYS), "{status}");
    assert_eq!(aws.tagged_with_stack("shrink").await.len(), 12);
    expect_no_change(
        &emulator,
        &["up", "-f", arg(&file)],
        "the compute-only stack",
    )
    .await;
}

#[tokio::test]
async fn status_reports_every_tier_of_a_full_stack() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::full("report");
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    let mark = emulator.mark();
    let (run, doc) = status_json(&emulator, arg(&file)).await;
    run.expect_success();
    let mutating = emulator.mutating_calls_since(mark);
    assert!(
        mutating.is_empty(),
        "status only reads: {}",
        describe_calls(&mutating)
    );
    assert_eq!(doc["complete"], true, "{run}");
    assert_eq!(doc["healthy"], true, "{run}");
    let all: BTreeSet<String> = CORE_KEYS
        .iter()
        .chain(&TIER_KEYS)
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys(&doc), all, "{run}");
    for key in &all {
        let r = resource(&doc, key);
        assert_eq!(r["exists"], true, "{r:#}");
        assert_eq!(r["healthy"], true, "{r:#}");
        assert!(
            r["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{key} has an id: {r:#}"
        );
    }

    // CloudFront: deployed, with its domain.
    let dist = aws.distribution_of_stack("report").await.unwrap();
    let cdn = resource(&doc, "cdn");
    assert_eq!(cdn["id"], dist.id());
    assert_eq!(cdn["details"]["status"], "Deployed", "{cdn:#}");
    assert_eq!(cdn["details"]["domain_name"], dist.domain_name(), "{cdn:#}");
    assert!(
        cdn["state"].as_str().unwrap().contains(dist.domain_name()),
        "{cdn:#}"
    );

    // The cache: its endpoints as AWS reports them.
    let group = aws.replication_group("report-cache").await.unwrap();
    let node_group = &group.node_groups()[0];
    let endpoint = |e: Option<&aws_sdk_elasticache::types::Endpoint>| {
        let e = e.expect("an endpoint");
        format!("{}:{}", e.address().unwrap(), e.port().unwrap())
    };
    let cache = resource(&doc, "cache");
    assert_eq!(cache["id"], "report-cache");
    assert_eq!(
        cache["details"]["primary_endpoint"],
        endpoint(node_group.primary_endpoint()),
        "{cache:#}"
    );
    assert_eq!(
        cache["details"]["reader_endpoint"],
        endpoint(node_group.reader_endpoint()),
        "{cache:#}"
    );
    assert_eq!(cache["details"]["status"], "available", "{cache:#}");

    // DNS: the name and what it points at.
    let record = resource(&doc, "dns-record");
    let state = record["state"].as_str().unwrap();
    assert!(
        state.contains(RECORD) && state.contains(dist.domain_name()),
        "the state names the record and its target: {record:#}"
    );
    assert_eq!(
        record["details"]["targets"]["A"],
        dist.domain_name(),
        "{record:#}"
    );

    // The dashboard's console address.
    let dashboard = resource(&doc, "dashboard");
    let url = dashboard["details"]["url"].as_str().unwrap_or_default();
    assert!(
        url.starts_with("https://us-east-1.console.aws.amazon.com/cloudwatch/")
            && url.contains("dashboards:name=report"),
        "{dashboard:#}"
    );

    // Each alarm with its state, as CloudWatch reports it.
    let alarms = aws.alarms().await;
    let expected: BTreeMap<String, Value> = aws
        .alarm_names_of_stack("report")
        .await
        .into_iter()
        .map(|name| {
            let state = alarms[&name]
                .state_value()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            (name, Value::from(state))
        })
        .collect();
    assert_eq!(expected.len(), 3);
    let reported: BTreeMap<String, Value> = resource(&doc, "alarms")["details"]
        .as_object()
        .expect("alarm states by name")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(reported, expected, "{run}");

    // The stack outputs carry the new tiers too.
    let outputs = &doc["outputs"];
    assert_eq!(
        outputs["cdn_url"],
        format!("https://{}/", dist.domain_name())
    );
    assert_eq!(outputs["dashboard_url"], url);
    assert_eq!(outputs["url"], format!("https://{RECORD}/"));
    assert_eq!(
        outputs["cache_primary_endpoint"],
        cache["details"]["primary_endpoint"]
    );
}
