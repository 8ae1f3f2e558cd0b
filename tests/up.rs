//! `modu up` against the emulator: every resource of the compute tier is
//! created with the spec's settings (checked through the SDK, not through
//! modu), a second `up` changes nothing, and size/target edits converge in place.

mod support;

use std::collections::BTreeSet;

use aws_sdk_autoscaling::types::AutoScalingGroup;
use aws_sdk_ec2::types::IpPermission;
use support::{
    Aws, Boot, Emulator, Spec, USER_DATA, arg, describe_calls, expect_no_change, modu,
    reference_stack,
};

/// One ingress rule, flattened: (protocol, from port, to port, source).
type Rule = (String, i32, i32, String);

fn rules(permissions: &[IpPermission]) -> BTreeSet<Rule> {
    let mut rules = BTreeSet::new();
    for p in permissions {
        let key = |source: String| {
            (
                p.ip_protocol().unwrap_or_default().to_string(),
                p.from_port().unwrap_or(-1),
                p.to_port().unwrap_or(-1),
                source,
            )
        };
        for r in p.ip_ranges() {
            rules.insert(key(r.cidr_ip().unwrap_or_default().to_string()));
        }
        for r in p.ipv6_ranges() {
            rules.insert(key(r.cidr_ipv6().unwrap_or_default().to_string()));
        }
        for r in p.user_id_group_pairs() {
            rules.insert(key(format!("sg:{}", r.group_id().unwrap_or_default())));
        }
        for r in p.prefix_list_ids() {
            rules.insert(key(format!(
                "pl:{}",
                r.prefix_list_id().unwrap_or_default()
            )));
        }
    }
    rules
}

fn rule(port: i32, source: &str) -> Rule {
    ("tcp".to_string(), port, port, source.to_string())
}

