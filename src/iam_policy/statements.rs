//! One table of rules per service: what each feature of a stack calls, limited to the
//! stack's resources where the Service Authorization Reference ("Actions, resources, and
//! condition keys for …") lists a resource type or condition key for the action.
//!
//! Adding a feature is one entry in its service's table. Some entries cover features that
//! are on their way and harmless before they land: the SNS topic of alarm notifications,
//! the bucket's versioning and lifecycle rule, VPC endpoints for private subnets.
//!
//! Besides what the request log of a run shows, AWS checks some permissions on the
//! caller that no API call of modu's names: `iam:PassRole` and `ec2:RunInstances` when an
//! Auto Scaling group launches from a template with an instance profile, `ec2:CreateTags`
//! and each service's tagging action when a create carries tags, and the service-linked
//! roles that the first load balancer, group, cache or database of an account creates.

use serde_json::{Value, json};

use super::{Names, READS, Rule};
use crate::resources::instance_role::SESSION_MANAGER;
use crate::spec::{ImageRef, Spec};

fn always(_: &Spec) -> bool {
    true
}
fn app(spec: &Spec) -> bool {
    spec.app.is_some()
}
fn cdn(spec: &Spec) -> bool {
    spec.cdn.is_some()
}
fn cache(spec: &Spec) -> bool {
    spec.cache.is_some()
}
fn secrets(spec: &Spec) -> bool {
    spec.cdn.is_some() || spec.cache.is_some()
}
fn dashboard(spec: &Spec) -> bool {
    spec.dashboard.is_some()
}
fn alarms(spec: &Spec) -> bool {
    spec.dashboard.as_ref().is_some_and(|d| d.alarms)
}
fn dns(spec: &Spec) -> bool {
    spec.dns.is_some()
}
fn create_zone(spec: &Spec) -> bool {
    spec.dns.as_ref().is_some_and(|d| d.create_zone)
}
fn database(spec: &Spec) -> bool {
    spec.database.is_some()
}
fn al2023(spec: &Spec) -> bool {
    spec.compute.image == ImageRef::Al2023
}

fn everything(_: &Names<'_>) -> Vec<String> {
    vec!["*".to_string()]
}
fn none(_: &Names<'_>) -> Option<Value> {
    None
}

