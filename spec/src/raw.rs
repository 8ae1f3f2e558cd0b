//! The spec file's shape as written: one struct per YAML section, each value
//! a [`Field`] that is absent, unreadable, or given with its position in the
//! file. Nothing here is checked yet.
//!
//! `read/` fills these structs in from the YAML tree and `check/` turns them
//! into the validated model. `schema.rs` derives the JSON Schema from them
//! too, so their doc comments double as editor hover text, and a test in
//! `read/` keeps the fields the reader knows equal to the schema's. The
//! keyword enums derive `Deserialize` for the reader to match words with, so
//! their names are serde's in both.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::rules::MAX_EXTRA_TAGS;

/// One field of the file, as the reader found it.
#[derive(Debug, Default)]
pub(super) enum Field<T> {
    /// Not in the file, or `null`.
    #[default]
    Absent,
    /// In the file but not readable as a `T` (a list where a number belongs,
    /// an unknown keyword, ...). The reader has reported it; the checks that
    /// need this value skip it.
    Invalid,
    /// Read, with where it is.
    Given(Spanned<T>),
}

impl<T> Field<T> {
    pub(super) fn given(&self) -> Option<&Spanned<T>> {
        match self {
            Field::Given(value) => Some(value),
            Field::Absent | Field::Invalid => None,
        }
    }

    pub(super) fn into_given(self) -> Option<Spanned<T>> {
        match self {
            Field::Given(value) => Some(value),
            Field::Absent | Field::Invalid => None,
        }
    }

    pub(super) fn value(&self) -> Option<&T> {
        self.given().map(|given| &given.value)
    }

    pub(super) fn into_value(self) -> Option<T> {
        self.into_given().map(|given| given.value)
    }

    pub(super) fn is_invalid(&self) -> bool {
        matches!(self, Field::Invalid)
    }
}

/// A modu stack: a load balancer in front of an auto-scaled group of EC2
/// instances and an S3 bucket for images, optionally with a CloudFront CDN, an
/// ElastiCache cluster, a CloudWatch dashboard with alarms and Route53 records.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "Spec", title = "modu stack spec")]
pub(super) struct RawSpec {
    /// Stack name: 1-20 lowercase letters, digits and single hyphens, starting
    /// with a letter and not ending with a hyphen. Prefixes every resource name.
    #[schemars(
        with = "String",
        length(min = 1, max = 20),
        regex(pattern = "^[a-z](-?[a-z0-9])*$")
    )]
    pub(super) stack: Field<String>,
    /// AWS region to create the stack in, e.g. `us-east-1`.
    #[schemars(
        with = "String",
        regex(pattern = "^[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}$"),
        example = "us-east-1"
    )]
    pub(super) region: Field<String>,
    /// Extra tags put on every resource. modu always adds `modu:stack=<stack>`;
    /// keys starting with `aws:` or `modu:` are reserved. Default: none.
    #[schemars(with = "Option<RawTags>")]
    pub(super) tags: Field<RawTags>,
    /// Where the stack runs. Default: the region's default VPC and its default subnets.
    #[schemars(with = "Option<RawNetwork>")]
    pub(super) network: Field<RawNetwork>,
    /// The S3 bucket for images. Default: `bucket: auto`.
    #[schemars(with = "Option<RawStorage>")]
    pub(super) storage: Field<RawStorage>,
    /// The Application Load Balancer and its target group. Every field has a default.
    #[schemars(with = "Option<RawLoadBalancer>")]
    pub(super) load_balancer: Field<RawLoadBalancer>,
    /// The EC2 instances and their Auto Scaling group.
    #[schemars(with = "RawCompute")]
    pub(super) compute: Field<RawCompute>,
    /// A CloudFront distribution in front of the load balancer, serving the
    /// images bucket under `/media/*`. Default: off (no section).
    #[schemars(with = "Option<RawCdn>")]
    pub(super) cdn: Field<RawCdn>,
    /// An ElastiCache (Redis or Valkey) replication group for the app.
    /// Default: off (no section).
    #[schemars(with = "Option<RawCache>")]
    pub(super) cache: Field<RawCache>,
    /// A CloudWatch dashboard named after the stack, and its alarms.
    /// Default: off (no section).
    #[schemars(with = "Option<RawDashboard>")]
    pub(super) dashboard: Field<RawDashboard>,
    /// Route53 alias records pointing a name at the stack. Default: off (no section).
    #[schemars(with = "Option<RawDns>")]
    pub(super) dns: Field<RawDns>,
    /// The resume service (modu-app) on the instances: uploaded to the bucket and
    /// installed by the default boot script. Default: off (no section): the instances
    /// run `compute.user_data`, or a placeholder.
    #[schemars(with = "Option<RawApp>")]
    pub(super) app: Field<RawApp>,
    /// An RDS PostgreSQL instance shared by every instance. Default: off (no section).
    #[schemars(with = "Option<RawDatabase>")]
    pub(super) database: Field<RawDatabase>,
}