/// Asserts the tags every modu resource carries; `component` is the
/// contract's key of the resource, `None` for what modu does not create itself
/// (instances and volumes: any role name will do).
#[track_caller]
fn assert_tagged(what: &str, tags: &[(String, String)], spec: &Spec, component: Option<&str>) {
    let get = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(
        get("modu:stack"),
        Some(spec.stack.as_str()),
        "{what}: modu:stack tag; tags: {tags:?}"
    );
    match component {
        Some(component) => assert_eq!(
            get("modu:component"),
            Some(component),
            "{what}: modu:component tag; tags: {tags:?}"
        ),
        None => assert!(
            get("modu:component").is_some(),
            "{what}: a modu:component tag; tags: {tags:?}"
        ),
    }
    assert_eq!(
        get("project"),
        Some(spec.project_tag.as_str()),
        "{what}: spec tag `project`; tags: {tags:?}"
    );
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn auto_scaling_group(aws: &Aws, name: &str) -> AutoScalingGroup {
    let out = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("DescribeAutoScalingGroups");
    match out.auto_scaling_groups() {
        [group] => group.clone(),
        other => panic!(
            "expected one auto scaling group named {name}, found {}",
            other.len()
        ),
    }
}

async fn default_vpc(aws: &Aws) -> String {
    let out = aws
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
    out.vpcs()[0].vpc_id().expect("vpc id").to_string()
}

/// The user data of the launch template's latest version, decoded.
async fn launch_template_user_data(aws: &Aws, name: &str) -> String {
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name(name)
        .versions("$Latest")
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .expect("launch template data");
    let encoded = data.user_data().expect("the launch template has user data");
    let bytes = aws_smithy_types::base64::decode(encoded).expect("user data is base64");
    String::from_utf8(bytes).expect("user data is UTF-8")
}

#[tokio::test]
async fn up_creates_every_resource_with_the_spec_settings() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new("uptest");
    let file = spec.write(dir.path());

    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    // Everything but the looked-up network is new.
    assert!(
        run.output().contains("10 created"),
        "the summary reports what was created\n{run}"
    );

    let vpc = default_vpc(&aws).await;

    // Security groups: exactly the rules of the issue, nothing more.
    let lb_sg = aws.security_group("uptest-lb").await;
    let app_sg = aws.security_group("uptest-app").await;
    let cache_sg = aws.security_group("uptest-cache").await;
    let lb_sg_id = lb_sg.group_id().unwrap().to_string();
    let app_sg_id = app_sg.group_id().unwrap().to_string();
    for sg in [&lb_sg, &app_sg, &cache_sg] {
        assert_eq!(
            sg.vpc_id(),
            Some(vpc.as_str()),
            "{:?} is in the default VPC",
            sg.group_name()
        );
    }
    assert_eq!(
        rules(lb_sg.ip_permissions()),
        BTreeSet::from([rule(8080, "0.0.0.0/0"), rule(8080, "::/0")]),
        "load balancer SG: listener port from anywhere (IPv4 and IPv6) only"
    );
    assert_eq!(
        rules(app_sg.ip_permissions()),
        BTreeSet::from([rule(8000, &format!("sg:{lb_sg_id}"))]),
        "instance SG: app port from the load balancer SG only"
    );
    assert_eq!(
        rules(cache_sg.ip_permissions()),
        BTreeSet::from([rule(6379, &format!("sg:{app_sg_id}"))]),
        "cache SG: 6379 from the instance SG only"
    );
    assert_tagged("sg-lb", &ec2_tags(lb_sg.tags()), &spec, Some("sg-lb"));
    assert_tagged("sg-app", &ec2_tags(app_sg.tags()), &spec, Some("sg-app"));
    assert_tagged(
        "sg-cache",
        &ec2_tags(cache_sg.tags()),
        &spec,
        Some("sg-cache"),
    );

    // Target group: HTTP on the app port, the spec's health check and algorithm.
    let tgs = aws
        .elbv2
        .describe_target_groups()
        .names("uptest-tg")
        .send()
        .await
        .expect("DescribeTargetGroups");
    let tg = &tgs.target_groups()[0];
    let tg_arn = tg.target_group_arn().unwrap().to_string();
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTP"));
    assert_eq!(tg.port(), Some(8000));
    assert_eq!(tg.vpc_id(), Some(vpc.as_str()));
    assert_eq!(tg.health_check_path(), Some("/healthz"));
    assert_eq!(tg.health_check_interval_seconds(), Some(15));
    assert_eq!(tg.healthy_threshold_count(), Some(2));
    assert_eq!(tg.unhealthy_threshold_count(), Some(3));
    let attributes = aws
        .elbv2
        .describe_target_group_attributes()
        .target_group_arn(&tg_arn)
        .send()
        .await
        .expect("DescribeTargetGroupAttributes");
    let algorithm = attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some("load_balancing.algorithm.type"))
        .and_then(|a| a.value());
    assert_eq!(algorithm, Some("round_robin"));
    assert_tagged(
        "target-group",
        &aws.elbv2_tags(&tg_arn).await,
        &spec,
        Some("target-group"),
    );

    // Load balancer: internet-facing ALB behind the LB SG, in at least two AZs.
    let lbs = aws
        .elbv2
        .describe_load_balancers()
        .names("uptest-lb")
        .send()
        .await
        .expect("DescribeLoadBalancers");
    let lb = &lbs.load_balancers()[0];
    let lb_arn = lb.load_balancer_arn().unwrap().to_string();
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.r#type().map(|t| t.as_str()), Some("application"));
    assert_eq!(lb.security_groups(), std::slice::from_ref(&lb_sg_id));
    let zones: BTreeSet<_> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .collect();
    assert!(
        zones.len() >= 2,
        "the load balancer spans at least two AZs: {zones:?}"
    );
    assert_tagged(
        "load-balancer",
        &aws.elbv2_tags(&lb_arn).await,
        &spec,
        Some("load-balancer"),
    );

    // Listener: HTTP on the spec's port, forwarding to the target group.
    let listeners = aws
        .elbv2
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .expect("DescribeListeners");
    let [listener] = listeners.listeners() else {
        panic!("expected one listener, found {:?}", listeners.listeners());
    };
    assert_eq!(listener.port(), Some(8080));
    assert_eq!(listener.protocol().map(|p| p.as_str()), Some("HTTP"));
    let [action] = listener.default_actions() else {
        panic!(
            "expected one default action: {:?}",
            listener.default_actions()
        );
    };
    assert_eq!(action.r#type().map(|t| t.as_str()), Some("forward"));
    let forwards_to: Vec<&str> = match action.target_group_arn() {
        Some(arn) => vec![arn],
        None => action
            .forward_config()
            .map(|f| {
                f.target_groups()
                    .iter()
                    .filter_map(|t| t.target_group_arn())
                    .collect()
            })
            .unwrap_or_default(),
    };
    assert_eq!(forwards_to, [tg_arn.as_str()]);

    // Launch template: image from SSM, instance type, instance SG, IMDSv2, user data, tags.
    let ami = aws
        .ssm
        .get_parameter()
        .name("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
        .send()
        .await
        .expect("GetParameter")
        .parameter()
        .and_then(|p| p.value())
        .expect("the public AL2023 parameter")
        .to_string();
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name("uptest-lt")
        .versions("$Latest")
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .expect("template data");
    assert_eq!(
        data.image_id(),
        Some(ami.as_str()),
        "al2023 resolves through the public SSM parameter"
    );
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t3.small"));
    let template_sgs: Vec<&str> = data
        .security_group_ids()
        .iter()
        .map(String::as_str)
        .chain(
            data.network_interfaces()
                .iter()
                .flat_map(|n| n.groups())
                .map(String::as_str),
        )
        .collect();
    assert_eq!(
        template_sgs,
        [app_sg_id.as_str()],
        "instances get the instance SG only"
    );
    let tokens = data
        .metadata_options()
        .and_then(|m| m.http_tokens())
        .map(|t| t.as_str());
    assert_eq!(tokens, Some("required"), "IMDSv2 is required");
    assert_eq!(
        data.metadata_options()
            .and_then(|m| m.http_put_response_hop_limit()),
        Some(1),
        "IMDS answers the instance itself only"
    );
    let root_device = aws
        .ec2
        .describe_images()
        .image_ids(&ami)
        .send()
        .await
        .expect("DescribeImages")
        .images()[0]
        .root_device_name()
        .expect("a root device")
        .to_string();
    let volumes: Vec<_> = data
        .block_device_mappings()
        .iter()
        .map(|m| {
            let ebs = m.ebs().expect("an EBS volume");
            (
                m.device_name().unwrap_or_default(),
                ebs.encrypted(),
                ebs.volume_type().map(|t| t.as_str()),
            )
        })
        .collect();
    assert_eq!(
        volumes,
        [(root_device.as_str(), Some(true), Some("gp3"))],
        "the root volume, encrypted"
    );
    assert_eq!(
        launch_template_user_data(&aws, "uptest-lt").await,
        USER_DATA
    );
    for resource_type in ["instance", "volume"] {
        let spec_tags = data
            .tag_specifications()
            .iter()
            .find(|t| t.resource_type().map(|r| r.as_str()) == Some(resource_type))
            .unwrap_or_else(|| {
                panic!(
                    "tag specification for {resource_type}s: {:?}",
                    data.tag_specifications()
                )
            });
        assert_tagged(resource_type, &ec2_tags(spec_tags.tags()), &spec, None);
    }
    let templates = aws
        .ec2
        .describe_launch_templates()
        .launch_template_names("uptest-lt")
        .send()
        .await
        .expect("DescribeLaunchTemplates");
    let template = &templates.launch_templates()[0];
    let template_id = template.launch_template_id().unwrap().to_string();
    assert_tagged(
        "launch-template",
        &ec2_tags(template.tags()),
        &spec,
        Some("launch-template"),
    );

    // Auto Scaling group: sizes, template, subnets, target group, ELB health checks, tags.
    let group = auto_scaling_group(&aws, "uptest-asg").await;
    assert_eq!(
        (group.min_size(), group.max_size(), group.desired_capacity()),
        (Some(2), Some(10), Some(2))
    );
    let uses_template = group.launch_template().and_then(|t| t.launch_template_id())
        == Some(template_id.as_str())
        || group
            .launch_template()
            .and_then(|t| t.launch_template_name())
            == Some("uptest-lt");
    assert!(
        uses_template,
        "the group launches from uptest-lt: {:?}",
        group.launch_template()
    );
    assert_eq!(group.target_group_arns(), std::slice::from_ref(&tg_arn));
    assert_eq!(group.health_check_type(), Some("ELB"));
    assert!(
        group.health_check_grace_period().unwrap_or(0) > 0,
        "ELB health checks start after a grace period: {:?}",
        group.health_check_grace_period()
    );
    let subnets: Vec<&str> = group
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .collect();
    assert!(
        subnets.len() >= 2,
        "the group spans at least two subnets: {subnets:?}"
    );
    let group_zones: BTreeSet<_> = group.availability_zones().iter().collect();
    assert!(
        group_zones.len() >= 2,
        "the group spans at least two AZs: {group_zones:?}"
    );
    // `subnets: default`: at most three zones, each offering the instance type.
    assert!(subnets.len() <= 3, "{subnets:?}");
    let offered: BTreeSet<String> = aws
        .ec2
        .describe_instance_type_offerings()
        .location_type(aws_sdk_ec2::types::LocationType::AvailabilityZone)
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-type")
                .values("t3.small")
                .build(),
        )
        .send()
        .await
        .expect("DescribeInstanceTypeOfferings")
        .instance_type_offerings()
        .iter()
        .filter_map(|o| o.location().map(String::from))
        .collect();
    assert!(
        group_zones.iter().all(|z| offered.contains(*z)),
        "{group_zones:?} offer t3.small: {offered:?}"
    );
    let group_tags: Vec<(String, String)> = group
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_tagged("asg", &group_tags, &spec, Some("asg"));
    let stack_tag = group
        .tags()
        .iter()
        .find(|t| t.key() == Some("modu:stack"))
        .unwrap();
    assert_eq!(
        stack_tag.propagate_at_launch(),
        Some(true),
        "the stack tag reaches the instances"
    );
    assert_eq!(
        group.instances().len(),
        2,
        "the group runs its desired capacity"
    );

    // The instances carry the stack tag and are healthy targets of the target group.
    let instances = aws
        .ec2
        .describe_instances()
        .filters(support::tag_filter("uptest"))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .expect("DescribeInstances");
    let running = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .count();
    assert_eq!(running, 2, "two running instances tagged modu:stack=uptest");
    let health = aws
        .elbv2
        .describe_target_health()
        .target_group_arn(&tg_arn)
        .send()
        .await
        .expect("DescribeTargetHealth");
    let healthy = health
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health()
                .and_then(|h| h.state())
                .map(|s| s.as_str())
                == Some("healthy")
        })
        .count();
    assert_eq!(
        healthy,
        2,
        "both instances are healthy targets: {:?}",
        health.target_health_descriptions()
    );

    // Scaling policy: target tracking on average CPU at the spec's target.
    let policies = aws
        .autoscaling
        .describe_policies()
        .auto_scaling_group_name("uptest-asg")
        .send()
        .await
        .expect("DescribePolicies");
    let [policy] = policies.scaling_policies() else {
        panic!(
            "expected one scaling policy: {:?}",
            policies.scaling_policies()
        );
    };
    assert_eq!(policy.policy_name(), Some("uptest-cpu"));
    assert_eq!(policy.policy_type(), Some("TargetTrackingScaling"));
    let tracking = policy
        .target_tracking_configuration()
        .expect("target tracking configuration");
    let metric = tracking
        .predefined_metric_specification()
        .and_then(|m| m.predefined_metric_type())
        .map(|m| m.as_str());
    assert_eq!(metric, Some("ASGAverageCPUUtilization"));
    assert_eq!(tracking.target_value(), Some(80.0));
    assert_eq!(policy.enabled(), Some(true));

    // Bucket: private, encrypted, tagged.
    let bucket = spec.bucket_name();
    aws.s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("the images bucket exists");
    let block = aws
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetPublicAccessBlock");
    let block = block
        .public_access_block_configuration()
        .expect("public access block");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true)),
        "all public access is blocked"
    );
    let encryption = aws
        .s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketEncryption");
    let algorithms: Vec<String> = encryption
        .server_side_encryption_configuration()
        .map(|c| c.rules())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_string())
        .collect();
    assert!(
        algorithms == ["AES256"] || algorithms == ["aws:kms"],
        "default encryption is on: {algorithms:?}"
    );
    let tagging = aws
        .s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketTagging");
    let bucket_tags: Vec<(String, String)> = tagging
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert_tagged("bucket", &bucket_tags, &spec, Some("bucket"));
    // Plain HTTP refused, versions kept, noncurrent ones expired.
    aws.assert_bucket_is_safe(&bucket).await;

    // Nothing else carries the stack tag, and nothing is missing from the inventory.
    let inventory = aws.tagged_with_stack("uptest").await;
    let kinds: Vec<&str> = inventory
        .iter()
        .map(|line| line.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "auto-scaling-group",
            "bucket",
            "elbv2",
            "elbv2",
            "elbv2",
            "instance",
            "instance",
            "launch-template",
            "scaling-policy",
            "security-group",
            "security-group",
            "security-group",
        ],
        "everything the stack owns (listener, load balancer and target group are the elbv2 rows): {inventory:#?}"
    );
}

