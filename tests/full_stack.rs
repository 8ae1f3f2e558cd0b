//! The whole reference architecture against the emulator: a full-stack `up`
//! creates the edge, cache, monitoring and DNS tiers with the spec's settings
//! (checked through the SDK, not through modu), a second `up` changes nothing,
//! edits converge in place, a DNS name modu does not own is refused and left
//! alone, and `down` removes exactly the stack.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudfront::types::{AllowedMethods, Distribution};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use serde_json::Value;
use support::{
    Aws, Call, Emulator, MetricRow, ONCALL, RECORD, Spec, ZONE, absolute, arg, assert_stack_tags,
    assert_tls_only, aws_cli, cloudwatch_dimension, describe_calls, expect_no_change, metric_rows,
    modu, search_expressions,
};

/// AWS managed cache policy "CachingDisabled".
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS managed cache policy "CachingOptimized".
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// AWS managed origin request policy "AllViewerAndCloudFrontHeaders-2022-06".
const ALL_VIEWER: &str = "33f36d7e-f396-46d9-90e0-52428a34d9dc";
/// The hosted zone id of every CloudFront alias target.
const CLOUDFRONT_ZONE: &str = "Z2FDTNDATAQYW2";

const ALL_METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
const READ_METHODS: [&str; 2] = ["GET", "HEAD"];

