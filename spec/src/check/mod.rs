//! The checks: the raw structs of a spec become the validated [`Spec`], and
//! every problem found on the way is noted with its position, so that all of
//! them are reported together with those the reader found.
//!
//! A field the reader could not read ([`Field::Invalid`]) is already reported:
//! the checks skip it, and any check that compares it with another field.
//!
//! This file holds the [`Checker`] and the stack-wide parts (name, region,
//! tags, network, storage) plus what several parts share (numbers in a range,
//! certificate ARNs, DNS names); `load_balancer.rs`, `compute.rs` and
//! `tiers.rs` check the rest.

mod app;
mod compute;
mod load_balancer;
mod tiers;

use std::collections::{BTreeMap, HashSet};

use serde_saphyr::{Location, Spanned};

use super::diagnostics::{Findings, Reporter, SpecError};
use super::model::{BucketRef, EndpointService, Network, Spec, Storage, SubnetsRef, VpcRef};
use super::raw::{
    Field, RawEndpointService, RawInterfaceEndpoints, RawNetwork, RawSpec, RawStorage, RawSubnets,
    RawTags,
};
use super::rules::{
    MAX_EXTRA_TAGS, acm_certificate_region, check_bucket_name, check_dns_name, is_aws_id,
    is_region, suggest_stack_name,
};
use super::yaml::Node;

const PUBLIC_SUBNETS: &str = "network.public_subnets";
const PRIVATE_SUBNETS: &str = "network.private_subnets";

fn endpoint_service(raw: RawEndpointService) -> EndpointService {
    match raw {
        RawEndpointService::Ssm => EndpointService::Ssm,
        RawEndpointService::Ssmmessages => EndpointService::Ssmmessages,
        RawEndpointService::Ec2messages => EndpointService::Ec2messages,
        RawEndpointService::Logs => EndpointService::Logs,
        RawEndpointService::Secretsmanager => EndpointService::Secretsmanager,
        RawEndpointService::Monitoring => EndpointService::Monitoring,
    }
}

const CERTIFICATE_ARN_HINT: &str = "arn:aws:acm:<region>:<account id>:certificate/<id>";

/// Checks `raw`, read from `tree`, into the model. `out` holds what the
/// reader found already; the result is the model only if nothing was found.
pub(super) fn check(raw: RawSpec, tree: &Node, out: Reporter<'_>) -> Result<Spec, SpecError> {
    let mut checker = Checker { out, tree };
    let mut spec = checker.spec(raw);
    spec.findings = checker.out.take_findings();
    checker.out.finish(spec)
}

/// Walks the raw spec, building the model and noting every problem on the way.
struct Checker<'a> {
    out: Reporter<'a>,
    /// The file's YAML tree, to point at a section's key.
    tree: &'a Node,
}

