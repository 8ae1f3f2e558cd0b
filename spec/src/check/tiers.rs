//! Checks of the optional tiers: `cdn` (price class, aliases and their
//! certificate, how it reaches the load balancer), `cache` (engine, node type, replicas),
//! `dashboard` (whom the alarms notify) and `dns` (zone, record, target). A tier that is
//! switched off is still checked for what it
//! says, but nothing is required of it.

use std::collections::HashSet;

use serde_saphyr::{Location, Spanned};

use super::{Checker, switch, to_u32};
use crate::model::{
    Cache, CacheEngine, Cdn, Dashboard, Dns, DnsTarget, LoadBalancer, Notify, OriginProtocol,
    PriceClass,
};
use crate::raw::{
    Field, RawCache, RawCacheEngine, RawCdn, RawDashboard, RawDns, RawDnsTarget, RawOriginProtocol,
    RawPriceClass,
};
use crate::rules::{
    check_dns_name, check_email, is_cache_node_type, is_example_domain, is_in_zone,
    is_instance_type, sns_topic_region,
};

const DEFAULT_CACHE_NODE_TYPE: &str = "cache.t3.micro";
const DEFAULT_CACHE_REPLICAS: i64 = 1;
/// ElastiCache allows a primary plus at most five read replicas per shard.
const MAX_CACHE_REPLICAS: i64 = 5;
/// CloudFront only takes ACM certificates from this region.
const CLOUDFRONT_CERTIFICATE_REGION: &str = "us-east-1";

