use std::path::Path;

use super::*;

fn spec(yaml: &str) -> Spec {
    crate::spec::parse_str(yaml, Path::new("modu.yaml")).expect("a valid spec")
}

fn minimal() -> Spec {
    spec("stack: shop\nregion: eu-west-1\ncompute:\n  instance_type: c7i.large\n")
}

/// Every tier on, the database and the app too, over HTTPS to the origin.
fn everything() -> Spec {
    spec(
        "stack: shop\nregion: eu-west-1\nstorage:\n  bucket: shop-pictures\n\
         load_balancer:\n  certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/abc\n\
         compute:\n  instance_type: c7i.large\n\
         cdn:\n  enabled: true\ncache:\n  enabled: true\ndashboard:\n  enabled: true\n  alarms: true\n\
         dns:\n  zone: shop.test\n  record: www.shop.test\n  create_zone: true\n\
         app: {}\ndatabase:\n  enabled: true\n",
    )
}

fn actions(policy: &Policy) -> Vec<&str> {
    policy
        .statements
        .iter()
        .flat_map(|s| s.action.iter().map(String::as_str))
        .collect()
}

fn statement<'a>(policy: &'a Policy, sid: &str) -> &'a Statement {
    policy
        .statements
        .iter()
        .find(|s| s.sid == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {policy:#?}"))
}

fn read_only(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, name)| name);
    ["Describe", "List", "Get"]
        .iter()
        .any(|p| name.starts_with(p))
}

#[test]
fn a_minimal_spec_needs_only_the_compute_tier_services() {
    let policy = for_spec(&minimal(), ANY_ACCOUNT);
    let services: std::collections::BTreeSet<&str> = actions(&policy)
        .iter()
        .map(|a| a.split(':').next().unwrap())
        .collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        [
            "autoscaling",
            "ec2",
            "elasticloadbalancing",
            "iam",
            "s3",
            "ssm"
        ],
        "{policy:#?}"
    );
    // IAM only for the service-linked roles, SSM only for the public image parameter and
    // the stack's lease.
    assert!(
        actions(&policy)
            .iter()
            .filter(|a| a.starts_with("iam:") || a.starts_with("ssm:"))
            .all(|a| [
                "iam:CreateServiceLinkedRole",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:PutParameter",
                "ssm:DeleteParameter",
                "ssm:AddTagsToResource",
            ]
            .contains(a))
    );
}

#[test]
fn each_tier_adds_its_services() {
    let policy = for_spec(&everything(), ANY_ACCOUNT);
    let all = actions(&policy);
    for action in [
        "cloudfront:CreateDistribution",
        "cloudfront:TagResource",
        "elasticache:CreateReplicationGroup",
        "route53:CreateHostedZone",
        "rds:CreateDBInstance",
        "cloudwatch:PutMetricAlarm",
        "sns:CreateTopic",
        "iam:PassRole",
        "logs:CreateLogGroup",
        "secretsmanager:CreateSecret",
    ] {
        assert!(all.contains(&action), "{action} missing");
    }
}

#[test]
fn reads_on_everything_are_one_statement_of_reads_only() {
    let policy = for_spec(&everything(), ANY_ACCOUNT);
    let everywhere: Vec<&Statement> = policy
        .statements
        .iter()
        .filter(|s| s.resource == ["*"] && !s.sid.starts_with(NOT_SCOPABLE))
        .collect();
    assert_eq!(everywhere.len(), 1, "{everywhere:#?}");
    assert!(everywhere[0].action.iter().all(|a| read_only(a)));
    let mut sorted = everywhere[0].action.clone();
    sorted.dedup();
    assert_eq!(sorted, everywhere[0].action, "sorted once");
}

#[test]
fn mutating_statements_name_the_stack_or_its_tag_unless_aws_cannot_scope_them() {
    let policy = for_spec(&everything(), "123456789012");
    for s in &policy.statements {
        if s.action.iter().all(|a| read_only(a)) || s.sid.starts_with(NOT_SCOPABLE) {
            continue;
        }
        let condition = s
            .condition
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default();
        let scoped = s.resource.iter().all(|r| {
            r.contains("shop")
                || r.contains("pg:default")
                || r.contains("og:default")
                || r.contains("parametergroup:default")
        }) || condition.contains("modu:stack")
            || condition.contains("www.shop.test");
        assert!(scoped, "{s:#?}");
    }
}

#[test]
fn names_and_arns_come_from_the_spec() {
    let policy = for_spec(&everything(), "123456789012");
    let lb = statement(&policy, "LoadBalancerOfTheStack");
    assert!(lb.resource.contains(
        &"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop-lb/*".into()
    ));
    assert!(lb.resource.contains(
        &"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-tg/*".into()
    ));
    assert_eq!(
        statement(&policy, "ImagesBucketObjects").resource,
        ["arn:aws:s3:::shop-pictures/*"]
    );
    assert_eq!(
        statement(&policy, "AutoScalingGroupOfTheStack").resource,
        [
            "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/shop-asg"
        ]
    );
    let pass = statement(&policy, "PassTheStacksRoleToItsInstances");
    assert_eq!(
        pass.resource,
        ["arn:aws:iam::123456789012:role/modu/shop/*"]
    );
    assert_eq!(
        pass.condition,
        Some(json!({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))
    );
    // The records of the stack only: its name and the origin name in the zone.
    assert_eq!(
        statement(&policy, "DnsRecordsOfTheStack").condition,
        Some(json!({"ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames":
                ["www.shop.test", "origin-shop.shop.test"],
        }}))
    );
    let tagged = statement(&policy, "Ec2CreateTaggedWithTheStack");
    assert_eq!(
        tagged.condition,
        Some(json!({"StringEquals": {"aws:RequestTag/modu:stack": "shop"}}))
    );
}

#[test]
fn without_an_account_id_every_account_matches() {
    let policy = for_spec(&minimal(), ANY_ACCOUNT);
    assert_eq!(
        statement(&policy, "ImagesBucketOfTheStack").resource,
        ["arn:aws:s3:::shop-images-*"]
    );
    assert!(
        statement(&policy, "LoadBalancerOfTheStack").resource[0]
            .starts_with("arn:aws:elasticloadbalancing:eu-west-1:*:")
    );
}

#[test]
fn the_document_is_what_iam_takes() {
    let value = serde_json::to_value(for_spec(&minimal(), ANY_ACCOUNT)).unwrap();
    assert_eq!(value["Version"], "2012-10-17");
    let first = &value["Statement"][0];
    assert_eq!(first["Effect"], "Allow");
    assert!(
        first["Sid"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    );
    assert!(first.get("Condition").is_none(), "no empty condition");
    let sids: Vec<&str> = value["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    let mut unique = sids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sids.len(), "Sids are unique: {sids:?}");
}

#[test]
fn account_ids_are_twelve_digits_or_any() {
    assert_eq!(parse_account("*").unwrap(), "*");
    assert_eq!(parse_account("123456789012").unwrap(), "123456789012");
    for bad in ["12345", "12345678901a", "", "**"] {
        assert!(parse_account(bad).is_err(), "{bad}");
    }
}
