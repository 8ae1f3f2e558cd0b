//! Reading a stack spec: YAML text, then raw structs that remember where each
//! value sits in the file, then checks, then the validated [`Spec`].
//!
//! Every check runs before any AWS call, and all problems found are reported
//! together, so one round of edits can fix them all. The exception is a problem
//! that stops the YAML reader itself (a syntax error, an unknown field, a value
//! of the wrong type): the file cannot be turned into the raw structs then, so
//! that one problem is reported alone.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};

use super::model::{
    Algorithm, BucketRef, Cache, CacheEngine, Cdn, Compute, Dashboard, Dns, DnsTarget, HealthCheck,
    ImageRef, LoadBalancer, Network, PriceClass, Spec, Storage, SubnetsRef, UserData, VpcRef,
};

/// modu's boot script for specs that set no `compute.user_data`.
const DEFAULT_BOOT_SCRIPT: &str = include_str!("default_boot.sh");
const APP_PORT_PLACEHOLDER: &str = "__MODU_APP_PORT__";
const HEALTH_PATH_PLACEHOLDER: &str = "__MODU_HEALTH_PATH__";

/// EC2 refuses user data above 16 KiB (counted before base64 encoding).
const MAX_USER_DATA_BYTES: usize = 16 * 1024;
/// AWS allows 50 tags per resource; modu keeps 10 for its own (`modu:*`, `Name`).
const MAX_EXTRA_TAGS: usize = 40;
/// The Auto Scaling group size limit modu accepts for min, max and desired.
const MAX_GROUP_SIZE: i64 = 1000;

const DEFAULT_LB_PORT: i64 = 80;
const DEFAULT_APP_PORT: i64 = 8000;
const DEFAULT_HEALTH_PATH: &str = "/healthz";
const DEFAULT_HEALTH_INTERVAL: i64 = 15;
const DEFAULT_HEALTH_TIMEOUT: i64 = 5;
const DEFAULT_HEALTHY_THRESHOLD: i64 = 2;
const DEFAULT_UNHEALTHY_THRESHOLD: i64 = 3;
const DEFAULT_MATCHER: &str = "200";
const DEFAULT_DEREGISTRATION_DELAY: i64 = 30;
const DEFAULT_MIN: i64 = 2;
const DEFAULT_MAX: i64 = 10;
const DEFAULT_CPU_TARGET: f64 = 80.0;
const DEFAULT_HEALTH_CHECK_GRACE: i64 = 120;
const DEFAULT_INSTANCE_TYPE_HINT: &str = "t3.micro";
const DEFAULT_CACHE_NODE_TYPE: &str = "cache.t3.micro";
const DEFAULT_CACHE_REPLICAS: i64 = 1;
/// ElastiCache allows a primary plus at most five read replicas per shard.
const MAX_CACHE_REPLICAS: i64 = 5;
/// CloudFront only takes ACM certificates from this region.
const CLOUDFRONT_CERTIFICATE_REGION: &str = "us-east-1";
const CERTIFICATE_ARN_HINT: &str = "arn:aws:acm:<region>:<account id>:certificate/<id>";

// ---------------------------------------------------------------------------
// Raw structs: the file's shape, with positions. `schema.rs` derives the JSON
// Schema from these, so the doc comments double as editor hover text.
// ---------------------------------------------------------------------------

/// A modu stack: a load balancer in front of an auto-scaled group of EC2
/// instances and an S3 bucket for images, optionally with a CloudFront CDN, an
/// ElastiCache cluster, a CloudWatch dashboard with alarms and Route53 records.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Spec", title = "modu stack spec")]
pub(super) struct RawSpec {
    /// Stack name: 1-20 lowercase letters, digits and single hyphens, starting
    /// with a letter and not ending with a hyphen. Prefixes every resource name.
    #[schemars(
        with = "String",
        length(min = 1, max = 20),
        regex(pattern = "^[a-z](-?[a-z0-9])*$")
    )]
    stack: Spanned<String>,
    /// AWS region to create the stack in, e.g. `us-east-1`.
    #[schemars(
        with = "String",
        regex(pattern = "^[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}$"),
        example = "us-east-1"
    )]
    region: Spanned<String>,
    /// Extra tags put on every resource. modu always adds `modu:stack=<stack>`;
    /// keys starting with `aws:` or `modu:` are reserved. Default: none.
    tags: Option<RawTags>,
    /// Where the stack runs. Default: the region's default VPC and its default subnets.
    network: Option<RawNetwork>,
    /// The S3 bucket for images. Default: `bucket: auto`.
    storage: Option<RawStorage>,
    /// The Application Load Balancer and its target group. Every field has a default.
    load_balancer: Option<RawLoadBalancer>,
    /// The EC2 instances and their Auto Scaling group.
    compute: RawCompute,
    /// A CloudFront distribution in front of the load balancer, serving the
    /// images bucket under `/media/*`. Default: off (no section).
    cdn: Option<RawCdn>,
    /// An ElastiCache (Redis or Valkey) replication group for the app.
    /// Default: off (no section).
    cache: Option<RawCache>,
    /// A CloudWatch dashboard named after the stack, and its alarms.
    /// Default: off (no section).
    dashboard: Option<RawDashboard>,
    /// Route53 alias records pointing a name at the stack. Default: off (no section).
    dns: Option<RawDns>,
}

/// The VPC and subnets the load balancer and instances live in.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Network")]
struct RawNetwork {
    /// `default` for the region's default VPC, or a `vpc-…` id. Default: `default`.
    #[serde(default)]
    #[schemars(schema_with = "vpc_schema", extend("default" = "default"))]
    vpc: Option<Spanned<String>>,
    /// `default` for the VPC's default subnets (at least two Availability Zones),
    /// or a list of at least two `subnet-…` ids in different zones. Default: `default`.
    #[schemars(with = "Option<RawSubnets>", extend("default" = "default"))]
    subnets: Option<Spanned<RawSubnets>>,
}

/// Where uploaded images are kept.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Storage")]
struct RawStorage {
    /// `auto` for `<stack>-images-<account id>`, or an explicit S3 bucket name.
    /// Default: `auto`.
    #[serde(default)]
    #[schemars(schema_with = "bucket_schema", extend("default" = "auto"))]
    bucket: Option<Spanned<String>>,
}

/// The internet-facing Application Load Balancer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LoadBalancer")]
struct RawLoadBalancer {
    /// The HTTP listener port. Default: 80.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535), extend("default" = 80))]
    port: Option<Spanned<i64>>,
    /// How the target group spreads requests. Default: `round_robin`.
    #[schemars(with = "Option<RawAlgorithm>", extend("default" = "round_robin"))]
    algorithm: Option<Spanned<RawAlgorithm>>,
    /// How the target group decides an instance is healthy. Every field has a default.
    health_check: Option<RawHealthCheck>,
    /// Seconds a deregistering instance keeps serving in-flight requests, 0-3600. Default: 30.
    #[schemars(with = "Option<u32>", range(min = 0, max = 3600), extend("default" = 30))]
    deregistration_delay: Option<Spanned<i64>>,
    /// ARN of an ACM certificate in the stack's region: the listener then
    /// speaks HTTPS on `port` (usually 443). Default: none, plain HTTP.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}:[0-9]{12}:certificate/[A-Za-z0-9-]+$"),
        extend("default" = null)
    )]
    certificate_arn: Option<Spanned<String>>,
}

/// The target group's load-balancing algorithm.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Algorithm")]
enum RawAlgorithm {
    /// Each instance in turn.
    RoundRobin,
    /// The instance with the fewest requests in flight.
    LeastOutstandingRequests,
}

/// The target group's HTTP health check (AWS limits apply).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HealthCheck")]
struct RawHealthCheck {
    /// The path requested; starts with `/`, at most 1024 characters. Default: `/healthz`.
    #[schemars(
        with = "Option<String>",
        length(min = 1, max = 1024),
        regex(pattern = "^/"),
        extend("default" = "/healthz")
    )]
    path: Option<Spanned<String>>,
    /// Seconds between checks, 5-300. Default: 15.
    #[schemars(with = "Option<u32>", range(min = 5, max = 300), extend("default" = 15))]
    interval: Option<Spanned<i64>>,
    /// Seconds to wait for an answer, 2-120 and less than `interval`. Default: 5.
    #[schemars(with = "Option<u32>", range(min = 2, max = 120), extend("default" = 5))]
    timeout: Option<Spanned<i64>>,
    /// Consecutive successes before an instance counts as healthy, 2-10. Default: 2.
    #[schemars(with = "Option<u32>", range(min = 2, max = 10), extend("default" = 2))]
    healthy_threshold: Option<Spanned<i64>>,
    /// Consecutive failures before an instance counts as unhealthy, 2-10. Default: 3.
    #[schemars(with = "Option<u32>", range(min = 2, max = 10), extend("default" = 3))]
    unhealthy_threshold: Option<Spanned<i64>>,
    /// HTTP codes that count as healthy (200-499): `200`, a list like `200,302`
    /// or a range like `200-299`. Default: `200`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^[0-9]{3}((,[0-9]{3})*|-[0-9]{3})$"),
        extend("default" = "200")
    )]
    matcher: Option<Spanned<String>>,
}

/// The EC2 instances running the app, in an Auto Scaling group.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Compute")]
struct RawCompute {
    /// `al2023` for the latest Amazon Linux 2023 x86_64 (looked up through its
    /// public SSM parameter), or an `ami-…` id. Default: `al2023`.
    #[serde(default)]
    #[schemars(schema_with = "image_schema", extend("default" = "al2023"))]
    image: Option<Spanned<String>>,
    /// EC2 instance type, `family.size`, e.g. `t3.micro` or `m7g.large`.
    #[schemars(
        with = "String",
        regex(pattern = "^[a-z][a-z0-9-]*\\.[a-z0-9]+$"),
        example = "t3.micro"
    )]
    instance_type: Spanned<String>,
    /// The port the app listens on; the target group forwards here. Default: 8000.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535), extend("default" = 8000))]
    port: Option<Spanned<i64>>,
    /// Fewest instances, 1-1000 and at most `desired` and `max`. Default: 2.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000), extend("default" = 2))]
    min: Option<Spanned<i64>>,
    /// Most instances, 1-1000 and at least `min`. Default: 10.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000), extend("default" = 10))]
    max: Option<Spanned<i64>>,
    /// Instances to start with, between `min` and `max`. Default: `min`.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    desired: Option<Spanned<i64>>,
    /// Average CPU percent (1-100) the group scales to keep, through target
    /// tracking on `ASGAverageCPUUtilization`. Default: 80.
    #[schemars(with = "Option<f64>", range(min = 1, max = 100), extend("default" = 50))]
    cpu_target: Option<Spanned<f64>>,
    /// Seconds after launch before load-balancer health checks count, 0-7200. Default: 120.
    #[schemars(with = "Option<u32>", range(min = 0, max = 7200), extend("default" = 120))]
    health_check_grace: Option<Spanned<i64>>,
    /// Boot script given to each instance, as a path relative to this file. It
    /// must start with `#!` or `#cloud-config` and be at most 16 KiB. Default:
    /// modu's own script, which serves a placeholder page until an app is deployed.
    #[schemars(with = "Option<String>")]
    user_data: Option<Spanned<String>>,
}

/// The CloudFront distribution. Its origin is the load balancer; the images
/// bucket is a second origin for `/media/*`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Cdn",
    extend(
        "if" = { "required": ["aliases"], "properties": { "aliases": { "type": "array", "minItems": 1 } } },
        "then" = { "required": ["certificate_arn"], "properties": { "certificate_arn": { "type": "string" } } }
    )
)]
struct RawCdn {
    /// `false` turns the CDN off, as leaving the section out does. Default: `true`.
    #[schemars(extend("default" = true))]
    enabled: Option<bool>,
    /// Which edge locations serve the stack: `PriceClass_100` (North America,
    /// Europe, Israel), `PriceClass_200` (also most of Asia, the Middle East and
    /// Africa) or `PriceClass_All` (every location). Default: `PriceClass_100`.
    #[schemars(with = "Option<RawPriceClass>", extend("default" = "PriceClass_100"))]
    price_class: Option<Spanned<RawPriceClass>>,
    /// Extra domain names the distribution answers to (lowercase; `*.` allowed
    /// as the first label). They need `certificate_arn`. Default: none.
    #[serde(default)]
    #[schemars(schema_with = "aliases_schema", extend("default" = []))]
    aliases: Option<Spanned<Vec<Spanned<String>>>>,
    /// ARN of an ACM certificate in us-east-1 (CloudFront takes no other
    /// region) covering every alias. Default: none, the `*.cloudfront.net` name only.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[A-Za-z0-9-]+$"),
        extend("default" = null)
    )]
    certificate_arn: Option<Spanned<String>>,
}

