//! Checks of `load_balancer`: the listener port and certificate, the target
//! group's algorithm and deregistration delay, and its health check.

use serde_saphyr::Location;

use super::{Checker, to_u16, to_u32};
use crate::model::{Algorithm, HealthCheck, LoadBalancer};
use crate::raw::{RawAlgorithm, RawHealthCheck, RawLoadBalancer};
use crate::rules::{check_health_path, check_matcher, is_region};

const DEFAULT_LB_PORT: i64 = 80;
const DEFAULT_HEALTH_PATH: &str = "/healthz";
const DEFAULT_HEALTH_INTERVAL: i64 = 15;
const DEFAULT_HEALTH_TIMEOUT: i64 = 5;
const DEFAULT_HEALTHY_THRESHOLD: i64 = 2;
const DEFAULT_UNHEALTHY_THRESHOLD: i64 = 3;
const DEFAULT_MATCHER: &str = "200";
const DEFAULT_DEREGISTRATION_DELAY: i64 = 30;

impl Checker<'_> {
    pub(super) fn load_balancer(&mut self, raw: RawLoadBalancer, region: &str) -> LoadBalancer {
        let port = self.number("load_balancer.port", &raw.port, DEFAULT_LB_PORT, 1..=65535);
        let algorithm = match raw.algorithm.into_value() {
            None | Some(RawAlgorithm::RoundRobin) => Algorithm::RoundRobin,
            Some(RawAlgorithm::LeastOutstandingRequests) => Algorithm::LeastOutstandingRequests,
        };
        let health_check = self.health_check(raw.health_check.into_value().unwrap_or_default());
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
            certificate_arn: raw.certificate_arn.into_given().map(|arn| {
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

    fn health_check(&mut self, raw: RawHealthCheck) -> HealthCheck {
        const PREFIX: &str = "load_balancer.health_check";
        let path = match raw.path.given() {
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
        let both_readable = !raw.timeout.is_invalid() && !raw.interval.is_invalid();
        if both_readable && timeout >= interval {
            // Blame whichever of the two the file actually sets, timeout first.
            let (at, field) = match (raw.timeout.given(), raw.interval.given()) {
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
        let matcher = match raw.matcher.given() {
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
}

#[cfg(test)]
mod tests {
    use crate::testing::{assert_single_error, errors, parse};

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
}