#[tokio::test]
async fn a_second_up_makes_no_mutating_call() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let file = Spec::new("again").write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    let calls = emulator.calls_since(mark);
    assert!(!calls.is_empty(), "the second up looked at AWS\n{run}");
    let mutating = emulator.mutating_calls_since(mark);
    assert!(
        mutating.is_empty(),
        "the second up changed something: {}\nall calls: {}\n{run}",
        describe_calls(&mutating),
        describe_calls(&calls)
    );
}

/// Someone loosens the bucket by hand: the policy deleted, versioning suspended, the
/// lifecycle removed. `plan` and `status` show each as drift, `up` restores exactly those,
/// and the stack is stable again.
#[tokio::test]
async fn a_loosened_bucket_is_shown_and_restored() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new("loose");
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();
    let bucket = spec.bucket_name();
    aws.assert_bucket_is_safe(&bucket).await;

    aws.s3
        .delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucketPolicy");
    aws.s3
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketVersioning");
    aws.s3
        .delete_bucket_lifecycle()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucketLifecycle");

    let plan = modu(&emulator, &["plan", "-f", arg(&file), "-o", "json"]).await;
    plan.expect_success();
    let doc = plan.json();
    let row = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "bucket")
        .expect("a bucket row");
    let fields: Vec<&str> = row["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(row["action"], "update", "{doc:#}");
    assert_eq!(fields, ["tls_only", "versioning", "lifecycle"], "{doc:#}");

    let status = modu(&emulator, &["status", "-f", arg(&file), "--output", "json"]).await;
    let doc = status.json();
    let bucket_row = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "bucket")
        .expect("a bucket row")
        .clone();
    let drift: Vec<&str> = bucket_row["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(drift, ["tls_only", "versioning", "lifecycle"], "{status}");
    assert_eq!(bucket_row["healthy"], false, "{status}");

    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    let operations: BTreeSet<String> = emulator
        .stack_changes_since(mark)
        .into_iter()
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        operations,
        BTreeSet::from(
            [
                "PutBucketPolicy",
                "PutBucketVersioning",
                "PutBucketLifecycleConfiguration"
            ]
            .map(String::from)
        ),
        "{run}"
    );
    aws.assert_bucket_is_safe(&bucket).await;
    expect_no_change(&emulator, &["up", "-f", arg(&file)], "up after the repair").await;
}