impl Checker<'_> {
    pub(super) fn cdn(
        &mut self,
        raw: RawCdn,
        load_balancer: &LoadBalancer,
        dns: Option<&Dns>,
    ) -> Option<Cdn> {
        let price_class = match raw.price_class.into_value() {
            None | Some(RawPriceClass::PriceClass100) => PriceClass::PriceClass100,
            Some(RawPriceClass::PriceClass200) => PriceClass::PriceClass200,
            Some(RawPriceClass::PriceClassAll) => PriceClass::PriceClassAll,
        };
        let certificate_arn = raw.certificate_arn.given().map(|arn| {
            self.certificate_arn(
                arn,
                "cdn.certificate_arn",
                Some(CLOUDFRONT_CERTIFICATE_REGION),
                "CloudFront only takes ACM certificates from us-east-1 (N. Virginia), whatever the stack's region",
            )
        });
        let mut aliases = Vec::new();
        if let Some(list) = raw.aliases.given() {
            let mut seen = HashSet::new();
            for (index, alias) in list.value.iter().enumerate() {
                // An unreadable alias is reported already.
                let Some(alias) = alias.given() else {
                    continue;
                };
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
            // An unreadable certificate is reported already.
            if !aliases.is_empty() && certificate_arn.is_none() && !raw.certificate_arn.is_invalid()
            {
                self.report_with_help(
                    &list.referenced,
                    "cdn.aliases",
                    "aliases need `cdn.certificate_arn`: CloudFront serves a domain name only with a certificate covering it",
                    Some("add the ARN of an ACM certificate in us-east-1 for these names, or remove the aliases".to_owned()),
                );
            }
        }
        if !switch(&raw.enabled) {
            return None;
        }
        let origin_protocol = self.origin_protocol(&raw.origin_protocol, load_balancer, dns);
        Some(Cdn {
            price_class,
            aliases,
            certificate_arn,
            origin_protocol,
        })
    }

    /// HTTPS to the load balancer unless the spec says otherwise; plain HTTP only when
    /// asked for by name, and then with a warning.
    fn origin_protocol(
        &mut self,
        given: &Field<RawOriginProtocol>,
        load_balancer: &LoadBalancer,
        dns: Option<&Dns>,
    ) -> OriginProtocol {
        const FIELD: &str = "cdn.origin_protocol";
        let has_certificate = load_balancer.certificate_arn.is_some();
        match given {
            Field::Given(Spanned {
                value: RawOriginProtocol::Http,
                referenced,
                ..
            }) => {
                if has_certificate {
                    self.report_with_help(
                        referenced,
                        FIELD,
                        "with `load_balancer.certificate_arn` the load balancer's port 80 redirects to HTTPS, \
                         so an HTTP origin would send CloudFront in circles",
                        Some("remove `cdn.origin_protocol` (HTTPS is the default with a certificate)".to_owned()),
                    );
                } else {
                    self.out.warn(
                        referenced,
                        FIELD,
                        "requests and the origin secret header cross the internet unencrypted between \
                         CloudFront and the load balancer"
                            .to_owned(),
                        "give the load balancer an ACM certificate covering `origin-<stack>.<dns.zone>` \
                         (`load_balancer.certificate_arn`) and remove `cdn.origin_protocol`"
                            .to_owned(),
                    );
                }
                OriginProtocol::Http
            }
            Field::Given(Spanned {
                value: RawOriginProtocol::Https,
                referenced,
                ..
            }) => {
                self.https_origin_needs(referenced, has_certificate, dns);
                OriginProtocol::Https
            }
            Field::Absent => {
                let at = self.tree.key_location("cdn").unwrap_or(Location::UNKNOWN);
                if has_certificate {
                    self.https_origin_needs(&at, true, dns);
                } else {
                    self.report_with_help(
                        &at,
                        FIELD,
                        "CloudFront reaches the load balancer over HTTPS unless told otherwise, \
                         and the load balancer has no certificate",
                        Some(
                            "set `load_balancer.certificate_arn` to an ACM certificate covering \
                             `origin-<stack>.<dns.zone>`, or say `origin_protocol: http` in `cdn`"
                                .to_owned(),
                        ),
                    );
                }
                OriginProtocol::Https
            }
            Field::Invalid => OriginProtocol::Https,
        }
    }

    fn https_origin_needs(&mut self, at: &Location, has_certificate: bool, dns: Option<&Dns>) {
        const FIELD: &str = "cdn.origin_protocol";
        if !has_certificate {
            self.report_with_help(
                at,
                FIELD,
                "an HTTPS origin needs `load_balancer.certificate_arn`",
                Some(
                    "add an ACM certificate covering `origin-<stack>.<dns.zone>`, or use `http`"
                        .to_owned(),
                ),
            );
        } else if dns.is_none() {
            self.report_with_help(
                at,
                FIELD,
                "an HTTPS origin needs `dns`: CloudFront reaches the load balancer as \
                 `origin-<stack>.<dns.zone>`, a name its certificate covers",
                Some("add a `dns` section, or use `origin_protocol: http`".to_owned()),
            );
        }
    }

    pub(super) fn cache(&mut self, raw: RawCache) -> Option<Cache> {
        let engine = match raw.engine.into_value() {
            None | Some(RawCacheEngine::Redis) => CacheEngine::Redis,
            Some(RawCacheEngine::Valkey) => CacheEngine::Valkey,
        };
        let node_type = match raw.node_type.into_given() {
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
        switch(&raw.enabled).then(|| Cache {
            engine,
            node_type,
            replicas: to_u32(replicas),
        })
    }

    pub(super) fn dashboard(&mut self, raw: RawDashboard, region: &str) -> Option<Dashboard> {
        let alarms = raw.alarms.value().copied().unwrap_or(true);
        let mut emails = Vec::new();
        if let Some(list) = raw.notify.given() {
            let mut seen = HashSet::new();
            for (index, email) in list.value.iter().enumerate() {
                // An unreadable address is reported already.
                let Some(email) = email.given() else {
                    continue;
                };
                let field = format!("dashboard.notify[{index}]");
                if let Err(why) = check_email(&email.value) {
                    self.report_with_help(
                        &email.referenced,
                        &field,
                        format!("`{}` is not an email address: {why}", email.value),
                        Some("addresses look like `oncall@example.org`".to_owned()),
                    );
                } else if !seen.insert(email.value.to_ascii_lowercase()) {
                    self.report(
                        &email.referenced,
                        &field,
                        format!("`{}` is listed twice", email.value),
                    );
                }
                emails.push(email.value.clone());
            }
        }
        let topic = raw.topic_arn.given().map(|arn| {
            match sns_topic_region(&arn.value) {
                None => self.report_with_help(
                    &arn.referenced,
                    "dashboard.topic_arn",
                    format!("`{}` is not the ARN of a standard SNS topic", arn.value),
                    Some(
                        "topic ARNs look like `arn:aws:sns:<region>:<account id>:<name>`"
                            .to_owned(),
                    ),
                ),
                Some(found) if found != region => self.report_with_help(
                    &arn.referenced,
                    "dashboard.topic_arn",
                    format!("the topic is in `{found}`, the stack in `{region}`"),
                    Some("CloudWatch alarms notify only a topic in their own region".to_owned()),
                ),
                Some(_) => {}
            }
            arn.value.clone()
        });
        if let (Some(list), Some(arn)) = (raw.notify.given(), raw.topic_arn.given())
            && !list.value.is_empty()
        {
            self.report_with_help(
                &arn.referenced,
                "dashboard.topic_arn",
                "`notify` and `topic_arn` exclude each other",
                Some(
                    "list addresses in `notify` for a topic modu creates, or name an existing \
                     topic in `topic_arn`"
                        .to_owned(),
                ),
            );
        }
        let notify = match topic {
            Some(arn) => Notify::Topic(arn),
            None if emails.is_empty() => Notify::Nobody,
            None => Notify::Emails(emails),
        };
        if let (false, Some(at)) = (
            alarms,
            raw.notify
                .given()
                .filter(|list| !list.value.is_empty())
                .map(|list| &list.referenced)
                .or(raw.topic_arn.given().map(|arn| &arn.referenced)),
        ) {
            self.out.warn(
                at,
                "dashboard",
                "the alarms are off (`alarms: false`): nobody is notified".to_owned(),
                "remove `notify`/`topic_arn`, or turn the alarms on".to_owned(),
            );
        }
        switch(&raw.enabled).then_some(Dashboard { alarms, notify })
    }

    pub(super) fn dns(&mut self, raw: RawDns) -> Option<Dns> {
        // An unreadable `enabled` (reported already) may have meant off: then
        // too, only what the section says is checked.
        if !switch(&raw.enabled) || raw.enabled.is_invalid() {
            // Nothing is required of a section that is switched off, but what
            // it says must still be sound.
            if let Some(zone) = raw.zone.given() {
                self.dns_name(zone, "dns.zone", false);
            }
            if let Some(record) = raw.record.given() {
                self.dns_name(record, "dns.record", false);
            }
            return None;
        }
        let zone = self.required_dns_name(&raw.zone, "zone");
        if let (Some(name), Some(at)) = (&zone, raw.zone.given())
            && is_example_domain(name)
        {
            self.out.example_domain(
                &at.referenced,
                "dns.zone",
                format!(
                    "`{name}` is reserved for documentation (RFC 2606): Route 53 refuses to \
                     create it and no registrar delegates it"
                ),
            );
        }
        let record = self.required_dns_name(&raw.record, "record");
        // Only two valid names can be compared; a bad one is reported already.
        let both_valid = [&raw.zone, &raw.record].iter().all(|name| {
            name.given()
                .is_some_and(|name| check_dns_name(&name.value, false).is_ok())
        });
        if let (true, Some(zone), Some(name), Some(at)) =
            (both_valid, &zone, &record, raw.record.given())
            && !is_in_zone(name, zone)
        {
            self.report_with_help(
                &at.referenced,
                "dns.record",
                format!("`{name}` is not in the zone `{zone}`"),
                Some(format!("use `{zone}` itself or a name ending in `.{zone}`")),
            );
        }
        let target = match raw.target.into_value() {
            None | Some(RawDnsTarget::Cdn) => DnsTarget::Cdn,
            Some(RawDnsTarget::LoadBalancer) => DnsTarget::LoadBalancer,
        };
        Some(Dns {
            zone: zone.unwrap_or_default(),
            record: record.unwrap_or_default(),
            target,
            create_zone: raw.create_zone.value().copied().unwrap_or(false),
        })
    }

    /// `dns.<name>`, which an enabled `dns` section must have.
    fn required_dns_name(&mut self, value: &Field<String>, name: &str) -> Option<String> {
        let field = format!("dns.{name}");
        match value {
            Field::Given(value) => Some(self.dns_name(value, &field, false)),
            Field::Absent => {
                let at = self.tree.key_location("dns").unwrap_or(Location::UNKNOWN);
                self.report(&at, &field, "missing required field");
                None
            }
            Field::Invalid => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::DnsTarget;
    use crate::testing::{BASE, CDN_CERT, assert_single_error, errors, parse};

    #[test]
    fn aliases_need_a_certificate() {
        assert_single_error(
            &format!("{BASE}cdn:\n  aliases: [www.example.com]\n  origin_protocol: http\n"),
            "stacks/modu.yaml:6:12: cdn.aliases: aliases need `cdn.certificate_arn`",
        );
        assert_single_error(
            &format!(
                "{BASE}cdn:\n  aliases:\n    - www.example.com\n  certificate_arn: null\n  origin_protocol: http\n"
            ),
            "stacks/modu.yaml:7:5: cdn.aliases: aliases need `cdn.certificate_arn`",
        );
        // No aliases, no certificate needed.
        parse(&format!(
            "{BASE}cdn:\n  aliases: []\n  certificate_arn: null\n  origin_protocol: http\n"
        ))
        .expect("valid");
    }

    #[test]
    fn cdn_certificate_must_be_in_us_east_1() {
        let arn = CDN_CERT.replace("us-east-1", "eu-west-1");
        assert_single_error(
            &format!(
                "{BASE}cdn:\n  aliases: [www.example.com]\n  certificate_arn: {arn}\n  origin_protocol: http\n"
            ),
            "stacks/modu.yaml:7:20: cdn.certificate_arn: the certificate is in `eu-west-1`, it must be in `us-east-1` (help: CloudFront only takes ACM certificates from us-east-1",
        );
        // ...even when the stack itself is elsewhere.
        let yaml = format!("{BASE}cdn:\n  certificate_arn: {CDN_CERT}\n  origin_protocol: http\n")
            .replace("region: us-east-1", "region: eu-west-1");
        parse(&yaml).expect("valid");
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
                &format!("{BASE}cdn:\n  certificate_arn: \"{arn}\"\n  origin_protocol: http\n"),
                &format!(
                    "stacks/modu.yaml:6:20: cdn.certificate_arn: `{arn}` is not an ACM certificate ARN (help: certificate ARNs look like `arn:aws:acm:<region>:<account id>:certificate/<id>`)"
                ),
            );
        }
    }

    #[test]
    fn bad_and_repeated_aliases_are_located() {
        let yaml = format!(
            "{BASE}cdn:\n  aliases:\n    - www.example.com\n    - shop_example.com\n    - WWW.example.com\n    - www.example.com.\n    - a.*.example.com\n  certificate_arn: {CDN_CERT}\n  origin_protocol: http\n"
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
    fn dns_target_cdn_without_a_cdn_is_allowed() {
        let yaml =
            format!("{BASE}dns:\n  zone: example.com\n  record: app.example.com\n  target: cdn\n");
        let spec = parse(&yaml).expect("valid");
        assert_eq!(spec.cdn, None);
        assert_eq!(spec.dns.map(|d| d.target), Some(DnsTarget::Cdn));
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

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ops-alarms";

    #[test]
    fn the_alarms_notify_addresses_or_an_existing_topic() {
        use crate::model::Notify;
        let spec = parse(&format!(
            "{BASE}dashboard:\n  notify: [oncall@example.org, ops@example.org]\n"
        ))
        .expect("valid");
        let dashboard = spec.dashboard.expect("a dashboard");
        assert_eq!(
            dashboard.notify,
            Notify::Emails(vec!["oncall@example.org".into(), "ops@example.org".into()])
        );
        assert_eq!(dashboard.emails().len(), 2);
        let spec = parse(&format!("{BASE}dashboard:\n  topic_arn: {TOPIC}\n")).expect("valid");
        let dashboard = spec.dashboard.expect("a dashboard");
        assert_eq!(dashboard.notify, Notify::Topic(TOPIC.into()));
        assert!(dashboard.emails().is_empty(), "modu creates no topic");
        let spec = parse(&format!("{BASE}dashboard:\n  notify: []\n")).expect("valid");
        assert_eq!(spec.dashboard.expect("a dashboard").notify, Notify::Nobody);
    }

    #[test]
    fn notify_and_topic_arn_exclude_each_other() {
        assert_single_error(
            &format!("{BASE}dashboard:\n  notify: [oncall@example.org]\n  topic_arn: {TOPIC}\n"),
            "stacks/modu.yaml:7:14: dashboard.topic_arn: `notify` and `topic_arn` exclude each other \
             (help: list addresses in `notify` for a topic modu creates, or name an existing topic in `topic_arn`)",
        );
    }

    #[test]
    fn bad_and_repeated_addresses_are_located() {
        assert_eq!(
            errors(&format!(
                "{BASE}dashboard:\n  notify: [oncall@example.org, oncall, ONCALL@example.org]\n"
            )),
            [
                "stacks/modu.yaml:6:32: dashboard.notify[1]: `oncall` is not an email address: it has no `@` \
                 (help: addresses look like `oncall@example.org`)",
                "stacks/modu.yaml:6:40: dashboard.notify[2]: `ONCALL@example.org` is listed twice",
            ]
        );
    }

    #[test]
    fn a_topic_must_be_a_standard_topic_of_the_stacks_region() {
        assert_single_error(
            &format!("{BASE}dashboard:\n  topic_arn: arn:aws:sqs:us-east-1:123456789012:q\n"),
            "stacks/modu.yaml:6:14: dashboard.topic_arn: `arn:aws:sqs:us-east-1:123456789012:q` is not the ARN of a standard SNS topic",
        );
        assert_single_error(
            &format!("{BASE}dashboard:\n  topic_arn: arn:aws:sns:eu-west-1:123456789012:ops\n"),
            "stacks/modu.yaml:6:14: dashboard.topic_arn: the topic is in `eu-west-1`, the stack in `us-east-1` \
             (help: CloudWatch alarms notify only a topic in their own region)",
        );
    }

    #[test]
    fn addresses_without_alarms_are_a_warning() {
        let spec = parse(&format!(
            "{BASE}dashboard:\n  alarms: false\n  notify: [oncall@example.org]\n"
        ))
        .expect("a warning, not an error");
        let warnings: Vec<String> = spec
            .findings
            .warnings
            .iter()
            .filter(|w| w.field == "dashboard")
            .map(|w| w.message.clone())
            .collect();
        assert_eq!(
            warnings,
            ["the alarms are off (`alarms: false`): nobody is notified"]
        );
        assert!(spec.dashboard.expect("a dashboard").emails().is_empty());
    }
}