/// Every service's table, in the order the statements print.
pub(super) fn all() -> Vec<Rule> {
    [
        ec2(),
        load_balancing(),
        auto_scaling(),
        s3(),
        iam(),
        logs(),
        ssm(),
        secrets_manager(),
        cache_tier(),
        database_tier(),
        cloudfront(),
        route53(),
        cloudwatch(),
        sns(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn ec2() -> Vec<Rule> {
    /// The EC2 resources modu creates, all tagged `modu:stack` at creation.
    fn stack_kinds(n: &Names<'_>) -> Vec<String> {
        ["security-group/*", "launch-template/*", "vpc-endpoint/*"]
            .map(|r| n.arn("ec2", r))
            .to_vec()
    }
    vec![
        Rule {
            sid: READS,
            when: always,
            actions: &[
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeManagedPrefixLists",
                "ec2:DescribeImages",
                // VPC endpoints of private subnets.
                "ec2:DescribeVpcEndpoints",
                "ec2:DescribeRouteTables",
            ],
            resources: everything,
            condition: none,
        },
        Rule {
            sid: "Ec2CreateTaggedWithTheStack",
            when: always,
            actions: &[
                "ec2:CreateSecurityGroup",
                "ec2:CreateLaunchTemplate",
                "ec2:CreateVpcEndpoint",
            ],
            resources: stack_kinds,
            condition: |n| n.request_tag(),
        },
        Rule {
            sid: "Ec2TagOnCreate",
            when: always,
            actions: &["ec2:CreateTags"],
            resources: |n| {
                let mut resources = stack_kinds(n);
                resources.extend(["instance/*", "volume/*"].map(|r| n.arn("ec2", r)));
                resources
            },
            condition: |n| {
                Some(json!({"StringEquals": {
                    "ec2:CreateAction": [
                        "CreateSecurityGroup", "CreateLaunchTemplate", "CreateVpcEndpoint",
                        "RunInstances",
                    ],
                    "aws:RequestTag/modu:stack": n.stack(),
                }}))
            },
        },
        Rule {
            sid: "Ec2ChangeTheStacks",
            when: always,
            actions: &[
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
                "ec2:CreateLaunchTemplateVersion",
                "ec2:ModifyLaunchTemplate",
                "ec2:DeleteLaunchTemplate",
                "ec2:CreateTags",
                "ec2:ModifyVpcEndpoint",
                "ec2:DeleteVpcEndpoints",
            ],
            resources: stack_kinds,
            condition: |n| n.resource_tag(),
        },
        // The Auto Scaling group launches with the caller's permission to: instances and
        // volumes tagged with the stack (the template's tag specifications) ...
        Rule {
            sid: "Ec2LaunchTheStacksInstances",
            when: always,
            actions: &["ec2:RunInstances"],
            resources: |n| ["instance/*", "volume/*"].map(|r| n.arn("ec2", r)).to_vec(),
            condition: |n| n.request_tag(),
        },
        // ... from the stack's template, into the stack's security groups ...
        Rule {
            sid: "Ec2LaunchFromTheStacksTemplate",
            when: always,
            actions: &["ec2:RunInstances"],
            resources: |n| {
                ["launch-template/*", "security-group/*"]
                    .map(|r| n.arn("ec2", r))
                    .to_vec()
            },
            condition: |n| n.resource_tag(),
        },
        // ... and into the VPC's subnets, from a public image: none of them the stack's. A
        // security group is created in a VPC, its rules are new resources, a gateway
        // endpoint changes the VPC's route tables. (Whether AWS checks the prefix list an
        // ingress rule names is not documented clearly; it is included.)
        Rule {
            sid: "NotScopableEc2NetworkAndImage",
            when: always,
            actions: &[
                "ec2:RunInstances",
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:CreateVpcEndpoint",
                "ec2:ModifyVpcEndpoint",
            ],
            resources: |n| {
                let mut resources =
                    vec![n.vpc(), format!("arn:aws:ec2:{}::image/*", n.spec.region)];
                resources.extend(
                    [
                        "subnet/*",
                        "network-interface/*",
                        "security-group-rule/*",
                        "prefix-list/*",
                        "route-table/*",
                    ]
                    .map(|r| n.arn("ec2", r)),
                );
                resources
            },
            condition: none,
        },
    ]
}

fn load_balancing() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: always,
            actions: &[
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTags",
            ],
            resources: everything,
            condition: none,
        },
        Rule {
            sid: "LoadBalancerOfTheStack",
            when: always,
            actions: &[
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:AddTags",
            ],
            resources: |n| {
                let stack = n.stack();
                [
                    format!("loadbalancer/app/{stack}-lb/*"),
                    format!("targetgroup/{stack}-tg/*"),
                    format!("listener/app/{stack}-lb/*"),
                    format!("listener-rule/app/{stack}-lb/*"),
                ]
                .map(|r| n.arn("elasticloadbalancing", &r))
                .to_vec()
            },
            condition: none,
        },
    ]
}

fn auto_scaling() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: always,
            actions: &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribePolicies",
                "autoscaling:DescribeInstanceRefreshes",
                "autoscaling:DescribeScalingActivities",
            ],
            resources: everything,
            condition: none,
        },
        Rule {
            sid: "AutoScalingGroupOfTheStack",
            when: always,
            actions: &[
                "autoscaling:CreateAutoScalingGroup",
                "autoscaling:UpdateAutoScalingGroup",
                "autoscaling:DeleteAutoScalingGroup",
                "autoscaling:CreateOrUpdateTags",
                "autoscaling:SetDesiredCapacity",
                "autoscaling:AttachLoadBalancerTargetGroups",
                "autoscaling:PutScalingPolicy",
                "autoscaling:DeletePolicy",
                "autoscaling:StartInstanceRefresh",
                "autoscaling:CancelInstanceRefresh",
                "autoscaling:RollbackInstanceRefresh",
            ],
            resources: |n| {
                vec![n.arn(
                    "autoscaling",
                    &format!("autoScalingGroup:*:autoScalingGroupName/{}-asg", n.stack()),
                )]
            },
            condition: none,
        },
        // The first group, load balancer, cache or database of an account creates the
        // service's role; its name is AWS's.
        Rule {
            sid: "NotScopableServiceLinkedRoles",
            when: always,
            actions: &["iam:CreateServiceLinkedRole"],
            resources: |n| {
                linked_services(n.spec)
                    .into_iter()
                    .map(|s| n.global("iam", &format!("role/aws-service-role/{s}/*")))
                    .collect()
            },
            condition: |n| {
                Some(json!({"StringEquals": {"iam:AWSServiceName": linked_services(n.spec)}}))
            },
        },
    ]
}