/// The release the instances run.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "App")]
pub(super) struct RawApp {
    /// `build` (modu builds modu-app for x86_64 Amazon Linux 2023 from the workspace the
    /// spec is in) or the path of a prebuilt Linux x86_64 binary, relative to the spec
    /// file. Default: `build`.
    #[schemars(with = "Option<String>", extend("default" = "build"))]
    pub(super) artifact: Field<String>,
    /// Extra environment variables of the service, e.g. `RUST_LOG`. Not for secrets: they
    /// are written into the launch template. Default: none.
    #[schemars(with = "Option<RawEnv>")]
    pub(super) env: Field<RawEnv>,
}

/// The shared PostgreSQL database.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "Database")]
pub(super) struct RawDatabase {
    /// `false` turns the database off, as leaving the section out does. Default: `true`.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub(super) enabled: Field<bool>,
    /// PostgreSQL major (`16`) or full (`16.4`) version. Default: `16`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^[0-9]{2}(\\.[0-9]+)?$"),
        extend("default" = "16")
    )]
    pub(super) engine_version: Field<String>,
    /// RDS instance class, `db.<family>.<size>`. Default: `db.t4g.micro`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^db\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$"),
        extend("default" = "db.t4g.micro")
    )]
    pub(super) instance_class: Field<String>,
    /// Allocated storage in GiB, 20-65536 (gp3, encrypted). Default: 20.
    #[schemars(with = "Option<u32>", range(min = 20, max = 65536), extend("default" = 20))]
    pub(super) storage_gb: Field<i64>,
    /// A standby in a second Availability Zone. Default: `false`.
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub(super) multi_az: Field<bool>,
}

/// The VPC and subnets the load balancer and instances live in: one set of subnets for
/// everything (`subnets`), or the load balancer in `public_subnets` and the instances,
/// cache and database in `private_subnets`.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    rename = "Network",
    extend(
        "dependentRequired" = {
            "public_subnets": ["private_subnets"],
            "private_subnets": ["public_subnets"],
            "interface_endpoints": ["private_subnets"]
        },
        "not" = { "required": ["subnets", "public_subnets"] }
    )
)]
pub(super) struct RawNetwork {
    /// `default` for the region's default VPC, or a `vpc-…` id. Default: `default`.
    #[schemars(default)]
    #[schemars(schema_with = "vpc_schema", extend("default" = "default"))]
    pub(super) vpc: Field<String>,
    /// The subnets of the load balancer and the instances alike, which get public IP
    /// addresses: `default` for the VPC's default subnets (at most three Availability
    /// Zones offering the instance and cache node types), or a list of at least two
    /// `subnet-…` ids in different zones. Not with `public_subnets`. Default: `default`.
    #[schemars(with = "Option<RawSubnets>", extend("default" = "default"))]
    pub(super) subnets: Field<RawSubnets>,
    /// The load balancer's subnets (routed to an internet gateway): at least two
    /// `subnet-…` ids, one per Availability Zone. Needs `private_subnets`.
    #[schemars(default)]
    #[schemars(schema_with = "subnet_list_schema")]
    pub(super) public_subnets: Field<Vec<Field<String>>>,
    /// The subnets of the instances, cache and database, in at least two of the zones of
    /// `public_subnets`. The instances get no public IP address; modu adds an S3 gateway
    /// endpoint to these subnets' route tables. They reach the other AWS APIs through a
    /// NAT gateway of yours or `interface_endpoints`. Needs `public_subnets`.
    #[schemars(default)]
    #[schemars(schema_with = "subnet_list_schema")]
    pub(super) private_subnets: Field<Vec<Field<String>>>,
    /// Interface endpoints (with private DNS) in `private_subnets`, so that instances
    /// without a NAT gateway reach SSM, CloudWatch Logs and metrics and Secrets Manager:
    /// `true` for all of `ssm`, `ssmmessages`, `ec2messages`, `logs`, `secretsmanager`,
    /// `monitoring`, or a list of them. Each is billed per hour and zone. Default: `false`.
    #[schemars(with = "Option<RawInterfaceEndpoints>", extend("default" = false))]
    pub(super) interface_endpoints: Field<RawInterfaceEndpoints>,
}

