//! Shared harness of the integration tests: a moto emulator per test (started
//! by `scripts/emulator.py` on a free loopback port, with its request log),
//! the real `modu` binary run against it, SDK clients to check what it did,
//! and stack spec files written into a temporary directory.
//!
//! Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_types::SdkConfig;
use serde::Deserialize;
use tempfile::TempDir;

pub mod faults;
pub mod iam;

/// The account moto answers with; `storage.bucket: auto` names the bucket after it.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";

/// Starting moto means importing it, which takes seconds on a loaded machine. (The
/// emulator does not install moto: scripts/test.sh does, at the pinned version.)
const EMULATOR_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Upper bound for one `modu` run; a cold `up` against moto takes seconds.
const MODU_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// Emulator
// ---------------------------------------------------------------------------

/// One request that the emulator received, as `scripts/emulator.py` logs it.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    pub ts: String,
    pub service: String,
    pub method: String,
    pub path: String,
    pub operation: String,
    pub mutating: bool,
    pub status: Option<u16>,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.operation)?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        Ok(())
    }
}

/// A moto server of this test alone; killed when dropped.
pub struct Emulator {
    child: Child,
    url: String,
    dir: TempDir,
    /// Set when this is the local cloud (`Emulator::local_cloud`).
    local: Option<LocalCloud>,
}

/// What the local cloud's ready file says besides the API endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct LocalCloud {
    pub http_proxy: String,
    pub ca_bundle: PathBuf,
    /// The CA's key hash, as Chromium's --ignore-certificate-errors-spki-list takes it.
    pub ca_spki_sha256: String,
    pub state_dir: PathBuf,
}

/// Starting the local cloud: moto's import plus, on a fresh machine, its packages.
const LOCAL_CLOUD_START_TIMEOUT: Duration = Duration::from_secs(300);

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::launch(None)
    }

    /// An emulator that answers at most `page_size` items per page of the lists it pages
    /// (Route 53 ListHostedZones, CloudFront ListDistributions), whatever MaxItems asks:
    /// for tests that walk modu's pagination with a few resources. Setting
    /// `MODU_EMULATOR_PAGE_SIZE` for a whole test run does the same to every emulator.
    pub fn with_page_size(page_size: usize) -> Emulator {
        Emulator::launch(Some(page_size))
    }

    fn launch(page_size: Option<usize>) -> Emulator {
        let dir = tempfile::tempdir().expect("temp dir for the emulator");
        let log = dir.path().join("requests.jsonl");
        let stderr =
            fs::File::create(dir.path().join("emulator.stderr")).expect("emulator stderr file");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/emulator.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--exit-on-stdin-eof", "--log"])
            .arg(&log)
            .args(page_size.map(|n| format!("--page-size={n}")))
            // The emulator exits when this pipe closes, so it cannot outlive
            // a test process that is killed before `Drop` runs.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));

        let ready_rx = ready_line(&mut child);
        let mut emulator = Emulator {
            child,
            url: String::new(),
            dir,
            local: None,
        };
        match ready_rx.recv_timeout(EMULATOR_START_TIMEOUT) {
            Ok(url) => emulator.url = url,
            Err(_) => panic!(
                "the emulator did not print its ready line within {EMULATOR_START_TIMEOUT:?}\n--- emulator stderr ---\n{}",
                emulator.stderr()
            ),
        }
        emulator
    }

    /// The local cloud (scripts/local-cloud.sh): the emulator's APIs plus data planes that
    /// run the stack (instances, load balancers, ...), reached through its proxy. It stops,
    /// cleaning up what it started, when dropped; it needs root (network namespaces).
    pub fn local_cloud() -> Emulator {
        Self::local_cloud_with(&[])
    }

    /// The local cloud started with these extra options of scripts/local-cloud.sh (such as
    /// `--time-scale`).
    pub fn local_cloud_with(options: &[&str]) -> Emulator {
        assert!(
            running_as_root(),
            "the local cloud creates network namespaces: run the tests as root"
        );
        let dir = tempfile::tempdir().expect("temp dir for the local cloud");
        let ready = dir.path().join("ready.json");
        let stderr =
            fs::File::create(dir.path().join("emulator.stderr")).expect("local cloud stderr file");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/local-cloud.sh");
        let child = Command::new(&script)
            .arg("--ready-file")
            .arg(&ready)
            .arg("--log")
            .arg(dir.path().join("requests.jsonl"))
            .arg("--exit-on-stdin-eof")
            .args(options)
            // Its stdin is this pipe: when the test process dies, the cloud stops.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let mut emulator = Emulator {
            child,
            url: String::new(),
            dir,
            local: None,
        };
        let started = std::time::Instant::now();
        let text = loop {
            if let Ok(text) = fs::read_to_string(&ready) {
                break text;
            }
            let exited = emulator.child.try_wait().ok().flatten().is_some();
            if exited || started.elapsed() > LOCAL_CLOUD_START_TIMEOUT {
                panic!(
                    "the local cloud did not write {}\n--- stderr ---\n{}",
                    ready.display(),
                    emulator.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        #[derive(Deserialize)]
        struct Ready {
            endpoint_url: String,
            #[serde(flatten)]
            local: LocalCloud,
        }
        let parsed: Ready = serde_json::from_str(&text).expect("the ready file is JSON");
        emulator.url = parsed.endpoint_url;
        emulator.local = Some(parsed.local);
        emulator
    }

    /// The local cloud's facts; panics on a plain emulator.
    pub fn local(&self) -> &LocalCloud {
        self.local
            .as_ref()
            .expect("this test needs Emulator::local_cloud()")
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("requests.jsonl")
    }

    /// What the emulator wrote on stderr so far (moto's tracebacks land here).
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("emulator.stderr")).unwrap_or_default()
    }

    /// Every request received so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("bad log line {line:?}: {e}"))
            })
            .collect()
    }

    /// A position in the request log, for `calls_since`.
    pub fn mark(&self) -> usize {
        self.calls().len()
    }

    pub fn calls_since(&self, mark: usize) -> Vec<Call> {
        self.calls().into_iter().skip(mark).collect()
    }

    /// The changes made to the stack itself since `mark`: mutating calls but the stack's
    /// lease (an SSM parameter a changing run takes and gives back). For specs without an
    /// `app`, whose own parameters are the only other SSM parameters modu writes.
    pub fn stack_changes_since(&self, mark: usize) -> Vec<Call> {
        self.mutating_calls_since(mark)
            .into_iter()
            .filter(|c| {
                !(c.service == "ssm"
                    && matches!(c.operation.as_str(), "PutParameter" | "DeleteParameter"))
            })
            .collect()
    }

    pub fn mutating_calls_since(&self, mark: usize) -> Vec<Call> {
        self.calls_since(mark)
            .into_iter()
            .filter(|c| c.mutating)
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if self.local.is_some() {
            // Closing stdin stops the local cloud cleanly: instances powered off,
            // namespaces removed. It is killed only when that takes too long.
            drop(self.child.stdin.take());
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL of the `ready URL` line that a helper (the emulator, the fault proxy) prints on
/// stdout once it listens, as it comes.
pub fn ready_line(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("a piped stdout");
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("ready ") {
                let _ = ready_tx.send(url.trim().to_string());
            }
        }
    });
    ready_rx
}

