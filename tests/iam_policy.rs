//! `modu iam-policy`: the policy it prints allows every call that a whole lifecycle of
//! stacks covering every tier makes (the emulator's request log, mapped to IAM actions by
//! `support::iam`), names only the services a spec's tiers use, and scopes mutating
//! actions to the stack, except where AWS cannot.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::iam::{self, allowing, strings};
use support::{ACCOUNT, Boot, Call, Emulator, Spec, arg, modu, modu_offline, reference_stack};

/// The statements whose mutating actions AWS lets no policy limit to one stack, and why.
const NOT_SCOPABLE: [&str; 8] = [
    // Subnets, route tables, images and the VPC are not the stack's; rules are new ids.
    "NotScopableEc2NetworkAndImage",
    // Service-linked roles are named by AWS, one per account.
    "NotScopableServiceLinkedRoles",
    // RDS names the master password's secret `rds!db-…`.
    "NotScopableDatabasePasswordSecret",
    // No resource type for creating an origin access control.
    "NotScopableCloudFrontCreateOriginAccessControl",
    // Distribution ids are CloudFront's.
    "NotScopableCloudFrontDistribution",
    // Zone ids are Route 53's; it has no tag conditions.
    "NotScopableRoute53Zone",
    "NotScopableRoute53CreateZone",
    "NotScopableRoute53ZoneModuCreated",
];

async fn policy_of(file: &str) -> Value {
    let run = modu_offline(&["iam-policy", "-f", file, "--account-id", ACCOUNT]).await;
    run.expect_success();
    run.json()
}

