//! The validated stack model: what the rest of modu works from.
//!
//! Values here have passed validation (see `parse`), so resources can rely on
//! them without re-checking ranges or formats.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::diagnostics::Findings;

/// A whole stack, as declared in one YAML file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    /// 1-20 chars of `[a-z0-9-]`, starting with a letter; prefixes every resource name.
    pub stack: String,
    pub region: String,
    /// Extra tags put on every resource, besides modu's own `modu:*` tags.
    pub tags: BTreeMap<String, String>,
    pub network: Network,
    pub storage: Storage,
    pub load_balancer: LoadBalancer,
    pub compute: Compute,
    /// CloudFront in front of the load balancer; `None` when disabled or absent.
    pub cdn: Option<Cdn>,
    /// ElastiCache (Redis or Valkey) for sessions and cache; `None` when disabled or absent.
    pub cache: Option<Cache>,
    /// CloudWatch dashboard (and alarms); `None` when disabled or absent.
    pub dashboard: Option<Dashboard>,
    /// Route53 alias records; `None` when absent.
    pub dns: Option<Dns>,
    /// The resume service on the instances; `None` when absent.
    pub app: Option<App>,
    /// RDS PostgreSQL shared by the instances; `None` when disabled or absent.
    pub database: Option<Database>,
    /// The file the spec was read from (relative paths inside it resolve against its folder).
    #[serde(skip)]
    pub source: PathBuf,
    /// Warnings, and the example domains that need `--allow-example-domains`.
    #[serde(skip)]
    pub findings: Findings,
}

impl Spec {
    /// The name CloudFront reaches the load balancer by over HTTPS: modu points it at the
    /// load balancer in the stack's zone. One label under the zone, so a `*.<zone>`
    /// certificate covers it, and the stack's name in it, so stacks can share a zone.
    /// `None` when the CDN is off or reaches the load balancer over HTTP.
    /// Whether the load balancer answers CloudFront only (its security group, the origin
    /// header): whenever the CDN is on, unless the DNS record sends viewers straight to
    /// the load balancer (`dns.target: load_balancer`), which then must serve them.
    pub fn origin_behind_cdn(&self) -> bool {
        self.cdn.is_some()
            && self
                .dns
                .as_ref()
                .is_none_or(|dns| dns.target != DnsTarget::LoadBalancer)
    }