/// The services whose service-linked role the stack's resources need.
fn linked_services(spec: &Spec) -> Vec<&'static str> {
    let mut services = vec![
        "autoscaling.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
    ];
    if cache(spec) {
        services.push("elasticache.amazonaws.com");
    }
    if database(spec) {
        services.push("rds.amazonaws.com");
    }
    services
}

fn s3() -> Vec<Rule> {
    vec![
        Rule {
            sid: "ImagesBucketOfTheStack",
            when: always,
            actions: &[
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:GetBucketTagging",
                "s3:PutBucketTagging",
                // CreateBucket with tags also asks for this one.
                "s3:TagResource",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                "s3:GetBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                // Versioning and the lifecycle rule that expires old versions.
                "s3:GetBucketVersioning",
                "s3:PutBucketVersioning",
                "s3:GetLifecycleConfiguration",
                "s3:PutLifecycleConfiguration",
            ],
            resources: |n| vec![format!("arn:aws:s3:::{}", n.bucket())],
            condition: none,
        },
        // Releases uploaded by `up`/`deploy`; every object (media too) on `down --delete-data`.
        Rule {
            sid: "ImagesBucketObjects",
            when: always,
            actions: &[
                "s3:PutObject",
                "s3:GetObject",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:AbortMultipartUpload",
            ],
            resources: |n| vec![format!("arn:aws:s3:::{}/*", n.bucket())],
            condition: none,
        },
    ]
}

fn iam() -> Vec<Rule> {
    fn role(n: &Names<'_>) -> Vec<String> {
        vec![n.global("iam", &format!("role/modu/{}/*", n.stack()))]
    }
    vec![
        Rule {
            sid: "InstanceRoleOfTheStack",
            when: app,
            actions: &[
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:TagRole",
                "iam:GetRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
            ],
            resources: role,
            condition: none,
        },
        // The one managed policy modu attaches: Session Manager's.
        Rule {
            sid: "InstanceRoleSessionManager",
            when: app,
            actions: &["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            resources: role,
            condition: |_| Some(json!({"ArnEquals": {"iam:PolicyARN": SESSION_MANAGER}})),
        },
        Rule {
            sid: "InstanceProfileOfTheStack",
            when: app,
            actions: &[
                "iam:CreateInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:GetInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
            ],
            resources: |n| vec![n.global("iam", &format!("instance-profile/modu/{}/*", n.stack()))],
            condition: none,
        },
        // Not in the request log: AWS checks it when the group launches with the profile.
        Rule {
            sid: "PassTheStacksRoleToItsInstances",
            when: app,
            actions: &["iam:PassRole"],
            resources: role,
            condition: |_| {
                Some(json!({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))
            },
        },
    ]
}

fn logs() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: app,
            actions: &["logs:DescribeLogGroups"],
            resources: everything,
            condition: none,
        },
        Rule {
            sid: "LogGroupOfTheStack",
            when: app,
            actions: &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagLogGroup",
                "logs:TagResource",
                "logs:ListTagsLogGroup",
                "logs:ListTagsForResource",
            ],
            resources: |n| {
                let group = format!("log-group:/modu/{}", n.stack());
                vec![n.arn("logs", &group), n.arn("logs", &format!("{group}:*"))]
            },
            condition: none,
        },
    ]
}

fn ssm() -> Vec<Rule> {
    vec![
        // The lease that keeps two runs from changing the stack at once (src/lease.rs).
        Rule {
            sid: "LeaseOfTheStack",
            when: always,
            actions: &[
                "ssm:PutParameter",
                "ssm:GetParameter",
                "ssm:DeleteParameter",
                "ssm:AddTagsToResource",
            ],
            resources: |n| {
                vec![n.arn(
                    "ssm",
                    &format!("parameter{}", crate::lease::parameter(n.stack())),
                )]
            },
            condition: none,
        },
        Rule {
            sid: "ParametersOfTheStack",
            when: app,
            actions: &[
                "ssm:PutParameter",
                "ssm:DeleteParameters",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:GetParametersByPath",
                "ssm:AddTagsToResource",
                "ssm:ListTagsForResource",
            ],
            resources: |n| {
                let root = format!("parameter/modu/{}", n.stack());
                vec![n.arn("ssm", &root), n.arn("ssm", &format!("{root}/*"))]
            },
            condition: none,
        },
        // AWS's public parameter naming the latest Amazon Linux 2023 image (no account).
        Rule {
            sid: "PublicImageParameter",
            when: al2023,
            actions: &["ssm:GetParameter", "ssm:GetParameters"],
            resources: |n| {
                vec![format!(
                    "arn:aws:ssm:{}::parameter{}",
                    n.spec.region,
                    ImageRef::AL2023_PARAMETER
                )]
            },
            condition: none,
        },
    ]
}