fn read_only(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    ["Describe", "Get", "List"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Every action a call of `calls` needs that `policy` allows in no statement.
fn denied(policy: &Value, calls: &[Call]) -> BTreeSet<String> {
    calls
        .iter()
        .flat_map(iam::actions)
        .filter(|action| allowing(policy, action).is_empty())
        .collect()
}

/// Runs `modu ARGS`, expects success, and checks `policy` against its calls: everything
/// is allowed but `off_tier_reads`, the looks for what a tier the spec leaves out may have
/// left, which modu takes as "nothing there" when AWS refuses them (engine::observe).
async fn run_allowed(
    emulator: &Emulator,
    policy: &Value,
    off_tier_reads: &[&str],
    args: &[&str],
) -> Vec<Call> {
    let mark = emulator.mark();
    let run = modu(emulator, args).await;
    run.expect_success();
    let calls = emulator.calls_since(mark);
    let unnamed: Vec<&Call> = calls.iter().filter(|c| c.operation.contains(' ')).collect();
    assert!(
        unnamed.is_empty(),
        "calls the log does not name: {unnamed:?}"
    );
    let denied: BTreeSet<String> = denied(policy, &calls)
        .into_iter()
        .filter(|a| !off_tier_reads.contains(&a.as_str()))
        .collect();
    assert!(
        denied.is_empty(),
        "`modu {}` needs what its policy does not allow: {denied:?}\n{run}",
        args.join(" ")
    );
    assert!(off_tier_reads.iter().all(|a| read_only(a)));
    calls
}

fn services(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .map(|a| a.split(':').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_policy_allows_every_call_of_a_whole_lifecycle_of_every_tier() {
    let emulator = Emulator::start();
    let mut called: BTreeSet<String> = BTreeSet::new();

    // Every optional tier, with a zone modu creates; a booting script, no app.
    let dir = tempfile::tempdir().unwrap();
    let full = Spec::full("iamfull");
    let file = full.write(dir.path());
    let f = arg(&file);
    let policy = policy_of(f).await;
    // Without an app or a database: their role, log group, parameters and instance.
    let app_and_database = [
        "iam:GetRole",
        "iam:GetInstanceProfile",
        "logs:DescribeLogGroups",
        "ssm:GetParametersByPath",
        "rds:DescribeDBInstances",
        "rds:DescribeDBSubnetGroups",
    ];
    for args in [
        vec!["plan", "-f", f],
        vec!["up", "-f", f],
        vec!["status", "-f", f],
        vec!["up", "-f", f, "--rotate-origin-secret"],
        vec!["down", "-f", f, "--yes", "--delete-data"],
    ] {
        let calls = run_allowed(&emulator, &policy, &app_and_database, &args).await;
        called.extend(
            calls
                .iter()
                .map(|c| format!("{}:{}", c.service, c.operation)),
        );
    }

    // The app stack: instance role and profile, parameters, log group, database, release.
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("modu-app");
    std::fs::write(&artifact, "#!/bin/sh\nexec sleep infinity\n").unwrap();
    let file = reference_stack(
        dir.path(),
        Boot::App(&artifact),
        &[
            ("stack: modu ", "stack: iamapp "),
            ("zone: example.com ", "zone: example.org "),
            ("record: awstest.example.com", "record: awstest.example.org"),
        ],
    );
    let a = arg(&file);
    let policy = policy_of(a).await;
    for args in [
        vec!["plan", "-f", a],
        vec!["up", "-f", a],
        vec!["status", "-f", a],
    ] {
        let calls = run_allowed(&emulator, &policy, &[], &args).await;
        called.extend(
            calls
                .iter()
                .map(|c| format!("{}:{}", c.service, c.operation)),
        );
    }
    // A new release: uploaded, a new template version, an instance refresh.
    std::fs::write(&artifact, "#!/bin/sh\necho 2\nexec sleep infinity\n").unwrap();
    for args in [
        vec!["deploy", "-f", a],
        vec!["up", "-f", a, "--yes", "--rotate-origin-secret"],
        vec![
            "down",
            "-f",
            a,
            "--yes",
            "--delete-data",
            "--no-final-snapshot",
        ],
    ] {
        let calls = run_allowed(&emulator, &policy, &[], &args).await;
        called.extend(
            calls
                .iter()
                .map(|c| format!("{}:{}", c.service, c.operation)),
        );
    }

    // The lifecycle went through every tier and every kind of change.
    for call in [
        "cloudfront:CreateDistributionWithTags",
        "cloudfront:UpdateDistribution",
        "route53:CreateHostedZone",
        "route53:ChangeResourceRecordSets",
        "elasticache:CreateReplicationGroup",
        "monitoring:PutMetricAlarm",
        "rds:CreateDBInstance",
        "rds:DeleteDBInstance",
        "iam:CreateRole",
        "ssm:PutParameter",
        "logs:CreateLogGroup",
        "s3:PutObject",
        "s3:DeleteObjects",
        "secretsmanager:UpdateSecretVersionStage",
        "autoscaling:StartInstanceRefresh",
        "ec2:CreateLaunchTemplateVersion",
        "elasticloadbalancing:ModifyRule",
    ] {
        assert!(called.contains(call), "the lifecycle made no {call}");
    }
    // Needed though no call names it: the group launches with the stack's role.
    let pass = allowing(&policy, "iam:PassRole");
    assert_eq!(pass.len(), 1, "{pass:?}");
    assert_eq!(
        pass[0]["Condition"]["StringEquals"]["iam:PassedToService"],
        "ec2.amazonaws.com"
    );
    assert_eq!(
        strings(&pass[0]["Resource"]),
        [format!("arn:aws:iam::{ACCOUNT}:role/modu/iamapp/*")]
    );
    assert!(!allowing(&policy, "ec2:RunInstances").is_empty());
}

#[tokio::test]
async fn mutating_actions_are_scoped_to_the_stack_unless_aws_cannot_scope_them() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("modu-app");
    std::fs::write(&artifact, "#!/bin/sh\n").unwrap();
    let file = reference_stack(
        dir.path(),
        Boot::App(&artifact),
        &[("stack: modu ", "stack: scoped ")],
    );
    let policy = policy_of(arg(&file)).await;
    for statement in policy["Statement"].as_array().unwrap() {
        let actions = strings(&statement["Action"]);
        let resources = strings(&statement["Resource"]);
        let sid = statement["Sid"].as_str().unwrap_or_default();
        if actions.iter().all(|a| read_only(a)) {
            continue;
        }
        assert!(
            !resources.iter().any(|r| r == "*") || NOT_SCOPABLE.contains(&sid),
            "mutating actions on every resource: {statement:#}"
        );
        let condition = statement["Condition"].to_string();
        // Every name modu derives (the bucket's too) starts with the stack's.
        let names_the_stack = resources.iter().any(|r| r.contains("scoped"));
        let tagged = condition.contains("modu:stack");
        let record = condition.contains("awstest.example.com");
        assert!(
            names_the_stack || tagged || record || NOT_SCOPABLE.contains(&sid),
            "neither the stack's names nor its tag: {statement:#}"
        );
    }
    // The explicit list holds only what the policy has, so it cannot go stale.
    let sids: BTreeSet<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    for sid in NOT_SCOPABLE {
        assert!(sids.contains(sid), "{sid} is gone from the policy");
    }
}

#[tokio::test]
async fn a_minimal_spec_gets_no_statement_of_the_tiers_it_leaves_out() {
    let policy = policy_of(arg(&support::repo_path("examples/minimal.yaml"))).await;
    let services = services(&policy);
    for absent in [
        "cloudfront",
        "elasticache",
        "route53",
        "rds",
        "cloudwatch",
        "sns",
        "logs",
    ] {
        assert!(!services.contains(absent), "{absent} in {policy:#}");
    }
    assert!(
        allowing(&policy, "iam:PassRole").is_empty(),
        "no instance role without an app"
    );
    for present in ["ec2", "elasticloadbalancing", "autoscaling", "s3"] {
        assert!(services.contains(present), "{present} missing");
    }
}

#[tokio::test]
async fn the_command_prints_a_policy_document_and_refuses_a_bad_spec_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = Spec::new("cli").write(dir.path());
    let run = modu_offline(&["iam-policy", "-f", arg(&file)]).await;
    run.expect_success();
    let policy = run.json();
    assert_eq!(policy["Version"], "2012-10-17");
    assert!(
        run.stdout.contains("\n  \"Statement\": ["),
        "pretty JSON\n{run}"
    );
    // No account given: any account, and no AWS call was needed to say so.
    let lb = allowing(&policy, "elasticloadbalancing:CreateLoadBalancer");
    assert!(
        strings(&lb[0]["Resource"])
            .iter()
            .any(|r| r == "arn:aws:elasticloadbalancing:us-east-1:*:loadbalancer/app/cli-lb/*"),
        "{run}"
    );

    let refused = modu_offline(&["iam-policy", "-f", arg(&file), "--account-id", "12"]).await;
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("not an AWS account id"),
        "{refused}"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "stack: bad\nregion: us-east-1\ncompute:\n  instance_type: c7i.large\n  min: 0\n",
    )
    .unwrap();
    let run = modu_offline(&["iam-policy", "-f", arg(&bad)]).await;
    run.expect_code(1);
    assert!(run.stdout.is_empty(), "{run}");
    assert!(run.stderr.contains("bad.yaml:5:8: compute.min"), "{run}");
}

#[test]
fn calls_map_to_their_iam_actions() {
    let call = |service: &str, operation: &str| Call {
        ts: String::new(),
        service: service.into(),
        method: "POST".into(),
        path: "/".into(),
        operation: operation.into(),
        mutating: true,
        status: Some(200),
    };
    assert_eq!(iam::actions(&call("s3", "HeadObject")), ["s3:GetObject"]);
    assert_eq!(
        iam::actions(&call("s3", "CreateBucket")),
        ["s3:CreateBucket", "s3:TagResource"]
    );
    assert_eq!(
        iam::actions(&call("s3", "ListObjectsV2")),
        ["s3:ListBucket"]
    );
    assert_eq!(
        iam::actions(&call("monitoring", "PutMetricAlarm")),
        ["cloudwatch:PutMetricAlarm", "cloudwatch:TagResource"]
    );
    assert_eq!(
        iam::actions(&call("cloudfront", "CreateDistributionWithTags")),
        ["cloudfront:CreateDistribution", "cloudfront:TagResource"]
    );
    assert!(iam::actions(&call("sts", "GetCallerIdentity")).is_empty());
    assert_eq!(
        iam::actions(&call("ec2", "DescribeVpcs")),
        ["ec2:DescribeVpcs"]
    );
}

#[test]
fn action_patterns_match_as_iam_matches_them() {
    assert!(iam::matches("ec2:Describe*", "ec2:DescribeVpcs"));
    assert!(iam::matches("s3:*Object", "s3:GetObject"));
    assert!(iam::matches("EC2:describevpcs", "ec2:DescribeVpcs"));
    assert!(!iam::matches("ec2:Describe*", "ec2:CreateTags"));
    assert!(iam::matches("*", "sns:Subscribe"));
}
