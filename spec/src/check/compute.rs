//! Checks of `compute`: the image, instance type and app port, the group's
//! size and scaling target, and the boot script each instance runs.

use std::path::Path;

use serde_saphyr::Spanned;

use super::{Checker, to_u16, to_u32};
use crate::boot_script::{check_user_data, default_boot_script};
use crate::model::{Compute, CreditSpecification, HealthCheck, ImageRef, UserData};
use crate::raw::{RawCompute, RawCreditSpecification};
use crate::rules::{burstable_baseline, is_aws_id, is_instance_type};

/// The Auto Scaling group size limit modu accepts for min, max and desired.
const MAX_GROUP_SIZE: i64 = 1000;

const DEFAULT_APP_PORT: i64 = 8000;
const DEFAULT_MIN: i64 = 2;
const DEFAULT_MAX: i64 = 10;
const DEFAULT_CPU_TARGET: f64 = 80.0;
const DEFAULT_HEALTH_CHECK_GRACE: i64 = 120;
const DEFAULT_INSTANCE_TYPE_HINT: &str = "t3.micro";

impl Checker<'_> {
    pub(super) fn compute(&mut self, raw: RawCompute, health_check: &HealthCheck) -> Compute {
        let (min, max, desired) = self.group_size(&raw);
        let image = match raw.image.into_given() {
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
        let instance_type = raw.instance_type.into_given();
        if let Some(given) = instance_type
            .as_ref()
            .filter(|given| !is_instance_type(&given.value))
        {
            self.report_with_help(
                &given.referenced,
                "compute.instance_type",
                format!("`{}` is not an EC2 instance type", given.value),
                Some(format!(
                    "instance types look like `family.size`, e.g. `{DEFAULT_INSTANCE_TYPE_HINT}`"
                )),
            );
        }
        let port = self.number("compute.port", &raw.port, DEFAULT_APP_PORT, 1..=65535);
        let cpu_target = match raw.cpu_target.given() {
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
        let credit_specification = raw.credit_specification.given().map(|given| {
            let burstable = instance_type
                .as_ref()
                .is_none_or(|t| burstable_baseline(&t.value).is_some());
            if !burstable {
                self.report_with_help(
                    &given.referenced,
                    "compute.credit_specification",
                    "only burstable instance types (t2, t3, t3a, t4g) have CPU credits",
                    Some("remove `credit_specification`, or choose a burstable type".to_owned()),
                );
            }
            match given.value {
                RawCreditSpecification::Standard => CreditSpecification::Standard,
                RawCreditSpecification::Unlimited => CreditSpecification::Unlimited,
            }
        });
        // A credit option given on purpose is the conscious choice the warning asks for.
        if let Some((given, baseline)) = instance_type
            .as_ref()
            .and_then(|given| Some((given, burstable_baseline(&given.value)?)))
            .filter(|(_, baseline)| cpu_target > *baseline && credit_specification.is_none())
        {
            self.out.warn(
                &given.referenced,
                "compute.instance_type",
                format!(
                    "`{}` is burstable with a baseline of {baseline} % per vCPU: above it, a {cpu_target} % \
                     CPU target is reached only by spending CPU credits, so the group scales late \
                     (standard mode, once they run out) or bills the surplus (unlimited mode)",
                    given.value
                ),
                format!(
                    "use a type with a fixed CPU (e.g. `c7i.large` or `m7i.large`), a cpu_target of \
                     at most {baseline}, or say `credit_specification: standard` or `unlimited` to \
                     choose knowingly"
                ),
            );
        }
        let health_check_grace = self.number(
            "compute.health_check_grace",
            &raw.health_check_grace,
            DEFAULT_HEALTH_CHECK_GRACE,
            0..=7200,
        );
        let user_data = match raw.user_data.given() {
            Some(file) => self.user_data_file(file),
            None => UserData {
                file: None,
                script: default_boot_script(to_u16(port), &health_check.path),
            },
        };
        Compute {
            image,
            instance_type: instance_type.map(|given| given.value).unwrap_or_default(),
            port: to_u16(port),
            min: to_u32(min),
            max: to_u32(max),
            desired: to_u32(desired),
            cpu_target,
            health_check_grace: to_u32(health_check_grace),
            user_data,
            credit_specification,
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
        let any_unreadable = [&raw.min, &raw.max, &raw.desired]
            .iter()
            .any(|field| field.is_invalid());
        if !all_in_range || any_unreadable {
            return (min, max, desired);
        }
        if min > max {
            match (raw.max.given(), raw.min.given()) {
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
            .given()
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
        let folder = self.out.file().parent().unwrap_or(Path::new(""));
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

#[cfg(test)]
mod tests {
    use crate::parse_str;
    use crate::testing::{BASE, assert_single_error, errors, parse, test_dir};

    #[test]
    fn a_credit_option_is_for_burstable_types_and_silences_their_warning() {
        // t3.micro with the default 80 % target: warned, unless the credits are chosen.
        let warned = parse(BASE).expect("valid");
        assert_eq!(warned.findings.warnings.len(), 1);
        let chosen = parse(&format!("{BASE}  credit_specification: unlimited\n")).expect("valid");
        assert!(chosen.findings.warnings.is_empty());
        assert_eq!(
            chosen.compute.credit_specification,
            Some(crate::CreditSpecification::Unlimited)
        );
        assert_single_error(
            &format!("{BASE}  credit_specification: standard\n").replace("t3.micro", "c7i.large"),
            "stacks/modu.yaml:5:25: compute.credit_specification: only burstable instance types (t2, t3, t3a, t4g) have CPU credits",
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
    fn desired_defaults_to_min() {
        let spec = parse(&format!("{BASE}  min: 4\n")).expect("valid");
        assert_eq!((spec.compute.min, spec.compute.desired), (4, 4));
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
    #[cfg(unix)]
    fn user_data_that_is_no_file_is_refused_unread() {
        // Read, /dev/zero would never end (nor would /dev/stdin on a terminal).
        for device in ["/dev/zero", "/dev/null"] {
            assert_single_error(
                &format!("{BASE}  user_data: {device}\n"),
                &format!("stacks/modu.yaml:5:14: compute.user_data: {device} is not a file"),
            );
        }
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
}
