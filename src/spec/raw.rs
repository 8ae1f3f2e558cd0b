//! The spec file's shape as written: one struct per YAML section, every value
//! kept with its position in the file ([`Spanned`]), nothing checked yet.
//!
//! These structs are what the YAML reader fills in (`read.rs`) and what the
//! checker turns into the validated model (`check/`). `schema.rs` derives the
//! JSON Schema from them too, so their doc comments double as editor hover
//! text and the schema cannot drift from what is read.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::rules::MAX_EXTRA_TAGS;

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
    pub(super) stack: Spanned<String>,
    /// AWS region to create the stack in, e.g. `us-east-1`.
    #[schemars(
        with = "String",
        regex(pattern = "^[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}$"),
        example = "us-east-1"
    )]
    pub(super) region: Spanned<String>,
    /// Extra tags put on every resource. modu always adds `modu:stack=<stack>`;
    /// keys starting with `aws:` or `modu:` are reserved. Default: none.
    pub(super) tags: Option<RawTags>,
    /// Where the stack runs. Default: the region's default VPC and its default subnets.
    pub(super) network: Option<RawNetwork>,
    /// The S3 bucket for images. Default: `bucket: auto`.
    pub(super) storage: Option<RawStorage>,
    /// The Application Load Balancer and its target group. Every field has a default.
    pub(super) load_balancer: Option<RawLoadBalancer>,
    /// The EC2 instances and their Auto Scaling group.
    pub(super) compute: RawCompute,
    /// A CloudFront distribution in front of the load balancer, serving the
    /// images bucket under `/media/*`. Default: off (no section).
    pub(super) cdn: Option<RawCdn>,
    /// An ElastiCache (Redis or Valkey) replication group for the app.
    /// Default: off (no section).
    pub(super) cache: Option<RawCache>,
    /// A CloudWatch dashboard named after the stack, and its alarms.
    /// Default: off (no section).
    pub(super) dashboard: Option<RawDashboard>,
    /// Route53 alias records pointing a name at the stack. Default: off (no section).
    pub(super) dns: Option<RawDns>,
}

/// The VPC and subnets the load balancer and instances live in.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Network")]
pub(super) struct RawNetwork {
    /// `default` for the region's default VPC, or a `vpc-…` id. Default: `default`.
    #[serde(default)]
    #[schemars(schema_with = "vpc_schema", extend("default" = "default"))]
    pub(super) vpc: Option<Spanned<String>>,
    /// `default` for the VPC's default subnets (at least two Availability Zones),
    /// or a list of at least two `subnet-…` ids in different zones. Default: `default`.
    #[schemars(with = "Option<RawSubnets>", extend("default" = "default"))]
    pub(super) subnets: Option<Spanned<RawSubnets>>,
}

/// Where uploaded images are kept.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Storage")]
pub(super) struct RawStorage {
    /// `auto` for `<stack>-images-<account id>`, or an explicit S3 bucket name.
    /// Default: `auto`.
    #[serde(default)]
    #[schemars(schema_with = "bucket_schema", extend("default" = "auto"))]
    pub(super) bucket: Option<Spanned<String>>,
}

