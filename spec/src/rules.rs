//! The format rules of the values in a spec, as pure functions: stack names,
//! regions, AWS ids, instance and node types, ACM certificate ARNs, DNS
//! names, S3 bucket names, health-check paths and matchers. The checker
//! applies them; keeping them free of positions makes each easy to test.

/// AWS allows 50 tags per resource; modu keeps 10 for its own (`modu:*`, `Name`).
pub(super) const MAX_EXTRA_TAGS: usize = 40;

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: a two-letter area, one or
/// two words, then a number.
pub(super) fn is_region(region: &str) -> bool {
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
pub(super) fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (8..=17).contains(&hex.len())
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// `family.size`, e.g. `t3.micro`, `m7g.large`, `u-6tb1.metal`.
/// The baseline CPU use per vCPU, in percent, of a burstable (T-family) instance type:
/// what it may use without spending CPU credits (EC2 User Guide, "Key concepts and
/// definitions for burstable performance instances", baseline table). `None` for a type
/// with a fixed CPU.
pub(super) fn burstable_baseline(instance_type: &str) -> Option<f64> {
    let (family, size) = instance_type.split_once('.')?;
    let newer = matches!(family, "t3" | "t3a" | "t4g");
    if !newer && family != "t2" {
        return None;
    }
    Some(match size {
        "nano" => 5.0,
        "micro" => 10.0,
        "small" | "medium" => 20.0,
        "large" => 30.0,
        "xlarge" | "2xlarge" if newer => 40.0,
        "xlarge" => 22.5,
        "2xlarge" => 17.0,
        _ => return None,
    })
}

/// Whether `zone` is, or is under, a second-level domain reserved for documentation
/// (RFC 2606): `example.com`, `example.net`, `example.org`.
pub(super) fn is_example_domain(zone: &str) -> bool {
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    ["example.com", "example.net", "example.org"]
        .iter()
        .any(|reserved| zone == *reserved || zone.ends_with(&format!(".{reserved}")))
}

pub(super) fn is_instance_type(instance_type: &str) -> bool {
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
pub(super) fn is_in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

/// `cache.<family>.<size>`, e.g. `cache.t3.micro`, `cache.r7g.xlarge`.
pub(super) fn is_cache_node_type(node_type: &str) -> bool {
    node_type
        .strip_prefix("cache.")
        .is_some_and(is_instance_type)
}

/// The region of an ACM certificate ARN,
/// `arn:<partition>:acm:<region>:<account id>:certificate/<id>`, or `None`
/// when `arn` is not one.
pub(super) fn acm_certificate_region(arn: &str) -> Option<&str> {
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

/// The region of a standard SNS topic's ARN (`arn:aws:sns:<region>:<account>:<name>`,
/// the name 1-256 of letters, digits, `-` and `_`), or `None` when `arn` is not one. A FIFO
/// topic (`.fifo`) is not one: CloudWatch alarms notify standard topics only.
pub(super) fn sns_topic_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, name] = parts.as_slice() else {
        return None;
    };
    let partition_ok = partition
        .strip_prefix("aws")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
    let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    let name_ok = (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (*prefix == "arn"
        && partition_ok
        && *service == "sns"
        && is_region(region)
        && account_ok
        && name_ok)
        .then_some(*region)
}

/// An address SNS can deliver to: one `@`, something before it, a domain with a dot after
/// it, no spaces, at most 254 characters. (Whether it exists only its confirmation tells.)
pub(super) fn check_email(email: &str) -> Result<(), &'static str> {
    if email.len() > 254 {
        return Err("it must be at most 254 characters long");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it must not contain spaces");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("it has no `@`");
    };
    if local.is_empty() || domain.contains('@') {
        return Err("it needs one `@` with a name before it");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Err("its domain needs a dot, like `example.org`");
    }
    Ok(())
}

/// A DNS name as Route53 and CloudFront take it: at least two labels of
/// lowercase letters, digits and inner hyphens, each 1-63 characters, 253 in
/// all. One trailing dot is accepted and left out of the returned name; with
/// `wildcard`, the first label may be `*`.
pub(super) fn check_dns_name(name: &str, wildcard: bool) -> Result<&str, String> {
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
pub(super) fn check_bucket_name(name: &str) -> Result<(), &'static str> {
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
pub(super) fn check_health_path(path: &str) -> Result<(), String> {
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
pub(super) fn check_matcher(matcher: &str) -> Result<(), String> {
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
pub(super) fn suggest_stack_name(name: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burstable_baselines_follow_the_family_and_size() {
        assert_eq!(burstable_baseline("t3.micro"), Some(10.0));
        assert_eq!(burstable_baseline("t4g.xlarge"), Some(40.0));
        assert_eq!(burstable_baseline("t2.xlarge"), Some(22.5));
        assert_eq!(burstable_baseline("t3a.nano"), Some(5.0));
        assert_eq!(burstable_baseline("c7i.large"), None);
        assert_eq!(burstable_baseline("m5.large"), None);
    }

    #[test]
    fn example_domains_are_the_reserved_ones_and_their_subdomains() {
        for reserved in ["example.com", "Example.NET.", "shop.example.org"] {
            assert!(is_example_domain(reserved), "{reserved}");
        }
        for owned in ["myexample.com", "example.co", "example.com.au", "modu.dev"] {
            assert!(!is_example_domain(owned), "{owned}");
        }
    }
    use crate::testing::CDN_CERT;

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
    fn sns_topic_arns_name_their_region() {
        assert_eq!(
            sns_topic_region("arn:aws:sns:eu-west-3:123456789012:ops-alarms"),
            Some("eu-west-3")
        );
        for bad in [
            "arn:aws:sns:eu-west-3:123456789012:ops.fifo",
            "arn:aws:sqs:eu-west-3:123456789012:ops",
            "arn:aws:sns:eu-west-3:1234:ops",
            "arn:aws:sns:eu-west-3:123456789012:",
            "ops-alarms",
        ] {
            assert_eq!(sns_topic_region(bad), None, "{bad}");
        }
    }

    #[test]
    fn email_addresses_need_a_name_one_at_and_a_dotted_domain() {
        assert!(check_email("oncall+modu@ops.example.org").is_ok());
        assert_eq!(check_email("oncall"), Err("it has no `@`"));
        assert_eq!(
            check_email("@example.org"),
            Err("it needs one `@` with a name before it")
        );
        assert_eq!(
            check_email("a@b@example.org"),
            Err("it needs one `@` with a name before it")
        );
        assert_eq!(
            check_email("oncall@localhost"),
            Err("its domain needs a dot, like `example.org`")
        );
        assert_eq!(
            check_email("on call@example.org"),
            Err("it must not contain spaces")
        );
    }
}