pub fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Renders calls as `service:Operation` list for assertion messages.
pub fn describe_calls(calls: &[Call]) -> String {
    calls
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// SDK clients
// ---------------------------------------------------------------------------

/// SDK configuration pointing at the emulator with static test credentials.
pub async fn sdk_config(emulator: &Emulator) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(modu::aws::tls::sdk_http_client())
        .credentials_provider(Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            None,
            None,
            "modu-tests",
        ))
        .region(Region::new(REGION))
        .endpoint_url(emulator.url())
        .load()
        .await
}

/// The clients the tests check results with.
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub route53: aws_sdk_route53::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Aws {
    /// Tags of an ELBv2 resource, as (key, value) pairs.
    pub async fn elbv2_tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .elbv2
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .expect("DescribeTags (ELBv2)");
        out.tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The one security group named `name`.
    pub async fn security_group(&self, name: &str) -> aws_sdk_ec2::types::SecurityGroup {
        let out = self
            .ec2
            .describe_security_groups()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-name")
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeSecurityGroups");
        match out.security_groups() {
            [sg] => sg.clone(),
            other => panic!(
                "expected one security group named {name}, found {}",
                other.len()
            ),
        }
    }

    pub async fn security_group_id(&self, name: &str) -> String {
        let sg = self.security_group(name).await;
        sg.group_id().expect("group id").to_string()
    }

    pub async fn new(emulator: &Emulator) -> Aws {
        let config = sdk_config(emulator).await;
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        Aws {
            ec2: aws_sdk_ec2::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            autoscaling: aws_sdk_autoscaling::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            ssm: aws_sdk_ssm::Client::new(&config),
            cloudfront: aws_sdk_cloudfront::Client::new(&config),
            elasticache: aws_sdk_elasticache::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
        }
    }

    /// Everything in the emulator that carries `modu:stack=<stack>`, as
    /// `kind name-or-id` lines (sorted), for "nothing is left" checks.
    pub async fn tagged_with_stack(&self, stack: &str) -> Vec<String> {
        let mut found = Vec::new();

        let groups = self
            .ec2
            .describe_security_groups()
            .filters(tag_filter(stack))
            .send()
            .await
            .expect("DescribeSecurityGroups");
        for sg in groups.security_groups() {
            found.push(format!(
                "security-group {}",
                sg.group_name().unwrap_or_default()
            ));
        }

        let templates = self
            .ec2
            .describe_launch_templates()
            .filters(tag_filter(stack))
            .send()
            .await
            .expect("DescribeLaunchTemplates");
        for lt in templates.launch_templates() {
            found.push(format!(
                "launch-template {}",
                lt.launch_template_name().unwrap_or_default()
            ));
        }

        let endpoints = self
            .ec2
            .describe_vpc_endpoints()
            .filters(tag_filter(stack))
            .send()
            .await
            .expect("DescribeVpcEndpoints");
        for endpoint in endpoints.vpc_endpoints() {
            let state = endpoint.state().map(|s| s.as_str().to_ascii_lowercase());
            if !matches!(state.as_deref(), Some("deleted" | "deleting")) {
                found.push(format!(
                    "vpc-endpoint {}",
                    endpoint.vpc_endpoint_id().unwrap_or_default()
                ));
            }
        }

        let instances = self
            .ec2
            .describe_instances()
            .filters(tag_filter(stack))
            .send()
            .await
            .expect("DescribeInstances");
        for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string());
            if state.as_deref() != Some("terminated") {
                found.push(format!(
                    "instance {}",
                    instance.instance_id().unwrap_or_default()
                ));
            }
        }

        let mut arns = Vec::new();
        let lbs = self
            .elbv2
            .describe_load_balancers()
            .send()
            .await
            .expect("DescribeLoadBalancers");
        for lb in lbs.load_balancers() {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let listeners = self
                .elbv2
                .describe_listeners()
                .load_balancer_arn(&arn)
                .send()
                .await
                .expect("DescribeListeners");
            arns.extend(
                listeners
                    .listeners()
                    .iter()
                    .filter_map(|l| l.listener_arn().map(str::to_string)),
            );
            arns.push(arn);
        }
        let tgs = self
            .elbv2
            .describe_target_groups()
            .send()
            .await
            .expect("DescribeTargetGroups");
        arns.extend(
            tgs.target_groups()
                .iter()
                .filter_map(|tg| tg.target_group_arn().map(str::to_string)),
        );
        // DescribeTags takes at most 20 ARNs per call.
        for chunk in arns.chunks(20) {
            let tags = self
                .elbv2
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .expect("DescribeTags");
            for description in tags.tag_descriptions() {
                let ours = description
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some("modu:stack") && t.value() == Some(stack));
                if ours {
                    found.push(format!(
                        "elbv2 {}",
                        description.resource_arn().unwrap_or_default()
                    ));
                }
            }
        }

        let asgs = self
            .autoscaling
            .describe_auto_scaling_groups()
            .send()
            .await
            .expect("DescribeAutoScalingGroups");
        for group in asgs.auto_scaling_groups() {
            let ours = group
                .tags()
                .iter()
                .any(|t| t.key() == Some("modu:stack") && t.value() == Some(stack));
            if ours {
                found.push(format!(
                    "auto-scaling-group {}",
                    group.auto_scaling_group_name().unwrap_or_default()
                ));
            }
        }
        let policies = self
            .autoscaling
            .describe_policies()
            .auto_scaling_group_name(format!("{stack}-asg"))
            .send()
            .await
            .expect("DescribePolicies");
        for policy in policies.scaling_policies() {
            found.push(format!(
                "scaling-policy {}",
                policy.policy_name().unwrap_or_default()
            ));
        }

        for bucket in self.buckets_of_stack(stack).await {
            found.push(format!("bucket {bucket}"));
        }

        for distribution in self.distributions().await {
            let tags = self
                .cloudfront
                .list_tags_for_resource()
                .resource(distribution.arn())
                .send()
                .await
                .expect("ListTagsForResource (CloudFront)");
            let ours = tags
                .tags()
                .map(|t| t.items())
                .unwrap_or_default()
                .iter()
                .any(|t| t.key() == "modu:stack" && t.value() == Some(stack));
            if ours {
                found.push(format!("distribution {}", distribution.id()));
            }
        }

        let groups = self
            .elasticache
            .describe_replication_groups()
            .send()
            .await
            .expect("DescribeReplicationGroups");
        for group in groups.replication_groups() {
            if self
                .elasticache_tagged(group.arn().unwrap_or_default(), stack)
                .await
            {
                found.push(format!(
                    "replication-group {}",
                    group.replication_group_id().unwrap_or_default()
                ));
            }
        }
        let subnet_groups = self
            .elasticache
            .describe_cache_subnet_groups()
            .send()
            .await
            .expect("DescribeCacheSubnetGroups");
        for group in subnet_groups.cache_subnet_groups() {
            if self
                .elasticache_tagged(group.arn().unwrap_or_default(), stack)
                .await
            {
                found.push(format!(
                    "cache-subnet-group {}",
                    group.cache_subnet_group_name().unwrap_or_default()
                ));
            }
        }

        let alarms = self
            .cloudwatch
            .describe_alarms()
            .send()
            .await
            .expect("DescribeAlarms");
        for alarm in alarms.metric_alarms() {
            let tags = self
                .cloudwatch
                .list_tags_for_resource()
                .resource_arn(alarm.alarm_arn().unwrap_or_default())
                .send()
                .await
                .expect("ListTagsForResource (CloudWatch)");
            let ours = tags
                .tags()
                .iter()
                .any(|t| t.key() == Some("modu:stack") && t.value() == Some(stack));
            if ours {
                found.push(format!("alarm {}", alarm.alarm_name().unwrap_or_default()));
            }
        }

        for topic in self.topics().await {
            if self
                .topic_tags(&topic)
                .await
                .iter()
                .any(|(k, v)| k == "modu:stack" && v == stack)
            {
                found.push(format!("sns-topic {topic}"));
            }
        }

        let zones = self.hosted_zones().await;
        let ids: Vec<String> = zones.iter().map(|(id, _)| id.clone()).collect();
        for chunk in ids.chunks(10) {
            let tags = self
                .route53
                .list_tags_for_resources()
                .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                .set_resource_ids(Some(chunk.to_vec()))
                .send()
                .await
                .expect("ListTagsForResources (Route53)");
            for set in tags.resource_tag_sets() {
                let ours = set
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some("modu:stack") && t.value() == Some(stack));
                if ours {
                    found.push(format!(
                        "hosted-zone {}",
                        set.resource_id().unwrap_or_default()
                    ));
                }
            }
        }

        found.sort();
        found
    }

    /// Every SNS topic's ARN, whoever made it.
    pub async fn topics(&self) -> Vec<String> {
        let mut arns = Vec::new();
        let mut pages = self.sns.list_topics().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.expect("ListTopics");
            arns.extend(
                page.topics()
                    .iter()
                    .filter_map(|t| t.topic_arn().map(str::to_string)),
            );
        }
        arns
    }

    pub async fn topic_tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .sns
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource (SNS)");
        out.tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }

    /// The topic's subscriptions as (protocol, endpoint, subscription ARN), sorted.
    pub async fn subscriptions(&self, topic: &str) -> Vec<(String, String, String)> {
        let out = self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .send()
            .await
            .expect("ListSubscriptionsByTopic");
        let mut subs: Vec<(String, String, String)> = out
            .subscriptions()
            .iter()
            .map(|s| {
                (
                    s.protocol().unwrap_or_default().to_string(),
                    s.endpoint().unwrap_or_default().to_string(),
                    s.subscription_arn().unwrap_or_default().to_string(),
                )
            })
            .collect();
        subs.sort();
        subs
    }

    async fn elasticache_tagged(&self, arn: &str, stack: &str) -> bool {
        let tags = self
            .elasticache
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .expect("ListTagsForResource (ElastiCache)");
        tags.tag_list()
            .iter()
            .any(|t| t.key() == Some("modu:stack") && t.value() == Some(stack))
    }

    /// Every CloudFront distribution, whoever made it.
    pub async fn distributions(&self) -> Vec<aws_sdk_cloudfront::types::DistributionSummary> {
        let out = self
            .cloudfront
            .list_distributions()
            .send()
            .await
            .expect("ListDistributions");
        out.distribution_list()
            .map(|l| l.items().to_vec())
            .unwrap_or_default()
    }

    /// The distribution modu labels `modu:<stack>` (its Comment), if any.
    pub async fn distribution_of_stack(
        &self,
        stack: &str,
    ) -> Option<aws_sdk_cloudfront::types::DistributionSummary> {
        let comment = format!("modu:{stack}");
        let mut matching: Vec<_> = self
            .distributions()
            .await
            .into_iter()
            .filter(|d| d.comment() == comment)
            .collect();
        assert!(
            matching.len() <= 1,
            "more than one distribution labelled {comment}: {matching:#?}"
        );
        matching.pop()
    }

    /// Names of every origin access control.
    pub async fn origin_access_control_names(&self) -> Vec<String> {
        let out = self
            .cloudfront
            .list_origin_access_controls()
            .send()
            .await
            .expect("ListOriginAccessControls");
        out.origin_access_control_list()
            .map(|l| l.items())
            .unwrap_or_default()
            .iter()
            .map(|o| o.name().to_string())
            .collect()
    }

    /// The replication group `id`, if it exists.
    pub async fn replication_group(
        &self,
        id: &str,
    ) -> Option<aws_sdk_elasticache::types::ReplicationGroup> {
        let result = self
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await;
        match result {
            Ok(out) => out.replication_groups().first().cloned(),
            Err(err) if err.code() == Some("ReplicationGroupNotFoundFault") => None,
            Err(err) => panic!("DescribeReplicationGroups {id}: {err:?}"),
        }
    }

    /// Ids of every replication group.
    pub async fn replication_group_ids(&self) -> Vec<String> {
        let out = self
            .elasticache
            .describe_replication_groups()
            .send()
            .await
            .expect("DescribeReplicationGroups");
        out.replication_groups()
            .iter()
            .filter_map(|g| g.replication_group_id().map(str::to_string))
            .collect()
    }

    /// Names of every cache subnet group.
    pub async fn cache_subnet_group_names(&self) -> Vec<String> {
        let out = self
            .elasticache
            .describe_cache_subnet_groups()
            .send()
            .await
            .expect("DescribeCacheSubnetGroups");
        out.cache_subnet_groups()
            .iter()
            .filter_map(|g| g.cache_subnet_group_name().map(str::to_string))
            .collect()
    }

    /// Names of every CloudWatch dashboard.
    pub async fn dashboard_names(&self) -> Vec<String> {
        let out = self
            .cloudwatch
            .list_dashboards()
            .send()
            .await
            .expect("ListDashboards");
        out.dashboard_entries()
            .iter()
            .filter_map(|d| d.dashboard_name().map(str::to_string))
            .collect()
    }

    /// The body of dashboard `name`, parsed; `None` when there is no such dashboard.
    pub async fn dashboard_body(&self, name: &str) -> Option<serde_json::Value> {
        let result = self
            .cloudwatch
            .get_dashboard()
            .dashboard_name(name)
            .send()
            .await;
        match result {
            Ok(out) => Some(
                serde_json::from_str(out.dashboard_body().unwrap_or_default())
                    .expect("the dashboard body is JSON"),
            ),
            Err(err)
                if matches!(
                    err.code(),
                    Some("ResourceNotFound" | "ResourceNotFoundException")
                ) =>
            {
                None
            }
            Err(err) => panic!("GetDashboard {name}: {err:?}"),
        }
    }

    /// Every metric alarm, by name.
    pub async fn alarms(&self) -> BTreeMap<String, aws_sdk_cloudwatch::types::MetricAlarm> {
        let out = self
            .cloudwatch
            .describe_alarms()
            .send()
            .await
            .expect("DescribeAlarms");
        out.metric_alarms()
            .iter()
            .filter_map(|a| Some((a.alarm_name()?.to_string(), a.clone())))
            .collect()
    }

    /// Names of the alarms modu names after the stack (`<stack>-…`); the
    /// `TargetTracking-…` alarms AWS makes for the scaling policy are not among them.
    pub async fn alarm_names_of_stack(&self, stack: &str) -> Vec<String> {
        let prefix = format!("{stack}-");
        self.alarms()
            .await
            .into_keys()
            .filter(|name| name.starts_with(&prefix))
            .collect()
    }

    /// Every hosted zone as (short id, name without the trailing dot).
    pub async fn hosted_zones(&self) -> Vec<(String, String)> {
        let out = self
            .route53
            .list_hosted_zones()
            .send()
            .await
            .expect("ListHostedZones");
        out.hosted_zones()
            .iter()
            .map(|z| {
                (
                    short_zone_id(z.id()).to_string(),
                    z.name().trim_end_matches('.').to_string(),
                )
            })
            .collect()
    }

    /// The short id of the hosted zone named `name`, if there is one.
    pub async fn hosted_zone_id(&self, name: &str) -> Option<String> {
        let mut matching: Vec<String> = self
            .hosted_zones()
            .await
            .into_iter()
            .filter(|(_, zone)| zone == name)
            .map(|(id, _)| id)
            .collect();
        assert!(matching.len() <= 1, "more than one zone named {name}");
        matching.pop()
    }

    /// Creates a public hosted zone the way its owner would; returns its short id.
    pub async fn create_hosted_zone(&self, name: &str) -> String {
        let out = self
            .route53
            .create_hosted_zone()
            .name(name)
            .caller_reference(format!("modu-tests-{name}"))
            .send()
            .await
            .expect("CreateHostedZone");
        short_zone_id(out.hosted_zone().expect("the new zone").id()).to_string()
    }

    /// Every record set of the zone.
    pub async fn record_sets(
        &self,
        zone_id: &str,
    ) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
        let out = self
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .send()
            .await
            .expect("ListResourceRecordSets");
        out.resource_record_sets().to_vec()
    }

    /// The record sets at `name` in the zone, by type (`A`, `AAAA`, `TXT`…).
    pub async fn records_at(
        &self,
        zone_id: &str,
        name: &str,
    ) -> BTreeMap<String, aws_sdk_route53::types::ResourceRecordSet> {
        let wanted = absolute(name);
        self.record_sets(zone_id)
            .await
            .into_iter()
            .filter(|s| absolute(s.name()) == wanted)
            .map(|s| (s.r#type().as_str().to_string(), s))
            .collect()
    }

    /// Every record of the zone as `name type` lines (sorted), for "what is left" checks.
    pub async fn record_names(&self, zone_id: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .record_sets(zone_id)
            .await
            .iter()
            .map(|s| format!("{} {}", absolute(s.name()), s.r#type().as_str()))
            .collect();
        names.sort();
        names
    }

    /// The load balancer named `name`.
    pub async fn load_balancer(
        &self,
        name: &str,
    ) -> aws_sdk_elasticloadbalancingv2::types::LoadBalancer {
        let out = self
            .elbv2
            .describe_load_balancers()
            .names(name)
            .send()
            .await
            .expect("DescribeLoadBalancers");
        match out.load_balancers() {
            [lb] => lb.clone(),
            other => panic!(
                "expected one load balancer named {name}, found {}",
                other.len()
            ),
        }
    }

    /// The ARN of the target group named `name`.
    pub async fn target_group_arn(&self, name: &str) -> String {
        let out = self
            .elbv2
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .expect("DescribeTargetGroups");
        match out.target_groups() {
            [tg] => tg.target_group_arn().expect("target group ARN").to_string(),
            other => panic!(
                "expected one target group named {name}, found {}",
                other.len()
            ),
        }
    }

    /// Tags of a CloudFront distribution, as (key, value) pairs.
    pub async fn distribution_tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .cloudfront
            .list_tags_for_resource()
            .resource(arn)
            .send()
            .await
            .expect("ListTagsForResource (CloudFront)");
        out.tags()
            .map(|t| t.items())
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Tags of an ElastiCache resource, as (key, value) pairs.
    pub async fn elasticache_tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .elasticache
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .expect("ListTagsForResource (ElastiCache)");
        out.tag_list()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Tags of a CloudWatch alarm, as (key, value) pairs.
    pub async fn alarm_tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource (CloudWatch)");
        out.tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Tags of a hosted zone, as (key, value) pairs.
    pub async fn hosted_zone_tags(&self, zone_id: &str) -> Vec<(String, String)> {
        let out = self
            .route53
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
            .resource_id(zone_id)
            .send()
            .await
            .expect("ListTagsForResource (Route53)");
        out.resource_tag_set()
            .map(|s| s.tags())
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The bucket's policy, parsed; `None` when it has none.
    pub async fn bucket_policy(&self, bucket: &str) -> Option<serde_json::Value> {
        let result = self.s3.get_bucket_policy().bucket(bucket).send().await;
        match result {
            Ok(out) => Some(
                serde_json::from_str(out.policy().unwrap_or_default())
                    .expect("the bucket policy is JSON"),
            ),
            Err(err) if err.code() == Some("NoSuchBucketPolicy") => None,
            Err(err) => panic!("GetBucketPolicy {bucket}: {err:?}"),
        }
    }

    /// Checks that the bucket refuses plain HTTP, keeps versions, and expires the
    /// noncurrent ones.
    pub async fn assert_bucket_is_safe(&self, bucket: &str) {
        let policy = self
            .bucket_policy(bucket)
            .await
            .unwrap_or_else(|| panic!("bucket {bucket} has a policy"));
        assert_tls_only(&policy, bucket);
        let versioning = self
            .s3
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .expect("GetBucketVersioning");
        assert_eq!(
            versioning.status().map(|s| s.as_str()),
            Some("Enabled"),
            "bucket {bucket} keeps versions"
        );
        let lifecycle = self
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
            .expect("GetBucketLifecycleConfiguration");
        let expiring: Vec<(Option<i32>, Option<i32>)> = lifecycle
            .rules()
            .iter()
            .filter(|r| r.status().as_str() == "Enabled")
            .map(|r| {
                (
                    r.noncurrent_version_expiration()
                        .and_then(|e| e.noncurrent_days()),
                    r.abort_incomplete_multipart_upload()
                        .and_then(|a| a.days_after_initiation()),
                )
            })
            .collect();
        assert_eq!(
            expiring,
            [(Some(30), Some(7))],
            "one rule expires noncurrent versions after 30 days and aborts uploads after 7: {lifecycle:?}"
        );
    }

    /// Buckets tagged `modu:stack=<stack>`.
    pub async fn buckets_of_stack(&self, stack: &str) -> Vec<String> {
        let mut ours = Vec::new();
        let buckets = self.s3.list_buckets().send().await.expect("ListBuckets");
        for bucket in buckets.buckets() {
            let name = bucket.name().unwrap_or_default();
            // An untagged bucket answers NoSuchTagSet.
            let Ok(tagging) = self.s3.get_bucket_tagging().bucket(name).send().await else {
                continue;
            };
            if tagging
                .tag_set()
                .iter()
                .any(|t| t.key() == "modu:stack" && t.value() == stack)
            {
                ours.push(name.to_string());
            }
        }
        ours
    }
}

/// Checks that `policy` denies every request to the bucket and its objects made without TLS.
pub fn assert_tls_only(policy: &serde_json::Value, bucket: &str) {
    let statements = policy["Statement"].as_array().expect("policy statements");
    let deny = statements
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .unwrap_or_else(|| panic!("a deny statement: {policy:#}"));
    assert_eq!(deny["Principal"], "*", "{policy:#}");
    assert_eq!(deny["Action"], "s3:*", "{policy:#}");
    assert_eq!(
        deny["Resource"],
        serde_json::json!([
            format!("arn:aws:s3:::{bucket}"),
            format!("arn:aws:s3:::{bucket}/*")
        ]),
        "{policy:#}"
    );
    assert_eq!(
        deny["Condition"],
        serde_json::json!({ "Bool": { "aws:SecureTransport": "false" } }),
        "{policy:#}"
    );
}

/// `Z123` from `/hostedzone/Z123`.
pub fn short_zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A DNS name in the absolute, lowercase form Route53 answers with.
pub fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.')).to_ascii_lowercase()
}

/// Asserts the tags every modu resource carries: `modu:stack`, its
/// `modu:component` (the resource's key in the stack) and the spec's `project` tag.
#[track_caller]
pub fn assert_stack_tags(what: &str, tags: &[(String, String)], spec: &Spec, component: &str) {
    let get = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(
        get("modu:stack"),
        Some(spec.stack.as_str()),
        "{what}: modu:stack tag; tags: {tags:?}"
    );
    assert_eq!(
        get("modu:component"),
        Some(component),
        "{what}: modu:component tag; tags: {tags:?}"
    );
    assert_eq!(
        get("project"),
        Some(spec.project_tag.as_str()),
        "{what}: spec tag `project`; tags: {tags:?}"
    );
}

/// The part of an ELBv2 ARN CloudWatch names it by: `app/<name>/<id>` for a
/// load balancer, `targetgroup/<name>/<id>` for a target group.
pub fn cloudwatch_dimension(arn: &str) -> String {
    let resource = arn
        .splitn(6, ':')
        .nth(5)
        .expect("an ELBv2 ARN has six parts");
    resource
        .strip_prefix("loadbalancer/")
        .unwrap_or(resource)
        .to_string()
}

/// One metric line of a dashboard widget.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub widget: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    /// The trailing options object (`stat`, …), `Null` when absent.
    pub options: serde_json::Value,
}

impl MetricRow {
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every search expression of a dashboard body, as (widget title, expression).
pub fn search_expressions(body: &serde_json::Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for widget in body["widgets"].as_array().expect("`widgets` is an array") {
        let title = widget["properties"]["title"].as_str().unwrap_or_default();
        for line in widget["properties"]["metrics"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(expression) = line[0]["expression"].as_str() {
                found.push((title.to_string(), expression.to_string()));
            }
        }
    }
    found
}

/// Every metric line of every widget of a dashboard body. Lines are written
/// out in full (`[namespace, metric, dim, value, …, {options}]`), as modu does.
pub fn metric_rows(body: &serde_json::Value) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for widget in body["widgets"].as_array().expect("`widgets` is an array") {
        let title = widget["properties"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for line in widget["properties"]["metrics"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let items = line.as_array().expect("a metric line is an array");
            // Search expressions are listed by `search_expressions`.
            if items
                .first()
                .is_some_and(|first| first.get("expression").is_some())
            {
                continue;
            }
            let (options, names) = match items.last() {
                Some(last) if last.is_object() => (last.clone(), &items[..items.len() - 1]),
                _ => (serde_json::Value::Null, &items[..]),
            };
            let text: Vec<String> = names
                .iter()
                .map(|v| {
                    v.as_str()
                        .unwrap_or_else(|| panic!("metric line of {title}: {line}"))
                        .to_string()
                })
                .collect();
            assert!(
                text.len() >= 2 && text.len().is_multiple_of(2),
                "metric line of {title} is namespace, metric and dimension pairs: {line}"
            );
            rows.push(MetricRow {
                widget: title.clone(),
                namespace: text[0].clone(),
                metric: text[1].clone(),
                dimensions: text[2..]
                    .chunks(2)
                    .map(|pair| (pair[0].clone(), pair[1].clone()))
                    .collect(),
                options,
            });
        }
    }
    rows
}

pub fn tag_filter(stack: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:modu:stack")
        .values(stack)
        .build()
}

// ---------------------------------------------------------------------------
// Running modu
// ---------------------------------------------------------------------------

/// The outcome of one `modu` run.
pub struct Run {
    pub args: Vec<String>,
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn of(args: Vec<String>, output: std::process::Output) -> Run {
        Run {
            args,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics, showing the whole run, unless modu exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn expect_success(&self) -> &Run {
        self.expect_code(0)
    }

    /// stdout and stderr together, for messages whose stream does not matter.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ modu {}", self.args.join(" "))?;
        writeln!(f, "exit code: {:?}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// Runs the real `modu` binary against the emulator, without a terminal and
/// with static test credentials; no profile or config file of the machine is read.
/// Runs `modu ARGS`, expects it to succeed without one mutating AWS call, and returns
/// the run: what a converged stack (or a finished `down`) must do when run again.
pub async fn expect_no_change(emulator: &Emulator, args: &[&str], what: &str) -> Run {
    let mark = emulator.mark();
    let run = modu(emulator, args).await;
    run.expect_success();
    let mutating = emulator.mutating_calls_since(mark);
    assert!(
        mutating.is_empty(),
        "{what} changed: {}\n{run}",
        describe_calls(&mutating)
    );
    run
}

pub async fn modu(emulator: &Emulator, args: &[&str]) -> Run {
    run_modu(Some(emulator.url()), args, None).await
}

/// Runs `modu ARGS` with a terminal as its stdin and types `answer` when it asks a
/// `[y/N]` question. The run's stderr ends with `[on_terminal: asked]` or `… not asked]`.
pub async fn modu_on_terminal(emulator: &Emulator, args: &[&str], answer: &str) -> Run {
    run_modu(Some(emulator.url()), args, Some(answer)).await
}

/// Runs `modu` with no endpoint at all, for commands that must not touch AWS
/// (`schema`, `validate`). Credentials are still the test ones, so an
/// accidental call could never reach a real account.
pub async fn modu_offline(args: &[&str]) -> Run {
    run_modu(None, args, None).await
}

/// [`modu_offline`] without `MODU_ALLOW_EXAMPLE_DOMAINS`, which every other run sets (the
/// tests' specs name example.com zones, as only a test may).
pub async fn modu_offline_strict(args: &[&str]) -> Run {
    run_modu_with(None, args, None, false).await
}

async fn run_modu(endpoint: Option<&str>, args: &[&str], terminal_answer: Option<&str>) -> Run {
    run_modu_with(endpoint, args, terminal_answer, true).await
}

async fn run_modu_with(
    endpoint: Option<&str>,
    args: &[&str],
    terminal_answer: Option<&str>,
    allow_example_domains: bool,
) -> Run {
    let isolation = tempfile::tempdir().expect("temp dir for the AWS config files");
    let mut command = match terminal_answer {
        None => tokio::process::Command::new(env!("CARGO_BIN_EXE_modu")),
        Some(answer) => {
            let mut python = tokio::process::Command::new("python3");
            python
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/on_terminal.py"))
                .arg(answer)
                .arg(env!("CARGO_BIN_EXE_modu"));
            python
        }
    };
    isolate(
        &mut command,
        endpoint,
        isolation.path(),
        allow_example_domains,
    );
    command.args(args).stdin(Stdio::null());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let output = match tokio::time::timeout(MODU_TIMEOUT, command.output()).await {
        Ok(output) => output.expect("running the modu binary"),
        Err(_) => panic!(
            "`modu {}` did not finish within {MODU_TIMEOUT:?}",
            args.join(" ")
        ),
    };
    Run::of(args, output)
}

/// Runs modu with the test credentials and no AWS files of the machine, from `dir`,
/// against `endpoint` (or a port where nothing listens), its output piped.
fn isolate(
    command: &mut tokio::process::Command,
    endpoint: Option<&str>,
    dir: &Path,
    allow_example_domains: bool,
) {
    command
        .current_dir(dir)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("RUST_LOG")
        .env_remove("MODU_ALLOW_EXAMPLE_DOMAINS")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if allow_example_domains {
        command.env("MODU_ALLOW_EXAMPLE_DOMAINS", "true");
    }
    // Nothing listens on port 9 of loopback: a call fails fast, locally.
    command.env("AWS_ENDPOINT_URL", endpoint.unwrap_or("http://127.0.0.1:9"));
}

/// Runs `modu ARGS` against `endpoint` (a proxy in front of the emulator, say).
pub async fn modu_at(endpoint: &str, args: &[&str]) -> Run {
    run_modu(Some(endpoint), args, None).await
}

/// A `modu` run in the background, for tests that signal or kill it midway.
pub struct Running {
    pub args: Vec<String>,
    child: tokio::process::Child,
    _isolation: TempDir,
}

impl Running {
    /// Starts `modu ARGS` against `endpoint`, as [`modu`] runs it.
    pub fn start(endpoint: &str, args: &[&str]) -> Running {
        let isolation = tempfile::tempdir().expect("temp dir for the AWS config files");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_modu"));
        isolate(&mut command, Some(endpoint), isolation.path(), true);
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the modu binary");
        Running {
            args: args.iter().map(|s| s.to_string()).collect(),
            child,
            _isolation: isolation,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("modu is running") as i32
    }

    /// Sends `signal` (`"INT"`, `"KILL"`…) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("polling modu").is_some()
    }

    /// Waits for the end of the run (at most `within`) and collects its output.
    pub async fn finish(self, within: Duration) -> Run {
        let args = self.args.clone();
        let output = match tokio::time::timeout(within, self.child.wait_with_output()).await {
            Ok(output) => output.expect("waiting for modu"),
            Err(_) => panic!("`modu {}` did not finish within {within:?}", args.join(" ")),
        };
        Run::of(args, output)
    }
}

// ---------------------------------------------------------------------------
// Stack specs
// ---------------------------------------------------------------------------

/// The settings of a stack spec the tests vary; `yaml()` renders the format
/// of the issue with them.
#[derive(Debug, Clone)]
pub struct Spec {
    pub stack: String,
    pub project_tag: String,
    pub bucket: String,
    pub lb_port: u16,
    pub algorithm: String,
    pub health_path: String,
    pub health_interval: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub instance_type: String,
    pub app_port: u16,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub cpu_target: u32,
    /// Content of the `user_data` file written next to the spec; `None` leaves
    /// the field out (modu then uses its default boot script).
    pub user_data: Option<String>,
    /// The optional tiers; `None` leaves the section out of the file.
    pub cdn: Option<CdnTier>,
    pub cache: Option<CacheTier>,
    pub dashboard: Option<DashboardTier>,
    pub dns: Option<DnsTier>,
    /// The body of the `network` section (indented lines).
    pub network: String,
    /// A `database` section with its defaults.
    pub database: bool,
}

/// The `cdn` section.
#[derive(Debug, Clone)]
pub struct CdnTier {
    pub enabled: bool,
    pub price_class: String,
}

/// The `cache` section.
#[derive(Debug, Clone)]
pub struct CacheTier {
    pub enabled: bool,
    pub engine: String,
    pub node_type: String,
    pub replicas: u32,
}

/// The `dashboard` section.
#[derive(Debug, Clone)]
pub struct DashboardTier {
    pub enabled: bool,
    pub alarms: bool,
    /// `notify`: the addresses of the stack's alarm topic.
    pub notify: Vec<String>,
    /// `topic_arn`: an existing topic instead.
    pub topic_arn: Option<String>,
}

/// The addresses the full stack's alarms notify.
pub const ONCALL: [&str; 2] = ["oncall@example.org", "ops@example.org"];

/// The `dns` section.
#[derive(Debug, Clone)]
pub struct DnsTier {
    pub enabled: bool,
    pub zone: String,
    pub record: String,
    pub target: String,
    pub create_zone: bool,
}

/// The DNS zone and record of `Spec::full`.
pub const ZONE: &str = "example.com";
pub const RECORD: &str = "awstest.example.com";

pub const USER_DATA: &str = "#!/bin/bash\necho 'modu test boot' > /var/tmp/modu-boot\n";

impl Spec {
    /// Settings chosen to differ from modu's defaults where that is possible,
    /// so a test proves the spec's value was applied.
    pub fn new(stack: &str) -> Spec {
        Spec {
            stack: stack.to_string(),
            project_tag: "modu-tests".to_string(),
            bucket: "auto".to_string(),
            lb_port: 8080,
            algorithm: "round_robin".to_string(),
            health_path: "/healthz".to_string(),
            health_interval: 15,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            instance_type: "t3.small".to_string(),
            app_port: 8000,
            min: 2,
            max: 10,
            desired: 2,
            cpu_target: 80,
            user_data: Some(USER_DATA.to_string()),
            cdn: None,
            cache: None,
            dashboard: None,
            dns: None,
            network: "  vpc: default\n  subnets: default\n".to_string(),
            database: false,
        }
    }

    /// The whole reference architecture: every optional tier on, with
    /// settings that differ from modu's defaults where that is possible, and
    /// a hosted zone modu creates (`dns.create_zone`).
    pub fn full(stack: &str) -> Spec {
        Spec {
            cpu_target: 65,
            cdn: Some(CdnTier {
                enabled: true,
                price_class: "PriceClass_100".to_string(),
            }),
            cache: Some(CacheTier {
                enabled: true,
                engine: "valkey".to_string(),
                node_type: "cache.t4g.small".to_string(),
                replicas: 1,
            }),
            dashboard: Some(DashboardTier {
                enabled: true,
                alarms: true,
                notify: ONCALL.map(String::from).to_vec(),
                topic_arn: None,
            }),
            dns: Some(DnsTier {
                enabled: true,
                zone: ZONE.to_string(),
                record: RECORD.to_string(),
                target: "cdn".to_string(),
                create_zone: true,
            }),
            ..Spec::new(stack)
        }
    }

    pub fn cdn_mut(&mut self) -> &mut CdnTier {
        self.cdn.as_mut().expect("the spec has a cdn section")
    }

    pub fn cache_mut(&mut self) -> &mut CacheTier {
        self.cache.as_mut().expect("the spec has a cache section")
    }

    pub fn dashboard_mut(&mut self) -> &mut DashboardTier {
        self.dashboard
            .as_mut()
            .expect("the spec has a dashboard section")
    }

    pub fn dns_mut(&mut self) -> &mut DnsTier {
        self.dns.as_mut().expect("the spec has a dns section")
    }

    /// The sections of the optional tiers, in the format.
    fn tiers_yaml(&self) -> String {
        let mut yaml = String::new();
        if let Some(cdn) = &self.cdn {
            yaml.push_str(&format!(
                "cdn:\n  enabled: {}\n  price_class: {}\n  aliases: []\n  certificate_arn: null\n  origin_protocol: http\n",
                cdn.enabled, cdn.price_class
            ));
        }
        if let Some(cache) = &self.cache {
            yaml.push_str(&format!(
                "cache:\n  enabled: {}\n  engine: {}\n  node_type: {}\n  replicas: {}\n",
                cache.enabled, cache.engine, cache.node_type, cache.replicas
            ));
        }
        if let Some(dashboard) = &self.dashboard {
            yaml.push_str(&format!(
                "dashboard:\n  enabled: {}\n  alarms: {}\n  notify: [{}]\n",
                dashboard.enabled,
                dashboard.alarms,
                dashboard.notify.join(", ")
            ));
            if let Some(arn) = &dashboard.topic_arn {
                yaml.push_str(&format!("  topic_arn: {arn}\n"));
            }
        }
        if let Some(dns) = &self.dns {
            yaml.push_str(&format!(
                "dns:\n  enabled: {}\n  zone: {}\n  record: {}\n  target: {}\n  create_zone: {}\n",
                dns.enabled, dns.zone, dns.record, dns.target, dns.create_zone
            ));
        }
        if self.database {
            yaml.push_str("database:\n  enabled: true\n");
        }
        yaml
    }

    /// The bucket name `up` must create (`auto` = `<stack>-images-<account>`).
    pub fn bucket_name(&self) -> String {
        if self.bucket == "auto" {
            format!("{}-images-{ACCOUNT}", self.stack)
        } else {
            self.bucket.clone()
        }
    }

    pub fn yaml(&self) -> String {
        let user_data = match self.user_data {
            Some(_) => "  user_data: boot.sh\n",
            None => "",
        };
        format!(
            "stack: {stack}
region: {REGION}
tags:
  project: {project}
network:
{network}storage:
  bucket: {bucket}
load_balancer:
  port: {lb_port}
  algorithm: {algorithm}
  health_check:
    path: {path}
    interval: {interval}
    healthy_threshold: {healthy}
    unhealthy_threshold: {unhealthy}
compute:
  image: al2023
  instance_type: {instance_type}
  port: {app_port}
  min: {min}
  max: {max}
  desired: {desired}
  cpu_target: {cpu}
{user_data}{tiers}",
            stack = self.stack,
            network = self.network,
            project = self.project_tag,
            bucket = self.bucket,
            lb_port = self.lb_port,
            algorithm = self.algorithm,
            path = self.health_path,
            interval = self.health_interval,
            healthy = self.healthy_threshold,
            unhealthy = self.unhealthy_threshold,
            instance_type = self.instance_type,
            app_port = self.app_port,
            min = self.min,
            max = self.max,
            desired = self.desired,
            cpu = self.cpu_target,
            tiers = self.tiers_yaml(),
        )
    }

    /// Writes `<stack>.yaml` (and `boot.sh` when there is user data) into
    /// `dir`, overwriting earlier versions; returns the spec's path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        if let Some(script) = &self.user_data {
            fs::write(dir.join("boot.sh"), script).expect("writing boot.sh");
        }
        let path = dir.join(format!("{}.yaml", self.stack));
        fs::write(&path, self.yaml()).expect("writing the spec");
        path
    }
}

/// A path as the `&str` argument modu takes.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// The repository's own files (fixtures, stacks/).
/// What the reference stack's instances run.
pub enum Boot<'a> {
    /// stacks/boot.sh, the demo that answers with its instance id (no app, no database).
    Demo,
    /// The resume service, from this binary.
    App(&'a std::path::Path),
}

/// stacks/modu.yaml in a folder of the test, booting `boot`, with `edits` applied
/// (`(from, to)` text replacements, each of which must apply).
pub fn reference_stack(
    dir: &std::path::Path,
    boot: Boot<'_>,
    edits: &[(&str, &str)],
) -> std::path::PathBuf {
    let mut text =
        std::fs::read_to_string(repo_path("stacks/modu.yaml")).expect("stacks/modu.yaml");
    match boot {
        Boot::Demo => {
            let (stack, _app) = text.split_once("\napp:").expect("an app section");
            text = format!("{stack}\n")
                .replacen(
                    "  # user_data: boot.sh      #",
                    "  user_data: boot.sh        #",
                    1,
                )
                .replacen("path: /readyz", "path: /healthz", 1);
        }
        Boot::App(binary) => {
            text = text.replacen(
                "  artifact: build ",
                &format!("  artifact: {} ", binary.display()),
                1,
            );
        }
    }
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "stacks/modu.yaml has no {from:?} any more"
        );
        text = text.replacen(from, to, 1);
    }
    let spec = dir.join("modu.yaml");
    std::fs::write(&spec, text).unwrap();
    std::fs::copy(repo_path("stacks/boot.sh"), dir.join("boot.sh")).unwrap();
    spec
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The AWS CLI against the emulator, for the services the tests have no SDK crate of: its
/// JSON answer (`null` when it prints none).
pub fn aws_cli(cloud: &Emulator, args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new("aws")
        .args([
            "--endpoint-url",
            cloud.url(),
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("the AWS CLI (scripts/local-cloud-deps.sh installs it)");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

/// Imports a certificate for `names` (the first is its subject) into the emulator's ACM in
/// us-east-1, as one issued elsewhere would be; returns its ARN.
pub fn import_certificate(cloud: &Emulator, dir: &std::path::Path, names: &[&str]) -> String {
    let stem = names[0].replace('*', "star");
    let (certificate, key) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key.pem")),
    );
    let alternatives: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"])
        .args(["-subj", &format!("/CN={}", names[0])])
        .args([
            "-addext",
            &format!("subjectAltName={}", alternatives.join(",")),
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .output()
        .expect("openssl (scripts/local-cloud-deps.sh installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let file = |path: &std::path::Path| format!("fileb://{}", path.display());
    let imported = aws_cli(
        cloud,
        &[
            "acm",
            "import-certificate",
            "--certificate",
            &file(&certificate),
            "--private-key",
            &file(&key),
        ],
    );
    imported["CertificateArn"]
        .as_str()
        .expect("a certificate ARN")
        .to_string()
}