/// The CloudFront price class: which edge locations serve the distribution.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[schemars(rename = "PriceClass")]
enum RawPriceClass {
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
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cache")]
struct RawCache {
    /// `false` turns the cache off, as leaving the section out does. Default: `true`.
    #[schemars(extend("default" = true))]
    enabled: Option<bool>,
    /// The cache engine. Default: `redis`.
    #[schemars(extend("default" = "redis"))]
    engine: Option<RawCacheEngine>,
    /// ElastiCache node type, `cache.<family>.<size>`. Default: `cache.t3.micro`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^cache\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$"),
        extend("default" = "cache.t3.micro")
    )]
    node_type: Option<Spanned<String>>,
    /// Read replicas besides the primary, 0-5. One or more turns on automatic
    /// failover and Multi-AZ. Default: 1.
    #[schemars(with = "Option<u32>", range(min = 0, max = 5), extend("default" = 1))]
    replicas: Option<Spanned<i64>>,
}

/// The ElastiCache engine.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "CacheEngine")]
enum RawCacheEngine {
    /// Redis OSS.
    Redis,
    /// Valkey, the open-source fork of Redis.
    Valkey,
}

/// The stack's CloudWatch dashboard (load balancer, instances, CDN and cache
/// metrics) and alarms.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Dashboard")]
struct RawDashboard {
    /// `false` turns the dashboard and alarms off, as leaving the section out does.
    /// Default: `true`.
    #[schemars(extend("default" = true))]
    enabled: Option<bool>,
    /// Also create alarms: load balancer 5xx rate, unhealthy hosts, cache CPU.
    /// Default: `true`.
    #[schemars(extend("default" = true))]
    alarms: Option<bool>,
}

/// Route53 alias records (A and AAAA) pointing `record` at the stack, with a
/// TXT record marking them as this stack's.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Dns",
    extend("anyOf" = [
        { "required": ["zone", "record"] },
        { "required": ["enabled"], "properties": { "enabled": { "const": false } } }
    ])
)]
struct RawDns {
    /// `false` turns DNS off, as leaving the section out does. Default: `true`.
    #[schemars(extend("default" = true))]
    enabled: Option<bool>,
    /// The public hosted zone, e.g. `example.com`. It must exist unless
    /// `create_zone` is `true`. A trailing dot is accepted.
    #[schemars(
        with = "Option<String>",
        length(max = 254),
        regex(pattern = DNS_NAME_PATTERN),
        example = "example.com"
    )]
    zone: Option<Spanned<String>>,
    /// The name to point at the stack: the zone itself or a name inside it,
    /// e.g. `www.example.com`. A trailing dot is accepted.
    #[schemars(
        with = "Option<String>",
        length(max = 254),
        regex(pattern = DNS_NAME_PATTERN),
        example = "www.example.com"
    )]
    record: Option<Spanned<String>>,
    /// What the record points at. With `cdn` and the CDN turned off, it points
    /// at the load balancer. Default: `cdn`.
    #[schemars(extend("default" = "cdn"))]
    target: Option<RawDnsTarget>,
    /// Create the hosted zone when there is none of that name (and delete it
    /// on `down`, as modu created it). Default: `false`.
    #[schemars(extend("default" = false))]
    create_zone: Option<bool>,
}

/// What the DNS record points at.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "DnsTarget")]
enum RawDnsTarget {
    /// The CloudFront distribution (the load balancer when the CDN is off).
    Cdn,
    /// The load balancer, bypassing the CDN.
    LoadBalancer,
}

/// `tags`: a mapping read in file order, keeping where each key and value is.
#[derive(Debug, Default)]
struct RawTags(Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for RawTags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagsVisitor;

        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = RawTags;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of tag names to values")
            }

            fn visit_unit<E: de::Error>(self) -> Result<RawTags, E> {
                Ok(RawTags::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTags, A::Error> {
                let mut tags = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Spanned<String>>()?;
                    tags.push((key, value));
                }
                Ok(RawTags(tags))
            }
        }

        deserializer.deserialize_map(TagsVisitor)
    }
}

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

/// `network.subnets`: the keyword `default` or a list of subnet ids.
#[derive(Debug)]
enum RawSubnets {
    Keyword(String),
    Ids(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawSubnets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SubnetsVisitor;

        impl<'de> Visitor<'de> for SubnetsVisitor {
            type Value = RawSubnets;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`default` or a list of subnet ids")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawSubnets, E> {
                Ok(RawSubnets::Keyword(value.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawSubnets, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<Spanned<String>>()? {
                    ids.push(id);
                }
                Ok(RawSubnets::Ids(ids))
            }
        }

        deserializer.deserialize_any(SubnetsVisitor)
    }
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

fn image_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "anyOf": [{ "const": "al2023" }, { "pattern": "^ami-[0-9a-f]{8,17}$" }]
    })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// One thing wrong with a spec, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The spec file, as it was named to modu.
    pub file: PathBuf,
    /// 1-based line, or 0 when the problem is with the file as a whole.
    pub line: usize,
    /// 1-based column (in characters), or 0 with `line`.
    pub column: usize,
    /// Dotted path of the field, e.g. `compute.min`; empty when there is none.
    pub field: String,
    pub message: String,
    /// A hint on how to fix it, e.g. "did you mean `compute`?".
    pub help: Option<String>,
    /// Byte range in the source, for the snippet miette draws.
    span: Option<SourceSpan>,
}

impl fmt::Display for Problem {
    /// `file:line:column: field: message (help: …)`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// Why a spec was rejected: every problem found, one per line when displayed.
#[derive(Debug, thiserror::Error)]
pub struct SpecError {
    problems: Vec<Problem>,
    /// The spec text, so miette can show the offending lines.
    source_text: Option<NamedSource<String>>,
}

impl SpecError {
    /// Every problem found, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    fn new(mut problems: Vec<Problem>, file: &Path, text: Option<&str>) -> Self {
        problems.sort_by_key(|p| (p.line, p.column));
        let source_text =
            text.map(|text| NamedSource::new(file.display().to_string(), text.to_owned()));
        SpecError {
            problems,
            source_text,
        }
    }

    fn unreadable(file: &Path, message: String) -> Self {
        let problem = Problem {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message,
            help: None,
            span: None,
        };
        SpecError::new(vec![problem], file, None)
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl Diagnostic for SpecError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("modu::spec"))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source_text.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source_text.as_ref()?;
        let labels = self.problems.iter().filter_map(|p| {
            let label = if p.field.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.field, p.message)
            };
            p.span
                .map(|span| LabeledSpan::new_with_span(Some(label), span))
        });
        Some(Box::new(labels))
    }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Reads and validates the spec at `path`.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        SpecError::unreadable(path, format!("cannot read {}: {err}", path.display()))
    })?;
    parse_str(&text, path)
}

/// Validates spec `text`. `path` names the file in messages, and `user_data`
/// is read relative to its folder.
pub fn parse_str(text: &str, path: &Path) -> Result<Spec, SpecError> {
    let raw =
        read_raw(text, path).map_err(|problem| SpecError::new(vec![*problem], path, Some(text)))?;
    let mut checker = Checker {
        file: path,
        text,
        problems: Vec::new(),
    };
    let spec = checker.spec(raw);
    if checker.problems.is_empty() {
        Ok(spec)
    } else {
        Err(SpecError::new(checker.problems, path, Some(text)))
    }
}

/// YAML to raw structs; a failure here is a single problem, located by the
/// YAML reader and named by the field path serde was at.
fn read_raw(text: &str, file: &Path) -> Result<RawSpec, Box<Problem>> {
    let mut field_path: Option<serde_path_to_error::Path> = None;
    let result = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            field_path = Some(err.path().clone());
            err.into_inner()
        })
    });
    result.map_err(|err| {
        let field = field_path.as_ref().map(dotted_path).unwrap_or_default();
        Box::new(problem_from_yaml_error(&err, field, file, text))
    })
}

/// Turns serde's path into `compute.min` / `network.subnets[1]`.
///
/// Each `Spanned` value adds a synthetic `value` segment, which is dropped (no
/// field of the spec is called `value`). Tag names are read as `Spanned` keys,
/// which the path does not record, so a problem inside `tags` names `tags`.
fn dotted_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Enum { .. } => {}
            Segment::Unknown => break,
        }
    }
    out
}

fn problem_from_yaml_error(
    err: &serde_saphyr::Error,
    field: String,
    file: &Path,
    text: &str,
) -> Problem {
    use serde_saphyr::Error as E;
    let mut location = err.location();
    let found = location
        .map(|loc| source_slice(text, &loc))
        .unwrap_or_default();
    let mut field = field;
    let mut help = None;
    let message = match err.without_snippet() {
        E::SerdeUnknownField {
            field: unknown,
            expected,
            ..
        } => {
            help = Some(suggestion(unknown, expected));
            format!("unknown field `{unknown}`")
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            help = Some(suggestion(variant, expected));
            format!("unknown value `{variant}`")
        }
        E::SerdeMissingField { field: missing, .. } => {
            // The reader notices at the end of the mapping; point at the
            // mapping's own key (`compute:`) instead, when it can be found.
            if let Some(parent) = mapping_key_location(text, &field) {
                location = Some(parent);
            }
            field = join_field(&field, missing);
            "missing required field".to_owned()
        }
        E::InvalidScalar { ty, .. } => {
            format!("expected {}, found `{}`", describe_type(ty), found.trim())
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => format!("expected {expected}, found {unexpected}"),
        E::Unexpected { expected, .. } => format!("expected {}", describe_node(expected)),
        E::NullIntoString { .. } => "must not be empty".to_owned(),
        E::ExternalMessage { msg, .. } => {
            // A syntax error: the field serde was reading says little about it.
            field.clear();
            format!("invalid YAML: {}", msg.escape_debug())
        }
        other => UserMessageFormatter
            .format_message(other)
            .escape_debug()
            .to_string(),
    };
    let (line, column, span) = match location {
        Some(loc) => locate(text, &loc),
        None => (0, 0, None),
    };
    Problem {
        file: file.to_path_buf(),
        line,
        column,
        field,
        message,
        help,
        span,
    }
}

/// Where the key of the mapping at `dotted` is (the first key of the file for
/// the top level), found by reading `text` again as a bare tree of mappings.
fn mapping_key_location(text: &str, dotted: &str) -> Option<Location> {
    let root: KeyTree = serde_saphyr::from_str(text).ok()?;
    let mut node = &root;
    let mut location = root.0.first().map(|(key, _)| key.referenced);
    for name in dotted.split('.').filter(|name| !name.is_empty()) {
        let (key, child) = node.0.iter().find(|(key, _)| key.value == name)?;
        location = Some(key.referenced);
        node = child;
    }
    location
}

/// A YAML document reduced to its mapping keys and their positions.
#[derive(Default)]
struct KeyTree(Vec<(Spanned<String>, KeyTree)>);

impl<'de> Deserialize<'de> for KeyTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyTreeVisitor;

        impl<'de> Visitor<'de> for KeyTreeVisitor {
            type Value = KeyTree;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyTree, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<KeyTree>()?));
                }
                Ok(KeyTree(entries))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyTree, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(KeyTree::default())
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_unit<E: de::Error>(self) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }
        }

        deserializer.deserialize_any(KeyTreeVisitor)
    }
}

/// "did you mean `x`?" when a candidate is close, else the list of candidates.
fn suggestion(given: &str, candidates: &[&str]) -> String {
    let closest = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(given, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, candidate)) => format!("did you mean `{candidate}`?"),
        None => {
            let names: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
            format!("expected one of {}", names.join(", "))
        }
    }
}