fn methods(allowed: Option<&AllowedMethods>) -> BTreeSet<String> {
    allowed
        .map(|m| m.items())
        .unwrap_or_default()
        .iter()
        .map(|m| m.as_str().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The stack's distribution, read in full.
async fn distribution(aws: &Aws, stack: &str) -> Distribution {
    let summary = aws
        .distribution_of_stack(stack)
        .await
        .unwrap_or_else(|| panic!("no distribution labelled modu:{stack}"));
    let out = aws
        .cloudfront
        .get_distribution()
        .id(summary.id())
        .send()
        .await
        .expect("GetDistribution");
    out.distribution().expect("the distribution").clone()
}

/// The origin access control named `name`: its id and config.
async fn origin_access_control(
    aws: &Aws,
    name: &str,
) -> (String, aws_sdk_cloudfront::types::OriginAccessControlConfig) {
    let list = aws
        .cloudfront
        .list_origin_access_controls()
        .send()
        .await
        .expect("ListOriginAccessControls");
    let id = list
        .origin_access_control_list()
        .map(|l| l.items())
        .unwrap_or_default()
        .iter()
        .find(|o| o.name() == name)
        .unwrap_or_else(|| panic!("no origin access control named {name}"))
        .id()
        .to_string();
    let out = aws
        .cloudfront
        .get_origin_access_control()
        .id(&id)
        .send()
        .await
        .expect("GetOriginAccessControl");
    let config = out
        .origin_access_control()
        .and_then(|o| o.origin_access_control_config())
        .expect("the origin access control's config")
        .clone();
    (id, config)
}

/// The member of the replication group that is its primary.
fn primary_member(group: &aws_sdk_elasticache::types::ReplicationGroup) -> String {
    group
        .node_groups()
        .iter()
        .flat_map(|n| n.node_group_members())
        .find(|m| m.current_role() == Some("primary"))
        .and_then(|m| m.cache_cluster_id())
        .expect("the replication group has a primary member")
        .to_string()
}

/// Asserts a dashboard line of `metric` with exactly these dimensions (and
/// this statistic, when given).
#[track_caller]
fn assert_metric(
    rows: &[MetricRow],
    namespace: &str,
    metric: &str,
    dimensions: &[(&str, &str)],
    stat: Option<&str>,
) {
    let want: BTreeSet<(String, String)> = dimensions
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let found = rows.iter().any(|row| {
        row.namespace == namespace
            && row.metric == metric
            && row.dimensions.iter().cloned().collect::<BTreeSet<_>>() == want
            && stat.is_none_or(|s| row.options["stat"] == s)
    });
    assert!(
        found,
        "the dashboard has no {namespace} {metric} {dimensions:?} {stat:?} line; lines: {rows:#?}"
    );
}

/// Every line of the alarm's metric math as (metric name, dimensions).
fn math_inputs(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> BTreeMap<String, Vec<String>> {
    alarm
        .metrics()
        .iter()
        .filter_map(|q| q.metric_stat()?.metric())
        .map(|m| {
            (
                m.metric_name().unwrap_or_default().to_string(),
                m.dimensions()
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={}",
                            d.name().unwrap_or_default(),
                            d.value().unwrap_or_default()
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

fn alarm_dimensions(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> BTreeSet<String> {
    alarm
        .dimensions()
        .iter()
        .map(|d| {
            format!(
                "{}={}",
                d.name().unwrap_or_default(),
                d.value().unwrap_or_default()
            )
        })
        .collect()
}

/// `(hosted zone id, absolute dns name)` of an alias record.
fn alias_of(set: &ResourceRecordSet) -> (String, String) {
    let alias = set
        .alias_target()
        .unwrap_or_else(|| panic!("{} {} is an alias: {set:?}", set.name(), set.r#type()));
    (
        alias.hosted_zone_id().to_string(),
        absolute(alias.dns_name()),
    )
}

fn values_of(set: &ResourceRecordSet) -> Vec<String> {
    set.resource_records()
        .iter()
        .map(|r| r.value().to_string())
        .collect()
}

/// Has the emulator confirm the topic's pending subscriptions, as their recipients do by
/// following the link in AWS's email.
async fn confirm_subscriptions(emulator: &Emulator, topic: &str) {
    modu::aws::tls::install_crypto_provider();
    reqwest::Client::new()
        .post(format!(
            "{}/_emulator/confirm-subscriptions?topic={topic}",
            emulator.url()
        ))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the emulator's confirm-subscriptions control");
}

/// `service:operation` of the mutating calls, for comparing with what a change should cost.
fn operations(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| format!("{}:{}", c.service, c.operation))
        .collect()
}

#[tokio::test]
async fn full_stack_up_creates_every_resource_with_the_spec_settings() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::full("edge");
    let file = spec.write(dir.path());

    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();

    let lb = aws.load_balancer("edge-lb").await;
    let lb_arn = lb.load_balancer_arn().expect("load balancer ARN");
    let lb_dns = lb.dns_name().expect("load balancer DNS name");
    let tg_arn = aws.target_group_arn("edge-tg").await;
    let bucket = spec.bucket_name();

    // The origin access control signs every request to S3 with SigV4.
    let (oac_id, oac) = origin_access_control(&aws, "edge-media").await;
    assert_eq!(oac.signing_protocol().as_str(), "sigv4");
    assert_eq!(oac.signing_behavior().as_str(), "always");
    assert_eq!(oac.origin_access_control_origin_type().as_str(), "s3");

    // The distribution: the load balancer and the bucket as origins.
    let dist = distribution(&aws, "edge").await;
    let config = dist.distribution_config().expect("distribution config");
    assert!(config.enabled(), "the distribution is enabled");
    assert_eq!(config.comment(), "modu:edge");
    assert_eq!(
        config.price_class().map(|p| p.as_str()),
        Some("PriceClass_100")
    );
    assert_eq!(
        config.is_ipv6_enabled(),
        Some(true),
        "IPv6 on, for the AAAA alias"
    );
    let origins = config.origins().map(|o| o.items()).unwrap_or_default();
    assert_eq!(origins.len(), 2, "two origins: {origins:#?}");
    let lb_origin = origins
        .iter()
        .find(|o| o.domain_name() == lb_dns)
        .unwrap_or_else(|| panic!("no origin is the load balancer {lb_dns}: {origins:#?}"));
    let custom = lb_origin
        .custom_origin_config()
        .expect("the load balancer is a custom origin");
    assert_eq!(
        custom.origin_protocol_policy().as_str(),
        "http-only",
        "the listener has no certificate"
    );
    assert_eq!(
        custom.http_port(),
        i32::from(spec.lb_port),
        "the listener's port"
    );
    // Only CloudFront gets in: it adds the stack's secret header to every request it sends
    // the load balancer, whose listener forwards only those and answers the rest 403...
    let secret = aws_cli(
        &emulator,
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            "modu/edge/origin-header",
        ],
    )["SecretString"]
        .as_str()
        .expect("the origin secret")
        .to_string();
    assert_eq!(secret.len(), 64);
    let headers: Vec<(&str, &str)> = lb_origin
        .custom_headers()
        .map(|h| h.items())
        .unwrap_or_default()
        .iter()
        .map(|h| (h.header_name(), h.header_value()))
        .collect();
    assert_eq!(headers, [("X-Origin-Verify", secret.as_str())]);
    let listeners = aws
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .expect("DescribeListeners");
    let [listener] = listeners.listeners() else {
        panic!("one listener without a certificate: {listeners:#?}");
    };
    let refusal = listener.default_actions()[0]
        .fixed_response_config()
        .expect("the default action answers by itself");
    assert_eq!(refusal.status_code(), Some("403"));
    let rules = aws
        .elbv2
        .describe_rules()
        .listener_arn(listener.listener_arn().unwrap())
        .send()
        .await
        .expect("DescribeRules");
    let rules: Vec<_> = rules
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .collect();
    let [rule] = rules.as_slice() else {
        panic!("one rule: {rules:#?}");
    };
    let header = rule.conditions()[0]
        .http_header_config()
        .expect("an http-header condition");
    assert_eq!(header.http_header_name(), Some("X-Origin-Verify"));
    assert_eq!(header.values(), std::slice::from_ref(&secret));
    assert_eq!(rule.actions()[0].target_group_arn(), Some(tg_arn.as_str()));
    // ...and its security group admits the listener port from CloudFront's origin-facing
    // addresses only: no rule for the whole internet.
    let cloudfront = aws
        .ec2
        .describe_managed_prefix_lists()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("prefix-list-name")
                .values("com.amazonaws.global.cloudfront.origin-facing")
                .build(),
        )
        .send()
        .await
        .expect("DescribeManagedPrefixLists");
    let cloudfront = cloudfront.prefix_lists()[0].prefix_list_id().unwrap();
    let lb_sg = aws.security_group_id("edge-lb").await;
    let groups = aws
        .ec2
        .describe_security_groups()
        .group_ids(&lb_sg)
        .send()
        .await
        .expect("DescribeSecurityGroups");
    let [permission] = groups.security_groups()[0].ip_permissions() else {
        panic!("one ingress rule: {groups:#?}");
    };
    assert_eq!(
        (permission.from_port(), permission.to_port()),
        (Some(i32::from(spec.lb_port)), Some(i32::from(spec.lb_port)))
    );
    let lists: Vec<&str> = permission
        .prefix_list_ids()
        .iter()
        .filter_map(|p| p.prefix_list_id())
        .collect();
    assert_eq!(lists, [cloudfront]);
    assert!(
        permission.ip_ranges().is_empty() && permission.ipv6_ranges().is_empty(),
        "no address range: {permission:#?}"
    );

    let media_origin = origins
        .iter()
        .find(|o| o.id() != lb_origin.id())
        .expect("a second origin");
    assert_eq!(
        media_origin.domain_name(),
        format!("{bucket}.s3.us-east-1.amazonaws.com")
    );
    assert_eq!(
        media_origin.origin_access_control_id(),
        Some(oac_id.as_str())
    );
    assert!(
        media_origin.s3_origin_config().is_some() && media_origin.custom_origin_config().is_none(),
        "the bucket is an S3 origin: {media_origin:#?}"
    );

    // Behaviours: pages and /api/* uncached with everything forwarded, static
    // paths cached, /media/* from the bucket.
    let default = config
        .default_cache_behavior()
        .expect("a default behaviour");
    assert_eq!(default.target_origin_id(), lb_origin.id());
    assert_eq!(methods(default.allowed_methods()), set(&ALL_METHODS));
    assert_eq!(
        default.viewer_protocol_policy().as_str(),
        "redirect-to-https"
    );
    assert_eq!(default.cache_policy_id(), Some(CACHING_DISABLED));
    assert_eq!(default.origin_request_policy_id(), Some(ALL_VIEWER));
    let behaviours: BTreeMap<&str, _> = config
        .cache_behaviors()
        .map(|b| b.items())
        .unwrap_or_default()
        .iter()
        .map(|b| (b.path_pattern(), b))
        .collect();
    assert_eq!(
        behaviours.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from(["/api/*", "/assets/*", "/media/*"])
    );
    let api = behaviours["/api/*"];
    assert_eq!(api.target_origin_id(), lb_origin.id());
    assert_eq!(methods(api.allowed_methods()), set(&ALL_METHODS));
    assert_eq!(api.viewer_protocol_policy().as_str(), "redirect-to-https");
    assert_eq!(api.cache_policy_id(), Some(CACHING_DISABLED));
    assert_eq!(api.origin_request_policy_id(), Some(ALL_VIEWER));
    let statics = behaviours["/assets/*"];
    assert_eq!(statics.target_origin_id(), lb_origin.id());
    assert_eq!(methods(statics.allowed_methods()), set(&READ_METHODS));
    assert_eq!(
        statics.viewer_protocol_policy().as_str(),
        "redirect-to-https"
    );
    assert_eq!(statics.cache_policy_id(), Some(CACHING_OPTIMIZED));
    let media = behaviours["/media/*"];
    assert_eq!(media.target_origin_id(), media_origin.id());
    assert_eq!(methods(media.allowed_methods()), set(&READ_METHODS));
    assert_eq!(media.viewer_protocol_policy().as_str(), "redirect-to-https");
    assert_eq!(media.cache_policy_id(), Some(CACHING_OPTIMIZED));
    assert_stack_tags(
        "distribution",
        &aws.distribution_tags(dist.arn()).await,
        &spec,
        "cdn",
    );

    // Only this distribution may read the bucket, and only over TLS.
    let policy = aws
        .bucket_policy(&bucket)
        .await
        .expect("the bucket has a policy");
    let statements = policy["Statement"].as_array().expect("policy statements");
    assert_eq!(
        statements.len(),
        2,
        "the read grant and the TLS-only deny: {policy:#}"
    );
    assert_tls_only(&policy, &bucket);
    aws.assert_bucket_is_safe(&bucket).await;
    let statement = statements
        .iter()
        .find(|s| s["Effect"] == "Allow")
        .expect("the read grant");
    assert_eq!(statement["Effect"], "Allow", "{policy:#}");
    assert_eq!(
        statement["Principal"],
        serde_json::json!({ "Service": "cloudfront.amazonaws.com" }),
        "{policy:#}"
    );
    let actions: Vec<&Value> = match &statement["Action"] {
        Value::Array(actions) => actions.iter().collect(),
        action => vec![action],
    };
    assert_eq!(actions, [&Value::from("s3:GetObject")], "{policy:#}");
    assert_eq!(
        statement["Resource"],
        format!("arn:aws:s3:::{bucket}/*"),
        "{policy:#}"
    );
    assert_eq!(
        statement["Condition"]["StringEquals"]["AWS:SourceArn"],
        dist.arn(),
        "{policy:#}"
    );

    // The replication group: a primary and one replica, failover, encryption.
    let group = aws
        .replication_group("edge-cache")
        .await
        .expect("replication group edge-cache");
    assert_eq!(group.status(), Some("available"));
    assert_eq!(group.engine(), Some("valkey"));
    assert_eq!(group.cache_node_type(), Some("cache.t4g.small"));
    assert_eq!(
        group.member_clusters().len(),
        2,
        "NumCacheClusters = 1 + replicas: {:?}",
        group.member_clusters()
    );
    assert_eq!(
        group.automatic_failover().map(|a| a.as_str()),
        Some("enabled")
    );
    assert_eq!(group.multi_az().map(|m| m.as_str()), Some("enabled"));
    assert_eq!(group.at_rest_encryption_enabled(), Some(true));
    assert_eq!(group.transit_encryption_enabled(), Some(true));
    assert_stack_tags(
        "replication group",
        &aws.elasticache_tags(group.arn().unwrap_or_default()).await,
        &spec,
        "cache",
    );
    let cache_sg = aws.security_group_id("edge-cache").await;
    for member in group.member_clusters() {
        let out = aws
            .elasticache
            .describe_cache_clusters()
            .cache_cluster_id(member)
            .send()
            .await
            .expect("DescribeCacheClusters");
        let cluster = &out.cache_clusters()[0];
        assert_eq!(cluster.replication_group_id(), Some("edge-cache"));
        assert_eq!(cluster.cache_subnet_group_name(), Some("edge-cache"));
        let groups: Vec<&str> = cluster
            .security_groups()
            .iter()
            .filter_map(|s| s.security_group_id())
            .collect();
        assert_eq!(groups, [cache_sg.as_str()], "member {member}");
    }

    // The subnet group spans the stack's subnets (those of the load balancer).
    let subnet_groups = aws
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("edge-cache")
        .send()
        .await
        .expect("DescribeCacheSubnetGroups");
    let subnet_group = &subnet_groups.cache_subnet_groups()[0];
    let cache_subnets: BTreeSet<&str> = subnet_group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    let lb_subnets: BTreeSet<&str> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    assert_eq!(cache_subnets, lb_subnets);
    assert_eq!(subnet_group.vpc_id(), lb.vpc_id());
    assert_stack_tags(
        "cache subnet group",
        &aws.elasticache_tags(subnet_group.arn().unwrap_or_default())
            .await,
        &spec,
        "cache-subnets",
    );

    // The dashboard names the real resources.
    let body = aws
        .dashboard_body("edge")
        .await
        .expect("a dashboard named edge");
    let rows = metric_rows(&body);
    let lb_dim = cloudwatch_dimension(lb_arn);
    let tg_dim = cloudwatch_dimension(&tg_arn);
    assert!(lb_dim.starts_with("app/edge-lb/"), "{lb_dim}");
    assert!(tg_dim.starts_with("targetgroup/edge-tg/"), "{tg_dim}");
    let elb = "AWS/ApplicationELB";
    let by_lb = [("LoadBalancer", lb_dim.as_str())];
    assert_metric(&rows, elb, "RequestCount", &by_lb, None);
    assert_metric(&rows, elb, "TargetResponseTime", &by_lb, Some("p50"));
    assert_metric(&rows, elb, "TargetResponseTime", &by_lb, Some("p99"));
    assert_metric(&rows, elb, "HTTPCode_Target_5XX_Count", &by_lb, None);
    assert_metric(&rows, elb, "HTTPCode_ELB_5XX_Count", &by_lb, None);
    let by_tg = [
        ("TargetGroup", tg_dim.as_str()),
        ("LoadBalancer", lb_dim.as_str()),
    ];
    assert_metric(&rows, elb, "HealthyHostCount", &by_tg, None);
    assert_metric(&rows, elb, "UnHealthyHostCount", &by_tg, None);
    let by_asg = [("AutoScalingGroupName", "edge-asg")];
    assert_metric(&rows, "AWS/EC2", "CPUUtilization", &by_asg, None);
    assert_metric(
        &rows,
        "AWS/AutoScaling",
        "GroupInServiceInstances",
        &by_asg,
        None,
    );
    let by_dist = [("DistributionId", dist.id()), ("Region", "Global")];
    assert_metric(&rows, "AWS/CloudFront", "Requests", &by_dist, None);
    assert_metric(&rows, "AWS/CloudFront", "4xxErrorRate", &by_dist, None);
    assert_metric(&rows, "AWS/CloudFront", "5xxErrorRate", &by_dist, None);
    // Cache widgets search every member of the group, so new replicas appear by themselves.
    let searches = search_expressions(&body);
    for metric in ["CPUUtilization", "CurrConnections", "CacheHitRate"] {
        assert!(
            searches
                .iter()
                .any(|(_, e)| e.contains("{AWS/ElastiCache,CacheClusterId}")
                    && e.contains(&format!("MetricName=\"{metric}\""))
                    && e.contains(group.replication_group_id().unwrap())),
            "a search over the cache members for {metric}: {searches:?}"
        );
    }
    // The instance CPU widget marks the scaling target.
    let cpu_widget = rows
        .iter()
        .find(|r| r.namespace == "AWS/EC2" && r.metric == "CPUUtilization")
        .map(|r| r.widget.clone())
        .expect("an instance CPU widget");
    let widget = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["properties"]["title"] == cpu_widget.as_str())
        .expect("the CPU widget");
    let annotations = widget["properties"]["annotations"]["horizontal"]
        .as_array()
        .unwrap_or_else(|| panic!("the CPU widget has horizontal annotations: {widget:#}"));
    assert!(
        annotations
            .iter()
            .any(|a| a["value"].as_f64() == Some(f64::from(spec.cpu_target))),
        "a horizontal annotation at cpu_target {}: {widget:#}",
        spec.cpu_target
    );

    // The alarms.
    let alarms = aws.alarms().await;
    assert_eq!(
        aws.alarm_names_of_stack("edge").await,
        [
            "edge-alb-5xx-rate",
            "edge-cache-cpu",
            "edge-unhealthy-hosts"
        ]
    );
    // They notify the stack's topic, whose subscriptions wait for each address to confirm.
    let topic = format!("arn:aws:sns:us-east-1:{}:edge-alarms", support::ACCOUNT);
    assert_eq!(aws.topics().await, std::slice::from_ref(&topic));
    assert_stack_tags(
        "alarm topic",
        &aws.topic_tags(&topic).await,
        &spec,
        "alarm-topic",
    );
    assert_eq!(
        aws.subscriptions(&topic).await,
        ONCALL.map(|e| (
            "email".to_string(),
            e.to_string(),
            "PendingConfirmation".to_string()
        )),
    );
    let to_confirm = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("alarm_emails_to_confirm: "))
        .unwrap_or_else(|| panic!("up says who must confirm\n{run}"));
    assert!(
        ONCALL.iter().all(|e| to_confirm.contains(e)) && to_confirm.contains("confirm"),
        "{to_confirm}"
    );
    for name in aws.alarm_names_of_stack("edge").await {
        let alarm = &alarms[&name];
        assert_eq!(
            alarm.comparison_operator().map(|c| c.as_str()),
            Some("GreaterThanThreshold"),
            "{name}"
        );
        assert_eq!(
            alarm.alarm_actions(),
            std::slice::from_ref(&topic),
            "{name}"
        );
        assert_eq!(alarm.ok_actions(), std::slice::from_ref(&topic), "{name}");
        assert_stack_tags(
            &name,
            &aws.alarm_tags(alarm.alarm_arn().unwrap_or_default()).await,
            &spec,
            "alarms",
        );
    }
    let rate = &alarms["edge-alb-5xx-rate"];
    let lb_dimension = vec![format!("LoadBalancer={lb_dim}")];
    assert_eq!(
        math_inputs(rate),
        BTreeMap::from([
            ("HTTPCode_ELB_5XX_Count".to_string(), lb_dimension.clone()),
            (
                "HTTPCode_Target_5XX_Count".to_string(),
                lb_dimension.clone()
            ),
            ("RequestCount".to_string(), lb_dimension.clone()),
        ]),
        "{rate:#?}"
    );
    let expression = rate
        .metrics()
        .iter()
        .find(|q| q.return_data() == Some(true))
        .and_then(|q| q.expression())
        .unwrap_or_else(|| panic!("the rate is an expression over the counts: {rate:#?}"));
    // CloudWatch refuses a scalar inside a metric array, such as `MAX([requests, 1])`.
    assert!(
        expression.starts_with("IF(") && !expression.contains('['),
        "{expression}"
    );
    let hosts = &alarms["edge-unhealthy-hosts"];
    assert_eq!(hosts.namespace(), Some(elb));
    assert_eq!(hosts.metric_name(), Some("UnHealthyHostCount"));
    assert_eq!(
        alarm_dimensions(hosts),
        BTreeSet::from([
            format!("LoadBalancer={lb_dim}"),
            format!("TargetGroup={tg_dim}")
        ])
    );
    assert_eq!(hosts.evaluation_periods(), Some(2));
    assert_eq!(hosts.threshold(), Some(0.0));
    let cache_cpu = &alarms["edge-cache-cpu"];
    assert_eq!(cache_cpu.namespace(), Some("AWS/ElastiCache"));
    assert_eq!(cache_cpu.metric_name(), Some("EngineCPUUtilization"));
    assert_eq!(
        alarm_dimensions(cache_cpu),
        BTreeSet::from([format!("CacheClusterId={}", primary_member(&group))])
    );

    // DNS: the zone modu created, A and AAAA aliases to CloudFront and the
    // ownership record.
    let zone = aws
        .hosted_zone_id(ZONE)
        .await
        .expect("modu created the zone");
    assert_stack_tags(
        "hosted zone",
        &aws.hosted_zone_tags(&zone).await,
        &spec,
        "dns-zone",
    );
    let records = aws.records_at(&zone, RECORD).await;
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["A", "AAAA", "TXT"],
        "{records:#?}"
    );
    for kind in ["A", "AAAA"] {
        assert_eq!(
            alias_of(&records[kind]),
            (CLOUDFRONT_ZONE.to_string(), absolute(dist.domain_name())),
            "{kind} alias"
        );
    }
    assert_eq!(values_of(&records["TXT"]), ["\"modu:stack=edge\""]);
}

#[tokio::test]
async fn second_up_is_a_no_op_and_edits_converge_in_place() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::full("conv");
    let file = spec.write(dir.path());
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    // The zone is new: `up` says where the domain must be delegated.
    let name_servers = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("name_servers: "))
        .unwrap_or_else(|| panic!("the new zone's name servers\n{run}"));
    assert!(
        name_servers.contains("ns-") && name_servers.contains(&format!("delegate {ZONE}")),
        "{name_servers}"
    );

    expect_no_change(
        &emulator,
        &["up", "-f", arg(&file)],
        "an unchanged full stack",
    )
    .await;

    // Price class: the same distribution is updated.
    let before = distribution(&aws, "conv").await;
    spec.cdn_mut().price_class = "PriceClass_All".to_string();
    spec.write(dir.path());
    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    let after = distribution(&aws, "conv").await;
    assert_eq!(after.id(), before.id(), "the same distribution\n{run}");
    assert_eq!(
        after
            .distribution_config()
            .and_then(|c| c.price_class())
            .map(|p| p.as_str()),
        Some("PriceClass_All")
    );
    assert_eq!(after.status(), "Deployed", "up waits for the deployment");
    let mutating = emulator.stack_changes_since(mark);
    assert_eq!(
        operations(&mutating),
        ["cloudfront:UpdateDistribution"],
        "only the distribution is updated\n{run}"
    );

    // The addresses converge: once they confirmed, a new one is subscribed and one no longer
    // listed is unsubscribed, and nothing else changes.
    let topic = format!("arn:aws:sns:us-east-1:{}:conv-alarms", support::ACCOUNT);
    confirm_subscriptions(&emulator, &topic).await;
    spec.dashboard_mut().notify = vec![ONCALL[0].to_string(), "new@example.org".to_string()];
    spec.write(dir.path());
    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    assert_eq!(
        operations(&emulator.stack_changes_since(mark)),
        ["sns:Subscribe", "sns:Unsubscribe"],
        "{run}"
    );
    assert!(
        run.stdout.lines().any(|l| l
            .trim()
            .starts_with("alarm_emails_to_confirm: new@example.org:")),
        "up says the new address must confirm\n{run}"
    );
    let subscriptions = aws.subscriptions(&topic).await;
    let endpoints: Vec<(&str, bool)> = subscriptions
        .iter()
        .map(|(_, endpoint, arn)| (endpoint.as_str(), arn == "PendingConfirmation"))
        .collect();
    assert_eq!(
        endpoints,
        [("new@example.org", true), (ONCALL[0], false)],
        "{subscriptions:?}"
    );
    expect_no_change(&emulator, &["up", "-f", arg(&file)], "converged addresses").await;

    // An existing topic instead: the alarms notify it, and the stack's own topic goes.
    let pager = aws
        .sns
        .create_topic()
        .name("ops-pager")
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("its ARN")
        .to_string();
    spec.dashboard_mut().notify = Vec::new();
    spec.dashboard_mut().topic_arn = Some(pager.clone());
    spec.write(dir.path());
    let run = modu(&emulator, &["up", "-f", arg(&file), "--yes"]).await;
    run.expect_success();
    assert_eq!(aws.topics().await, std::slice::from_ref(&pager), "{run}");
    let alarms = aws.alarms().await;
    for name in aws.alarm_names_of_stack("conv").await {
        assert_eq!(
            alarms[&name].alarm_actions(),
            std::slice::from_ref(&pager),
            "{name}\n{run}"
        );
        assert_eq!(
            alarms[&name].ok_actions(),
            std::slice::from_ref(&pager),
            "{name}\n{run}"
        );
    }
    assert!(
        aws.subscriptions(&pager).await.is_empty(),
        "modu leaves the given topic alone"
    );
    expect_no_change(
        &emulator,
        &["up", "-f", arg(&file)],
        "alarms on a given topic",
    )
    .await;

    // Alarms off: they go, the dashboard stays.
    spec.dashboard_mut().alarms = false;
    spec.write(dir.path());
    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file), "--yes"]).await;
    run.expect_success();
    assert_eq!(
        aws.alarm_names_of_stack("conv").await,
        Vec::<String>::new(),
        "{run}"
    );
    assert!(aws.dashboard_body("conv").await.is_some(), "{run}");
    assert_eq!(
        operations(&emulator.stack_changes_since(mark)),
        ["monitoring:DeleteAlarms"],
        "{run}"
    );

    // DNS target: the A alias moves to the load balancer; the AAAA alias goes
    // (load balancers answer on IPv4), ownership stays. Viewers now reach the load
    // balancer directly, so it opens to them: its header rule goes, which `up`
    // confirms first like any deletion.
    spec.dns_mut().target = "load_balancer".to_string();
    spec.write(dir.path());
    let refused = modu(&emulator, &["up", "-f", arg(&file)]).await;
    refused.expect_code(1);
    assert!(refused.stderr.contains("listener-rule"), "{refused}");
    let run = modu(&emulator, &["up", "-f", arg(&file), "--yes"]).await;
    run.expect_success();
    assert!(
        run.stderr.contains("ingress: tcp/8080 from pl-"),
        "the group opens from CloudFront's list to everyone: {run}"
    );
    let lb = aws.load_balancer("conv-lb").await;
    let zone = aws.hosted_zone_id(ZONE).await.unwrap();
    let records = aws.records_at(&zone, RECORD).await;
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["A", "TXT"],
        "{records:#?}\n{run}"
    );
    assert_eq!(
        alias_of(&records["A"]),
        (
            lb.canonical_hosted_zone_id().unwrap().to_string(),
            absolute(lb.dns_name().unwrap())
        )
    );
    assert_eq!(values_of(&records["TXT"]), ["\"modu:stack=conv\""]);

    // Replicas: the same replication group grows a member.
    let group = aws.replication_group("conv-cache").await.unwrap();
    let members_before = group.member_clusters().to_vec();
    spec.cache_mut().replicas = 2;
    spec.write(dir.path());
    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_success();
    let group = aws.replication_group("conv-cache").await.unwrap();
    assert_eq!(group.status(), Some("available"));
    assert_eq!(group.member_clusters().len(), 3, "{group:#?}");
    assert_eq!(
        group.member_clusters()[..2],
        members_before[..],
        "the members stay"
    );
    assert_eq!(
        group.automatic_failover().map(|a| a.as_str()),
        Some("enabled")
    );
    let ops = operations(&emulator.stack_changes_since(mark));
    assert!(
        ops.contains(&"elasticache:IncreaseReplicaCount".to_string())
            && !ops
                .iter()
                .any(|o| o.contains("CreateReplicationGroup")
                    || o.contains("DeleteReplicationGroup")),
        "the group is grown in place: {ops:?}\n{run}"
    );
    // The dashboard's cache widgets search the group's members: nothing to rewrite.
    assert!(
        !ops.iter().any(|o| o.contains("PutDashboard")),
        "a new replica needs no dashboard change: {ops:?}"
    );

    // The converged stack is stable.
    expect_no_change(&emulator, &["up", "-f", arg(&file)], "the converged stack").await;

    // The zone was modu's, so `down` removes it too.
    let down = modu(
        &emulator,
        &["down", "-f", arg(&file), "--yes", "--delete-data"],
    )
    .await;
    down.expect_success();
    assert_eq!(aws.hosted_zone_id(ZONE).await, None, "{down}");
    assert_eq!(
        aws.tagged_with_stack("conv").await,
        Vec::<String>::new(),
        "{down}"
    );
}

