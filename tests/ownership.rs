//! The one ownership rule, kind by kind: a resource of the stack's deterministic name
//! that lacks the stack's marker (the `modu:stack` tag, or the description, comment or
//! widget modu writes where a kind has no tags) belongs to someone else. `plan` and `up`
//! refuse it by name before changing anything, and `down --delete-data` leaves it exactly
//! as its owner made it. Each test makes the foreign resource with the SDK first, in an
//! emulator of its own.

mod support;

use std::fmt::Debug;

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_cloudfront::types::{
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, OriginAccessControlConfig,
    OriginAccessControlOriginTypes, OriginAccessControlSigningBehaviors,
    OriginAccessControlSigningProtocols, OriginProtocolPolicy, Origins, ViewerProtocolPolicy,
};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use aws_sdk_ec2::types::{Filter, InstanceType, RequestLaunchTemplateData};
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
use support::{ACCOUNT, Aws, Emulator, Spec, arg, describe_calls, modu};

/// What every foreign resource's owner wrote where modu would write its marker.
const SOMEONE_ELSES: &str = "someone else's";

/// AWS managed cache policy "CachingOptimized".
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";

/// Makes the foreign resource with `create_foreign` (which answers with the words modu must
/// name it by), then proves the rule for `spec`'s stack: `plan` and `up` fail naming it and
/// make no mutating call, and `down --yes --delete-data` succeeds without one either, saying
/// it left the resource alone. `still_there` reads the resource's settings before and after;
/// they must be unchanged.
async fn assert_refused_and_left_alone<T: PartialEq + Debug>(
    spec: Spec,
    create_foreign: impl AsyncFnOnce(&Aws) -> String,
    still_there: impl AsyncFn(&Aws) -> T,
) {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let what = create_foreign(&aws).await;
    let before = still_there(&aws).await;
    let dir = tempfile::tempdir().unwrap();
    let file = spec.write(dir.path());
    let refusal = format!("{what} exists but is not part of stack {}", spec.stack);

    for command in ["plan", "up"] {
        let mark = emulator.mark();
        let run = modu(&emulator, &[command, "-f", arg(&file)]).await;
        run.expect_code(1);
        assert!(
            run.stderr.contains(&refusal),
            "`{command}` names the foreign resource: expected {refusal:?}\n{run}"
        );
        let mutating = emulator.mutating_calls_since(mark);
        assert!(
            mutating.is_empty(),
            "`{command}` changed something after refusing {what}: {}\n{run}",
            describe_calls(&mutating)
        );
    }

    let mark = emulator.mark();
    let down = modu(
        &emulator,
        &["down", "-f", arg(&file), "--yes", "--delete-data"],
    )
    .await;
    let mutating = emulator.mutating_calls_since(mark);
    assert!(
        mutating.is_empty(),
        "`down` touched something while only {what} exists: {}\n{down}",
        describe_calls(&mutating)
    );
    assert_eq!(
        still_there(&aws).await,
        before,
        "{what} changed under plan, up and down\n{down}"
    );
    down.expect_success();
    assert!(
        down.output().contains(&format!("left alone: {refusal}")),
        "`down` says it left {what} alone\n{down}"
    );
}

// ---------------------------------------------------------------------------
// Made the way their owners would make them
// ---------------------------------------------------------------------------

/// The default VPC and its default subnets (one per availability zone), sorted.
struct DefaultNetwork {
    vpc: String,
    subnets: Vec<String>,
}

async fn default_network(aws: &Aws) -> DefaultNetwork {
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .expect("DescribeVpcs");
    let vpc = vpcs
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .expect("the emulator has a default VPC")
        .to_string();
    let found = aws
        .ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("DescribeSubnets");
    let mut subnets: Vec<String> = found
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    assert!(
        subnets.len() >= 2,
        "the default VPC has a subnet in at least two zones: {subnets:?}"
    );
    DefaultNetwork { vpc, subnets }
}

/// An untagged security group named `name` in the default VPC; answers with how modu names
/// it (`security group NAME (ID) in VPC`).
async fn create_security_group(aws: &Aws, name: &str) -> String {
    let vpc = default_network(aws).await.vpc;
    let out = aws
        .ec2
        .create_security_group()
        .group_name(name)
        .description(SOMEONE_ELSES)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("CreateSecurityGroup");
    let id = out.group_id().expect("the new group's id");
    format!("security group {name} ({id}) in {vpc}")
}