fn join_field(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

fn describe_type(ty: &str) -> &str {
    match ty {
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128" => {
            "a whole number"
        }
        "f32" | "f64" => "a number",
        "bool" | "boolean" => "true or false",
        other => other,
    }
}

fn describe_node(expected: &str) -> &str {
    match expected {
        "string scalar" => "a single value",
        "mapping start" => "a mapping (`key: value` lines)",
        "sequence start" => "a list",
        other => other,
    }
}

/// 1-based line and column plus the byte span of `loc` within `text`.
fn locate(text: &str, loc: &Location) -> (usize, usize, Option<SourceSpan>) {
    let line = usize::try_from(loc.line()).unwrap_or(0);
    let column = usize::try_from(loc.column()).unwrap_or(0);
    let span = loc
        .span()
        .byte_offset()
        .and_then(|offset| usize::try_from(offset).ok())
        .or_else(|| byte_offset_of(text, line, column))
        .map(|offset| {
            let len = loc
                .span()
                .byte_len()
                .and_then(|len| usize::try_from(len).ok())
                .unwrap_or(0);
            SourceSpan::new(offset.into(), len)
        });
    (line, column, span)
}

/// Byte offset of a 1-based line and (character) column.
fn byte_offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let rest = text.get(line_start..)?;
    let in_line = rest
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(rest.len(), |(i, _)| i);
    Some(line_start + in_line)
}