/// `network.interface_endpoints`: a switch, or a list of service names.
#[derive(Debug)]
pub(super) enum RawInterfaceEndpoints {
    All(bool),
    Services(Vec<Field<RawEndpointService>>),
}

impl JsonSchema for RawInterfaceEndpoints {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "InterfaceEndpoints".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let service = generator.subschema_for::<RawEndpointService>();
        json_schema!({
            "anyOf": [
                { "type": "boolean" },
                { "type": "array", "minItems": 1, "uniqueItems": true, "items": service }
            ]
        })
    }
}

/// An AWS service that private instances reach through an interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "EndpointService")]
pub(super) enum RawEndpointService {
    /// Systems Manager (the agent, Session Manager's control channel).
    Ssm,
    /// Session Manager's data channel.
    Ssmmessages,
    /// The SSM agent's command channel.
    Ec2messages,
    /// CloudWatch Logs.
    Logs,
    /// Secrets Manager.
    Secretsmanager,
    /// CloudWatch metrics.
    Monitoring,
}

/// Where uploaded images are kept.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "Storage")]
pub(super) struct RawStorage {
    /// `auto` for `<stack>-images-<account id>`, or an explicit S3 bucket name.
    /// Default: `auto`.
    #[schemars(default)]
    #[schemars(schema_with = "bucket_schema", extend("default" = "auto"))]
    pub(super) bucket: Field<String>,
}

/// The internet-facing Application Load Balancer.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "LoadBalancer")]
pub(super) struct RawLoadBalancer {
    /// The HTTP listener port. Default: 80.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535), extend("default" = 80))]
    pub(super) port: Field<i64>,
    /// How the target group spreads requests. Default: `round_robin`.
    #[schemars(with = "Option<RawAlgorithm>", extend("default" = "round_robin"))]
    pub(super) algorithm: Field<RawAlgorithm>,
    /// How the target group decides an instance is healthy. Every field has a default.
    #[schemars(with = "Option<RawHealthCheck>")]
    pub(super) health_check: Field<RawHealthCheck>,
    /// Seconds a deregistering instance keeps serving in-flight requests, 0-3600. Default: 30.
    #[schemars(with = "Option<u32>", range(min = 0, max = 3600), extend("default" = 30))]
    pub(super) deregistration_delay: Field<i64>,
    /// ARN of an ACM certificate in the stack's region: the listener then
    /// speaks HTTPS on `port` (usually 443). Default: none, plain HTTP.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}:[0-9]{12}:certificate/[A-Za-z0-9-]+$"),
        extend("default" = null)
    )]
    pub(super) certificate_arn: Field<String>,
}

/// How CloudFront reaches the load balancer.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "OriginProtocol")]
pub(super) enum RawOriginProtocol {
    /// TLS to the load balancer's HTTPS listener, through the origin name.
    Https,
    /// Plain HTTP to the load balancer's name.
    Http,
}

/// The target group's load-balancing algorithm.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Algorithm")]
pub(super) enum RawAlgorithm {
    /// Each instance in turn.
    RoundRobin,
    /// The instance with the fewest requests in flight.
    LeastOutstandingRequests,
}

/// The target group's HTTP health check (AWS limits apply).
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "HealthCheck")]
pub(super) struct RawHealthCheck {
    /// The path requested; starts with `/`, at most 1024 characters. Default: `/healthz`.
    #[schemars(
        with = "Option<String>",
        length(min = 1, max = 1024),
        regex(pattern = "^/"),
        extend("default" = "/healthz")
    )]
    pub(super) path: Field<String>,
    /// Seconds between checks, 5-300. Default: 15.
    #[schemars(with = "Option<u32>", range(min = 5, max = 300), extend("default" = 15))]
    pub(super) interval: Field<i64>,
    /// Seconds to wait for an answer, 2-120 and less than `interval`. Default: 5.
    #[schemars(with = "Option<u32>", range(min = 2, max = 120), extend("default" = 5))]
    pub(super) timeout: Field<i64>,
    /// Consecutive successes before an instance counts as healthy, 2-10. Default: 2.
    #[schemars(with = "Option<u32>", range(min = 2, max = 10), extend("default" = 2))]
    pub(super) healthy_threshold: Field<i64>,
    /// Consecutive failures before an instance counts as unhealthy, 2-10. Default: 3.
    #[schemars(with = "Option<u32>", range(min = 2, max = 10), extend("default" = 3))]
    pub(super) unhealthy_threshold: Field<i64>,
    /// HTTP codes that count as healthy (200-499): `200`, a list like `200,302`
    /// or a range like `200-299`. Default: `200`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^[0-9]{3}((,[0-9]{3})*|-[0-9]{3})$"),
        extend("default" = "200")
    )]
    pub(super) matcher: Field<String>,
}