#[tokio::test]
async fn changed_sizes_and_cpu_target_are_updated_in_place() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    // Without `user_data`, modu falls back to its default boot script.
    let mut spec = Spec::new("resize");
    spec.user_data = None;
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    let boot = launch_template_user_data(&aws, "resize-lt").await;
    assert!(
        boot.starts_with("#!") && boot.lines().filter(|l| !l.trim().is_empty()).count() > 1,
        "the default user data is a real script: {boot:?}"
    );

    let before = auto_scaling_group(&aws, "resize-asg").await;
    let template_before = before.launch_template().cloned();

    spec.min = 3;
    spec.max = 6;
    spec.desired = 4;
    spec.cpu_target = 55;
    spec.write(dir.path());
    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();

    // In place: the group and the policy are updated, nothing is replaced.
    // (Re-tagging the group is in place too, so CreateOrUpdateTags may appear.)
    let operations: BTreeSet<String> = emulator
        .stack_changes_since(mark)
        .into_iter()
        .map(|c| c.operation)
        .collect();
    let allowed = BTreeSet::from(
        [
            "UpdateAutoScalingGroup",
            "SetDesiredCapacity",
            "PutScalingPolicy",
            "CreateOrUpdateTags",
        ]
        .map(String::from),
    );
    assert!(
        operations.is_subset(&allowed)
            && operations.contains("UpdateAutoScalingGroup")
            && operations.contains("PutScalingPolicy"),
        "expected only in-place updates of the group and its policy, got {operations:?}\n{run}"
    );

    let after = auto_scaling_group(&aws, "resize-asg").await;
    assert_eq!(
        after.auto_scaling_group_arn(),
        before.auto_scaling_group_arn(),
        "same group, not a new one"
    );
    assert_eq!(after.created_time(), before.created_time());
    assert_eq!(
        after.launch_template().cloned(),
        template_before,
        "the launch template is untouched"
    );
    assert_eq!(
        (after.min_size(), after.max_size(), after.desired_capacity()),
        (Some(3), Some(6), Some(4))
    );
    assert_eq!(
        after.instances().len(),
        4,
        "the group scaled to the new desired capacity"
    );

    let policies = aws
        .autoscaling
        .describe_policies()
        .auto_scaling_group_name("resize-asg")
        .send()
        .await
        .expect("DescribePolicies");
    let [policy] = policies.scaling_policies() else {
        panic!(
            "expected one scaling policy: {:?}",
            policies.scaling_policies()
        );
    };
    assert_eq!(policy.policy_name(), Some("resize-cpu"));
    assert_eq!(
        policy
            .target_tracking_configuration()
            .and_then(|t| t.target_value()),
        Some(55.0)
    );
    // AWS keeps a target-tracking policy's two alarms across an update.
    assert_eq!(
        policy.alarms().len(),
        2,
        "the policy's CloudWatch alarms: {:?}",
        policy.alarms()
    );

    // And the converged stack is stable again.
    expect_no_change(&emulator, &["up", "-f", arg(&file)], "up after the update").await;
}

