//! `modu status`: the JSON document lists every resource with its id, and the
//! exit code tells complete-and-healthy (0), missing (3) and unhealthy (4) apart.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{Aws, Emulator, Run, Spec, arg, describe_calls, modu};

/// The resource keys of the contract, in dependency order.
const KEYS: [&str; 11] = [
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

fn resources(doc: &Value) -> &Vec<Value> {
    doc["resources"]
        .as_array()
        .expect("`resources` is an array")
}

#[track_caller]
fn resource<'a>(doc: &'a Value, key: &str) -> &'a Value {
    resources(doc)
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no resource {key} in {doc:#}"))
}

/// Runs `status --output json` and checks the exit code and the document's
/// invariants that hold in every state.
async fn status_json(emulator: &Emulator, file: &str, code: i32) -> (Run, Value) {
    let run = modu(emulator, &["status", "-f", file, "--output", "json"]).await;
    run.expect_code(code);
    let doc = run.json();
    let keys: BTreeSet<&str> = resources(&doc)
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert_eq!(keys, BTreeSet::from(KEYS), "one entry per resource\n{run}");
    for r in resources(&doc) {
        for field in ["kind", "name", "state"] {
            assert!(
                r[field].is_string(),
                "{} has a string `{field}`: {r}",
                r["key"]
            );
        }
        assert!(r["exists"].is_boolean() && r["healthy"].is_boolean(), "{r}");
        if r["exists"] == false {
            assert!(r["id"].is_null(), "a missing resource has no id: {r}");
        }
    }
    (run, doc)
}

#[tokio::test]
async fn status_reports_every_resource_of_a_deployed_stack() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new("stat");
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    let mark = emulator.mark();
    let (run, doc) = status_json(&emulator, arg(&file), 0).await;
    let mutating = emulator.mutating_calls_since(mark);
    assert!(
        mutating.is_empty(),
        "status only reads: {}",
        describe_calls(&mutating)
    );

    assert_eq!(doc["stack"], "stat");
    assert_eq!(doc["region"], "us-east-1");
    assert_eq!(doc["complete"], true, "{run}");
    assert_eq!(doc["healthy"], true, "{run}");
    let order: Vec<&str> = resources(&doc)
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    let position = |key: &str| order.iter().position(|k| *k == key).unwrap();
    for (before, after) in [
        ("sg-lb", "load-balancer"),
        ("sg-lb", "sg-app"),
        ("sg-app", "sg-cache"),
        ("target-group", "listener"),
        ("load-balancer", "listener"),
        ("sg-app", "launch-template"),
        ("launch-template", "asg"),
        ("asg", "scaling-policy"),
    ] {
        assert!(
            position(before) < position(after),
            "{before} comes before {after}: {order:?}"
        );
    }
    for r in resources(&doc) {
        assert_eq!(r["exists"], true, "{r}");
        assert_eq!(r["healthy"], true, "{r}");
        let id = r["id"]
            .as_str()
            .unwrap_or_else(|| panic!("an existing resource has an id: {r}"));
        assert!(!id.is_empty(), "{r}");
    }

    // Names and ids are the ones AWS has.
    for (key, name) in [
        ("sg-lb", "stat-lb"),
        ("sg-app", "stat-app"),
        ("sg-cache", "stat-cache"),
    ] {
        assert_eq!(resource(&doc, key)["kind"], "security-group");
        assert_eq!(resource(&doc, key)["name"], name);
        assert_eq!(
            resource(&doc, key)["id"],
            aws.security_group_id(name).await.as_str()
        );
    }
    let names = [
        ("target-group", "stat-tg"),
        ("load-balancer", "stat-lb"),
        ("launch-template", "stat-lt"),
        ("asg", "stat-asg"),
        ("scaling-policy", "stat-cpu"),
    ];
    for (key, name) in names {
        assert_eq!(resource(&doc, key)["name"], name, "{key}");
    }
    assert_eq!(resource(&doc, "bucket")["name"], spec.bucket_name());
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("is-default")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("DescribeVpcs");
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap();
    assert!(
        resource(&doc, "network")["id"]
            .as_str()
            .unwrap()
            .contains(vpc),
        "the network row names the default VPC {vpc}: {}",
        resource(&doc, "network")
    );
    let templates = aws
        .ec2
        .describe_launch_templates()
        .launch_template_names("stat-lt")
        .send()
        .await
        .expect("DescribeLaunchTemplates");
    let template_id = templates.launch_templates()[0]
        .launch_template_id()
        .unwrap();
    assert_eq!(resource(&doc, "launch-template")["id"], template_id);

    // Outputs: the load balancer's URL on the listener port, and the bucket.
    let lbs = aws
        .elbv2
        .describe_load_balancers()
        .names("stat-lb")
        .send()
        .await
        .expect("DescribeLoadBalancers");
    let dns = lbs.load_balancers()[0].dns_name().unwrap();
    assert_eq!(
        doc["outputs"]["load_balancer_url"],
        format!("http://{dns}:8080/")
    );
    assert_eq!(doc["outputs"]["bucket"], spec.bucket_name());

    // The table shows the same rows.
    let table = modu(&emulator, &["status", "-f", arg(&file)]).await;
    table.expect_success();
    for name in [
        "stat-lb",
        "stat-app",
        "stat-cache",
        "stat-tg",
        "stat-lt",
        "stat-asg",
        "stat-cpu",
    ] {
        assert!(
            table.stdout.contains(name),
            "the table lists {name}\n{table}"
        );
    }
    assert!(
        table.stdout.contains(dns),
        "the table shows the load balancer URL\n{table}"
    );
}