/// The EC2 instances running the app, in an Auto Scaling group.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "Compute")]
pub(super) struct RawCompute {
    /// `al2023` for the latest Amazon Linux 2023 x86_64 (looked up through its
    /// public SSM parameter), or an `ami-…` id. Default: `al2023`.
    #[schemars(default)]
    #[schemars(schema_with = "image_schema", extend("default" = "al2023"))]
    pub(super) image: Field<String>,
    /// EC2 instance type, `family.size`, e.g. `t3.micro` or `m7g.large`.
    #[schemars(
        with = "String",
        regex(pattern = "^[a-z][a-z0-9-]*\\.[a-z0-9]+$"),
        example = "t3.micro"
    )]
    pub(super) instance_type: Field<String>,
    /// The port the app listens on; the target group forwards here. Default: 8000.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535), extend("default" = 8000))]
    pub(super) port: Field<i64>,
    /// Fewest instances, 1-1000 and at most `desired` and `max`. Default: 2.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000), extend("default" = 2))]
    pub(super) min: Field<i64>,
    /// Most instances, 1-1000 and at least `min`. Default: 10.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000), extend("default" = 10))]
    pub(super) max: Field<i64>,
    /// Instances to start with, between `min` and `max`. Default: `min`.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub(super) desired: Field<i64>,
    /// Average CPU percent (1-100) the group scales to keep, through target
    /// tracking on `ASGAverageCPUUtilization`. Default: 80.
    #[schemars(with = "Option<f64>", range(min = 1, max = 100), extend("default" = 50))]
    pub(super) cpu_target: Field<f64>,
    /// Seconds after launch before load-balancer health checks count, 0-7200. Default: 120.
    #[schemars(with = "Option<u32>", range(min = 0, max = 7200), extend("default" = 120))]
    pub(super) health_check_grace: Field<i64>,
    /// Boot script given to each instance, as a path relative to this file. It
    /// must start with `#!` or `#cloud-config` and be at most 16 KiB. Default:
    /// modu's own script, which serves a placeholder page until an app is deployed.
    #[schemars(with = "Option<String>")]
    pub(super) user_data: Field<String>,
    /// How a burstable type (t2, t3, t3a, t4g) pays for CPU above its baseline:
    /// `standard` (earned credits only: throttled once they run out) or `unlimited`
    /// (surplus billed). Only for burstable types. Default: the account's default.
    #[schemars(with = "Option<RawCreditSpecification>")]
    pub(super) credit_specification: Field<RawCreditSpecification>,
}

/// A burstable instance type's CPU credit option.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "CreditSpecification")]
pub(super) enum RawCreditSpecification {
    /// Credits earned below the baseline only.
    Standard,
    /// Above the baseline past the credits, billed per vCPU-hour.
    Unlimited,
}