fn secrets_manager() -> Vec<Rule> {
    vec![Rule {
        sid: "SecretsOfTheStack",
        when: secrets,
        actions: &[
            "secretsmanager:CreateSecret",
            "secretsmanager:DeleteSecret",
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
            "secretsmanager:TagResource",
        ],
        resources: |n| vec![n.arn("secretsmanager", &format!("secret:modu/{}/*", n.stack()))],
        condition: none,
    }]
}

fn cache_tier() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: cache,
            actions: &[
                "elasticache:DescribeReplicationGroups",
                "elasticache:DescribeCacheSubnetGroups",
                "elasticache:DescribeCacheClusters",
            ],
            resources: everything,
            condition: none,
        },
        // The replication group's member clusters are `<group>-001`…; creating a group
        // also checks the default parameter group it uses (not clearly documented, so
        // included).
        Rule {
            sid: "CacheOfTheStack",
            when: cache,
            actions: &[
                "elasticache:CreateReplicationGroup",
                "elasticache:ModifyReplicationGroup",
                "elasticache:DeleteReplicationGroup",
                "elasticache:IncreaseReplicaCount",
                "elasticache:DecreaseReplicaCount",
                "elasticache:CreateCacheSubnetGroup",
                "elasticache:ModifyCacheSubnetGroup",
                "elasticache:DeleteCacheSubnetGroup",
                "elasticache:AddTagsToResource",
                "elasticache:ListTagsForResource",
            ],
            resources: |n| {
                let stack = n.stack();
                [
                    format!("replicationgroup:{stack}-cache"),
                    format!("cluster:{stack}-cache-*"),
                    format!("subnetgroup:{stack}-cache"),
                    "parametergroup:default.*".to_string(),
                ]
                .map(|r| n.arn("elasticache", &r))
                .to_vec()
            },
            condition: none,
        },
    ]
}

fn database_tier() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: database,
            actions: &["rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups"],
            resources: everything,
            condition: none,
        },
        // The final snapshot of `down --delete-data` is `<stack>-db-final-<time>`; a new
        // instance also uses the engine's default parameter and option groups.
        Rule {
            sid: "DatabaseOfTheStack",
            when: database,
            actions: &[
                "rds:CreateDBInstance",
                "rds:ModifyDBInstance",
                "rds:DeleteDBInstance",
                "rds:CreateDBSnapshot",
                "rds:CreateDBSubnetGroup",
                "rds:ModifyDBSubnetGroup",
                "rds:DeleteDBSubnetGroup",
                "rds:AddTagsToResource",
            ],
            resources: |n| {
                let stack = n.stack();
                [
                    format!("db:{stack}-db"),
                    format!("subgrp:{stack}-db"),
                    format!("snapshot:{stack}-db-final-*"),
                    "pg:default.*".to_string(),
                    "og:default:*".to_string(),
                ]
                .map(|r| n.arn("rds", &r))
                .to_vec()
            },
            condition: none,
        },
        // RDS manages the master password as a secret it names `rds!db-…`, with the
        // caller's permission, encrypted with the account's default Secrets Manager key.
        Rule {
            sid: "NotScopableDatabasePasswordSecret",
            when: database,
            actions: &[
                "secretsmanager:CreateSecret",
                "secretsmanager:TagResource",
                "kms:DescribeKey",
            ],
            resources: |n| {
                vec![
                    n.arn("secretsmanager", "secret:rds!db-*"),
                    n.arn("kms", "key/*"),
                ]
            },
            condition: none,
        },
    ]
}