impl Checker<'_> {
    fn report(&mut self, at: &Location, field: &str, message: impl Into<String>) {
        self.out.report(at, field, message);
    }

    fn report_with_help(
        &mut self,
        at: &Location,
        field: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.out.report_with_help(at, field, message, help);
    }

    /// An optional whole number within `range`, or `default` when absent (or
    /// unreadable: callers that compare numbers check [`Field::is_invalid`]).
    fn number(
        &mut self,
        field: &str,
        value: &Field<i64>,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> i64 {
        let Some(value) = value.given() else {
            return default;
        };
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
        // A missing or unreadable stack or region is reported already.
        let stack = raw
            .stack
            .given()
            .map(|stack| self.stack_name(stack))
            .unwrap_or_default();
        let region = raw
            .region
            .given()
            .map(|region| self.region(region))
            .unwrap_or_default();
        let tags = self.tags(raw.tags.into_value().unwrap_or_default());
        let network = self.network(raw.network.into_value().unwrap_or_default());
        let storage = self.storage(raw.storage.into_value().unwrap_or_default());
        let load_balancer =
            self.load_balancer(raw.load_balancer.into_value().unwrap_or_default(), &region);
        let compute = self.compute(
            raw.compute.into_value().unwrap_or_default(),
            &load_balancer.health_check,
        );
        let dns = raw.dns.into_value().and_then(|raw| self.dns(raw));
        let cdn = raw
            .cdn
            .into_value()
            .and_then(|raw| self.cdn(raw, &load_balancer, dns.as_ref()));
        if cdn.is_some()
            && dns
                .as_ref()
                .is_some_and(|d| d.target == super::model::DnsTarget::LoadBalancer)
        {
            let at = self.tree.key_location("dns").unwrap_or(Location::UNKNOWN);
            self.out.warn(
                &at,
                "dns.target",
                "the record sends viewers straight to the load balancer, so it stays open to \
                 everyone: the CDN does not guard it"
                    .to_owned(),
                "point `dns.target` at `cdn` to let the load balancer answer CloudFront only"
                    .to_owned(),
            );
        }
        let cache = raw.cache.into_value().and_then(|raw| self.cache(raw));
        let dashboard = raw
            .dashboard
            .into_value()
            .and_then(|raw| self.dashboard(raw, &region));
        let app = raw
            .app
            .into_value()
            .map(|raw| self.app(raw, compute.user_data.file.is_some()));
        let database = raw.database.into_value().and_then(|raw| self.database(raw));
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
            app,
            database,
            source: self.out.file().to_path_buf(),
            findings: Findings::default(),
        }
    }

    fn stack_name(&mut self, stack: &Spanned<String>) -> String {
        /// The prefixes AWS keeps for itself, as the stack would start its names
        /// (`<stack>-lb`, `<stack>-app`…).
        fn reserved_prefix(name: &str) -> Option<&'static str> {
            ["internal-", "sg-"]
                .into_iter()
                .find(|prefix| format!("{name}-").starts_with(prefix))
        }
        let name = &stack.value;
        let mut example = suggest_stack_name(name);
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
        } else if let Some(prefix) = reserved_prefix(name) {
            let rest = format!("{name}-")
                .strip_prefix(prefix)
                .unwrap_or_default()
                .trim_end_matches('-')
                .to_owned();
            example = if rest.is_empty() { "web".into() } else { rest };
            Some(format!(
                "makes resource names starting `{prefix}`, which AWS refuses (for load \
                 balancers `internal-`, for security groups `sg-`)"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            let help = Some(format!("for example `{example}`"));
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
            let value = value.into_given();
            if let Some(value) = value.as_ref().filter(|v| v.value.chars().count() > 256) {
                self.report(
                    &value.referenced,
                    &field,
                    "tag values must be at most 256 characters",
                );
            }
            out.insert(key.value, value.map(|v| v.value).unwrap_or_default());
        }
        out
    }

    fn network(&mut self, raw: RawNetwork) -> Network {
        let vpc = match raw.vpc.into_given() {
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
        let public = raw
            .public_subnets
            .into_given()
            .map(|list| (PUBLIC_SUBNETS, list));
        let private = raw
            .private_subnets
            .into_given()
            .map(|list| (PRIVATE_SUBNETS, list));
        let subnets = match (raw.subnets.into_given(), public, private) {
            (shared, None, None) => shared.map_or(SubnetsRef::Default, |s| self.subnets(s)),
            (Some(shared), Some((field, list)), _) | (Some(shared), None, Some((field, list))) => {
                self.report_with_help(
                    &list.referenced,
                    field,
                    "cannot be given with `network.subnets`, which holds the load balancer \
                     and the instances alike",
                    Some("remove `subnets`, or `public_subnets` and `private_subnets`".to_owned()),
                );
                self.subnets(shared)
            }
            (None, Some((_, public)), Some((_, private))) => {
                let public = self.subnet_ids(public.value, &public.referenced, PUBLIC_SUBNETS);
                let private = self.subnet_ids(private.value, &private.referenced, PRIVATE_SUBNETS);
                self.report_shared_subnets(&public, &private);
                let ids = |list: Vec<(usize, Spanned<String>)>| {
                    list.into_iter().map(|(_, id)| id.value).collect()
                };
                SubnetsRef::Tiered {
                    public: ids(public),
                    private: ids(private),
                }
            }
            (None, Some((field, list)), None) | (None, None, Some((field, list))) => {
                let missing = if field == PUBLIC_SUBNETS {
                    PRIVATE_SUBNETS
                } else {
                    PUBLIC_SUBNETS
                };
                self.report_with_help(
                    &list.referenced,
                    field,
                    format!("needs `{missing}` too"),
                    Some(
                        "list the load balancer's subnets in `public_subnets` and the \
                         instances' in `private_subnets`, or both in `subnets`"
                            .to_owned(),
                    ),
                );
                SubnetsRef::Default
            }
        };
        let private = matches!(subnets, SubnetsRef::Tiered { .. });
        let interface_endpoints = raw
            .interface_endpoints
            .into_given()
            .map(|given| self.interface_endpoints(given, private))
            .unwrap_or_default();
        Network {
            vpc,
            subnets,
            interface_endpoints,
        }
    }

    /// `network.subnets`: the keyword `default` or one list for everything.
    fn subnets(&mut self, given: Spanned<RawSubnets>) -> SubnetsRef {
        match given.value {
            RawSubnets::Keyword(word) => {
                if word != "default" {
                    self.report(
                        &given.referenced,
                        "network.subnets",
                        format!("`{word}` is not `default` or a list of subnet ids"),
                    );
                }
                SubnetsRef::Default
            }
            RawSubnets::Ids(ids) => SubnetsRef::Ids(
                self.subnet_ids(ids, &given.referenced, "network.subnets")
                    .into_iter()
                    .map(|(_, id)| id.value)
                    .collect(),
            ),
        }
    }

    /// A list of subnet ids at `field`: at least two, well-formed, none twice. Returns the
    /// readable ones with their index in the list.
    fn subnet_ids(
        &mut self,
        ids: Vec<Field<String>>,
        list_at: &Location,
        field: &str,
    ) -> Vec<(usize, Spanned<String>)> {
        // An unreadable id is reported already; without it the count means little.
        let all_readable = !ids.iter().any(Field::is_invalid);
        let ids: Vec<(usize, Spanned<String>)> = ids
            .into_iter()
            .enumerate()
            .filter_map(|(index, id)| Some((index, id.into_given()?)))
            .collect();
        let unique: HashSet<&str> = ids.iter().map(|(_, id)| id.value.as_str()).collect();
        if all_readable && unique.len() < 2 {
            let why = if field == PRIVATE_SUBNETS {
                "the instances, cache and database span two or more Availability Zones"
            } else {
                "the load balancer spans two or more Availability Zones"
            };
            self.report_with_help(
                list_at,
                field,
                format!(
                    "needs at least 2 different subnets (got {}); {why}",
                    unique.len()
                ),
                Some("list subnets in different zones, or use `subnets: default`".to_owned()),
            );
        }
        let mut seen = HashSet::new();
        for (index, id) in &ids {
            let item = format!("{field}[{index}]");
            if !is_aws_id(&id.value, "subnet-") {
                self.report_with_help(
                    &id.referenced,
                    &item,
                    format!("`{}` is not a subnet id", id.value),
                    Some("subnet ids look like `subnet-0123456789abcdef0`".to_owned()),
                );
            } else if !seen.insert(id.value.as_str()) {
                self.report(
                    &id.referenced,
                    &item,
                    format!("`{}` is listed twice", id.value),
                );
            }
        }
        ids
    }

    /// A subnet is the load balancer's or the instances': one in both lists would give
    /// the instances a route to the internet gateway, which private subnets must not have.
    fn report_shared_subnets(
        &mut self,
        public: &[(usize, Spanned<String>)],
        private: &[(usize, Spanned<String>)],
    ) {
        let public_ids: HashSet<&str> = public.iter().map(|(_, id)| id.value.as_str()).collect();
        for (index, id) in private {
            if public_ids.contains(id.value.as_str()) {
                self.report_with_help(
                    &id.referenced,
                    &format!("{PRIVATE_SUBNETS}[{index}]"),
                    format!("`{}` is in `{PUBLIC_SUBNETS}` too", id.value),
                    Some(
                        "the instances' subnets must be private: list each subnet in one \
                         of the two lists"
                            .to_owned(),
                    ),
                );
            }
        }
    }

    /// `network.interface_endpoints`, in [`EndpointService::ALL`]'s order. They serve
    /// private subnets only: with public IP addresses the instances reach the services
    /// directly, and the endpoints would cost money for nothing.
    fn interface_endpoints(
        &mut self,
        given: Spanned<RawInterfaceEndpoints>,
        private: bool,
    ) -> Vec<EndpointService> {
        let services: Vec<EndpointService> = match given.value {
            RawInterfaceEndpoints::All(false) => return Vec::new(),
            RawInterfaceEndpoints::All(true) => EndpointService::ALL.to_vec(),
            RawInterfaceEndpoints::Services(list) => {
                let mut seen = HashSet::new();
                let mut services = Vec::new();
                for (index, item) in list.into_iter().enumerate() {
                    let Some(item) = item.into_given() else {
                        continue;
                    };
                    let service = endpoint_service(item.value);
                    if !seen.insert(service) {
                        self.report(
                            &item.referenced,
                            &format!("network.interface_endpoints[{index}]"),
                            format!("`{}` is listed twice", service.as_str()),
                        );
                    }
                    services.push(service);
                }
                EndpointService::ALL
                    .into_iter()
                    .filter(|s| services.contains(s))
                    .collect()
            }
        };
        if !private && !services.is_empty() {
            self.report_with_help(
                &given.referenced,
                "network.interface_endpoints",
                "serve instances in `private_subnets` only",
                Some(
                    "give `public_subnets` and `private_subnets`, or remove \
                     `interface_endpoints`: instances with public addresses reach AWS directly"
                        .to_owned(),
                ),
            );
        }
        services
    }

    fn storage(&mut self, raw: RawStorage) -> Storage {
        let bucket = match raw.bucket.into_given() {
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
}

/// A section's `enabled`, `true` when absent. An unreadable one is reported
/// already; the section's other fields are still checked.
fn switch(enabled: &Field<bool>) -> bool {
    enabled.value().copied().unwrap_or(true)
}

fn to_u16(n: i64) -> u16 {
    u16::try_from(n).unwrap_or_default()
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::rules::MAX_EXTRA_TAGS;
    use crate::testing::{BASE, assert_single_error, errors, parse};
    use crate::{EndpointService, SubnetsRef};

    #[test]
    fn bad_stack_name_gets_a_suggestion() {
        assert_single_error(
            "stack: Modu_Prod\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:1:8: stack: must start with a lowercase letter (help: for example `modu-prod`)",
        );
    }

    #[test]
    fn stack_names_that_make_names_aws_keeps_for_itself_are_refused() {
        for (name, prefix, example) in [
            ("internal", "internal-", "web"),
            ("internal-shop", "internal-", "shop"),
            ("sg", "sg-", "web"),
            ("sg-shop-2", "sg-", "shop-2"),
        ] {
            let yaml = BASE.replace("stack: modu", &format!("stack: {name}"));
            assert_single_error(
                &yaml,
                &format!(
                    "stacks/modu.yaml:1:8: stack: makes resource names starting `{prefix}`, \
                     which AWS refuses (for load balancers `internal-`, for security groups \
                     `sg-`) (help: for example `{example}`)"
                ),
            );
        }
        for fine in ["internals", "sgw", "web-internal"] {
            let yaml = BASE.replace("stack: modu", &format!("stack: {fine}"));
            crate::testing::parse(&yaml).expect("a fine name");
        }
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

    const TIERED: &str = "network:\n  public_subnets: [subnet-0a0a0a0a, subnet-0b0b0b0b]\n  private_subnets: [subnet-1a1a1a1a, subnet-1b1b1b1b]\n";

    #[test]
    fn public_and_private_subnets_make_a_private_network() {
        let spec = parse(&format!(
            "{BASE}{TIERED}  interface_endpoints: [logs, ssm]\n"
        ))
        .unwrap();
        assert_eq!(
            spec.network.subnets,
            SubnetsRef::Tiered {
                public: vec!["subnet-0a0a0a0a".into(), "subnet-0b0b0b0b".into()],
                private: vec!["subnet-1a1a1a1a".into(), "subnet-1b1b1b1b".into()],
            }
        );
        assert!(spec.network.is_private());
        // In the fixed order, whatever the file's.
        assert_eq!(
            spec.network.interface_endpoints,
            [EndpointService::Ssm, EndpointService::Logs]
        );
        let all = parse(&format!("{BASE}{TIERED}  interface_endpoints: true\n")).unwrap();
        assert_eq!(all.network.interface_endpoints, EndpointService::ALL);
        let off = parse(&format!("{BASE}{TIERED}  interface_endpoints: false\n")).unwrap();
        assert!(off.network.interface_endpoints.is_empty());
        // Existing specs: one list (or the default) for everything, with public addresses.
        assert!(!parse(BASE).unwrap().network.is_private());
    }

    #[test]
    fn one_tier_alone_or_with_subnets_is_located() {
        assert_single_error(
            &format!("{BASE}network:\n  private_subnets: [subnet-1a1a1a1a, subnet-1b1b1b1b]\n"),
            "stacks/modu.yaml:6:20: network.private_subnets: needs `network.public_subnets` too",
        );
        assert_single_error(
            &format!(
                "{BASE}network:\n  subnets: default\n  public_subnets: [subnet-0a0a0a0a, subnet-0b0b0b0b]\n"
            ),
            "stacks/modu.yaml:7:19: network.public_subnets: cannot be given with `network.subnets`",
        );
    }

    #[test]
    fn a_subnet_in_both_tiers_and_short_lists_are_located() {
        let lines = errors(&format!(
            "{BASE}network:\n  public_subnets: [subnet-0a0a0a0a, subnet-0b0b0b0b]\n  private_subnets: [subnet-0b0b0b0b]\n"
        ));
        assert_eq!(
            lines,
            [
                "stacks/modu.yaml:7:20: network.private_subnets: needs at least 2 different subnets (got 1); the instances, cache and database span two or more Availability Zones (help: list subnets in different zones, or use `subnets: default`)",
                "stacks/modu.yaml:7:21: network.private_subnets[0]: `subnet-0b0b0b0b` is in `network.public_subnets` too (help: the instances' subnets must be private: list each subnet in one of the two lists)",
            ]
        );
    }

    #[test]
    fn interface_endpoints_need_private_subnets_and_known_services() {
        assert_single_error(
            &format!("{BASE}network:\n  interface_endpoints: true\n"),
            "stacks/modu.yaml:6:24: network.interface_endpoints: serve instances in `private_subnets` only",
        );
        assert_single_error(
            &format!("{BASE}{TIERED}  interface_endpoints: [ssm, s3]\n"),
            "stacks/modu.yaml:8:30: network.interface_endpoints[1]: unknown value `s3`",
        );
        assert_single_error(
            &format!("{BASE}{TIERED}  interface_endpoints: [logs, logs]\n"),
            "stacks/modu.yaml:8:31: network.interface_endpoints[1]: `logs` is listed twice",
        );
        assert_single_error(
            &format!("{BASE}{TIERED}  interface_endpoints: some\n"),
            "stacks/modu.yaml:8:24: network.interface_endpoints: expected true, false or a list of services, found `some`",
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
    fn a_mistyped_value_is_left_out_of_the_checks_that_need_it() {
        // min is unreadable: neither it nor its default is compared with max.
        assert_single_error(
            &format!("{BASE}  min: two\n  max: 1\n"),
            "stacks/modu.yaml:5:8: compute.min: expected a whole number, found `two`",
        );
        assert_single_error(
            "stack: modu\nregion: us-east-1\nload_balancer:\n  health_check:\n    interval: 5\n    timeout: soon\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:6:14: load_balancer.health_check.timeout: expected a whole number, found `soon`",
        );
    }
}