    pub fn origin_name(&self) -> Option<String> {
        let cdn = self.cdn.as_ref()?;
        let dns = self.dns.as_ref()?;
        (cdn.origin_protocol == OriginProtocol::Https)
            .then(|| format!("origin-{}.{}", self.stack, dns.zone))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub vpc: VpcRef,
    pub subnets: SubnetsRef,
    /// Interface endpoints for private instances, in a fixed order; empty for none (always
    /// empty unless the subnets are [`SubnetsRef::Tiered`]).
    pub interface_endpoints: Vec<EndpointService>,
}

impl Network {
    /// True when the instances live in private subnets, apart from the load balancer:
    /// they get no public IP address and reach S3 through the stack's gateway endpoint.
    pub fn is_private(&self) -> bool {
        matches!(self.subnets, SubnetsRef::Tiered { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VpcRef {
    /// The region's default VPC.
    Default,
    /// An explicit `vpc-…` id.
    Id(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubnetsRef {
    /// The VPC's default-for-AZ subnets (at least two AZs).
    Default,
    /// Explicit `subnet-…` ids (at least two, in different AZs).
    Ids(Vec<String>),
    /// The load balancer in `public` (at least two, in different AZs), the instances,
    /// cache and database in `private` (at least two; no id in both lists).
    Tiered {
        public: Vec<String>,
        private: Vec<String>,
    },
}

/// A service that private instances reach through an interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointService {
    Ssm,
    Ssmmessages,
    Ec2messages,
    Logs,
    Secretsmanager,
    Monitoring,
}

impl EndpointService {
    pub const ALL: [EndpointService; 6] = [
        EndpointService::Ssm,
        EndpointService::Ssmmessages,
        EndpointService::Ec2messages,
        EndpointService::Logs,
        EndpointService::Secretsmanager,
        EndpointService::Monitoring,
    ];

    /// The last part of the endpoint service name, `com.amazonaws.<region>.<this>`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointService::Ssm => "ssm",
            EndpointService::Ssmmessages => "ssmmessages",
            EndpointService::Ec2messages => "ec2messages",
            EndpointService::Logs => "logs",
            EndpointService::Secretsmanager => "secretsmanager",
            EndpointService::Monitoring => "monitoring",
        }
    }

    /// The endpoint service name in `region`.
    pub fn service_name(self, region: &str) -> String {
        format!("com.amazonaws.{region}.{}", self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Storage {
    pub bucket: BucketRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketRef {
    /// `<stack>-images-<account id>`.
    Auto,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadBalancer {
    /// The HTTP listener port.
    pub port: u16,
    pub algorithm: Algorithm,
    pub health_check: HealthCheck,
    /// Seconds a deregistering target keeps serving in-flight requests.
    pub deregistration_delay: u32,
    /// ACM certificate for an HTTPS listener on `port`; `None` for plain HTTP.
    pub certificate_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
}

impl Algorithm {
    /// The value of the target group attribute `load_balancing.algorithm.type`.
    pub fn aws_value(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::LeastOutstandingRequests => "least_outstanding_requests",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    /// Starts with `/`, at most 1024 chars.
    pub path: String,
    /// Seconds between checks, 5-300.
    pub interval: u32,
    /// Seconds to wait for an answer, 2-120 and less than `interval`.
    pub timeout: u32,
    /// 2-10.
    pub healthy_threshold: u32,
    /// 2-10.
    pub unhealthy_threshold: u32,
    /// HTTP codes that count as healthy, e.g. `200` or `200-299`.
    pub matcher: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compute {
    pub image: ImageRef,
    pub instance_type: String,
    /// The app's port; the target group forwards here.
    pub port: u16,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    /// Target of the ASGAverageCPUUtilization tracking policy, percent (1-100).
    pub cpu_target: f64,
    /// Seconds after launch before ELB health checks count.
    pub health_check_grace: u32,
    pub user_data: UserData,
    /// A burstable type's CPU credit option; `None` leaves the account's default.
    pub credit_specification: Option<CreditSpecification>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditSpecification {
    Standard,
    Unlimited,
}

impl CreditSpecification {
    /// The launch template's `CreditSpecification.CpuCredits`.
    pub fn aws_value(self) -> &'static str {
        match self {
            CreditSpecification::Standard => "standard",
            CreditSpecification::Unlimited => "unlimited",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageRef {
    /// Latest Amazon Linux 2023 x86_64, resolved through the public SSM parameter.
    Al2023,
    Ami(String),
}

impl ImageRef {
    /// The public SSM parameter that names the latest Amazon Linux 2023 AMI.
    pub const AL2023_PARAMETER: &'static str =
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

    /// As the spec writes it: `al2023` or the AMI id.
    pub fn source(&self) -> &str {
        match self {
            ImageRef::Al2023 => "al2023",
            ImageRef::Ami(id) => id,
        }
    }
}

/// The boot script given to instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserData {
    /// The file it came from, or `None` for modu's default boot script.
    pub file: Option<PathBuf>,
    /// The script itself (already read, so `up` never fails late on a missing file).
    #[serde(skip)]
    pub script: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cdn {
    pub price_class: PriceClass,
    /// Extra domain names served by the distribution (they need `certificate_arn`):
    /// lowercase, unique, without a trailing dot; the first label may be `*`.
    pub aliases: Vec<String>,
    /// ACM certificate in us-east-1 covering `aliases`.
    pub certificate_arn: Option<String>,
    pub origin_protocol: OriginProtocol,
}

/// How CloudFront reaches the load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginProtocol {
    /// HTTPS to [`Spec::origin_name`], which the load balancer's certificate covers.
    Https,
    /// Plain HTTP to the load balancer's own name.
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PriceClass {
    #[serde(rename = "PriceClass_100")]
    PriceClass100,
    #[serde(rename = "PriceClass_200")]
    PriceClass200,
    #[serde(rename = "PriceClass_All")]
    PriceClassAll,
}

impl PriceClass {
    pub fn aws_value(self) -> &'static str {
        match self {
            PriceClass::PriceClass100 => "PriceClass_100",
            PriceClass::PriceClass200 => "PriceClass_200",
            PriceClass::PriceClassAll => "PriceClass_All",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cache {
    pub engine: CacheEngine,
    /// `cache.` node type, e.g. `cache.t3.micro`.
    pub node_type: String,
    /// Read replicas (0-5); one or more turns on automatic failover and multi-AZ.
    pub replicas: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheEngine {
    Redis,
    Valkey,
}

impl CacheEngine {
    pub fn aws_value(self) -> &'static str {
        match self {
            CacheEngine::Redis => "redis",
            CacheEngine::Valkey => "valkey",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// Also create the stack's alarms (5xx rate, unhealthy hosts, cache CPU).
    pub alarms: bool,
    /// Whom the alarms tell when they fire and when they are OK again.
    pub notify: Notify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// Nobody: the alarms only change state (and the dashboard shows it).
    Nobody,
    /// These addresses, subscribed to the topic `<stack>-alarms` that modu creates.
    Emails(Vec<String>),
    /// An existing SNS topic, by ARN, which modu does not manage.
    Topic(String),
}

impl Dashboard {
    /// The addresses of the topic modu creates; empty when it creates none.
    pub fn emails(&self) -> &[String] {
        match &self.notify {
            Notify::Emails(emails) if self.alarms => emails,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dns {
    /// An existing public hosted zone, e.g. `example.com` (no trailing dot).
    pub zone: String,
    /// The record to point at the stack, inside `zone`, e.g. `www.example.com`.
    pub record: String,
    pub target: DnsTarget,
    /// Create the hosted zone when it does not exist (and delete it on `down`).
    pub create_zone: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsTarget {
    /// The CloudFront distribution; the load balancer when `Spec::cdn` is `None`.
    Cdn,
    /// The load balancer, even when there is a CDN.
    LoadBalancer,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct App {
    pub artifact: Artifact,
    /// Extra environment variables of the service (names checked, none of modu's own).
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Artifact {
    /// modu builds modu-app for the instances from the workspace the spec is in.
    Build,
    /// A prebuilt binary (checked to exist when the spec is read).
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Database {
    /// PostgreSQL version, major (`16`) or full (`16.4`).
    pub engine_version: String,
    /// `db.` instance class, e.g. `db.t4g.micro`.
    pub instance_class: String,
    /// GiB of gp3 storage, 20-65536.
    pub storage_gb: u32,
    pub multi_az: bool,
}
