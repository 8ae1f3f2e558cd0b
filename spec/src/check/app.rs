//! Checks of `app` (the release the instances run: a binary that exists, environment
//! variables that do not collide with the ones modu sets) and `database`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_saphyr::Location;

use super::{Checker, switch, to_u32};
use crate::model::{App, Artifact, Database};
use crate::raw::{RawApp, RawDatabase, RawEnv};

/// Variables the boot script sets for the service itself.
pub(crate) const RESERVED_ENV: &[&str] = &[
    "BIND",
    "MODU_PARAMETERS",
    "DRAIN_SECS",
    "DATABASE_URL",
    "REDIS_URL",
    "S3_BUCKET",
    "S3_PREFIX",
    "MEDIA_BASE_URL",
    "AWS_REGION",
];

const DEFAULT_ENGINE_VERSION: &str = "16";
const DEFAULT_INSTANCE_CLASS: &str = "db.t4g.micro";
const DEFAULT_STORAGE_GB: i64 = 20;

impl Checker<'_> {
    pub(super) fn app(&mut self, raw: RawApp, has_user_data: bool) -> App {
        let artifact = match raw.artifact.given() {
            None => Artifact::Build,
            Some(given) if given.value == "build" => Artifact::Build,
            Some(given) => {
                let folder = self.out.file().parent().unwrap_or(Path::new(""));
                let path = folder.join(&given.value);
                if !path.is_file() {
                    self.report_with_help(
                        &given.referenced,
                        "app.artifact",
                        format!("{} is not a file", path.display()),
                        Some("give the path of a built modu-app, or `build`".to_owned()),
                    );
                }
                Artifact::File(path)
            }
        };
        if has_user_data {
            let at = self.tree.key_location("app").unwrap_or(Location::UNKNOWN);
            self.report_with_help(
                &at,
                "app",
                "`app` is installed by modu's boot script, which `compute.user_data` replaces",
                Some("remove `compute.user_data`, or the `app` section".to_owned()),
            );
        }
        let env = self.env(raw.env.into_value().unwrap_or_default());
        App { artifact, env }
    }

    fn env(&mut self, env: RawEnv) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, value) in env.0 {
            let field = format!("app.env.{}", name.value);
            let well_formed = name
                .value
                .starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                && name
                    .value
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !well_formed {
                self.report(
                    &name.referenced,
                    &field,
                    "variable names are uppercase letters, digits and `_`, not starting with a digit",
                );
            } else if RESERVED_ENV.contains(&name.value.as_str()) {
                self.report_with_help(
                    &name.referenced,
                    &field,
                    format!("`{}` is set by modu for the stack", name.value),
                    Some("modu points the service at the stack's own parts".to_owned()),
                );
            }
            let value = value.into_given();
            if let Some(value) = value.as_ref().filter(|v| v.value.contains(['\n', '\r'])) {
                self.report(&value.referenced, &field, "values must be one line");
            }
            out.insert(name.value, value.map(|v| v.value).unwrap_or_default());
        }
        out
    }

    pub(super) fn database(&mut self, raw: RawDatabase) -> Option<Database> {
        let engine_version = match raw.engine_version.into_given() {
            None => DEFAULT_ENGINE_VERSION.to_owned(),
            Some(version) => {
                let mut parts = version.value.split('.');
                let major_ok = parts
                    .next()
                    .and_then(|m| m.parse::<u32>().ok())
                    .is_some_and(|m| (12..=99).contains(&m));
                let rest_ok = parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
                if !(major_ok && rest_ok) {
                    self.report_with_help(
                        &version.referenced,
                        "database.engine_version",
                        format!("`{}` is not a PostgreSQL version", version.value),
                        Some("for example `16` or `16.4`".to_owned()),
                    );
                }
                version.value
            }
        };
        let instance_class = match raw.instance_class.into_given() {
            None => DEFAULT_INSTANCE_CLASS.to_owned(),
            Some(class) => {
                let parts: Vec<&str> = class.value.split('.').collect();
                if parts.len() != 3
                    || parts[0] != "db"
                    || parts[1].is_empty()
                    || parts[2].is_empty()
                {
                    self.report_with_help(
                        &class.referenced,
                        "database.instance_class",
                        format!("`{}` is not an RDS instance class", class.value),
                        Some(format!("classes look like `db.<family>.<size>`, e.g. `{DEFAULT_INSTANCE_CLASS}`")),
                    );
                }
                class.value
            }
        };
        let storage_gb = self.number(
            "database.storage_gb",
            &raw.storage_gb,
            DEFAULT_STORAGE_GB,
            20..=65536,
        );
        switch(&raw.enabled).then(|| Database {
            engine_version,
            instance_class,
            storage_gb: to_u32(storage_gb),
            multi_az: raw.multi_az.value().copied().unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{BASE, assert_single_error, parse};
    use crate::{Artifact, Database};

    #[test]
    fn app_and_database_defaults() {
        let spec = parse(&format!("{BASE}app: {{}}\ndatabase: {{}}\n")).expect("valid");
        let app = spec.app.expect("an app");
        assert_eq!(app.artifact, Artifact::Build);
        assert!(app.env.is_empty());
        assert_eq!(
            spec.database,
            Some(Database {
                engine_version: "16".into(),
                instance_class: "db.t4g.micro".into(),
                storage_gb: 20,
                multi_az: false,
            })
        );
    }

    #[test]
    fn a_variable_modu_sets_is_refused() {
        assert_single_error(
            &format!("{BASE}app:\n  env:\n    DATABASE_URL: postgres://elsewhere\n"),
            "stacks/modu.yaml:7:5: app.env.DATABASE_URL: `DATABASE_URL` is set by modu for the stack (help: modu points the service at the stack's own parts)",
        );
    }

    #[test]
    fn a_missing_artifact_is_located() {
        let errors = crate::testing::errors(&format!("{BASE}app:\n  artifact: nowhere/modu-app\n"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "stacks/modu.yaml:6:13: app.artifact: stacks/nowhere/modu-app is not a file"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn database_fields_are_checked() {
        assert_single_error(
            &format!("{BASE}database:\n  instance_class: t4g.micro\n"),
            "stacks/modu.yaml:6:19: database.instance_class: `t4g.micro` is not an RDS instance class (help: classes look like `db.<family>.<size>`, e.g. `db.t4g.micro`)",
        );
        assert_single_error(
            &format!("{BASE}database:\n  storage_gb: 10\n"),
            "stacks/modu.yaml:6:15: database.storage_gb: must be between 20 and 65536 (got 10)",
        );
    }
}