fn cloudfront() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: cdn,
            actions: &[
                "cloudfront:ListDistributions",
                "cloudfront:ListOriginAccessControls",
            ],
            resources: everything,
            condition: none,
        },
        // An origin access control has no resource type for its creation.
        Rule {
            sid: "NotScopableCloudFrontCreateOriginAccessControl",
            when: cdn,
            actions: &["cloudfront:CreateOriginAccessControl"],
            resources: everything,
            condition: none,
        },
        // Distribution and access control ids are assigned by CloudFront, and whether it
        // honours `aws:ResourceTag` on these actions is not documented: any of the
        // account's (the distribution's comment and tags are how modu finds its own).
        Rule {
            sid: "NotScopableCloudFrontDistribution",
            when: cdn,
            actions: &[
                "cloudfront:CreateDistribution",
                "cloudfront:TagResource",
                "cloudfront:ListTagsForResource",
                "cloudfront:GetDistribution",
                "cloudfront:GetDistributionConfig",
                "cloudfront:UpdateDistribution",
                "cloudfront:DeleteDistribution",
                "cloudfront:GetOriginAccessControl",
                "cloudfront:UpdateOriginAccessControl",
                "cloudfront:DeleteOriginAccessControl",
            ],
            resources: |n| {
                vec![
                    n.global("cloudfront", "distribution/*"),
                    n.global("cloudfront", "origin-access-control/*"),
                ]
            },
            condition: none,
        },
    ]
}

fn route53() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: dns,
            actions: &[
                "route53:ListHostedZones",
                "route53:ListHostedZonesByName",
                "route53:GetChange",
            ],
            resources: everything,
            condition: none,
        },
        // Only the stack's own names: its record and the origin name CloudFront uses.
        Rule {
            sid: "DnsRecordsOfTheStack",
            when: dns,
            actions: &["route53:ChangeResourceRecordSets"],
            resources: |_| vec!["arn:aws:route53:::hostedzone/*".to_string()],
            condition: |n| {
                let mut names: Vec<String> = n.spec.dns.iter().map(|d| d.record.clone()).collect();
                names.extend(n.spec.origin_name());
                Some(json!({"ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                }}))
            },
        },
        // Zone ids are Route 53's, and Route 53 has no tag condition keys.
        Rule {
            sid: "NotScopableRoute53Zone",
            when: dns,
            actions: &[
                "route53:GetHostedZone",
                "route53:ListResourceRecordSets",
                "route53:ListTagsForResource",
                "route53:ListTagsForResources",
            ],
            resources: |_| vec!["arn:aws:route53:::hostedzone/*".to_string()],
            condition: none,
        },
        Rule {
            sid: "NotScopableRoute53CreateZone",
            when: create_zone,
            actions: &["route53:CreateHostedZone"],
            resources: everything,
            condition: none,
        },
        Rule {
            sid: "NotScopableRoute53ZoneModuCreated",
            when: create_zone,
            actions: &["route53:ChangeTagsForResource", "route53:DeleteHostedZone"],
            resources: |_| vec!["arn:aws:route53:::hostedzone/*".to_string()],
            condition: none,
        },
    ]
}

fn cloudwatch() -> Vec<Rule> {
    vec![
        Rule {
            sid: READS,
            when: alarms,
            actions: &["cloudwatch:DescribeAlarms"],
            resources: everything,
            condition: none,
        },
        Rule {
            sid: "DashboardOfTheStack",
            when: dashboard,
            actions: &[
                "cloudwatch:GetDashboard",
                "cloudwatch:PutDashboard",
                "cloudwatch:DeleteDashboards",
            ],
            resources: |n| vec![n.global("cloudwatch", &format!("dashboard/{}", n.stack()))],
            condition: none,
        },
        Rule {
            sid: "AlarmsOfTheStack",
            when: alarms,
            actions: &[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:ListTagsForResource",
            ],
            resources: |n| vec![n.arn("cloudwatch", &format!("alarm:{}-*", n.stack()))],
            condition: none,
        },
    ]
}

/// The topic alarm notifications go to, and its email subscriptions.
fn sns() -> Vec<Rule> {
    vec![Rule {
        sid: "AlarmTopicOfTheStack",
        when: alarms,
        actions: &[
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            "sns:TagResource",
            "sns:ListTagsForResource",
            "sns:Subscribe",
            "sns:Unsubscribe",
            "sns:ListSubscriptionsByTopic",
        ],
        // Subscriptions are `<topic ARN>:<id>`, inside the same pattern.
        resources: |n| vec![n.arn("sns", &format!("{}-*", n.stack()))],
        condition: none,
    }]
}