/// The internet-facing Application Load Balancer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LoadBalancer")]
pub(super) struct RawLoadBalancer {
    /// The HTTP listener port. Default: 80.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535), extend("default" = 80))]
    pub(super) port: Option<Spanned<i64>>,
    /// How the target group spreads requests. Default: `round_robin`.
    #[schemars(with = "Option<RawAlgorithm>", extend("default" = "round_robin"))]
    pub(super) algorithm: Option<Spanned<RawAlgorithm>>,
    /// How the target group decides an instance is healthy. Every field has a default.
    pub(super) health_check: Option<RawHealthCheck>,
    /// Seconds a deregistering instance keeps serving in-flight requests, 0-3600. Default: 30.
    #[schemars(with = "Option<u32>", range(min = 0, max = 3600), extend("default" = 30))]
    pub(super) deregistration_delay: Option<Spanned<i64>>,
    /// ARN of an ACM certificate in the stack's region: the listener then
    /// speaks HTTPS on `port` (usually 443). Default: none, plain HTTP.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+){1,2}-[0-9]{1,2}:[0-9]{12}:certificate/[A-Za-z0-9-]+$"),
        extend("default" = null)
    )]
    pub(super) certificate_arn: Option<Spanned<String>>,
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
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HealthCheck")]
pub(super) struct RawHealthCheck {
    /// The path requested; starts with `/`, at most 1024 characters. Default: `/healthz`.
    #[schemars(
        with = "Option<String>",
        length(min = 1, max = 1024),
        regex(pattern = "^/"),
        extend("default" = "/healthz")
    )]
    pub(super) path: Option<Spanned<String>>,
    /// Seconds between checks, 5-300. Default: 15.
    #[schemars(with = "Option<u32>", range(min = 5, max = 300), extend("default" = 15))]
    pub(super) interval: Option<Spanned<i64>>,
    /// Seconds to wait for an answer, 2-120 and less than `interval`. Default: 5.
    #[schemars(with = "Option<u32>", range(min = 2, max = 120), extend("default" = 5))]
    pub(super) timeout: Option<Spanned<i64>>,
    /// Consecutive successes before an instance counts as healthy, 2-10. Default: 2.
    #[schemars(with = "Option<u32>", range(min = 2, max = 10), extend("default" = 2))]
    pub(super) healthy_threshold: Option<Spanned<i64>>,
    /// Consecutive failures before an instance counts as unhealthy, 2-10. Default: 3.
    #[schemars(with = "Option<u32>", range(min = 2, max = 10), extend("default" = 3))]
    pub(super) unhealthy_threshold: Option<Spanned<i64>>,
    /// HTTP codes that count as healthy (200-499): `200`, a list like `200,302`
    /// or a range like `200-299`. Default: `200`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^[0-9]{3}((,[0-9]{3})*|-[0-9]{3})$"),
        extend("default" = "200")
    )]
    pub(super) matcher: Option<Spanned<String>>,
}

