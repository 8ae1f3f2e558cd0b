//! The way in: [`load`] reads a spec file, [`parse_bytes`] checks its bytes as
//! read (text that is not UTF-8 is one problem, at its first bad byte) and
//! [`parse_str`] checks spec text, in three steps: YAML text to a tree (`yaml.rs`), the tree to the raw
//! structs (`read/`), then the checks that build the validated [`Spec`]
//! (`check/`). Only text that is not YAML stops before the checks; every
//! other problem of the file, of shape or of meaning, is reported together.
//! Nothing here talks to AWS.

use std::path::Path;

use super::check::check;
use super::diagnostics::{Reporter, SpecError};
use super::model::Spec;
use super::read::read_spec;
use super::yaml::read_tree;

/// Reads and validates the spec at `path`.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let bytes = std::fs::read(path).map_err(|err| {
        SpecError::unreadable(path, format!("cannot read {}: {err}", path.display()))
    })?;
    parse_bytes(&bytes, path)
}

/// Validates the spec file `path` whose content is `bytes`: what [`load`] does
/// once the file is read.
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Spec, SpecError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_str(text, path),
        Err(err) => Err(SpecError::not_utf8(bytes, err.valid_up_to(), path)),
    }
}

/// Validates spec `text`. `path` names the file in messages, and `user_data`
/// is read relative to its folder.
pub fn parse_str(text: &str, path: &Path) -> Result<Spec, SpecError> {
    let tree = read_tree(text, path)
        .map_err(|problem| SpecError::new(vec![*problem], path, Some(text)))?;
    let mut out = Reporter::new(path, text);
    let raw = read_spec(&tree, &mut out);
    check(raw, &tree, out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::model::*;
    use crate::testing::{BASE, CDN_CERT, parse, repo_root, test_dir};

    /// The reference spec shipped in `stacks/`, as users first see it.
    const REFERENCE: &str = include_str!("../../stacks/modu.yaml");

    #[test]
    fn reference_spec_parses_to_the_expected_model() {
        let dir = test_dir("reference");
        let path = dir.join("modu.yaml");
        let mut spec = parse_str(REFERENCE, &path).expect("reference spec is valid");
        // Its findings: the zone is a placeholder for the user's own domain, and CloudFront
        // reaches the load balancer over HTTP until the user gives it a certificate.
        let findings = std::mem::take(&mut spec.findings);
        let warned: Vec<&str> = findings.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(warned, ["cdn.origin_protocol"]);
        let zone = &findings.example_domains;
        assert_eq!(zone.len(), 1, "{zone:?}");
        assert_eq!(zone[0].field, "dns.zone");
        assert!(
            REFERENCE
                .lines()
                .nth(zone[0].line - 1)
                .unwrap()
                .contains("zone: example.com"),
            "{zone:?}"
        );
        let expected = Spec {
            stack: "modu".into(),
            region: "us-east-1".into(),
            tags: BTreeMap::from([("project".into(), "modu".into())]),
            network: Network {
                vpc: VpcRef::Default,
                subnets: SubnetsRef::Default,
                interface_endpoints: Vec::new(),
            },
            storage: Storage {
                bucket: BucketRef::Auto,
            },
            load_balancer: LoadBalancer {
                port: 80,
                algorithm: Algorithm::RoundRobin,
                health_check: HealthCheck {
                    path: "/readyz".into(),
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
                instance_type: "c7i.large".into(),
                port: 8000,
                min: 2,
                max: 10,
                desired: 2,
                cpu_target: 80.0,
                health_check_grace: 120,
                user_data: UserData {
                    file: None,
                    script: crate::boot_script::default_boot_script(8000, "/readyz"),
                },
                credit_specification: None,
            },
            cdn: Some(Cdn {
                price_class: PriceClass::PriceClass200,
                aliases: Vec::new(),
                certificate_arn: None,
                origin_protocol: OriginProtocol::Http,
            }),
            cache: Some(Cache {
                engine: CacheEngine::Redis,
                node_type: "cache.t3.micro".into(),
                replicas: 1,
            }),
            dashboard: Some(Dashboard {
                alarms: true,
                notify: Notify::Nobody,
            }),
            dns: Some(Dns {
                zone: "example.com".into(),
                record: "awstest.example.com".into(),
                target: DnsTarget::Cdn,
                create_zone: true,
            }),
            app: Some(App {
                artifact: Artifact::Build,
                env: BTreeMap::from([("RUST_LOG".into(), "info,sqlx=warn,aws=warn".into())]),
            }),
            database: Some(Database {
                engine_version: "16".into(),
                instance_class: "db.t4g.micro".into(),
                storage_gb: 20,
                multi_az: false,
            }),
            source: path,
            findings: Default::default(),
        };
        assert_eq!(spec, expected);
    }

    #[test]
    fn a_burstable_type_above_its_baseline_is_a_located_warning() {
        let spec = parse("stack: modu\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n")
            .expect("valid");
        let [warning] = &spec.findings.warnings[..] else {
            panic!("one warning: {:?}", spec.findings);
        };
        let text = warning.to_string();
        assert!(
            text.starts_with(
                "stacks/modu.yaml:4:18: compute.instance_type: `t3.micro` is burstable with a \
                 baseline of 10 % per vCPU: above it, a 80 % CPU target"
            ),
            "{text}"
        );
        assert!(
            text.contains("(help: use a type with a fixed CPU"),
            "{text}"
        );
        // At or below the baseline, and a fixed-CPU type: nothing to say.
        for quiet in [
            "  instance_type: t3.large\n  cpu_target: 30\n",
            "  instance_type: c7i.large\n",
        ] {
            let spec = parse(&format!(
                "stack: modu\nregion: us-east-1\ncompute:\n{quiet}"
            ))
            .expect("valid");
            assert_eq!(spec.findings, Default::default(), "{quiet}");
        }
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
        assert_eq!(c.cpu_target, 80.0);
        assert_eq!(c.health_check_grace, 120);
        assert_eq!(c.user_data.file, None);
        assert!(c.user_data.script.starts_with("#!/bin/bash"));
        assert_eq!(spec.source, Path::new("stacks/modu.yaml"));
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
        assert_eq!(
            production.dashboard,
            Some(Dashboard {
                alarms: true,
                notify: Notify::Emails(vec!["oncall@example.com".into()])
            })
        );
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
    fn tier_defaults() {
        let yaml = format!(
            "{BASE}cdn:\n  enabled: true\n  origin_protocol: http\ncache:\n  enabled: true\ndashboard:\n  enabled: true\ndns:\n  zone: example.com\n  record: example.com\n"
        );
        let spec = parse(&yaml).expect("valid");
        assert_eq!(
            spec.cdn,
            Some(Cdn {
                price_class: PriceClass::PriceClass100,
                aliases: Vec::new(),
                certificate_arn: None,
                origin_protocol: OriginProtocol::Http,
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
        assert_eq!(
            spec.dashboard,
            Some(Dashboard {
                alarms: true,
                notify: Notify::Nobody
            })
        );
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
        assert_eq!(
            spec.dashboard,
            Some(Dashboard {
                alarms: true,
                notify: Notify::Nobody
            })
        );
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
                origin_protocol: OriginProtocol::Https,
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
        assert_eq!(
            spec.dashboard,
            Some(Dashboard {
                alarms: false,
                notify: Notify::Nobody
            })
        );
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
    fn structural_and_semantic_problems_are_reported_together() {
        let yaml = "\
stack: Bad_Name
region: us-east-1
load_balancer:
  health_check:
    interval: often
    timeout: 10
compute:
  instance_typ: t3.micro
  min: [1]
  max: 3
  port: 0
cache:
  engine: valkyrie
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
                (5, 15, "load_balancer.health_check.interval"),
                (7, 1, "compute.instance_type"),
                (8, 3, "compute.instance_typ"),
                (9, 8, "compute.min"),
                (11, 9, "compute.port"),
                (13, 11, "cache.engine"),
            ],
            "{err}"
        );
    }
}