#[tokio::test]
async fn a_foreign_record_at_the_dns_name_is_refused_and_left_intact() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let zone = aws.create_hosted_zone(ZONE).await;
    aws.route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(
                            ResourceRecordSet::builder()
                                .name(RECORD)
                                .r#type(RrType::A)
                                .ttl(300)
                                .resource_records(
                                    ResourceRecord::builder()
                                        .value("192.0.2.1")
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("ChangeResourceRecordSets");
    let records_before = aws.record_names(&zone).await;
    let mut spec = Spec::full("polite");
    spec.dns_mut().create_zone = false;
    let file = spec.write(dir.path());

    let mark = emulator.mark();
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_code(1);
    assert!(
        run.stderr.contains(RECORD),
        "the error names the record\n{run}"
    );
    let records = aws.records_at(&zone, RECORD).await;
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["A"],
        "no TXT was written\n{run}"
    );
    assert_eq!(values_of(&records["A"]), ["192.0.2.1"], "{run}");
    assert_eq!(aws.record_names(&zone).await, records_before);
    let dns_changes: Vec<Call> = emulator
        .mutating_calls_since(mark)
        .into_iter()
        .filter(|c| c.service == "route53")
        .collect();
    assert!(
        dns_changes.is_empty(),
        "the refusal changed DNS: {}",
        describe_calls(&dns_changes)
    );

    let down = modu(
        &emulator,
        &["down", "-f", arg(&file), "--yes", "--delete-data"],
    )
    .await;
    let records = aws.records_at(&zone, RECORD).await;
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["A"],
        "{down}"
    );
    assert_eq!(values_of(&records["A"]), ["192.0.2.1"], "{down}");
    assert_eq!(aws.record_names(&zone).await, records_before, "{down}");
    down.expect_success();
    assert_eq!(
        aws.tagged_with_stack("polite").await,
        Vec::<String>::new(),
        "{down}"
    );
}