/// The CloudFront distribution. Its origin is the load balancer; the images
/// bucket is a second origin for `/media/*`.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    rename = "Cdn",
    extend(
        "if" = { "required": ["aliases"], "properties": { "aliases": { "type": "array", "minItems": 1 } } },
        "then" = { "required": ["certificate_arn"], "properties": { "certificate_arn": { "type": "string" } } }
    )
)]
pub(super) struct RawCdn {
    /// `false` turns the CDN off, as leaving the section out does. Default: `true`.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub(super) enabled: Field<bool>,
    /// Which edge locations serve the stack: `PriceClass_100` (North America,
    /// Europe, Israel), `PriceClass_200` (also most of Asia, the Middle East and
    /// Africa) or `PriceClass_All` (every location). Default: `PriceClass_100`.
    #[schemars(with = "Option<RawPriceClass>", extend("default" = "PriceClass_100"))]
    pub(super) price_class: Field<RawPriceClass>,
    /// Extra domain names the distribution answers to (lowercase; `*.` allowed
    /// as the first label). They need `certificate_arn`. Default: none.
    #[schemars(default)]
    #[schemars(schema_with = "aliases_schema", extend("default" = []))]
    pub(super) aliases: Field<Vec<Field<String>>>,
    /// ARN of an ACM certificate in us-east-1 (CloudFront takes no other
    /// region) covering every alias. Default: none, the `*.cloudfront.net` name only.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[A-Za-z0-9-]+$"),
        extend("default" = null)
    )]
    pub(super) certificate_arn: Field<String>,
    /// How CloudFront reaches the load balancer: `https` (needs
    /// `load_balancer.certificate_arn` covering `origin-<stack>.<dns.zone>`, which
    /// modu points at the load balancer) or `http` (unencrypted between
    /// CloudFront and the load balancer: say so explicitly). Default: `https`
    /// when the load balancer has a certificate; without one it must be given.
    #[schemars(with = "Option<RawOriginProtocol>")]
    pub(super) origin_protocol: Field<RawOriginProtocol>,
}

/// The CloudFront price class: which edge locations serve the distribution.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[schemars(rename = "PriceClass")]
pub(super) enum RawPriceClass {
    /// North America, Europe and Israel: the cheapest.
    #[serde(rename = "PriceClass_100")]
    PriceClass100,
    /// Also most of Asia, the Middle East and Africa.
    #[serde(rename = "PriceClass_200")]
    PriceClass200,
    /// Every edge location.
    #[serde(rename = "PriceClass_All")]
    PriceClassAll,
}

/// The ElastiCache replication group: one primary plus `replicas` read
/// replicas, encrypted at rest and in transit, in the stack's subnets.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "Cache")]
pub(super) struct RawCache {
    /// `false` turns the cache off, as leaving the section out does. Default: `true`.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub(super) enabled: Field<bool>,
    /// The cache engine. Default: `redis`.
    #[schemars(with = "Option<RawCacheEngine>", extend("default" = "redis"))]
    pub(super) engine: Field<RawCacheEngine>,
    /// ElastiCache node type, `cache.<family>.<size>`. Default: `cache.t3.micro`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^cache\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$"),
        extend("default" = "cache.t3.micro")
    )]
    pub(super) node_type: Field<String>,
    /// Read replicas besides the primary, 0-5. One or more turns on automatic
    /// failover and Multi-AZ. Default: 1.
    #[schemars(with = "Option<u32>", range(min = 0, max = 5), extend("default" = 1))]
    pub(super) replicas: Field<i64>,
}

/// The ElastiCache engine.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "CacheEngine")]
pub(super) enum RawCacheEngine {
    /// Redis OSS.
    Redis,
    /// Valkey, the open-source fork of Redis.
    Valkey,
}

/// The stack's CloudWatch dashboard (load balancer, instances, CDN and cache
/// metrics) and alarms.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    rename = "Dashboard",
    extend("not" = { "required": ["notify", "topic_arn"] })
)]
pub(super) struct RawDashboard {
    /// `false` turns the dashboard and alarms off, as leaving the section out does.
    /// Default: `true`.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub(super) enabled: Field<bool>,
    /// Also create alarms: load balancer 5xx rate, unhealthy hosts, cache CPU.
    /// Default: `true`.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub(super) alarms: Field<bool>,
    /// Email addresses the alarms notify when they fire and when they are OK again, through
    /// an SNS topic `<stack>-alarms` that modu creates. Each address gets an email from AWS
    /// and must confirm it before it receives alarms. Not with `topic_arn`. Default: none.
    #[schemars(default)]
    #[schemars(schema_with = "emails_schema", extend("default" = []))]
    pub(super) notify: Field<Vec<Field<String>>>,
    /// ARN of an existing standard SNS topic in the stack's region for the alarms to notify
    /// instead; modu neither creates nor changes it. Not with `notify`. Default: none.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"),
        extend("default" = null)
    )]
    pub(super) topic_arn: Field<String>,
}