/// The EC2 instances running the app, in an Auto Scaling group.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Compute")]
pub(super) struct RawCompute {
    /// `al2023` for the latest Amazon Linux 2023 x86_64 (looked up through its
    /// public SSM parameter), or an `ami-…` id. Default: `al2023`.
    #[serde(default)]
    #[schemars(schema_with = "image_schema", extend("default" = "al2023"))]
    pub(super) image: Option<Spanned<String>>,
    /// EC2 instance type, `family.size`, e.g. `t3.micro` or `m7g.large`.
    #[schemars(
        with = "String",
        regex(pattern = "^[a-z][a-z0-9-]*\\.[a-z0-9]+$"),
        example = "t3.micro"
    )]
    pub(super) instance_type: Spanned<String>,
    /// The port the app listens on; the target group forwards here. Default: 8000.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535), extend("default" = 8000))]
    pub(super) port: Option<Spanned<i64>>,
    /// Fewest instances, 1-1000 and at most `desired` and `max`. Default: 2.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000), extend("default" = 2))]
    pub(super) min: Option<Spanned<i64>>,
    /// Most instances, 1-1000 and at least `min`. Default: 10.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000), extend("default" = 10))]
    pub(super) max: Option<Spanned<i64>>,
    /// Instances to start with, between `min` and `max`. Default: `min`.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub(super) desired: Option<Spanned<i64>>,
    /// Average CPU percent (1-100) the group scales to keep, through target
    /// tracking on `ASGAverageCPUUtilization`. Default: 80.
    #[schemars(with = "Option<f64>", range(min = 1, max = 100), extend("default" = 50))]
    pub(super) cpu_target: Option<Spanned<f64>>,
    /// Seconds after launch before load-balancer health checks count, 0-7200. Default: 120.
    #[schemars(with = "Option<u32>", range(min = 0, max = 7200), extend("default" = 120))]
    pub(super) health_check_grace: Option<Spanned<i64>>,
    /// Boot script given to each instance, as a path relative to this file. It
    /// must start with `#!` or `#cloud-config` and be at most 16 KiB. Default:
    /// modu's own script, which serves a placeholder page until an app is deployed.
    #[schemars(with = "Option<String>")]
    pub(super) user_data: Option<Spanned<String>>,
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
pub(super) struct RawCdn {
    /// `false` turns the CDN off, as leaving the section out does. Default: `true`.
    #[schemars(extend("default" = true))]
    pub(super) enabled: Option<bool>,
    /// Which edge locations serve the stack: `PriceClass_100` (North America,
    /// Europe, Israel), `PriceClass_200` (also most of Asia, the Middle East and
    /// Africa) or `PriceClass_All` (every location). Default: `PriceClass_100`.
    #[schemars(with = "Option<RawPriceClass>", extend("default" = "PriceClass_100"))]
    pub(super) price_class: Option<Spanned<RawPriceClass>>,
    /// Extra domain names the distribution answers to (lowercase; `*.` allowed
    /// as the first label). They need `certificate_arn`. Default: none.
    #[serde(default)]
    #[schemars(schema_with = "aliases_schema", extend("default" = []))]
    pub(super) aliases: Option<Spanned<Vec<Spanned<String>>>>,
    /// ARN of an ACM certificate in us-east-1 (CloudFront takes no other
    /// region) covering every alias. Default: none, the `*.cloudfront.net` name only.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[A-Za-z0-9-]+$"),
        extend("default" = null)
    )]
    pub(super) certificate_arn: Option<Spanned<String>>,
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
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cache")]
pub(super) struct RawCache {
    /// `false` turns the cache off, as leaving the section out does. Default: `true`.
    #[schemars(extend("default" = true))]
    pub(super) enabled: Option<bool>,
    /// The cache engine. Default: `redis`.
    #[schemars(extend("default" = "redis"))]
    pub(super) engine: Option<RawCacheEngine>,
    /// ElastiCache node type, `cache.<family>.<size>`. Default: `cache.t3.micro`.
    #[schemars(
        with = "Option<String>",
        regex(pattern = "^cache\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$"),
        extend("default" = "cache.t3.micro")
    )]
    pub(super) node_type: Option<Spanned<String>>,
    /// Read replicas besides the primary, 0-5. One or more turns on automatic
    /// failover and Multi-AZ. Default: 1.
    #[schemars(with = "Option<u32>", range(min = 0, max = 5), extend("default" = 1))]
    pub(super) replicas: Option<Spanned<i64>>,
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
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Dashboard")]
pub(super) struct RawDashboard {
    /// `false` turns the dashboard and alarms off, as leaving the section out does.
    /// Default: `true`.
    #[schemars(extend("default" = true))]
    pub(super) enabled: Option<bool>,
    /// Also create alarms: load balancer 5xx rate, unhealthy hosts, cache CPU.
    /// Default: `true`.
    #[schemars(extend("default" = true))]
    pub(super) alarms: Option<bool>,
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
pub(super) struct RawDns {
    /// `false` turns DNS off, as leaving the section out does. Default: `true`.
    #[schemars(extend("default" = true))]
    pub(super) enabled: Option<bool>,
    /// The public hosted zone, e.g. `example.com`. It must exist unless
    /// `create_zone` is `true`. A trailing dot is accepted.
    #[schemars(
        with = "Option<String>",
        length(max = 254),
        regex(pattern = DNS_NAME_PATTERN),
        example = "example.com"
    )]
    pub(super) zone: Option<Spanned<String>>,
    /// The name to point at the stack: the zone itself or a name inside it,
    /// e.g. `www.example.com`. A trailing dot is accepted.
    #[schemars(
        with = "Option<String>",
        length(max = 254),
        regex(pattern = DNS_NAME_PATTERN),
        example = "www.example.com"
    )]
    pub(super) record: Option<Spanned<String>>,
    /// What the record points at. With `cdn` and the CDN turned off, it points
    /// at the load balancer. Default: `cdn`.
    #[schemars(extend("default" = "cdn"))]
    pub(super) target: Option<RawDnsTarget>,
    /// Create the hosted zone when there is none of that name (and delete it
    /// on `down`, as modu created it). Default: `false`.
    #[schemars(extend("default" = false))]
    pub(super) create_zone: Option<bool>,
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
pub(super) struct RawTags(pub(super) Vec<(Spanned<String>, Spanned<String>)>);

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
pub(super) enum RawSubnets {
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