/// The reference stack with its `app` (a stand-in binary: nothing boots on the plain
/// emulator): the plan names every part the service needs; a second `up` changes nothing,
/// nor does one after AWS publishes a new Amazon Linux image (the template's image is
/// pinned, and `status` says a newer one exists); `--refresh-image` rolls it out, after
/// which `up` is a no-op again. `status` shows each instance's release and the last rollout.
#[tokio::test]
async fn the_app_stack_keeps_its_image_until_asked_to_refresh_it() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("modu-app");
    std::fs::write(&artifact, "#!/bin/sh\nexec sleep infinity\n").unwrap();
    let spec = reference_stack(dir.path(), Boot::App(&artifact), &[]);
    let file = arg(&spec);

    let plan = modu(&emulator, &["plan", "-f", file, "-o", "json"]).await;
    plan.expect_success();
    let created: BTreeSet<String> = plan.json()["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|row| row["action"] == "create")
        .map(|row| row["key"].as_str().unwrap().to_string())
        .collect();
    for key in [
        "release",
        "instance-role",
        "instance-profile",
        "log-group",
        "cache-secret",
        "sg-db",
        "db-subnets",
        "database",
        "parameters",
        "launch-template",
        "asg",
    ] {
        assert!(created.contains(key), "the plan creates {key}\n{plan}");
    }

    modu(&emulator, &["up", "-f", file]).await.expect_success();
    expect_no_change(&emulator, &["up", "-f", file], "an unchanged app stack").await;
    let (first_image, release) = (
        template_image(&emulator).await,
        status_of(&emulator, file, "asg").await["details"]["members"][0]["release"].clone(),
    );
    assert!(
        release.as_str().is_some_and(|r| !r.is_empty()),
        "each instance carries its release: {release}"
    );

    // AWS publishes a new Amazon Linux 2023 image: the stack stays where it is.
    let published = publish_image(&emulator).await;
    assert_ne!(published, first_image);
    expect_no_change(
        &emulator,
        &["up", "-f", file],
        "an app stack when a new image is published",
    )
    .await;
    assert_eq!(template_image(&emulator).await, first_image);
    let template = status_of(&emulator, file, "launch-template").await;
    assert_eq!(template["details"]["published_image"], published.as_str());
    assert!(
        template["state"]
            .as_str()
            .unwrap()
            .contains("modu up --refresh-image"),
        "{template}"
    );

    // --refresh-image moves to it, through a rollout; then the stack is stable again.
    let plan = modu(
        &emulator,
        &["plan", "-f", file, "-o", "json", "--refresh-image"],
    )
    .await;
    plan.expect_success();
    let row = plan.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == "launch-template")
        .cloned()
        .unwrap();
    assert_eq!(row["action"], "update", "{plan}");
    assert_eq!(row["fields"][0]["field"], "image", "{plan}");
    assert_eq!(row["fields"][0]["to"], published.as_str(), "{plan}");
    let run = modu(&emulator, &["up", "-f", file, "--refresh-image"]).await;
    run.expect_success();
    assert_eq!(template_image(&emulator).await, published, "{run}");
    expect_no_change(&emulator, &["up", "-f", file], "the refreshed app stack").await;
    let group = status_of(&emulator, file, "asg").await;
    assert_eq!(
        group["details"]["last_refresh"]["status"], "Successful",
        "{group}"
    );
    assert!(
        group["state"]
            .as_str()
            .unwrap()
            .contains("last rollout Successful"),
        "{group}"
    );

    modu(
        &emulator,
        &[
            "down",
            "-f",
            file,
            "--yes",
            "--delete-data",
            "--no-final-snapshot",
        ],
    )
    .await
    .expect_success();
}

/// The image of the stack's launch template's latest version.
async fn template_image(emulator: &Emulator) -> String {
    let versions = Aws::new(emulator)
        .await
        .ec2
        .describe_launch_template_versions()
        .launch_template_name("modu-lt")
        .versions("$Latest")
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions");
    versions.launch_template_versions()[0]
        .launch_template_data()
        .and_then(|d| d.image_id())
        .expect("an image")
        .to_string()
}

/// One resource's entry in `status -o json` (whatever the stack's health).
async fn status_of(emulator: &Emulator, file: &str, key: &str) -> serde_json::Value {
    let run = modu(emulator, &["status", "-f", file, "-o", "json"]).await;
    run.json()["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["key"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("no {key} in\n{run}"))
}

/// Has the emulator publish a new Amazon Linux 2023 image, as AWS does; its id.
async fn publish_image(emulator: &Emulator) -> String {
    modu::aws::tls::install_crypto_provider();
    let published: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/_emulator/publish-image?region=us-east-1",
            emulator.url()
        ))
        .send()
        .await
        .expect("the emulator's publish-image control")
        .json()
        .await
        .expect("its JSON answer");
    published["image_id"]
        .as_str()
        .expect("the new image's id")
        .to_string()
}