/// The source text a location covers (empty when unknown).
fn source_slice(text: &str, loc: &Location) -> String {
    let span = loc.span();
    let (Some(offset), Some(len)) = (span.byte_offset(), span.byte_len()) else {
        return String::new();
    };
    let (Ok(start), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else {
        return String::new();
    };
    text.get(start..start.saturating_add(len))
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Walks the raw spec, building the model and noting every problem on the way.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, at: &Location, field: &str, message: impl Into<String>) {
        self.report_with_help(at, field, message, None);
    }

    fn report_with_help(
        &mut self,
        at: &Location,
        field: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let (line, column, span) = locate(self.text, at);
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            field: field.to_owned(),
            message: message.into(),
            help,
            span,
        });
    }

    /// An optional whole number within `range`, or `default` when absent.
    fn number(
        &mut self,
        field: &str,
        value: &Option<Spanned<i64>>,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> i64 {
        let Some(value) = value else { return default };
        if !range.contains(&value.value) {
            self.report(
                &value.referenced,
                field,
                format!(
                    "must be between {} and {} (got {})",
                    range.start(),
                    range.end(),
                    value.value
                ),
            );
        }
        value.value
    }

    fn spec(&mut self, raw: RawSpec) -> Spec {
        let stack = self.stack_name(&raw.stack);
        let region = self.region(&raw.region);
        let tags = self.tags(raw.tags.unwrap_or_default());
        let network = self.network(raw.network);
        let storage = self.storage(raw.storage);
        let load_balancer = self.load_balancer(raw.load_balancer, &region);
        let compute = self.compute(raw.compute, &load_balancer.health_check);
        let cdn = self.cdn(raw.cdn);
        let cache = self.cache(raw.cache);
        let dashboard = raw.dashboard.and_then(|raw| {
            raw.enabled.unwrap_or(true).then(|| Dashboard {
                alarms: raw.alarms.unwrap_or(true),
            })
        });
        let dns = self.dns(raw.dns);
        Spec {
            stack,
            region,
            tags,
            network,
            storage,
            load_balancer,
            compute,
            cdn,
            cache,
            dashboard,
            dns,
            source: self.file.to_path_buf(),
        }
    }

    fn stack_name(&mut self, stack: &Spanned<String>) -> String {
        let name = &stack.value;
        let problem = if name.is_empty() || name.len() > 20 {
            Some(format!("must be 1-20 characters long (got {})", name.len()))
        } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            Some("must start with a lowercase letter".to_owned())
        } else if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            Some("may only contain lowercase letters, digits and hyphens".to_owned())
        } else if name.ends_with('-') || name.contains("--") {
            Some("must not end with a hyphen or contain two in a row".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            let help = Some(format!("for example `{}`", suggest_stack_name(name)));
            self.report_with_help(&stack.referenced, "stack", problem, help);
        }
        name.clone()
    }

    fn region(&mut self, region: &Spanned<String>) -> String {
        if !is_region(&region.value) {
            self.report_with_help(
                &region.referenced,
                "region",
                format!("`{}` is not an AWS region name", region.value),
                Some("for example `us-east-1` or `eu-west-3`".to_owned()),
            );
        }
        region.value.clone()
    }

    fn tags(&mut self, tags: RawTags) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (index, (key, value)) in tags.0.into_iter().enumerate() {
            let field = format!("tags.{}", key.value);
            if index == MAX_EXTRA_TAGS {
                self.report(
                    &key.referenced,
                    "tags",
                    format!("at most {MAX_EXTRA_TAGS} tags are allowed"),
                );
            }
            let lowercase = key.value.to_ascii_lowercase();
            if key.value.is_empty() || key.value.chars().count() > 128 {
                self.report(&key.referenced, &field, "tag keys must be 1-128 characters");
            } else if lowercase.starts_with("aws:") || lowercase.starts_with("modu:") {
                self.report_with_help(
                    &key.referenced,
                    &field,
                    "tag keys starting with `aws:` or `modu:` are reserved",
                    Some("modu sets its own `modu:*` tags on every resource".to_owned()),
                );
            }
            if value.value.chars().count() > 256 {
                self.report(
                    &value.referenced,
                    &field,
                    "tag values must be at most 256 characters",
                );
            }
            out.insert(key.value, value.value);
        }
        out
    }

    fn network(&mut self, raw: Option<RawNetwork>) -> Network {
        let raw = raw.unwrap_or(RawNetwork {
            vpc: None,
            subnets: None,
        });
        let vpc = match raw.vpc {
            None => VpcRef::Default,
            Some(vpc) if vpc.value == "default" => VpcRef::Default,
            Some(vpc) => {
                if !is_aws_id(&vpc.value, "vpc-") {
                    self.report_with_help(
                        &vpc.referenced,
                        "network.vpc",
                        format!("`{}` is not `default` or a VPC id", vpc.value),
                        Some("VPC ids look like `vpc-0123456789abcdef0`".to_owned()),
                    );
                }
                VpcRef::Id(vpc.value)
            }
        };
        let subnets = match raw.subnets {
            None => SubnetsRef::Default,
            Some(Spanned {
                value: RawSubnets::Keyword(word),
                referenced,
                ..
            }) => {
                if word != "default" {
                    self.report(
                        &referenced,
                        "network.subnets",
                        format!("`{word}` is not `default` or a list of subnet ids"),
                    );
                }
                SubnetsRef::Default
            }
            Some(Spanned {
                value: RawSubnets::Ids(ids),
                referenced,
                ..
            }) => SubnetsRef::Ids(self.subnet_ids(ids, &referenced)),
        };
        Network { vpc, subnets }
    }

    fn subnet_ids(&mut self, ids: Vec<Spanned<String>>, list_at: &Location) -> Vec<String> {
        let unique: HashSet<&str> = ids.iter().map(|id| id.value.as_str()).collect();
        if unique.len() < 2 {
            self.report_with_help(
                list_at,
                "network.subnets",
                format!(
                    "needs at least 2 different subnets (got {}); the load balancer spans two or more Availability Zones",
                    unique.len()
                ),
                Some("list subnets in different zones, or use `subnets: default`".to_owned()),
            );
        }
        let mut seen = HashSet::new();
        for (index, id) in ids.iter().enumerate() {
            let field = format!("network.subnets[{index}]");
            if !is_aws_id(&id.value, "subnet-") {
                self.report_with_help(
                    &id.referenced,
                    &field,
                    format!("`{}` is not a subnet id", id.value),
                    Some("subnet ids look like `subnet-0123456789abcdef0`".to_owned()),
                );
            } else if !seen.insert(id.value.as_str()) {
                self.report(
                    &id.referenced,
                    &field,
                    format!("`{}` is listed twice", id.value),
                );
            }
        }
        ids.into_iter().map(|id| id.value).collect()
    }

    fn storage(&mut self, raw: Option<RawStorage>) -> Storage {
        let bucket = match raw.and_then(|s| s.bucket) {
            None => BucketRef::Auto,
            Some(bucket) if bucket.value == "auto" => BucketRef::Auto,
            Some(bucket) => {
                if let Err(why) = check_bucket_name(&bucket.value) {
                    self.report_with_help(
                        &bucket.referenced,
                        "storage.bucket",
                        format!("`{}` is not a valid S3 bucket name: {why}", bucket.value),
                        Some("or use `bucket: auto` for `<stack>-images-<account id>`".to_owned()),
                    );
                }
                BucketRef::Named(bucket.value)
            }
        };
        Storage { bucket }
    }

    fn load_balancer(&mut self, raw: Option<RawLoadBalancer>, region: &str) -> LoadBalancer {
        let raw = raw.unwrap_or(RawLoadBalancer {
            port: None,
            algorithm: None,
            health_check: None,
            deregistration_delay: None,
            certificate_arn: None,
        });
        let port = self.number("load_balancer.port", &raw.port, DEFAULT_LB_PORT, 1..=65535);
        let algorithm = match raw.algorithm.map(|a| a.value) {
            None | Some(RawAlgorithm::RoundRobin) => Algorithm::RoundRobin,
            Some(RawAlgorithm::LeastOutstandingRequests) => Algorithm::LeastOutstandingRequests,
        };
        let health_check = self.health_check(raw.health_check);
        let deregistration_delay = self.number(
            "load_balancer.deregistration_delay",
            &raw.deregistration_delay,
            DEFAULT_DEREGISTRATION_DELAY,
            0..=3600,
        );
        LoadBalancer {
            port: to_u16(port),
            algorithm,
            health_check,
            deregistration_delay: to_u32(deregistration_delay),
            certificate_arn: raw.certificate_arn.map(|arn| {
                // Only a valid region can be told apart from the certificate's.
                let expected = is_region(region).then_some(region);
                self.certificate_arn(
                    &arn,
                    "load_balancer.certificate_arn",
                    expected,
                    "an Application Load Balancer only takes ACM certificates from its own region (the spec's `region`)",
                )
            }),
        }
    }

    /// Checks an ACM certificate ARN and, when `region` is given, that the
    /// certificate lives there; `why_region` explains that requirement.
    fn certificate_arn(
        &mut self,
        arn: &Spanned<String>,
        field: &str,
        region: Option<&str>,
        why_region: &str,
    ) -> String {
        match acm_certificate_region(&arn.value) {
            None => self.report_with_help(
                &arn.referenced,
                field,
                format!("`{}` is not an ACM certificate ARN", arn.value),
                Some(format!(
                    "certificate ARNs look like `{CERTIFICATE_ARN_HINT}`"
                )),
            ),
            Some(found) => {
                if let Some(expected) = region.filter(|expected| *expected != found) {
                    self.report_with_help(
                        &arn.referenced,
                        field,
                        format!("the certificate is in `{found}`, it must be in `{expected}`"),
                        Some(why_region.to_owned()),
                    );
                }
            }
        }
        arn.value.clone()
    }

    /// A DNS name, without its trailing dot; `wildcard` allows a first `*` label.
    fn dns_name(&mut self, name: &Spanned<String>, field: &str, wildcard: bool) -> String {
        match check_dns_name(&name.value, wildcard) {
            Ok(bare) => bare.to_owned(),
            Err(why) => {
                let lowercase = name.value.to_ascii_lowercase();
                let help = (lowercase != name.value
                    && check_dns_name(&lowercase, wildcard).is_ok())
                .then(|| format!("did you mean `{lowercase}`?"));
                self.report_with_help(
                    &name.referenced,
                    field,
                    format!("`{}` is not a valid DNS name: {why}", name.value),
                    help,
                );
                name.value.clone()
            }
        }
    }

    fn cdn(&mut self, raw: Option<RawCdn>) -> Option<Cdn> {
        let raw = raw?;
        let price_class = match raw.price_class.map(|p| p.value) {
            None | Some(RawPriceClass::PriceClass100) => PriceClass::PriceClass100,
            Some(RawPriceClass::PriceClass200) => PriceClass::PriceClass200,
            Some(RawPriceClass::PriceClassAll) => PriceClass::PriceClassAll,
        };
        let certificate_arn = raw.certificate_arn.map(|arn| {
            self.certificate_arn(
                &arn,
                "cdn.certificate_arn",
                Some(CLOUDFRONT_CERTIFICATE_REGION),
                "CloudFront only takes ACM certificates from us-east-1 (N. Virginia), whatever the stack's region",
            )
        });
        let mut aliases = Vec::new();
        if let Some(list) = raw.aliases {
            let mut seen = HashSet::new();
            for (index, alias) in list.value.iter().enumerate() {
                let field = format!("cdn.aliases[{index}]");
                let name = self.dns_name(alias, &field, true);
                if !seen.insert(name.clone()) {
                    self.report(
                        &alias.referenced,
                        &field,
                        format!("`{name}` is listed twice"),
                    );
                }
                aliases.push(name);
            }
            if !aliases.is_empty() && certificate_arn.is_none() {
                self.report_with_help(
                    &list.referenced,
                    "cdn.aliases",
                    "aliases need `cdn.certificate_arn`: CloudFront serves a domain name only with a certificate covering it",
                    Some("add the ARN of an ACM certificate in us-east-1 for these names, or remove the aliases".to_owned()),
                );
            }
        }
        raw.enabled.unwrap_or(true).then_some(Cdn {
            price_class,
            aliases,
            certificate_arn,
        })
    }

    fn cache(&mut self, raw: Option<RawCache>) -> Option<Cache> {
        let raw = raw?;
        let engine = match raw.engine {
            None | Some(RawCacheEngine::Redis) => CacheEngine::Redis,
            Some(RawCacheEngine::Valkey) => CacheEngine::Valkey,
        };
        let node_type = match raw.node_type {
            None => DEFAULT_CACHE_NODE_TYPE.to_owned(),
            Some(node_type) => {
                if !is_cache_node_type(&node_type.value) {
                    let help = if !node_type.value.starts_with("cache.")
                        && is_instance_type(&node_type.value)
                    {
                        format!("did you mean `cache.{}`?", node_type.value)
                    } else {
                        format!(
                            "node types look like `cache.<family>.<size>`, e.g. `{DEFAULT_CACHE_NODE_TYPE}`"
                        )
                    };
                    self.report_with_help(
                        &node_type.referenced,
                        "cache.node_type",
                        format!("`{}` is not an ElastiCache node type", node_type.value),
                        Some(help),
                    );
                }
                node_type.value
            }
        };
        let replicas = self.number(
            "cache.replicas",
            &raw.replicas,
            DEFAULT_CACHE_REPLICAS,
            0..=MAX_CACHE_REPLICAS,
        );
        raw.enabled.unwrap_or(true).then(|| Cache {
            engine,
            node_type,
            replicas: to_u32(replicas),
        })
    }

    fn dns(&mut self, raw: Option<RawDns>) -> Option<Dns> {
        let raw = raw?;
        if !raw.enabled.unwrap_or(true) {
            // Nothing is required of a section that is switched off, but what
            // it says must still be sound.
            if let Some(zone) = &raw.zone {
                self.dns_name(zone, "dns.zone", false);
            }
            if let Some(record) = &raw.record {
                self.dns_name(record, "dns.record", false);
            }
            return None;
        }
        let zone = self.required_dns_name(raw.zone.as_ref(), "zone");
        let record = self.required_dns_name(raw.record.as_ref(), "record");
        // Only two valid names can be compared; a bad one is reported already.
        let both_valid = [&raw.zone, &raw.record].iter().all(|name| {
            name.as_ref()
                .is_some_and(|name| check_dns_name(&name.value, false).is_ok())
        });
        if let (true, Some(zone), Some(name), Some(at)) = (both_valid, &zone, &record, &raw.record)
            && !is_in_zone(name, zone)
        {
            self.report_with_help(
                &at.referenced,
                "dns.record",
                format!("`{name}` is not in the zone `{zone}`"),
                Some(format!("use `{zone}` itself or a name ending in `.{zone}`")),
            );
        }
        let target = match raw.target {
            None | Some(RawDnsTarget::Cdn) => DnsTarget::Cdn,
            Some(RawDnsTarget::LoadBalancer) => DnsTarget::LoadBalancer,
        };
        Some(Dns {
            zone: zone.unwrap_or_default(),
            record: record.unwrap_or_default(),
            target,
            create_zone: raw.create_zone.unwrap_or(false),
        })
    }

    /// `dns.<name>`, which an enabled `dns` section must have.
    fn required_dns_name(&mut self, value: Option<&Spanned<String>>, name: &str) -> Option<String> {
        let field = format!("dns.{name}");
        match value {
            Some(value) => Some(self.dns_name(value, &field, false)),
            None => {
                let at = mapping_key_location(self.text, "dns").unwrap_or(Location::UNKNOWN);
                self.report(&at, &field, "missing required field");
                None
            }
        }
    }

    fn health_check(&mut self, raw: Option<RawHealthCheck>) -> HealthCheck {
        const PREFIX: &str = "load_balancer.health_check";
        let raw = raw.unwrap_or(RawHealthCheck {
            path: None,
            interval: None,
            timeout: None,
            healthy_threshold: None,
            unhealthy_threshold: None,
            matcher: None,
        });
        let path = match &raw.path {
            None => DEFAULT_HEALTH_PATH.to_owned(),
            Some(path) => {
                if let Err(why) = check_health_path(&path.value) {
                    self.report(&path.referenced, &format!("{PREFIX}.path"), why);
                }
                path.value.clone()
            }
        };
        let interval = self.number(
            &format!("{PREFIX}.interval"),
            &raw.interval,
            DEFAULT_HEALTH_INTERVAL,
            5..=300,
        );
        let timeout = self.number(
            &format!("{PREFIX}.timeout"),
            &raw.timeout,
            DEFAULT_HEALTH_TIMEOUT,
            2..=120,
        );
        if timeout >= interval {
            // Blame whichever of the two the file actually sets, timeout first.
            let (at, field) = match (&raw.timeout, &raw.interval) {
                (Some(t), _) => (t.referenced, "timeout"),
                (None, Some(i)) => (i.referenced, "interval"),
                (None, None) => (Location::UNKNOWN, "timeout"),
            };
            self.report(
                &at,
                &format!("{PREFIX}.{field}"),
                format!("timeout ({timeout}) must be less than interval ({interval})"),
            );
        }
        let healthy_threshold = self.number(
            &format!("{PREFIX}.healthy_threshold"),
            &raw.healthy_threshold,
            DEFAULT_HEALTHY_THRESHOLD,
            2..=10,
        );
        let unhealthy_threshold = self.number(
            &format!("{PREFIX}.unhealthy_threshold"),
            &raw.unhealthy_threshold,
            DEFAULT_UNHEALTHY_THRESHOLD,
            2..=10,
        );
        let matcher = match &raw.matcher {
            None => DEFAULT_MATCHER.to_owned(),
            Some(matcher) => {
                if let Err(why) = check_matcher(&matcher.value) {
                    self.report_with_help(
                        &matcher.referenced,
                        &format!("{PREFIX}.matcher"),
                        why,
                        Some("for example `200`, `200,302` or `200-299`".to_owned()),
                    );
                }
                matcher.value.clone()
            }
        };
        HealthCheck {
            path,
            interval: to_u32(interval),
            timeout: to_u32(timeout),
            healthy_threshold: to_u32(healthy_threshold),
            unhealthy_threshold: to_u32(unhealthy_threshold),
            matcher,
        }
    }

    fn compute(&mut self, raw: RawCompute, health_check: &HealthCheck) -> Compute {
        let (min, max, desired) = self.group_size(&raw);
        let image = match raw.image {
            None => ImageRef::Al2023,
            Some(image) if image.value == "al2023" => ImageRef::Al2023,
            Some(image) => {
                if !is_aws_id(&image.value, "ami-") {
                    self.report_with_help(
                        &image.referenced,
                        "compute.image",
                        format!("`{}` is not `al2023` or an AMI id", image.value),
                        Some("AMI ids look like `ami-0123456789abcdef0`".to_owned()),
                    );
                }
                ImageRef::Ami(image.value)
            }
        };
        if !is_instance_type(&raw.instance_type.value) {
            self.report_with_help(
                &raw.instance_type.referenced,
                "compute.instance_type",
                format!("`{}` is not an EC2 instance type", raw.instance_type.value),
                Some(format!(
                    "instance types look like `family.size`, e.g. `{DEFAULT_INSTANCE_TYPE_HINT}`"
                )),
            );
        }
        let port = self.number("compute.port", &raw.port, DEFAULT_APP_PORT, 1..=65535);
        let cpu_target = match &raw.cpu_target {
            None => DEFAULT_CPU_TARGET,
            Some(target) => {
                if !(1.0..=100.0).contains(&target.value) {
                    self.report(
                        &target.referenced,
                        "compute.cpu_target",
                        format!("must be between 1 and 100 percent (got {})", target.value),
                    );
                }
                target.value
            }
        };
        let health_check_grace = self.number(
            "compute.health_check_grace",
            &raw.health_check_grace,
            DEFAULT_HEALTH_CHECK_GRACE,
            0..=7200,
        );
        let user_data = match &raw.user_data {
            Some(file) => self.user_data_file(file),
            None => UserData {
                file: None,
                script: default_boot_script(to_u16(port), &health_check.path),
            },
        };
        Compute {
            image,
            instance_type: raw.instance_type.value,
            port: to_u16(port),
            min: to_u32(min),
            max: to_u32(max),
            desired: to_u32(desired),
            cpu_target,
            health_check_grace: to_u32(health_check_grace),
            user_data,
        }
    }

    /// min, max and desired: each in range, and `min <= desired <= max`.
    /// An order problem is reported on the field that is out of place.
    fn group_size(&mut self, raw: &RawCompute) -> (i64, i64, i64) {
        let range = 1..=MAX_GROUP_SIZE;
        let min = self.number("compute.min", &raw.min, DEFAULT_MIN, range.clone());
        let max = self.number("compute.max", &raw.max, DEFAULT_MAX, range.clone());
        let desired = self.number("compute.desired", &raw.desired, min, range.clone());
        let all_in_range = [min, max, desired].iter().all(|n| range.contains(n));
        if !all_in_range {
            return (min, max, desired);
        }
        if min > max {
            match (&raw.max, &raw.min) {
                (Some(at), _) => self.report(
                    &at.referenced,
                    "compute.max",
                    format!("must be at least min ({min})"),
                ),
                (None, Some(at)) => self.report_with_help(
                    &at.referenced,
                    "compute.min",
                    format!("must be at most max ({max}, the default)"),
                    Some("set `compute.max` too".to_owned()),
                ),
                (None, None) => {}
            }
        } else if let Some(at) = raw
            .desired
            .as_ref()
            .filter(|_| !(min..=max).contains(&desired))
        {
            self.report(
                &at.referenced,
                "compute.desired",
                format!("must be between min ({min}) and max ({max})"),
            );
        }
        (min, max, desired)
    }

    fn user_data_file(&mut self, file: &Spanned<String>) -> UserData {
        let folder = self.file.parent().unwrap_or(Path::new(""));
        let path = folder.join(&file.value);
        let script = match check_user_data(&path) {
            Ok(script) => script,
            Err(why) => {
                self.report(&file.referenced, "compute.user_data", why);
                String::new()
            }
        };
        UserData {
            file: Some(path),
            script,
        }
    }
}

/// modu's boot script with the app port and health-check path filled in.
fn default_boot_script(port: u16, health_path: &str) -> String {
    DEFAULT_BOOT_SCRIPT
        .replace(APP_PORT_PLACEHOLDER, &port.to_string())
        .replace(HEALTH_PATH_PLACEHOLDER, health_path)
}