#[tokio::test]
async fn status_exits_3_when_nothing_is_deployed() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let file = Spec::new("nothing").write(dir.path());

    let (run, doc) = status_json(&emulator, arg(&file), 3).await;
    assert_eq!(doc["complete"], false, "{run}");
    assert_eq!(doc["healthy"], false, "{run}");
    for key in KEYS.iter().filter(|k| **k != "network") {
        assert_eq!(
            resource(&doc, key)["exists"],
            false,
            "{key} is not deployed\n{run}"
        );
    }
    assert!(
        emulator.mutating_calls_since(0).is_empty(),
        "status only reads"
    );
}

#[tokio::test]
async fn status_exits_3_when_part_of_the_stack_is_missing() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let file = Spec::new("partial").write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    let lbs = aws
        .elbv2
        .describe_load_balancers()
        .names("partial-lb")
        .send()
        .await
        .expect("DescribeLoadBalancers");
    let lb_arn = lbs.load_balancers()[0].load_balancer_arn().unwrap();
    let listeners = aws
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .expect("DescribeListeners");
    let listener_arn = listeners.listeners()[0].listener_arn().unwrap();
    aws.elbv2
        .delete_listener()
        .listener_arn(listener_arn)
        .send()
        .await
        .expect("DeleteListener");

    let (run, doc) = status_json(&emulator, arg(&file), 3).await;
    assert_eq!(doc["complete"], false, "{run}");
    assert_eq!(doc["healthy"], false, "{run}");
    assert_eq!(resource(&doc, "listener")["exists"], false, "{run}");
    for key in KEYS.iter().filter(|k| **k != "listener") {
        assert_eq!(
            resource(&doc, key)["exists"],
            true,
            "{key} is still there\n{run}"
        );
    }

    // `up` puts back what is missing, and only that.
    let mark = emulator.mark();
    let up = modu(&emulator, &["up", "-f", arg(&file)]).await;
    up.expect_success();
    let operations: Vec<String> = emulator
        .stack_changes_since(mark)
        .into_iter()
        .map(|c| c.operation)
        .collect();
    assert!(
        operations.iter().any(|op| op == "CreateListener")
            && operations
                .iter()
                .all(|op| op == "CreateListener" || op == "AddTags"),
        "up recreated the listener alone: {operations:?}\n{up}"
    );
    status_json(&emulator, arg(&file), 0).await;
}

#[tokio::test]
async fn status_exits_4_when_the_targets_are_not_healthy() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let file = Spec::new("sick").write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    // Take every instance out of the target group: the load balancer has no
    // healthy target although every resource exists.
    let tgs = aws
        .elbv2
        .describe_target_groups()
        .names("sick-tg")
        .send()
        .await
        .expect("DescribeTargetGroups");
    let tg_arn = tgs.target_groups()[0].target_group_arn().unwrap();
    let health = aws
        .elbv2
        .describe_target_health()
        .target_group_arn(tg_arn)
        .send()
        .await
        .expect("DescribeTargetHealth");
    let targets: Vec<_> = health
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target().cloned())
        .collect();
    assert_eq!(
        targets.len(),
        2,
        "the group's two instances were registered"
    );
    aws.elbv2
        .deregister_targets()
        .target_group_arn(tg_arn)
        .set_targets(Some(targets))
        .send()
        .await
        .expect("DeregisterTargets");

    let (run, doc) = status_json(&emulator, arg(&file), 4).await;
    assert_eq!(doc["complete"], true, "every resource still exists\n{run}");
    assert_eq!(doc["healthy"], false, "{run}");
    let unhealthy: Vec<&str> = resources(&doc)
        .iter()
        .filter(|r| r["healthy"] == false)
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert!(
        !unhealthy.is_empty()
            && unhealthy
                .iter()
                .all(|k| ["target-group", "load-balancer", "asg"].contains(k)),
        "the target group (or what serves it) is reported unhealthy, nothing else: {unhealthy:?}\n{run}"
    );
}