/// What of a security group its owner set: description, tags and rules.
async fn security_group_settings(aws: &Aws, name: &str) -> String {
    let sg = aws.security_group(name).await;
    format!(
        "{:?} {:?} {:?} {:?}",
        sg.group_id(),
        sg.description(),
        sg.tags(),
        sg.ip_permissions()
    )
}

/// A launch template named `name`, tagged by its owner but not for any stack.
async fn create_launch_template(aws: &Aws, name: &str) {
    aws.ec2
        .create_launch_template()
        .launch_template_name(name)
        .version_description(SOMEONE_ELSES)
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .instance_type(InstanceType::T3Micro)
                .build(),
        )
        .send()
        .await
        .expect("CreateLaunchTemplate");
}

/// A metric alarm named `name` with its owner's description.
async fn create_alarm(aws: &Aws, name: &str) -> String {
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .alarm_description(SOMEONE_ELSES)
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
    format!("alarm {name}")
}

/// What of an alarm its owner set.
async fn alarm_settings(aws: &Aws, name: &str) -> String {
    let alarms = aws.alarms().await;
    let alarm = alarms
        .get(name)
        .unwrap_or_else(|| panic!("alarm {name} is gone"));
    format!(
        "{:?} {:?} {:?} {:?} {:?}",
        alarm.alarm_description(),
        alarm.namespace(),
        alarm.metric_name(),
        alarm.threshold(),
        alarm.comparison_operator()
    )
}

// ---------------------------------------------------------------------------
// Compute tier
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_foreign_load_balancer_security_group_is_refused_and_left_alone() {
    let name = "own-sg-lb-lb";
    assert_refused_and_left_alone(
        Spec::new("own-sg-lb"),
        async |aws: &Aws| create_security_group(aws, name).await,
        async |aws: &Aws| security_group_settings(aws, name).await,
    )
    .await;
}

#[tokio::test]
async fn a_foreign_app_security_group_is_refused_and_left_alone() {
    let name = "own-sg-app-app";
    assert_refused_and_left_alone(
        Spec::new("own-sg-app"),
        async |aws: &Aws| create_security_group(aws, name).await,
        async |aws: &Aws| security_group_settings(aws, name).await,
    )
    .await;
}