#[tokio::test]
async fn down_removes_every_tier_and_spares_another_full_stack() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    // The zone is the account's, not a stack's: it must stay.
    let zone = aws.create_hosted_zone(ZONE).await;
    let mut doomed = Spec::full("doomed");
    doomed.dns_mut().create_zone = false;
    let doomed_file = doomed.write(dir.path());
    let mut bystander = Spec::full("bystander");
    bystander.dns_mut().create_zone = false;
    bystander.dns_mut().record = "other.example.com".to_string();
    let bystander_file = bystander.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&doomed_file)])
        .await
        .expect_success();
    modu(&emulator, &["up", "-f", arg(&bystander_file)])
        .await
        .expect_success();

    let doomed_before = aws.tagged_with_stack("doomed").await;
    let kinds: BTreeSet<&str> = doomed_before
        .iter()
        .filter_map(|line| line.split(' ').next())
        .collect();
    for kind in [
        "distribution",
        "replication-group",
        "cache-subnet-group",
        "alarm",
        "sns-topic",
    ] {
        assert!(
            kinds.contains(kind),
            "the doomed stack has a tagged {kind}: {doomed_before:#?}"
        );
    }
    let bystander_tagged = aws.tagged_with_stack("bystander").await;
    let bystander_dist = distribution(&aws, "bystander").await;
    let bystander_group = aws.replication_group("bystander-cache").await.unwrap();
    let bystander_dashboard = aws.dashboard_body("bystander").await.unwrap();
    let bystander_alarms = aws.alarm_names_of_stack("bystander").await;
    let bystander_policy = aws.bucket_policy(&bystander.bucket_name()).await;
    let bystander_records = aws.records_at(&zone, "other.example.com").await;
    assert_eq!(bystander_alarms.len(), 3);

    let run = modu(
        &emulator,
        &["down", "-f", arg(&doomed_file), "--yes", "--delete-data"],
    )
    .await;
    run.expect_success();

    assert_eq!(
        aws.tagged_with_stack("doomed").await,
        Vec::<String>::new(),
        "{run}"
    );
    assert!(aws.distribution_of_stack("doomed").await.is_none(), "{run}");
    assert_eq!(
        aws.origin_access_control_names().await,
        ["bystander-media"],
        "{run}"
    );
    assert!(aws.replication_group("doomed-cache").await.is_none());
    assert!(
        !aws.cache_subnet_group_names()
            .await
            .contains(&"doomed-cache".to_string()),
        "{run}"
    );
    assert_eq!(aws.dashboard_names().await, ["bystander"], "{run}");
    assert_eq!(
        aws.alarm_names_of_stack("doomed").await,
        Vec::<String>::new()
    );
    assert_eq!(
        aws.hosted_zone_id(ZONE).await.as_deref(),
        Some(zone.as_str()),
        "the pre-existing zone stays"
    );
    assert_eq!(
        aws.record_names(&zone).await,
        [
            "example.com. NS",
            "example.com. SOA",
            "other.example.com. A",
            "other.example.com. AAAA",
            "other.example.com. TXT",
        ],
        "only NS/SOA and the other stack's records are left\n{run}"
    );

    // The other stack is untouched and still complete and healthy.
    assert_eq!(aws.tagged_with_stack("bystander").await, bystander_tagged);
    let dist = distribution(&aws, "bystander").await;
    assert_eq!(dist.id(), bystander_dist.id());
    assert!(dist.distribution_config().unwrap().enabled());
    let group = aws.replication_group("bystander-cache").await.unwrap();
    assert_eq!(group.status(), Some("available"));
    assert_eq!(group.member_clusters(), bystander_group.member_clusters());
    assert_eq!(
        aws.dashboard_body("bystander").await.unwrap(),
        bystander_dashboard
    );
    assert_eq!(
        aws.alarm_names_of_stack("bystander").await,
        bystander_alarms
    );
    assert_eq!(
        aws.bucket_policy(&bystander.bucket_name()).await,
        bystander_policy
    );
    assert_eq!(
        aws.records_at(&zone, "other.example.com").await,
        bystander_records
    );
    modu(
        &emulator,
        &["status", "-f", arg(&bystander_file), "--output", "json"],
    )
    .await
    .expect_success();

    // A second `down` has nothing left to do.
    expect_no_change(
        &emulator,
        &["down", "-f", arg(&doomed_file), "--yes", "--delete-data"],
        "the second down",
    )
    .await;
}