/// Reads a boot script, checking what EC2 and cloud-init need of it.
fn check_user_data(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
    if bytes.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    if bytes.len() > MAX_USER_DATA_BYTES {
        return Err(format!(
            "{shown} is {} bytes; EC2 user data is limited to {MAX_USER_DATA_BYTES} bytes (16 KiB)",
            bytes.len()
        ));
    }
    let script = String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?;
    if !(script.starts_with("#!") || script.starts_with("#cloud-config")) {
        return Err(format!(
            "{shown} must start with `#!` (a script) or `#cloud-config`, or cloud-init ignores it"
        ));
    }
    Ok(script)
}

// ---------------------------------------------------------------------------
// Format checks (pure functions, so they are easy to test)
// ---------------------------------------------------------------------------

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: a two-letter area, one or
/// two words, then a number.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let lowercase_word = |w: &&str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase());
    match parts.as_slice() {
        [area, words @ .., number] if (1..=2).contains(&words.len()) => {
            area.len() == 2
                && lowercase_word(area)
                && words.iter().all(lowercase_word)
                && (1..=2).contains(&number.len())
                && number.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// `prefix` followed by 8-17 lowercase hex digits, like `vpc-0a1b2c3d`.
fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (8..=17).contains(&hex.len())
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// `family.size`, e.g. `t3.micro`, `m7g.large`, `u-6tb1.metal`.
fn is_instance_type(instance_type: &str) -> bool {
    let Some((family, size)) = instance_type.split_once('.') else {
        return false;
    };
    let family_ok = family.starts_with(|c: char| c.is_ascii_lowercase())
        && family
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let size_ok = !size.is_empty()
        && size
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    family_ok && size_ok
}

/// Whether `name` is `zone` itself or a name inside it (both without trailing dots).
fn is_in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

/// `cache.<family>.<size>`, e.g. `cache.t3.micro`, `cache.r7g.xlarge`.
fn is_cache_node_type(node_type: &str) -> bool {
    node_type
        .strip_prefix("cache.")
        .is_some_and(is_instance_type)
}

/// The region of an ACM certificate ARN,
/// `arn:<partition>:acm:<region>:<account id>:certificate/<id>`, or `None`
/// when `arn` is not one.
fn acm_certificate_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let partition_ok = partition
        .strip_prefix("aws")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
    let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    let id_ok = resource.strip_prefix("certificate/").is_some_and(|id| {
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    (*prefix == "arn"
        && partition_ok
        && *service == "acm"
        && is_region(region)
        && account_ok
        && id_ok)
        .then_some(*region)
}

/// A DNS name as Route53 and CloudFront take it: at least two labels of
/// lowercase letters, digits and inner hyphens, each 1-63 characters, 253 in
/// all. One trailing dot is accepted and left out of the returned name; with
/// `wildcard`, the first label may be `*`.
fn check_dns_name(name: &str, wildcard: bool) -> Result<&str, String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("it is empty".to_owned());
    }
    if bare.len() > 253 {
        return Err(format!(
            "it must be at most 253 characters long (got {})",
            bare.len()
        ));
    }
    let labels: Vec<&str> = bare.split('.').collect();
    if labels.len() < 2 {
        return Err("it needs a domain, like `example.com`".to_owned());
    }
    for (index, label) in labels.iter().enumerate() {
        if *label == "*" {
            if wildcard && index == 0 {
                continue;
            }
            return Err(if wildcard {
                "`*` may only be the first label".to_owned()
            } else {
                "wildcards are not allowed here".to_owned()
            });
        }
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a leading dot)".to_owned());
        }
        if label.len() > 63 {
            return Err(format!("the label `{label}` is longer than 63 characters"));
        }
        if label.chars().any(|c| c.is_ascii_uppercase()) {
            return Err("it must be lowercase".to_owned());
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "the label `{label}` may only contain lowercase letters, digits and hyphens"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the label `{label}` must not start or end with a hyphen"
            ));
        }
    }
    Ok(bare)
}

/// S3's bucket naming rules for general purpose buckets.
fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !(3..=63).contains(&name.len()) {
        return Err("it must be 3-63 characters long");
    }
    if !name.chars().all(|c| alnum(c) || c == '.' || c == '-') {
        return Err("only lowercase letters, digits, dots and hyphens are allowed");
    }
    if !name.starts_with(alnum) || !name.ends_with(alnum) {
        return Err("it must start and end with a letter or digit");
    }
    if name.contains("..") {
        return Err("it must not contain two dots in a row");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("it must not look like an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") || name.starts_with("amzn-s3-demo-")
    {
        return Err("that prefix is reserved by AWS");
    }
    if name.ends_with("-s3alias") || name.ends_with("--ol-s3") || name.ends_with(".mrap") {
        return Err("that suffix is reserved by AWS");
    }
    Ok(())
}

/// ALB health-check paths: `/…`, at most 1024 printable characters, none of
/// which need quoting in a URL path.
fn check_health_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("must start with `/` (got `{path}`)"));
    }
    if path.len() > 1024 {
        return Err(format!(
            "must be at most 1024 characters (got {})",
            path.len()
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~!$&'()*+,;=:@%?".contains(c);
    if let Some(bad) = path.chars().find(|c| !allowed(*c)) {
        return Err(format!("must not contain {bad:?}"));
    }
    Ok(())
}

/// `200`, `200,302` or `200-299`, every code within 200-499.
fn check_matcher(matcher: &str) -> Result<(), String> {
    let code = |text: &str| -> Result<u16, String> {
        match text.trim().parse::<u16>() {
            Ok(code) if (200..=499).contains(&code) => Ok(code),
            _ => Err(format!("`{text}` is not an HTTP code between 200 and 499")),
        }
    };
    if let Some((low, high)) = matcher.split_once('-') {
        if code(low)? > code(high)? {
            return Err(format!("the range `{matcher}` is backwards"));
        }
        return Ok(());
    }
    for part in matcher.split(',') {
        code(part)?;
    }
    Ok(())
}

/// A valid stack name as close as possible to an invalid one, for the help text.
fn suggest_stack_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
        .chars()
        .take(20)
        .collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "my-app".to_owned()
    } else {
        out
    }
}