#[tokio::test]
async fn a_foreign_target_group_is_refused_and_left_alone() {
    let name = "own-tg-tg";
    assert_refused_and_left_alone(
        Spec::new("own-tg"),
        async |aws: &Aws| {
            let vpc = default_network(aws).await.vpc;
            aws.elbv2
                .create_target_group()
                .name(name)
                .protocol(ProtocolEnum::Http)
                .port(9090)
                .vpc_id(vpc)
                .target_type(TargetTypeEnum::Instance)
                .health_check_path("/someone-elses")
                .send()
                .await
                .expect("CreateTargetGroup");
            format!("target group {name}")
        },
        async |aws: &Aws| {
            let arn = aws.target_group_arn(name).await;
            let out = aws
                .elbv2
                .describe_target_groups()
                .names(name)
                .send()
                .await
                .expect("DescribeTargetGroups");
            let tg = &out.target_groups()[0];
            format!(
                "{arn} {:?} {:?} {:?}",
                tg.port(),
                tg.health_check_path(),
                aws.elbv2_tags(&arn).await
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_foreign_load_balancer_is_refused_and_left_alone() {
    let name = "own-lb-lb";
    assert_refused_and_left_alone(
        Spec::new("own-lb"),
        async |aws: &Aws| {
            let network = default_network(aws).await;
            // Its own group: one named `own-lb-lb` would be refused first.
            let sg = aws
                .ec2
                .create_security_group()
                .group_name("someone-elses-web")
                .description(SOMEONE_ELSES)
                .vpc_id(&network.vpc)
                .send()
                .await
                .expect("CreateSecurityGroup");
            aws.elbv2
                .create_load_balancer()
                .name(name)
                .set_subnets(Some(network.subnets[..2].to_vec()))
                .security_groups(sg.group_id().expect("the group's id"))
                .send()
                .await
                .expect("CreateLoadBalancer");
            format!("load balancer {name}")
        },
        async |aws: &Aws| {
            let lb = aws.load_balancer(name).await;
            let arn = lb.load_balancer_arn().unwrap_or_default();
            format!(
                "{arn} {:?} {:?} {:?}",
                lb.scheme(),
                lb.security_groups(),
                aws.elbv2_tags(arn).await
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_foreign_launch_template_is_refused_and_left_alone() {
    let name = "own-lt-lt";
    assert_refused_and_left_alone(
        Spec::new("own-lt"),
        async |aws: &Aws| {
            create_launch_template(aws, name).await;
            format!("launch template {name}")
        },
        async |aws: &Aws| {
            let out = aws
                .ec2
                .describe_launch_templates()
                .launch_template_names(name)
                .send()
                .await
                .expect("DescribeLaunchTemplates");
            let lt = &out.launch_templates()[0];
            format!(
                "{:?} {:?} {:?} {:?}",
                lt.launch_template_id(),
                lt.default_version_number(),
                lt.latest_version_number(),
                lt.tags()
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_foreign_auto_scaling_group_is_refused_and_left_alone() {
    let name = "own-asg-asg";
    assert_refused_and_left_alone(
        Spec::new("own-asg"),
        async |aws: &Aws| {
            let network = default_network(aws).await;
            // A template of another name: one named `own-asg-lt` would be refused first.
            create_launch_template(aws, "someone-elses-lt").await;
            aws.autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name(name)
                .launch_template(
                    LaunchTemplateSpecification::builder()
                        .launch_template_name("someone-elses-lt")
                        .version("$Latest")
                        .build(),
                )
                .min_size(0)
                .max_size(3)
                .desired_capacity(0)
                .vpc_zone_identifier(network.subnets.join(","))
                .send()
                .await
                .expect("CreateAutoScalingGroup");
            format!("auto scaling group {name}")
        },
        async |aws: &Aws| {
            let out = aws
                .autoscaling
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(name)
                .send()
                .await
                .expect("DescribeAutoScalingGroups");
            let group = &out.auto_scaling_groups()[0];
            format!(
                "{:?} {:?} {:?} {:?} {:?}",
                group.min_size(),
                group.max_size(),
                group.desired_capacity(),
                group
                    .launch_template()
                    .and_then(|t| t.launch_template_name()),
                group.tags()
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_foreign_bucket_of_the_automatic_name_is_refused_and_left_alone() {
    let name = format!("own-bucket-images-{ACCOUNT}");
    let name = name.as_str();
    assert_refused_and_left_alone(
        Spec::new("own-bucket"),
        async |aws: &Aws| {
            aws.s3
                .create_bucket()
                .bucket(name)
                .send()
                .await
                .expect("CreateBucket");
            aws.s3
                .put_object()
                .bucket(name)
                .key("keep.txt")
                .body(b"precious".to_vec().into())
                .send()
                .await
                .expect("PutObject");
            format!("bucket {name}")
        },
        async |aws: &Aws| {
            let objects = aws
                .s3
                .list_objects_v2()
                .bucket(name)
                .send()
                .await
                .expect("ListObjectsV2");
            let keys: Vec<String> = objects
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect();
            // Untagged it stays: GetBucketTagging answers NoSuchTagSet.
            let tagged = aws
                .s3
                .get_bucket_tagging()
                .bucket(name)
                .send()
                .await
                .is_ok();
            let policy = aws.bucket_policy(name).await;
            format!("{keys:?} tagged={tagged} {policy:?}")
        },
    )
    .await;
}

// ---------------------------------------------------------------------------
// Cache tier
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_foreign_cache_security_group_is_refused_and_left_alone() {
    let name = "own-sg-cache-cache";
    assert_refused_and_left_alone(
        Spec::full("own-sg-cache"),
        async |aws: &Aws| create_security_group(aws, name).await,
        async |aws: &Aws| security_group_settings(aws, name).await,
    )
    .await;
}

#[tokio::test]
async fn a_foreign_cache_subnet_group_is_refused_and_left_alone() {
    let name = "own-subnets-cache";
    assert_refused_and_left_alone(
        Spec::full("own-subnets"),
        async |aws: &Aws| {
            let network = default_network(aws).await;
            aws.elasticache
                .create_cache_subnet_group()
                .cache_subnet_group_name(name)
                .cache_subnet_group_description(SOMEONE_ELSES)
                .set_subnet_ids(Some(network.subnets[..2].to_vec()))
                .send()
                .await
                .expect("CreateCacheSubnetGroup");
            format!("cache subnet group {name}")
        },
        async |aws: &Aws| {
            let out = aws
                .elasticache
                .describe_cache_subnet_groups()
                .cache_subnet_group_name(name)
                .send()
                .await
                .expect("DescribeCacheSubnetGroups");
            let group = &out.cache_subnet_groups()[0];
            let mut subnets: Vec<&str> = group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier())
                .collect();
            subnets.sort();
            format!(
                "{:?} {subnets:?} {:?}",
                group.cache_subnet_group_description(),
                aws.elasticache_tags(group.arn().unwrap_or_default()).await
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_foreign_replication_group_is_refused_and_left_alone() {
    let name = "own-cache-cache";
    assert_refused_and_left_alone(
        Spec::full("own-cache"),
        async |aws: &Aws| {
            aws.elasticache
                .create_replication_group()
                .replication_group_id(name)
                .replication_group_description(SOMEONE_ELSES)
                .engine("redis")
                .cache_node_type("cache.t3.micro")
                .num_cache_clusters(1)
                .send()
                .await
                .expect("CreateReplicationGroup");
            format!("replication group {name}")
        },
        async |aws: &Aws| {
            let group = aws
                .replication_group(name)
                .await
                .unwrap_or_else(|| panic!("replication group {name} is gone"));
            format!(
                "{:?} {:?} {:?} {:?}",
                group.description(),
                group.cache_node_type(),
                group.member_clusters(),
                aws.elasticache_tags(group.arn().unwrap_or_default()).await
            )
        },
    )
    .await;
}

// ---------------------------------------------------------------------------
// Edge tier
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_foreign_origin_access_control_is_refused_and_left_alone() {
    let name = "own-oac-media";
    assert_refused_and_left_alone(
        Spec::full("own-oac"),
        async |aws: &Aws| {
            aws.cloudfront
                .create_origin_access_control()
                .origin_access_control_config(
                    OriginAccessControlConfig::builder()
                        .name(name)
                        .description(SOMEONE_ELSES)
                        .signing_protocol(OriginAccessControlSigningProtocols::Sigv4)
                        .signing_behavior(OriginAccessControlSigningBehaviors::Always)
                        .origin_access_control_origin_type(OriginAccessControlOriginTypes::S3)
                        .build()
                        .expect("an origin access control config"),
                )
                .send()
                .await
                .expect("CreateOriginAccessControl");
            format!("origin access control {name}")
        },
        async |aws: &Aws| {
            let out = aws
                .cloudfront
                .list_origin_access_controls()
                .send()
                .await
                .expect("ListOriginAccessControls");
            let items = out
                .origin_access_control_list()
                .map(|l| l.items())
                .unwrap_or_default();
            let oac = items
                .iter()
                .find(|o| o.name() == name)
                .unwrap_or_else(|| panic!("origin access control {name} is gone"));
            format!(
                "{} {:?} {:?} {:?}",
                oac.id(),
                oac.description(),
                oac.signing_behavior(),
                oac.origin_access_control_origin_type()
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_foreign_distribution_with_the_stacks_comment_is_refused_and_left_alone() {
    let stack = "own-cdn";
    let comment = format!("modu:{stack}");
    let comment = comment.as_str();
    assert_refused_and_left_alone(
        Spec::full(stack),
        async |aws: &Aws| {
            let origin = aws_sdk_cloudfront::types::Origin::builder()
                .id("someone-elses-web")
                .domain_name("www.example.org")
                .custom_origin_config(
                    CustomOriginConfig::builder()
                        .http_port(80)
                        .https_port(443)
                        .origin_protocol_policy(OriginProtocolPolicy::HttpOnly)
                        .build()
                        .expect("a custom origin config"),
                )
                .build()
                .expect("an origin");
            let config = DistributionConfig::builder()
                .caller_reference("someone-elses-distribution")
                .comment(comment)
                .enabled(true)
                .origins(
                    Origins::builder()
                        .quantity(1)
                        .items(origin)
                        .build()
                        .expect("origins"),
                )
                .default_cache_behavior(
                    DefaultCacheBehavior::builder()
                        .target_origin_id("someone-elses-web")
                        .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
                        .cache_policy_id(CACHING_OPTIMIZED)
                        .build()
                        .expect("a default cache behavior"),
                )
                .build()
                .expect("a distribution config");
            let out = aws
                .cloudfront
                .create_distribution()
                .distribution_config(config)
                .send()
                .await
                .expect("CreateDistribution");
            let id = out.distribution().expect("the new distribution").id();
            format!("distribution {id} (labelled {comment})")
        },
        async |aws: &Aws| {
            let summary = aws
                .distribution_of_stack(stack)
                .await
                .unwrap_or_else(|| panic!("the distribution labelled {comment} is gone"));
            let out = aws
                .cloudfront
                .get_distribution()
                .id(summary.id())
                .send()
                .await
                .expect("GetDistribution");
            let config = out
                .distribution()
                .and_then(|d| d.distribution_config())
                .expect("the distribution's config");
            format!(
                "{} {:?} {} {:?} {:?}",
                summary.id(),
                out.e_tag(),
                config.enabled(),
                config.origins().map(|o| o.items()),
                aws.distribution_tags(summary.arn()).await
            )
        },
    )
    .await;
}

// ---------------------------------------------------------------------------
// Monitoring tier
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_foreign_dashboard_is_refused_and_left_alone() {
    let name = "own-dash";
    let body = serde_json::json!({
        "widgets": [{
            "type": "text",
            "x": 0, "y": 0, "width": 6, "height": 3,
            "properties": {"markdown": "Someone else's dashboard"},
        }],
    });
    let body = &body;
    assert_refused_and_left_alone(
        Spec::full(name),
        async |aws: &Aws| {
            aws.cloudwatch
                .put_dashboard()
                .dashboard_name(name)
                .dashboard_body(body.to_string())
                .send()
                .await
                .expect("PutDashboard");
            format!("dashboard {name}")
        },
        async |aws: &Aws| {
            let current = aws.dashboard_body(name).await;
            assert_eq!(current.as_ref(), Some(body), "the owner's body");
            current
        },
    )
    .await;
}

#[tokio::test]
async fn a_foreign_5xx_rate_alarm_is_refused_and_left_alone() {
    let name = "own-5xx-alb-5xx-rate";
    assert_refused_and_left_alone(
        Spec::full("own-5xx"),
        async |aws: &Aws| create_alarm(aws, name).await,
        async |aws: &Aws| alarm_settings(aws, name).await,
    )
    .await;
}

#[tokio::test]
async fn a_foreign_unhealthy_hosts_alarm_is_refused_and_left_alone() {
    let name = "own-hosts-unhealthy-hosts";
    assert_refused_and_left_alone(
        Spec::full("own-hosts"),
        async |aws: &Aws| create_alarm(aws, name).await,
        async |aws: &Aws| alarm_settings(aws, name).await,
    )
    .await;
}

#[tokio::test]
async fn a_foreign_cache_cpu_alarm_is_refused_and_left_alone() {
    let name = "own-cpu-cache-cpu";
    assert_refused_and_left_alone(
        Spec::full("own-cpu"),
        async |aws: &Aws| create_alarm(aws, name).await,
        async |aws: &Aws| alarm_settings(aws, name).await,
    )
    .await;
}

#[tokio::test]
async fn a_foreign_alarm_topic_is_refused_and_left_alone() {
    let name = "own-topic";
    assert_refused_and_left_alone(
        Spec::full(name),
        async |aws: &Aws| {
            let topic = aws
                .sns
                .create_topic()
                .name(format!("{name}-alarms"))
                .tags(
                    aws_sdk_sns::types::Tag::builder()
                        .key("owner")
                        .value(SOMEONE_ELSES)
                        .build()
                        .expect("a tag"),
                )
                .send()
                .await
                .expect("CreateTopic");
            aws.sns
                .subscribe()
                .topic_arn(topic.topic_arn().expect("its ARN"))
                .protocol("email")
                .endpoint("owner@example.org")
                .send()
                .await
                .expect("Subscribe");
            format!("SNS topic {name}-alarms")
        },
        async |aws: &Aws| {
            let topic = format!("arn:aws:sns:us-east-1:{ACCOUNT}:{name}-alarms");
            (
                aws.topic_tags(&topic).await,
                aws.subscriptions(&topic).await,
            )
        },
    )
    .await;
}