/// Route53 alias records (A and AAAA) pointing `record` at the stack, with a
/// TXT record marking them as this stack's.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    rename = "Dns",
    extend("anyOf" = [
        { "required": ["zone", "record"] },
        { "required": ["enabled"], "properties": { "enabled": { "const": false } } }
    ])
)]
pub(super) struct RawDns {
    /// `false` turns DNS off, as leaving the section out does. Default: `true`.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub(super) enabled: Field<bool>,
    /// The public hosted zone, e.g. `example.com`. It must exist unless
    /// `create_zone` is `true`. A trailing dot is accepted.
    #[schemars(
        with = "Option<String>",
        length(max = 254),
        regex(pattern = DNS_NAME_PATTERN),
        example = "example.com"
    )]
    pub(super) zone: Field<String>,
    /// The name to point at the stack: the zone itself or a name inside it,
    /// e.g. `www.example.com`. A trailing dot is accepted.
    #[schemars(
        with = "Option<String>",
        length(max = 254),
        regex(pattern = DNS_NAME_PATTERN),
        example = "www.example.com"
    )]
    pub(super) record: Field<String>,
    /// What the record points at. With `cdn` and the CDN turned off, it points
    /// at the load balancer. Default: `cdn`.
    #[schemars(with = "Option<RawDnsTarget>", extend("default" = "cdn"))]
    pub(super) target: Field<RawDnsTarget>,
    /// Create the hosted zone when there is none of that name (and delete it
    /// on `down`, as modu created it). Default: `false`.
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub(super) create_zone: Field<bool>,
}

/// What the DNS record points at.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "DnsTarget")]
pub(super) enum RawDnsTarget {
    /// The CloudFront distribution (the load balancer when the CDN is off).
    Cdn,
    /// The load balancer, bypassing the CDN.
    LoadBalancer,
}

/// `tags`: a mapping read in file order, keeping where each key and value is.
#[derive(Debug, Default)]
pub(super) struct RawTags(pub(super) Vec<(Spanned<String>, Field<String>)>);

impl JsonSchema for RawTags {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Tags".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "maxProperties": MAX_EXTRA_TAGS,
            "propertyNames": {
                "minLength": 1,
                "maxLength": 128,
                "not": { "pattern": "^(aws|modu):" }
            },
            "additionalProperties": { "type": "string", "maxLength": 256 },
            "default": {}
        })
    }
}

/// `app.env`: variable names and values, in file order.
#[derive(Debug, Default)]
pub(super) struct RawEnv(pub(super) Vec<(Spanned<String>, Field<String>)>);

impl JsonSchema for RawEnv {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Env".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": "^[A-Z_][A-Z0-9_]*$" },
            "additionalProperties": { "type": "string" },
            "default": {}
        })
    }
}

/// `network.subnets`: the keyword `default` or a list of subnet ids.
#[derive(Debug)]
pub(super) enum RawSubnets {
    Keyword(String),
    Ids(Vec<Field<String>>),
}

impl JsonSchema for RawSubnets {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Subnets".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "const": "default" },
                {
                    "type": "array",
                    "minItems": 2,
                    "uniqueItems": true,
                    "items": { "type": "string", "pattern": "^subnet-[0-9a-f]{8,17}$" }
                }
            ]
        })
    }
}

fn subnet_list_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["array", "null"],
        "minItems": 2,
        "uniqueItems": true,
        "items": { "type": "string", "pattern": "^subnet-[0-9a-f]{8,17}$" }
    })
}

fn vpc_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "anyOf": [{ "const": "default" }, { "pattern": "^vpc-[0-9a-f]{8,17}$" }]
    })
}

fn bucket_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "anyOf": [
            { "const": "auto" },
            { "minLength": 3, "maxLength": 63, "pattern": "^[a-z0-9][a-z0-9.-]*[a-z0-9]$" }
        ]
    })
}

/// A lowercase DNS name, with an optional trailing dot.
const DNS_NAME_PATTERN: &str =
    "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.?$";
/// [`DNS_NAME_PATTERN`] that may start with a `*.` wildcard label.
const WILDCARD_DNS_NAME_PATTERN: &str =
    "^(\\*\\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.?$";

fn aliases_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["array", "null"],
        "uniqueItems": true,
        "items": { "type": "string", "maxLength": 254, "pattern": WILDCARD_DNS_NAME_PATTERN }
    })
}

fn emails_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["array", "null"],
        "uniqueItems": true,
        "items": { "type": "string", "maxLength": 254, "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" }
    })
}

fn image_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "anyOf": [{ "const": "al2023" }, { "pattern": "^ami-[0-9a-f]{8,17}$" }]
    })
}