fn to_u16(n: i64) -> u16 {
    u16::try_from(n).unwrap_or_default()
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference spec shipped in `stacks/`, as users first see it.
    const REFERENCE: &str = include_str!("../../stacks/modu.yaml");

    /// The repository root, found from this file so tests run from any crate.
    fn repo_root() -> PathBuf {
        Path::new(file!())
            .ancestors()
            .nth(3)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A fresh folder for files a test needs beside its spec.
    fn test_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("modu-spec-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create test folder");
        dir
    }

    fn parse(yaml: &str) -> Result<Spec, SpecError> {
        parse_str(yaml, Path::new("stacks/modu.yaml"))
    }

    /// The error lines for a spec that must be rejected.
    fn errors(yaml: &str) -> Vec<String> {
        match parse(yaml) {
            Ok(spec) => panic!("spec was accepted: {spec:?}"),
            Err(err) => err.to_string().lines().map(str::to_owned).collect(),
        }
    }

    /// Asserts that exactly one problem is reported and that it starts with `expected`.
    #[track_caller]
    fn assert_single_error(yaml: &str, expected: &str) {
        let lines = errors(yaml);
        assert_eq!(lines.len(), 1, "expected one problem, got {lines:#?}");
        assert!(
            lines[0].starts_with(expected),
            "\nexpected: {expected}\n     got: {}",
            lines[0]
        );
    }

    const BASE: &str = "stack: modu\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n";

    #[test]
    fn reference_spec_parses_to_the_expected_model() {
        let dir = test_dir("reference");
        let script = "#!/bin/bash\necho hello\n";
        std::fs::write(dir.join("boot.sh"), script).expect("write boot.sh");
        let path = dir.join("modu.yaml");
        let spec = parse_str(REFERENCE, &path).expect("reference spec is valid");
        let expected = Spec {
            stack: "modu".into(),
            region: "us-east-1".into(),
            tags: BTreeMap::from([("project".into(), "modu".into())]),
            network: Network {
                vpc: VpcRef::Default,
                subnets: SubnetsRef::Default,
            },
            storage: Storage {
                bucket: BucketRef::Auto,
            },
            load_balancer: LoadBalancer {
                port: 80,
                algorithm: Algorithm::RoundRobin,
                health_check: HealthCheck {
                    path: "/healthz".into(),
                    interval: 15,
                    timeout: 5,
                    healthy_threshold: 2,
                    unhealthy_threshold: 3,
                    matcher: "200".into(),
                },
                deregistration_delay: 30,
                certificate_arn: None,
            },
            compute: Compute {
                image: ImageRef::Al2023,
                instance_type: "t3.micro".into(),
                port: 8000,
                min: 2,
                max: 10,
                desired: 2,
                cpu_target: 80.0,
                health_check_grace: 120,
                user_data: UserData {
                    file: Some(dir.join("boot.sh")),
                    script: script.into(),
                },
            },
            cdn: Some(Cdn {
                price_class: PriceClass::PriceClass200,
                aliases: Vec::new(),
                certificate_arn: None,
            }),
            cache: Some(Cache {
                engine: CacheEngine::Redis,
                node_type: "cache.t3.micro".into(),
                replicas: 1,
            }),
            dashboard: Some(Dashboard { alarms: true }),
            dns: Some(Dns {
                zone: "example.com".into(),
                record: "awstest.example.com".into(),
                target: DnsTarget::Cdn,
                create_zone: true,
            }),
            source: path,
        };
        assert_eq!(spec, expected);
    }

    #[test]
    fn shipped_specs_and_good_fixtures_load() {
        let root = repo_root();
        for relative in [
            "stacks/modu.yaml",
            "examples/minimal.yaml",
            "examples/production.yaml",
            "tests/fixtures/good/minimal.yaml",
            "tests/fixtures/good/with-user-data.yaml",
            "tests/fixtures/good/full-stack.yaml",
            "tests/fixtures/good/all-tiers-disabled.yaml",
        ] {
            let path = root.join(relative);
            if let Err(err) = load(&path) {
                panic!("{relative} is rejected:\n{err}");
            }
        }
    }

    #[test]
    fn bad_fixtures_report_what_their_first_line_expects() {
        let folder = repo_root().join("tests/fixtures/bad");
        let mut checked = 0;
        for entry in std::fs::read_dir(&folder).expect("fixtures folder") {
            let path = entry.expect("fixture entry").path();
            let text = std::fs::read_to_string(&path).expect("read fixture");
            let expected = text
                .lines()
                .next()
                .and_then(|line| line.strip_prefix("# expect: "))
                .unwrap_or_else(|| panic!("{} lacks an `# expect:` line", path.display()));
            let err = load(&path).expect_err("bad fixture must be rejected");
            assert!(
                err.to_string().contains(expected),
                "{}:\nexpected: {expected}\n     got: {err}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} bad fixtures");
    }

    #[test]
    fn defaults_apply_to_a_minimal_spec() {
        let spec = parse(BASE).expect("minimal spec is valid");
        assert!(spec.tags.is_empty());
        assert_eq!(spec.network.vpc, VpcRef::Default);
        assert_eq!(spec.network.subnets, SubnetsRef::Default);
        assert_eq!(spec.storage.bucket, BucketRef::Auto);
        let lb = &spec.load_balancer;
        assert_eq!(
            (lb.port, lb.algorithm, lb.deregistration_delay),
            (80, Algorithm::RoundRobin, 30)
        );
        let hc = &lb.health_check;
        assert_eq!(hc.path, "/healthz");
        assert_eq!(
            (
                hc.interval,
                hc.timeout,
                hc.healthy_threshold,
                hc.unhealthy_threshold
            ),
            (15, 5, 2, 3)
        );
        assert_eq!(hc.matcher, "200");
        let c = &spec.compute;
        assert_eq!(c.image, ImageRef::Al2023);
        assert_eq!((c.port, c.min, c.max, c.desired), (8000, 2, 10, 2));
        assert_eq!(c.cpu_target, DEFAULT_CPU_TARGET);
        assert_eq!(c.health_check_grace, 120);
        assert_eq!(c.user_data.file, None);
        assert!(c.user_data.script.starts_with("#!/bin/bash"));
        assert_eq!(spec.source, Path::new("stacks/modu.yaml"));
    }

    #[test]
    fn desired_defaults_to_min() {
        let spec = parse(&format!("{BASE}  min: 4\n")).expect("valid");
        assert_eq!((spec.compute.min, spec.compute.desired), (4, 4));
    }

    #[test]
    fn default_boot_script_gets_the_port_and_health_path() {
        let yaml = "stack: modu\nregion: us-east-1\nload_balancer:\n  health_check:\n    path: /ping\ncompute:\n  instance_type: t3.micro\n  port: 9000\n";
        let script = parse(yaml).expect("valid").compute.user_data.script;
        assert!(script.contains("APP_PORT='9000'"));
        assert!(script.contains("\n/ping\n"));
        assert!(
            !script.contains("__MODU_"),
            "placeholder left in the script"
        );
        assert!(script.contains("set -euo pipefail"));
        assert!(script.contains("/var/log/modu-boot.log"));
        assert!(script.contains("X-aws-ec2-metadata-token"));
    }

    #[test]
    fn default_boot_script_is_valid_bash() {
        let script = default_boot_script(8000, "/healthz");
        let checked = std::process::Command::new("bash")
            .args(["-n", "-c", &script])
            .output();
        match checked {
            Ok(output) => assert!(
                output.status.success(),
                "bash -n: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(err) => eprintln!("bash not available, syntax not checked: {err}"),
        }
    }

    #[test]
    fn explicit_ids_and_names_are_kept() {
        let yaml = "\
stack: shop-2
region: us-gov-west-1
network:
  vpc: vpc-0123456789abcdef0
  subnets: [subnet-0123abcd, subnet-4567ef01]
storage:
  bucket: shop.images-2024
compute:
  image: ami-0123456789abcdef0
  instance_type: m7g.large
  cpu_target: 62.5
";
        let spec = parse(yaml).expect("valid");
        assert_eq!(spec.network.vpc, VpcRef::Id("vpc-0123456789abcdef0".into()));
        assert_eq!(
            spec.network.subnets,
            SubnetsRef::Ids(vec!["subnet-0123abcd".into(), "subnet-4567ef01".into()])
        );
        assert_eq!(
            spec.storage.bucket,
            BucketRef::Named("shop.images-2024".into())
        );
        assert_eq!(
            spec.compute.image,
            ImageRef::Ami("ami-0123456789abcdef0".into())
        );
        assert_eq!(spec.compute.cpu_target, 62.5);
    }

    // --- one bad spec each, with the exact position and field ---

    #[test]
    fn yaml_syntax_error_is_located() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n    min: 2\n",
            "stacks/modu.yaml:5:8: invalid YAML: mapping values are not allowed",
        );
    }

    #[test]
    fn unknown_top_level_field_suggests_the_closest() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncomputee:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:3:1: computee: unknown field `computee` (help: did you mean `compute`?)",
        );
    }

    #[test]
    fn unknown_nested_field_suggests_the_closest() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncompute:\n  instance_typo: t3.micro\n",
            "stacks/modu.yaml:4:3: compute.instance_typo: unknown field `instance_typo` (help: did you mean `instance_type`?)",
        );
    }

    #[test]
    fn unknown_field_far_from_any_lists_the_choices() {
        let lines = errors(&format!("{BASE}  zzz: 1\n"));
        assert!(
            lines[0].contains("compute.zzz: unknown field `zzz` (help: expected one of `image`")
        );
    }

    #[test]
    fn wrong_type_names_the_field() {
        assert_single_error(
            &format!("{BASE}  min: two\n"),
            "stacks/modu.yaml:5:8: compute.min: expected a whole number, found `two`",
        );
    }

    #[test]
    fn port_out_of_range() {
        assert_single_error(
            &format!("{BASE}  port: 70000\n"),
            "stacks/modu.yaml:5:9: compute.port: must be between 1 and 65535 (got 70000)",
        );
    }

    #[test]
    fn min_above_max_blames_max() {
        assert_single_error(
            &format!("{BASE}  min: 5\n  max: 3\n"),
            "stacks/modu.yaml:6:8: compute.max: must be at least min (5)",
        );
    }

    #[test]
    fn min_above_default_max_blames_min() {
        assert_single_error(
            &format!("{BASE}  min: 12\n"),
            "stacks/modu.yaml:5:8: compute.min: must be at most max (10, the default)",
        );
    }

    #[test]
    fn desired_above_max_blames_desired() {
        assert_single_error(
            &format!("{BASE}  min: 2\n  max: 10\n  desired: 12\n"),
            "stacks/modu.yaml:7:12: compute.desired: must be between min (2) and max (10)",
        );
    }

    #[test]
    fn cpu_target_zero_and_101_are_rejected() {
        assert_single_error(
            &format!("{BASE}  cpu_target: 0\n"),
            "stacks/modu.yaml:5:15: compute.cpu_target: must be between 1 and 100 percent (got 0)",
        );
        assert_single_error(
            &format!("{BASE}  cpu_target: 101\n"),
            "stacks/modu.yaml:5:15: compute.cpu_target: must be between 1 and 100 percent (got 101)",
        );
    }

    #[test]
    fn bad_stack_name_gets_a_suggestion() {
        assert_single_error(
            "stack: Modu_Prod\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:1:8: stack: must start with a lowercase letter (help: for example `modu-prod`)",
        );
    }

    #[test]
    fn stack_name_too_long() {
        assert_single_error(
            "stack: abcdefghijklmnopqrstu\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:1:8: stack: must be 1-20 characters long (got 21)",
        );
    }

    #[test]
    fn stack_name_hyphens() {
        for name in ["modu-", "mo--du"] {
            let yaml = BASE.replace("stack: modu", &format!("stack: {name}"));
            assert_single_error(
                &yaml,
                "stacks/modu.yaml:1:8: stack: must not end with a hyphen or contain two in a row",
            );
        }
    }

    #[test]
    fn missing_required_fields() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncompute:\n  min: 2\n",
            "stacks/modu.yaml:3:1: compute.instance_type: missing required field",
        );
        assert_single_error(
            "stack: modu\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:1:1: region: missing required field",
        );
    }

    #[test]
    fn missing_user_data_file() {
        let lines = errors(&format!("{BASE}  user_data: nowhere/boot.sh\n"));
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with(
                "stacks/modu.yaml:5:14: compute.user_data: cannot read stacks/nowhere/boot.sh: "
            ),
            "{lines:?}"
        );
    }

    #[test]
    fn bad_vpc_id() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\nnetwork:\n  vpc: vpc-12345\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:4:8: network.vpc: `vpc-12345` is not `default` or a VPC id",
        );
    }

    #[test]
    fn one_subnet_is_not_enough() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\nnetwork:\n  subnets:\n    - subnet-0123abcd\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:5:5: network.subnets: needs at least 2 different subnets (got 1)",
        );
    }

    #[test]
    fn bad_and_repeated_subnet_ids_are_located() {
        let lines = errors(
            "stack: modu\nregion: us-east-1\nnetwork:\n  subnets: [subnet-0123abcd, subnet-xyz, subnet-0123abcd]\ncompute:\n  instance_type: t3.micro\n",
        );
        assert_eq!(
            lines,
            [
                "stacks/modu.yaml:4:30: network.subnets[1]: `subnet-xyz` is not a subnet id (help: subnet ids look like `subnet-0123456789abcdef0`)",
                "stacks/modu.yaml:4:42: network.subnets[2]: `subnet-0123abcd` is listed twice",
            ]
        );
    }

    #[test]
    fn health_check_interval_too_long() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\nload_balancer:\n  health_check:\n    interval: 400\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:5:15: load_balancer.health_check.interval: must be between 5 and 300 (got 400)",
        );
    }

    #[test]
    fn health_check_timeout_must_be_below_interval() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\nload_balancer:\n  health_check:\n    interval: 10\n    timeout: 10\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:6:14: load_balancer.health_check.timeout: timeout (10) must be less than interval (10)",
        );
        // With the default timeout (5), the interval is the field to blame.
        assert_single_error(
            "stack: modu\nregion: us-east-1\nload_balancer:\n  health_check:\n    interval: 5\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:5:15: load_balancer.health_check.interval: timeout (5) must be less than interval (5)",
        );
    }

    #[test]
    fn reserved_tag_keys() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ntags:\n  modu:x: y\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:4:3: tags.modu:x: tag keys starting with `aws:` or `modu:` are reserved",
        );
        let lines = errors(
            "stack: modu\nregion: us-east-1\ntags:\n  AWS:cost: y\ncompute:\n  instance_type: t3.micro\n",
        );
        assert!(lines[0].starts_with("stacks/modu.yaml:4:3: tags.AWS:cost: tag keys starting"));
    }

    #[test]
    fn too_many_tags() {
        let tags: String = (0..=MAX_EXTRA_TAGS)
            .map(|i| format!("  t{i}: v\n"))
            .collect();
        let yaml = format!(
            "stack: modu\nregion: us-east-1\ntags:\n{tags}compute:\n  instance_type: t3.micro\n"
        );
        assert_single_error(
            &yaml,
            "stacks/modu.yaml:44:3: tags: at most 40 tags are allowed",
        );
    }

    #[test]
    fn bad_bucket_names() {
        let cases = [
            (
                "My_Bucket",
                "only lowercase letters, digits, dots and hyphens are allowed",
            ),
            ("ab", "it must be 3-63 characters long"),
            ("192.168.1.10", "it must not look like an IP address"),
            ("my..bucket", "it must not contain two dots in a row"),
            ("xn--bucket", "that prefix is reserved by AWS"),
            ("bucket-s3alias", "that suffix is reserved by AWS"),
            ("-bucket", "it must start and end with a letter or digit"),
        ];
        for (name, why) in cases {
            let yaml = format!(
                "stack: modu\nregion: us-east-1\nstorage:\n  bucket: {name}\ncompute:\n  instance_type: t3.micro\n"
            );
            assert_single_error(
                &yaml,
                &format!(
                    "stacks/modu.yaml:4:11: storage.bucket: `{name}` is not a valid S3 bucket name: {why}"
                ),
            );
        }
    }

    #[test]
    fn bad_region_image_and_instance_type() {
        let yaml =
            "stack: modu\nregion: us-east\ncompute:\n  image: ubuntu\n  instance_type: t3micro\n";
        let lines = errors(yaml);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0]
                .starts_with("stacks/modu.yaml:2:9: region: `us-east` is not an AWS region name")
        );
        assert!(lines[1].starts_with(
            "stacks/modu.yaml:4:10: compute.image: `ubuntu` is not `al2023` or an AMI id"
        ));
        assert!(lines[2].starts_with(
            "stacks/modu.yaml:5:18: compute.instance_type: `t3micro` is not an EC2 instance type"
        ));
    }

    #[test]
    fn unknown_algorithm_suggests_the_closest() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\nload_balancer:\n  algorithm: least_outstanding\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:4:14: load_balancer.algorithm: unknown value `least_outstanding` (help: did you mean `least_outstanding_requests`?)",
        );
    }

    #[test]
    fn all_problems_are_reported_in_file_order() {
        let yaml = "\
stack: Bad_Name
region: us-east-1
load_balancer:
  port: 0
  health_check:
    path: healthz
    healthy_threshold: 11
    matcher: \"100\"
compute:
  instance_type: t3.micro
  min: 0
  cpu_target: 150
  health_check_grace: -1
";
        let err = parse(yaml).expect_err("invalid");
        let found: Vec<(usize, usize, &str)> = err
            .problems()
            .iter()
            .map(|p| (p.line, p.column, p.field.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (1, 8, "stack"),
                (4, 9, "load_balancer.port"),
                (6, 11, "load_balancer.health_check.path"),
                (7, 24, "load_balancer.health_check.healthy_threshold"),
                (8, 14, "load_balancer.health_check.matcher"),
                (11, 8, "compute.min"),
                (12, 15, "compute.cpu_target"),
                (13, 23, "compute.health_check_grace"),
            ]
        );
        assert_eq!(err.to_string().lines().count(), 8);
    }

    #[test]
    fn user_data_must_be_a_small_script() {
        let dir = test_dir("user-data");
        let spec_path = dir.join("modu.yaml");
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("empty.sh", Vec::new(), "is empty"),
            ("plain.txt", b"echo hi\n".to_vec(), "must start with `#!`"),
            (
                "big.sh",
                [b"#!/bin/sh\n".as_slice(), &[b'#'; 16 * 1024]].concat(),
                "16 KiB",
            ),
            ("binary.sh", b"#!\xff\xfe".to_vec(), "is not UTF-8 text"),
        ];
        for (name, content, why) in cases {
            std::fs::write(dir.join(name), content).expect("write script");
            let yaml = format!("{BASE}  user_data: {name}\n");
            let err = parse_str(&yaml, &spec_path).expect_err("bad user data");
            let problem = &err.problems()[0];
            assert_eq!((problem.line, problem.column), (5, 14));
            assert!(problem.message.contains(why), "{name}: {}", problem.message);
        }
        std::fs::write(dir.join("cloud.yaml"), "#cloud-config\npackages: [nginx]\n")
            .expect("write cloud-config");
        let spec = parse_str(&format!("{BASE}  user_data: cloud.yaml\n"), &spec_path)
            .expect("cloud-config is accepted");
        assert_eq!(spec.compute.user_data.file, Some(dir.join("cloud.yaml")));
    }

    #[test]
    fn unreadable_file_is_reported_without_a_position() {
        let path = Path::new("no/such/modu.yaml");
        let err = load(path).expect_err("missing file");
        let problem = &err.problems()[0];
        assert_eq!((problem.line, problem.column), (0, 0));
        assert!(
            err.to_string()
                .starts_with("cannot read no/such/modu.yaml: ")
        );
        assert!(err.source_code().is_none());
    }

    #[test]
    fn empty_or_non_mapping_documents_are_rejected() {
        assert_single_error("", "stacks/modu.yaml:1:1: unexpected end of file");
        assert_single_error("- a\n", "stacks/modu.yaml:1:1: expected a mapping");
    }

    #[test]
    fn diagnostic_points_at_each_problem() {
        let yaml = format!("{BASE}  port: 0\n  min: 0\n");
        let err = parse(&yaml).expect_err("invalid");
        assert!(err.source_code().is_some());
        let labels: Vec<LabeledSpan> = err.labels().expect("labels").collect();
        assert_eq!(labels.len(), 2);
        let port_offset = yaml.find("port: 0").expect("port line") + "port: ".len();
        assert_eq!(labels[0].offset(), port_offset);
        assert_eq!(labels[0].len(), 1);
        assert_eq!(
            labels[0].label(),
            Some("compute.port: must be between 1 and 65535 (got 0)")
        );
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(rendered.contains("port: 0"), "{rendered}");
    }

    // --- format checks ---

    #[test]
    fn region_names() {
        for good in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "eu-central-2",
            "il-central-1",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast-1",
            "us--1",
            "us-east-1a",
            "a-b-c-d-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn aws_ids_and_instance_types() {
        assert!(is_aws_id("vpc-0a1b2c3d", "vpc-"));
        assert!(is_aws_id("subnet-0123456789abcdef0", "subnet-"));
        assert!(!is_aws_id("vpc-0A1B2C3D", "vpc-"));
        assert!(!is_aws_id("vpc-0123456789abcdef01", "vpc-"));
        assert!(!is_aws_id("subnet-0a1b2c3d", "vpc-"));
        for good in ["t3.micro", "m7g.large", "c6in.32xlarge", "u-6tb1.metal"] {
            assert!(is_instance_type(good), "{good}");
        }
        for bad in ["t3", "T3.micro", ".micro", "t3.", "t3.micro.x", "3t.micro"] {
            assert!(!is_instance_type(bad), "{bad}");
        }
    }

    #[test]
    fn matchers_and_health_paths() {
        for good in ["200", "200,302", "200-299", "200-499"] {
            assert_eq!(check_matcher(good), Ok(()), "{good}");
        }
        for bad in ["", "100", "500", "299-200", "200,", "abc", "200-"] {
            assert!(check_matcher(bad).is_err(), "{bad}");
        }
        assert_eq!(check_health_path("/health/ready?full=1"), Ok(()));
        assert!(check_health_path("health").is_err());
        assert!(check_health_path("/a b").is_err());
        assert!(check_health_path("/a\nb").is_err());
        assert!(check_health_path(&format!("/{}", "a".repeat(1024))).is_err());
    }

    #[test]
    fn stack_name_suggestions_are_valid_names() {
        assert_eq!(suggest_stack_name("Modu_Prod"), "modu-prod");
        assert_eq!(suggest_stack_name("9lives--app-"), "lives-app");
        assert_eq!(suggest_stack_name("___"), "my-app");
        assert_eq!(suggest_stack_name(&"a".repeat(30)).len(), 20);
    }

    // --- the optional tiers: cdn, cache, dashboard, dns ---

    const CDN_CERT: &str =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000002";

    #[test]
    fn shipped_examples_have_the_tiers_they_promise() {
        let root = repo_root();
        let minimal = load(&root.join("examples/minimal.yaml")).expect("minimal example");
        assert_eq!(
            (
                &minimal.cdn,
                &minimal.cache,
                &minimal.dashboard,
                &minimal.dns
            ),
            (&None, &None, &None, &None)
        );
        let production = load(&root.join("examples/production.yaml")).expect("production example");
        assert_eq!(production.load_balancer.port, 443);
        let lb_cert = production.load_balancer.certificate_arn.as_deref();
        assert!(lb_cert.is_some_and(|arn| arn.contains(&format!(":{}:", production.region))));
        let cdn = production.cdn.expect("production has a CDN");
        assert_eq!(cdn.price_class, PriceClass::PriceClassAll);
        assert_eq!(cdn.aliases, ["www.example.com", "example.com"]);
        assert!(
            cdn.certificate_arn
                .is_some_and(|arn| arn.contains(":us-east-1:"))
        );
        assert_eq!(
            production.cache.expect("production has a cache").replicas,
            2
        );
        assert_eq!(production.dashboard, Some(Dashboard { alarms: true }));
        let dns = production.dns.expect("production has DNS");
        assert_eq!(
            (
                dns.zone.as_str(),
                dns.record.as_str(),
                dns.target,
                dns.create_zone
            ),
            ("example.com", "www.example.com", DnsTarget::Cdn, false)
        );
        let all_off =
            load(&root.join("tests/fixtures/good/all-tiers-disabled.yaml")).expect("valid");
        assert_eq!(
            (
                &all_off.cdn,
                &all_off.cache,
                &all_off.dashboard,
                &all_off.dns
            ),
            (&None, &None, &None, &None)
        );
    }

    #[test]
    fn absent_tiers_are_off() {
        let spec = parse(BASE).expect("valid");
        assert_eq!(spec.load_balancer.certificate_arn, None);
        assert_eq!(spec.cdn, None);
        assert_eq!(spec.cache, None);
        assert_eq!(spec.dashboard, None);
        assert_eq!(spec.dns, None);
        // A section with no value at all is the same as no section.
        let spec = parse(&format!("{BASE}cdn:\ncache:\ndashboard:\ndns:\n")).expect("valid");
        assert_eq!(
            (spec.cdn, spec.cache, spec.dashboard, spec.dns),
            (None, None, None, None)
        );
    }

    #[test]
    fn enabled_false_turns_each_tier_off() {
        let yaml = format!(
            "{BASE}cdn:\n  enabled: false\n  price_class: PriceClass_All\ncache:\n  enabled: false\n  replicas: 3\ndashboard:\n  enabled: false\n  alarms: true\ndns:\n  enabled: false\n"
        );
        let spec = parse(&yaml).expect("valid");
        assert_eq!(
            (spec.cdn, spec.cache, spec.dashboard, spec.dns),
            (None, None, None, None)
        );
    }

    #[test]
    fn switched_off_tiers_are_still_checked() {
        let yaml = format!(
            "{BASE}cache:\n  enabled: false\n  replicas: 9\ndns:\n  enabled: false\n  zone: Example.com\n"
        );
        assert_eq!(
            errors(&yaml),
            [
                "stacks/modu.yaml:7:13: cache.replicas: must be between 0 and 5 (got 9)",
                "stacks/modu.yaml:10:9: dns.zone: `Example.com` is not a valid DNS name: it must be lowercase (help: did you mean `example.com`?)",
            ]
        );
    }

    #[test]
    fn tier_defaults() {
        let yaml = format!(
            "{BASE}cdn:\n  enabled: true\ncache:\n  enabled: true\ndashboard:\n  enabled: true\ndns:\n  zone: example.com\n  record: example.com\n"
        );
        let spec = parse(&yaml).expect("valid");
        assert_eq!(
            spec.cdn,
            Some(Cdn {
                price_class: PriceClass::PriceClass100,
                aliases: Vec::new(),
                certificate_arn: None,
            })
        );
        assert_eq!(
            spec.cache,
            Some(Cache {
                engine: CacheEngine::Redis,
                node_type: "cache.t3.micro".into(),
                replicas: 1,
            })
        );
        assert_eq!(spec.dashboard, Some(Dashboard { alarms: true }));
        assert_eq!(
            spec.dns,
            Some(Dns {
                zone: "example.com".into(),
                record: "example.com".into(),
                target: DnsTarget::Cdn,
                create_zone: false,
            })
        );
        // `enabled` itself defaults to true once the section is there.
        let spec =
            parse(&format!("{BASE}cache:\n  replicas: 0\ndashboard: {{}}\n")).expect("valid");
        assert_eq!(spec.cache.map(|c| c.replicas), Some(0));
        assert_eq!(spec.dashboard, Some(Dashboard { alarms: true }));
    }

    #[test]
    fn every_tier_setting_is_kept() {
        let yaml = format!(
            "\
stack: full
region: eu-west-1
load_balancer:
  port: 443
  certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/abc-123
compute:
  instance_type: t3.small
cdn:
  price_class: PriceClass_All
  aliases: [www.example.com, \"*.img.example.com\", example.com.]
  certificate_arn: {CDN_CERT}
cache:
  engine: valkey
  node_type: cache.r7g.large
  replicas: 5
dashboard:
  alarms: false
dns:
  zone: Example.com.
  record: www.example.com.
  target: load_balancer
  create_zone: true
"
        )
        .replace("Example.com.", "example.com.");
        let spec = parse(&yaml).expect("valid");
        assert_eq!(
            spec.load_balancer.certificate_arn.as_deref(),
            Some("arn:aws:acm:eu-west-1:123456789012:certificate/abc-123")
        );
        assert_eq!(
            spec.cdn,
            Some(Cdn {
                price_class: PriceClass::PriceClassAll,
                aliases: vec![
                    "www.example.com".into(),
                    "*.img.example.com".into(),
                    "example.com".into()
                ],
                certificate_arn: Some(CDN_CERT.into()),
            })
        );
        assert_eq!(
            spec.cache,
            Some(Cache {
                engine: CacheEngine::Valkey,
                node_type: "cache.r7g.large".into(),
                replicas: 5,
            })
        );
        assert_eq!(spec.dashboard, Some(Dashboard { alarms: false }));
        assert_eq!(
            spec.dns,
            Some(Dns {
                zone: "example.com".into(),
                record: "www.example.com".into(),
                target: DnsTarget::LoadBalancer,
                create_zone: true,
            })
        );
    }

    #[test]
    fn switches_must_be_true_or_false() {
        assert_single_error(
            &format!("{BASE}cdn:\n  enabled: maybe\n"),
            "stacks/modu.yaml:6:12: cdn.enabled: expected true or false, found `maybe`",
        );
        assert_single_error(
            &format!("{BASE}dns:\n  zone: example.com\n  record: example.com\n  create_zone: 1\n"),
            "stacks/modu.yaml:8:16: dns.create_zone: expected true or false, found `1`",
        );
    }

    #[test]
    fn dns_target_cdn_without_a_cdn_is_allowed() {
        let yaml =
            format!("{BASE}dns:\n  zone: example.com\n  record: app.example.com\n  target: cdn\n");
        let spec = parse(&yaml).expect("valid");
        assert_eq!(spec.cdn, None);
        assert_eq!(spec.dns.map(|d| d.target), Some(DnsTarget::Cdn));
    }

    #[test]
    fn bad_price_class_suggests_the_closest() {
        assert_single_error(
            &format!("{BASE}cdn:\n  price_class: priceclass_200\n"),
            "stacks/modu.yaml:6:16: cdn.price_class: unknown value `priceclass_200` (help: did you mean `PriceClass_200`?)",
        );
    }

    #[test]
    fn aliases_need_a_certificate() {
        assert_single_error(
            &format!("{BASE}cdn:\n  aliases: [www.example.com]\n"),
            "stacks/modu.yaml:6:12: cdn.aliases: aliases need `cdn.certificate_arn`",
        );
        assert_single_error(
            &format!("{BASE}cdn:\n  aliases:\n    - www.example.com\n  certificate_arn: null\n"),
            "stacks/modu.yaml:7:5: cdn.aliases: aliases need `cdn.certificate_arn`",
        );
        // No aliases, no certificate needed.
        parse(&format!(
            "{BASE}cdn:\n  aliases: []\n  certificate_arn: null\n"
        ))
        .expect("valid");
    }

    #[test]
    fn cdn_certificate_must_be_in_us_east_1() {
        let arn = CDN_CERT.replace("us-east-1", "eu-west-1");
        assert_single_error(
            &format!("{BASE}cdn:\n  aliases: [www.example.com]\n  certificate_arn: {arn}\n"),
            "stacks/modu.yaml:7:20: cdn.certificate_arn: the certificate is in `eu-west-1`, it must be in `us-east-1` (help: CloudFront only takes ACM certificates from us-east-1",
        );
        // ...even when the stack itself is elsewhere.
        let yaml = format!("{BASE}cdn:\n  certificate_arn: {CDN_CERT}\n")
            .replace("region: us-east-1", "region: eu-west-1");
        parse(&yaml).expect("valid");
    }

    #[test]
    fn load_balancer_certificate_must_be_in_the_stack_region() {
        let yaml = "stack: modu\nregion: eu-west-3\nload_balancer:\n  certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\ncompute:\n  instance_type: t3.micro\n";
        assert_single_error(
            yaml,
            "stacks/modu.yaml:4:20: load_balancer.certificate_arn: the certificate is in `us-east-1`, it must be in `eu-west-3` (help: an Application Load Balancer only takes ACM certificates from its own region",
        );
        let spec = parse(&yaml.replace("us-east-1", "eu-west-3")).expect("valid");
        assert!(spec.load_balancer.certificate_arn.is_some());
        // With a bad region, only the region is reported.
        let lines = errors(&yaml.replace("region: eu-west-3", "region: mars"));
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("region: `mars` is not an AWS region name"));
    }

    #[test]
    fn malformed_certificate_arns() {
        for arn in [
            "arn:aws:iam::123456789012:server-certificate/x",
            "arn:aws:acm:us-east-1:12345:certificate/abc",
            "arn:aws:acm:us-east-1:123456789012:certificate/",
            "cert-123",
        ] {
            assert_single_error(
                &format!("{BASE}cdn:\n  certificate_arn: \"{arn}\"\n"),
                &format!(
                    "stacks/modu.yaml:6:20: cdn.certificate_arn: `{arn}` is not an ACM certificate ARN (help: certificate ARNs look like `arn:aws:acm:<region>:<account id>:certificate/<id>`)"
                ),
            );
        }
    }

    #[test]
    fn bad_and_repeated_aliases_are_located() {
        let yaml = format!(
            "{BASE}cdn:\n  aliases:\n    - www.example.com\n    - shop_example.com\n    - WWW.example.com\n    - www.example.com.\n    - a.*.example.com\n  certificate_arn: {CDN_CERT}\n"
        );
        assert_eq!(
            errors(&yaml),
            [
                "stacks/modu.yaml:8:7: cdn.aliases[1]: `shop_example.com` is not a valid DNS name: the label `shop_example` may only contain lowercase letters, digits and hyphens",
                "stacks/modu.yaml:9:7: cdn.aliases[2]: `WWW.example.com` is not a valid DNS name: it must be lowercase (help: did you mean `www.example.com`?)",
                "stacks/modu.yaml:10:7: cdn.aliases[3]: `www.example.com` is listed twice",
                "stacks/modu.yaml:11:7: cdn.aliases[4]: `a.*.example.com` is not a valid DNS name: `*` may only be the first label",
            ]
        );
    }

    #[test]
    fn bad_cache_node_types() {
        assert_single_error(
            &format!("{BASE}cache:\n  node_type: t3.micro\n"),
            "stacks/modu.yaml:6:14: cache.node_type: `t3.micro` is not an ElastiCache node type (help: did you mean `cache.t3.micro`?)",
        );
        assert_single_error(
            &format!("{BASE}cache:\n  node_type: cache.large\n"),
            "stacks/modu.yaml:6:14: cache.node_type: `cache.large` is not an ElastiCache node type (help: node types look like `cache.<family>.<size>`, e.g. `cache.t3.micro`)",
        );
    }

    #[test]
    fn cache_replicas_out_of_range() {
        assert_single_error(
            &format!("{BASE}cache:\n  replicas: 6\n"),
            "stacks/modu.yaml:6:13: cache.replicas: must be between 0 and 5 (got 6)",
        );
        assert_single_error(
            &format!("{BASE}cache:\n  replicas: -1\n"),
            "stacks/modu.yaml:6:13: cache.replicas: must be between 0 and 5 (got -1)",
        );
    }

    #[test]
    fn unknown_field_in_cache_suggests_the_closest() {
        assert_single_error(
            &format!("{BASE}cache:\n  node_typ: cache.t3.micro\n"),
            "stacks/modu.yaml:6:3: cache.node_typ: unknown field `node_typ` (help: did you mean `node_type`?)",
        );
    }

    #[test]
    fn unknown_cache_engine_suggests_the_closest() {
        assert_single_error(
            &format!("{BASE}cache:\n  engine: valkyrie\n"),
            "stacks/modu.yaml:6:11: cache.engine: unknown value `valkyrie` (help: did you mean `valkey`?)",
        );
    }

    #[test]
    fn dns_record_must_be_in_the_zone() {
        let dns =
            |zone: &str, record: &str| format!("{BASE}dns:\n  zone: {zone}\n  record: {record}\n");
        assert_single_error(
            &dns("example.com", "example.org"),
            "stacks/modu.yaml:7:11: dns.record: `example.org` is not in the zone `example.com` (help: use `example.com` itself or a name ending in `.example.com`)",
        );
        assert_single_error(
            &dns("example.com", "badexample.com"),
            "stacks/modu.yaml:7:11: dns.record: `badexample.com` is not in the zone `example.com`",
        );
        for (zone, record) in [
            ("example.com", "awstest.example.com"),
            ("example.com", "example.com"),
            ("example.com.", "a.b.example.com."),
            ("example.com", "example.com."),
        ] {
            let spec = parse(&dns(zone, record)).unwrap_or_else(|e| panic!("{zone} {record}: {e}"));
            let parsed = spec.dns.expect("dns");
            assert!(!parsed.zone.ends_with('.') && !parsed.record.ends_with('.'));
        }
    }

    #[test]
    fn bad_dns_target_suggests_the_closest() {
        assert_single_error(
            &format!(
                "{BASE}dns:\n  zone: example.com\n  record: www.example.com\n  target: loadbalancer\n"
            ),
            "stacks/modu.yaml:8:11: dns.target: unknown value `loadbalancer` (help: did you mean `load_balancer`?)",
        );
    }

    #[test]
    fn dns_needs_zone_and_record() {
        assert_eq!(
            errors(&format!("{BASE}dns:\n  target: cdn\n")),
            [
                "stacks/modu.yaml:5:1: dns.zone: missing required field",
                "stacks/modu.yaml:5:1: dns.record: missing required field",
            ]
        );
    }

    #[test]
    fn bad_dns_names_are_reported() {
        assert_single_error(
            &format!("{BASE}dns:\n  zone: com\n  record: www.example.com\n"),
            "stacks/modu.yaml:6:9: dns.zone: `com` is not a valid DNS name: it needs a domain, like `example.com`",
        );
        assert_single_error(
            &format!("{BASE}dns:\n  zone: example.com\n  record: \"*.example.com\"\n"),
            "stacks/modu.yaml:7:11: dns.record: `*.example.com` is not a valid DNS name: wildcards are not allowed here",
        );
    }

    #[test]
    fn problems_in_every_tier_are_reported_together() {
        let yaml = "\
stack: modu
region: us-east-1
load_balancer:
  certificate_arn: arn:aws:acm:us-west-2:123456789012:certificate/abc
compute:
  instance_type: t3.micro
cdn:
  aliases: [www.example.com]
cache:
  node_type: m5.large
  replicas: 6
dns:
  zone: example.com
  record: example.org
";
        let err = parse(yaml).expect_err("invalid");
        let found: Vec<(usize, usize, &str)> = err
            .problems()
            .iter()
            .map(|p| (p.line, p.column, p.field.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (4, 20, "load_balancer.certificate_arn"),
                (8, 12, "cdn.aliases"),
                (10, 14, "cache.node_type"),
                (11, 13, "cache.replicas"),
                (14, 11, "dns.record"),
            ]
        );
    }

    #[test]
    fn dns_names() {
        assert_eq!(check_dns_name("example.com.", false), Ok("example.com"));
        assert_eq!(check_dns_name("*.example.com", true), Ok("*.example.com"));
        let long_label = format!("{}.com", "a".repeat(63));
        assert!(check_dns_name(&long_label, false).is_ok());
        let too_long_label = format!("{}.com", "a".repeat(64));
        assert!(check_dns_name(&too_long_label, false).is_err());
        let name_253 = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(name_253.len(), 253);
        assert!(check_dns_name(&name_253, false).is_ok());
        assert!(check_dns_name(&format!("{name_253}."), false).is_ok());
        assert!(check_dns_name(&format!("e{name_253}"), false).is_err());
        for bad in [
            "", ".", "example", "-a.com", "a-.com", "a..com", ".a.com", "a.com..", "A.com",
            "a_b.com", "*.a.com", "a b.com", "é.com",
        ] {
            assert!(check_dns_name(bad, false).is_err(), "{bad:?}");
        }
        assert!(check_dns_name("*", true).is_err());
        assert!(check_dns_name("a.*.com", true).is_err());
        assert!(check_dns_name("*a.com", true).is_err());
    }

    #[test]
    fn certificate_arns_and_cache_node_types() {
        assert_eq!(acm_certificate_region(CDN_CERT), Some("us-east-1"));
        assert_eq!(
            acm_certificate_region("arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/x-1"),
            Some("us-gov-west-1")
        );
        assert_eq!(
            acm_certificate_region("arn:aws-cn:acm:cn-north-1:123456789012:certificate/abc"),
            Some("cn-north-1")
        );
        for bad in [
            "arn:aws:acm:us-east-1:123456789012:certificate",
            "arn:aws:acm:us-east-1:123456789012:certificate/a/b",
            "arn:aws:acm:useast1:123456789012:certificate/abc",
            "arn:aws:acm:us-east-1:12345678901a:certificate/abc",
            "arn:azure:acm:us-east-1:123456789012:certificate/abc",
            "arn:aws:acm-pca:us-east-1:123456789012:certificate/abc",
            "arn:aws:acm:us-east-1:123456789012:certificate/abc:extra",
        ] {
            assert_eq!(acm_certificate_region(bad), None, "{bad}");
        }
        for good in [
            "cache.t3.micro",
            "cache.r7g.xlarge",
            "cache.m6g.16xlarge",
            "cache.t4g.small",
        ] {
            assert!(is_cache_node_type(good), "{good}");
        }
        for bad in [
            "t3.micro",
            "cache.t3",
            "cache.",
            "Cache.t3.micro",
            "cache.t3.micro.x",
        ] {
            assert!(!is_cache_node_type(bad), "{bad}");
        }
    }

    #[test]
    fn field_paths_drop_span_markers() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ntags:\n  team: [a]\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:4:9: tags",
        );
    }
}
