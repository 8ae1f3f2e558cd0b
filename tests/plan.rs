//! `modu plan` against the emulator: on an empty account everything is a create; after
//! `up` nothing changes (exit 0 with `--detailed-exitcode`); edits of sizes, CPU target,
//! health check, price class and replicas show exactly those updates; switching a tier off
//! shows its deletes. Every plan makes no mutating call (from the emulator's request log),
//! and the emulator pages its lists one item at a time so modu's paginators are exercised.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::{Emulator, Spec, arg, describe_calls, modu};

/// A no-op observation of the whole stack may cost at most this many AWS requests: about
/// one per kind modu can own, the kinds of tiers the spec leaves out included (`up` must
/// find what an earlier spec made, to remove it: one `DescribeVpcEndpoints` for the S3 and
/// interface endpoints of private subnets), the zones that offer the instance and cache
/// node types (one request for both), CloudFront's prefix list and the origin secret's
/// values. The bucket takes five: its tags, public access block, policy, versioning and
/// lifecycle; the alarm topic three: the topic, its tags, its subscriptions.
const READ_BUDGET: usize = 47;

/// Runs `modu plan -o json --detailed-exitcode`, checks it made no mutating call and
/// exited `code`, and returns the document.
async fn plan(emulator: &Emulator, file: &str, code: i32) -> Value {
    let mark = emulator.mark();
    let run = modu(
        emulator,
        &["plan", "-f", file, "-o", "json", "--detailed-exitcode"],
    )
    .await;
    run.expect_code(code);
    let mutating = emulator.mutating_calls_since(mark);
    assert!(
        mutating.is_empty(),
        "plan changed something: {}\n{run}",
        describe_calls(&mutating)
    );
    run.json()
}

/// Rows by key: (action, changed field names).
fn rows(doc: &Value) -> BTreeMap<String, (String, Vec<String>)> {
    doc["changes"]
        .as_array()
        .expect("`changes` is an array")
        .iter()
        .map(|row| {
            let fields = row["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_string())
                .collect();
            (
                row["key"].as_str().unwrap().to_string(),
                (row["action"].as_str().unwrap().to_string(), fields),
            )
        })
        .collect()
}

/// The rows whose action is not `no_change`.
fn changing(doc: &Value) -> BTreeMap<String, (String, Vec<String>)> {
    rows(doc)
        .into_iter()
        .filter(|(_, (action, _))| action != "no_change")
        .collect()
}

fn update(fields: &[&str]) -> (String, Vec<String>) {
    (
        "update".to_string(),
        fields.iter().map(|f| f.to_string()).collect(),
    )
}

#[tokio::test]
async fn plan_previews_exactly_what_up_then_does() {
    // One item per page: finding a stack's distribution and zones takes the paginators.
    let emulator = Emulator::with_page_size(1);
    let dir = tempfile::tempdir().unwrap();
    // A second stack first, so the lists hold more than one page.
    let other = Spec::full("other");
    let other_file = other.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&other_file)])
        .await
        .expect_success();

    let mut spec = Spec::full("preview");
    spec.dns_mut().record = "preview.example.com".into();
    spec.dns_mut().create_zone = false;
    let file = spec.write(dir.path());

    // Empty account (for this stack): every resource is a create, except the looked-up
    // network and the existing zone.
    let doc = plan(&emulator, arg(&file), 2).await;
    let all = rows(&doc);
    let creates: BTreeSet<&str> = all
        .iter()
        .filter(|(_, (action, _))| action == "create")
        .map(|(k, _)| k.as_str())
        .collect();
    let unchanged: BTreeSet<&str> = all
        .iter()
        .filter(|(_, (action, _))| action == "no_change")
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        unchanged,
        BTreeSet::from(["network", "dns-zone"]),
        "{doc:#}"
    );
    assert_eq!(creates.len(), 22, "{doc:#}");
    assert_eq!(doc["summary"]["create"], 22);
    assert_eq!(doc["summary"]["unchanged"], 2);

    // The table says the same, with the summary line.
    let table = modu(&emulator, &["plan", "-f", arg(&file)]).await;
    table.expect_success();
    assert!(
        table
            .stdout
            .contains("22 to create, 0 to update, 0 to delete, 2 unchanged"),
        "{table}"
    );

    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    // Converged: no changes, exit 0, and a bounded number of reads.
    let mark = emulator.mark();
    let doc = plan(&emulator, arg(&file), 0).await;
    let reads = emulator.calls_since(mark);
    assert!(changing(&doc).is_empty(), "{doc:#}");
    // With one distribution a page, finding ours may take a page more than with AWS's 100.
    let extra_pages = reads
        .iter()
        .filter(|c| c.service == "cloudfront" && c.operation == "ListDistributions")
        .count()
        .saturating_sub(1);
    assert!(
        reads.len() - extra_pages <= READ_BUDGET,
        "a no-op plan took {} requests (budget {READ_BUDGET}): {}",
        reads.len(),
        describe_calls(&reads)
    );
    eprintln!(
        "no-op plan of a full stack: {} requests: {}",
        reads.len(),
        describe_calls(&reads)
    );

    // Edits: exactly these updates, and nothing else.
    spec.max = 12;
    spec.desired = 3;
    spec.cpu_target = 50;
    spec.health_path = "/readyz".into();
    spec.cdn_mut().price_class = "PriceClass_200".into();
    spec.cache_mut().replicas = 2;
    spec.write(dir.path());
    let doc = plan(&emulator, arg(&file), 2).await;
    let expected = BTreeMap::from([
        // The `modu:desired` bookmark moves with `desired` and is not listed apart.
        ("asg".to_string(), update(&["max", "desired"])),
        ("scaling-policy".to_string(), update(&["cpu_target"])),
        ("target-group".to_string(), update(&["health_check.path"])),
        ("cdn".to_string(), update(&["price_class"])),
        ("cache".to_string(), update(&["replicas"])),
        // The instance CPU widget marks the scaling target.
        ("dashboard".to_string(), update(&["widgets"])),
    ]);
    assert_eq!(changing(&doc), expected, "{doc:#}");
    let field = |key: &str, name: &str| {
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .and_then(|r| {
                r["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["field"] == name)
            })
            .cloned()
            .unwrap()
    };
    assert_eq!(
        field("target-group", "health_check.path"),
        serde_json::json!({"field": "health_check.path", "from": "/healthz", "to": "/readyz"})
    );
    assert_eq!(field("cache", "replicas")["to"], "2");
    assert_eq!(field("cdn", "price_class")["from"], "PriceClass_100");
    assert_eq!(doc["summary"]["update"], 6);

    // `status` shows the same drift, field by field, and changes nothing either.
    let mark = emulator.mark();
    let status = modu(&emulator, &["status", "-f", arg(&file), "-o", "json"]).await;
    assert!(emulator.mutating_calls_since(mark).is_empty(), "{status}");
    let drift: BTreeMap<String, Vec<String>> = status.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["drift"].as_array().unwrap().is_empty())
        .map(|r| {
            let fields = r["drift"].as_array().unwrap().iter();
            (
                r["key"].as_str().unwrap().to_string(),
                fields
                    .map(|f| f["field"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let expected_drift: BTreeMap<String, Vec<String>> = expected
        .iter()
        .map(|(k, (_, fields))| (k.clone(), fields.clone()))
        .collect();
    assert_eq!(drift, expected_drift, "{status}");
    let table = modu(&emulator, &["status", "-f", arg(&file)]).await;
    assert!(
        table.stdout.contains("DRIFT") && table.stdout.contains("health_check.path"),
        "{table}"
    );

    // `up` shows the same plan, applies it, and the next plan is clean.
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    assert!(
        run.stderr.contains("health_check.path: /healthz → /readyz")
            && run.stderr.contains("0 to create, 6 to update, 0 to delete"),
        "{run}"
    );
    let doc = plan(&emulator, arg(&file), 0).await;
    assert!(changing(&doc).is_empty(), "{doc:#}");

    // A tier switched off: its resources are deletes; what used it is updated.
    spec.cache_mut().enabled = false;
    spec.write(dir.path());
    let doc = plan(&emulator, arg(&file), 2).await;
    let deletes: BTreeSet<String> = changing(&doc)
        .into_iter()
        .filter(|(_, (action, _))| action == "delete")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        deletes,
        BTreeSet::from([
            "cache".to_string(),
            "cache-secret".to_string(),
            "cache-subnets".to_string()
        ]),
        "{doc:#}"
    );
    assert_eq!(
        changing(&doc).get("alarms"),
        Some(&update(&["preview-cache-cpu"])),
        "{doc:#}"
    );

    // The other stack was never touched by any of this.
    let doc = plan(&emulator, arg(&other_file), 0).await;
    assert!(changing(&doc).is_empty(), "{doc:#}");
}

#[tokio::test]
async fn a_failing_plan_prints_its_error_as_json_when_asked() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::new("nozone");
    spec.dns = Spec::full("nozone").dns;
    spec.dns_mut().create_zone = false;
    spec.dns_mut().target = "load_balancer".into();
    // The zone does not exist and modu may not create it: the plan still works (it shows
    // a create), and `up` fails on it with a fixable error.
    let file = spec.write(dir.path());
    let doc = plan(&emulator, arg(&file), 2).await;
    assert_eq!(rows(&doc)["dns-zone"].0, "create", "{doc:#}");

    let run = support::modu_offline(&[
        "status",
        "-f",
        arg(&file),
        "-o",
        "json",
        "--region",
        "nowhere-1",
    ])
    .await;
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(doc["error"]["kind"], "unreachable", "{run}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nowhere-1")
    );
    assert!(doc["error"]["help"].is_string(), "{run}");
}
