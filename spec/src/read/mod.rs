//! From the YAML tree to the raw structs of `raw.rs`, noting what is wrong
//! with the file's shape: unknown fields (with the closest known name), missing
//! required fields, and values of the wrong type or unknown keywords.
//!
//! Reading never stops at a problem: an unknown field is noted and skipped, a
//! value that cannot be read becomes [`Field::Invalid`], and the rest of the
//! file is read as usual. The checks then run on everything that was readable,
//! so structural and semantic problems are reported together.
//!
//! This file reads the sections (mappings with known fields): each lists its
//! fields in the order of its struct, the names it asks for are the ones it
//! knows, and a test keeps them equal to the JSON Schema's. `values.rs` reads
//! what is inside them: text, numbers, switches, keywords, lists and tags.

mod values;

use serde_saphyr::{Location, Spanned};

use super::diagnostics::{Reporter, join_field, suggestion};
use super::raw::{
    Field, RawApp, RawCache, RawCdn, RawCompute, RawDashboard, RawDatabase, RawDns, RawHealthCheck,
    RawLoadBalancer, RawNetwork, RawSpec, RawStorage,
};
use super::yaml::{Node, Value};

const MAPPING: &str = "a mapping (`key: value` lines)";
const SINGLE_VALUE: &str = "a single value";

/// Reads the whole file. A document that is empty or not a mapping is one
/// problem, and then nothing is read.
pub(super) fn read_spec(root: &Node, out: &mut Reporter) -> RawSpec {
    if root.is_null() {
        out.report(&root.at, "", "unexpected end of file");
        return RawSpec::default();
    }
    let place = Place {
        path: String::new(),
        key: root.key_location("").unwrap_or(root.at),
    };
    RawSpec::read(root, &place, out).unwrap_or_default()
}

/// Where a value is: its dotted field path (`compute.min`, `cdn.aliases[1]`,
/// empty for the whole file) and the position of its key, where a missing
/// field inside it is reported.
#[derive(Clone)]
struct Place {
    path: String,
    key: Location,
}

impl Place {
    fn field(&self, name: &str, key: Location) -> Place {
        Place {
            path: join_field(&self.path, name),
            key,
        }
    }

    fn item(&self, index: usize, at: Location) -> Place {
        Place {
            path: format!("{}[{index}]", self.path),
            key: at,
        }
    }
}

/// What a YAML value can be read as.
trait Read: Sized {
    /// Reads `node`, which is not null, or reports why it cannot.
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self>;
}

/// The field a value makes. Null is absent, unless the field must have a value.
fn read_field<T: Read>(node: &Node, place: &Place, required: bool, out: &mut Reporter) -> Field<T> {
    if node.is_null() {
        if required {
            out.report(&node.at, &place.path, "must not be empty");
            return Field::Invalid;
        }
        return Field::Absent;
    }
    match T::read(node, place, out) {
        Some(value) => Field::Given(Spanned::new(value, node.at, node.defined)),
        None => Field::Invalid,
    }
}

fn report_wrong_type(node: &Node, place: &Place, expected: &str, out: &mut Reporter) {
    let found = node.found(out.text());
    out.report(
        &node.at,
        &place.path,
        format!("expected {expected}, found {found}"),
    );
}

/// The entries of one mapping of the file, taken field by field; what no
/// field takes is unknown.
struct Section<'n, 'r, 'a> {
    place: Place,
    entries: Vec<(String, &'n Node, &'n Node)>,
    known: Vec<&'static str>,
    out: &'r mut Reporter<'a>,
}

impl<'n, 'r, 'a> Section<'n, 'r, 'a> {
    /// `node` as a section, or `None` (reported) when it is not a mapping.
    fn open(node: &'n Node, place: &Place, out: &'r mut Reporter<'a>) -> Option<Self> {
        let Value::Map(map) = &node.value else {
            report_wrong_type(node, place, MAPPING, out);
            return None;
        };
        let mut entries = Vec::new();
        for (key, value) in map {
            match key.scalar_text(out.text()) {
                Some(name) => entries.push((name, key, value)),
                None => report_wrong_type(key, place, SINGLE_VALUE, out),
            }
        }
        Some(Section {
            place: place.clone(),
            entries,
            known: Vec::new(),
            out,
        })
    }

    fn optional<T: Read>(&mut self, name: &'static str) -> Field<T> {
        self.take(name, false)
    }

    /// A field the section must have; missing, it is reported at the
    /// section's key (`compute:`), or the file's first key at the top.
    fn required<T: Read>(&mut self, name: &'static str) -> Field<T> {
        self.take(name, true)
    }

    fn take<T: Read>(&mut self, name: &'static str, required: bool) -> Field<T> {
        self.known.push(name);
        let Some(index) = self.entries.iter().position(|(key, _, _)| key == name) else {
            if required {
                let field = join_field(&self.place.path, name);
                self.out
                    .report(&self.place.key, &field, "missing required field");
            }
            return Field::Absent;
        };
        let (_, key, value) = self.entries.remove(index);
        read_field(value, &self.place.field(name, key.at), required, self.out)
    }

    /// Reports every entry that no field took.
    fn finish(self) {
        for (name, key, _) in self.entries {
            self.out.report_with_help(
                &key.at,
                &join_field(&self.place.path, &name),
                format!("unknown field `{name}`"),
                Some(suggestion(&name, &self.known)),
            );
        }
    }
}

impl Read for RawSpec {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawSpec {
            stack: section.required("stack"),
            region: section.required("region"),
            tags: section.optional("tags"),
            network: section.optional("network"),
            storage: section.optional("storage"),
            load_balancer: section.optional("load_balancer"),
            compute: section.required("compute"),
            cdn: section.optional("cdn"),
            cache: section.optional("cache"),
            dashboard: section.optional("dashboard"),
            dns: section.optional("dns"),
            app: section.optional("app"),
            database: section.optional("database"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawApp {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawApp {
            artifact: section.optional("artifact"),
            env: section.optional("env"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawDatabase {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawDatabase {
            enabled: section.optional("enabled"),
            engine_version: section.optional("engine_version"),
            instance_class: section.optional("instance_class"),
            storage_gb: section.optional("storage_gb"),
            multi_az: section.optional("multi_az"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawNetwork {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawNetwork {
            vpc: section.optional("vpc"),
            subnets: section.optional("subnets"),
            public_subnets: section.optional("public_subnets"),
            private_subnets: section.optional("private_subnets"),
            interface_endpoints: section.optional("interface_endpoints"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawStorage {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawStorage {
            bucket: section.optional("bucket"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawLoadBalancer {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawLoadBalancer {
            port: section.optional("port"),
            algorithm: section.optional("algorithm"),
            health_check: section.optional("health_check"),
            deregistration_delay: section.optional("deregistration_delay"),
            certificate_arn: section.optional("certificate_arn"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawHealthCheck {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawHealthCheck {
            path: section.optional("path"),
            interval: section.optional("interval"),
            timeout: section.optional("timeout"),
            healthy_threshold: section.optional("healthy_threshold"),
            unhealthy_threshold: section.optional("unhealthy_threshold"),
            matcher: section.optional("matcher"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawCompute {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawCompute {
            image: section.optional("image"),
            instance_type: section.required("instance_type"),
            port: section.optional("port"),
            min: section.optional("min"),
            max: section.optional("max"),
            desired: section.optional("desired"),
            cpu_target: section.optional("cpu_target"),
            health_check_grace: section.optional("health_check_grace"),
            user_data: section.optional("user_data"),
            credit_specification: section.optional("credit_specification"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawCdn {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawCdn {
            enabled: section.optional("enabled"),
            price_class: section.optional("price_class"),
            aliases: section.optional("aliases"),
            certificate_arn: section.optional("certificate_arn"),
            origin_protocol: section.optional("origin_protocol"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawCache {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawCache {
            enabled: section.optional("enabled"),
            engine: section.optional("engine"),
            node_type: section.optional("node_type"),
            replicas: section.optional("replicas"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawDashboard {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let mut section = Section::open(node, place, out)?;
        let raw = RawDashboard {
            enabled: section.optional("enabled"),
            alarms: section.optional("alarms"),
            notify: section.optional("notify"),
            topic_arn: section.optional("topic_arn"),
        };
        section.finish();
        Some(raw)
    }
}

impl Read for RawDns {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        // `zone` and `record` are required only when the section is switched
        // on, which is the checks' business.
        let mut section = Section::open(node, place, out)?;
        let raw = RawDns {
            enabled: section.optional("enabled"),
            zone: section.optional("zone"),
            record: section.optional("record"),
            target: section.optional("target"),
            create_zone: section.optional("create_zone"),
        };
        section.finish();
        Some(raw)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::json_schema;
    use crate::testing::{BASE, assert_single_error, errors};
    use crate::yaml::read_tree;

    #[test]
    fn unknown_field_far_from_any_lists_the_choices() {
        let lines = errors(&format!("{BASE}  zzz: 1\n"));
        assert!(
            lines[0].contains("compute.zzz: unknown field `zzz` (help: expected one of `image`")
        );
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
    fn empty_or_non_mapping_documents_are_rejected() {
        assert_single_error("", "stacks/modu.yaml:1:1: unexpected end of file");
        assert_single_error("- a\n", "stacks/modu.yaml:1:1: expected a mapping");
    }

    #[test]
    fn unknown_field_in_cache_suggests_the_closest() {
        assert_single_error(
            &format!("{BASE}cache:\n  node_typ: cache.t3.micro\n"),
            "stacks/modu.yaml:6:3: cache.node_typ: unknown field `node_typ` (help: did you mean `node_type`?)",
        );
    }

    #[test]
    fn unknown_top_level_field_suggests_the_closest() {
        assert_eq!(
            errors("stack: modu\nregion: us-east-1\ncomputee:\n  instance_type: t3.micro\n"),
            [
                "stacks/modu.yaml:1:1: compute: missing required field",
                "stacks/modu.yaml:3:1: computee: unknown field `computee` (help: did you mean `compute`?)",
            ]
        );
    }

    #[test]
    fn unknown_nested_field_suggests_the_closest() {
        assert_eq!(
            errors("stack: modu\nregion: us-east-1\ncompute:\n  instance_typo: t3.micro\n"),
            [
                "stacks/modu.yaml:3:1: compute.instance_type: missing required field",
                "stacks/modu.yaml:4:3: compute.instance_typo: unknown field `instance_typo` (help: did you mean `instance_type`?)",
            ]
        );
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_one_problem() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncompute: 5\n",
            "stacks/modu.yaml:3:10: compute: expected a mapping (`key: value` lines), found `5`",
        );
        assert_single_error(
            &format!("{BASE}network: [a]\n"),
            "stacks/modu.yaml:5:10: network: expected a mapping (`key: value` lines), found a list",
        );
        assert_single_error(
            &format!("{BASE}network:\n  subnets: {{a: 1}}\n"),
            "stacks/modu.yaml:6:12: network.subnets: expected `default` or a list of subnet ids, found a mapping",
        );
        assert_single_error(
            &format!("{BASE}cdn:\n  aliases: www.example.com\n  origin_protocol: http\n"),
            "stacks/modu.yaml:6:12: cdn.aliases: expected a list, found `www.example.com`",
        );
        assert_single_error(
            &format!("{BASE}cdn:\n  aliases: [[a]]\n  origin_protocol: http\n"),
            "stacks/modu.yaml:6:13: cdn.aliases[0]: expected a single value, found a list",
        );
        assert_single_error(
            &format!("{BASE}cache:\n  engine: [redis]\n"),
            "stacks/modu.yaml:6:11: cache.engine: expected a single value, found a list",
        );
    }

    /// Every section of the schema, by its path in the file.
    const SECTIONS: [(&str, &str); 12] = [
        ("", ""),
        ("network", "Network"),
        ("storage", "Storage"),
        ("load_balancer", "LoadBalancer"),
        ("load_balancer.health_check", "HealthCheck"),
        ("compute", "Compute"),
        ("cdn", "Cdn"),
        ("cache", "Cache"),
        ("dashboard", "Dashboard"),
        ("dns", "Dns"),
        ("app", "App"),
        ("database", "Database"),
    ];

    /// YAML that sets the section at `path` to `body` (a flow mapping).
    fn section_yaml(path: &str, body: &str) -> String {
        if path.is_empty() {
            return body.to_owned();
        }
        let mut yaml = String::new();
        let names: Vec<&str> = path.split('.').collect();
        for (depth, name) in names.iter().enumerate() {
            let indent = "  ".repeat(depth);
            if depth + 1 == names.len() {
                yaml.push_str(&format!("{indent}{name}: {body}\n"));
            } else {
                yaml.push_str(&format!("{indent}{name}:\n"));
            }
        }
        yaml
    }

    fn read_problems(yaml: &str) -> Vec<(String, String)> {
        let file = Path::new("s.yaml");
        let tree = read_tree(yaml, file).expect("valid YAML");
        let mut out = Reporter::new(file, yaml);
        read_spec(&tree, &mut out);
        match out.finish(()) {
            Ok(()) => Vec::new(),
            Err(err) => err
                .problems()
                .iter()
                .map(|p| (p.field.clone(), p.message.clone()))
                .collect(),
        }
    }

    #[test]
    fn the_reader_and_the_schema_agree_on_every_field() {
        let schema = json_schema();
        let mut closed: Vec<&str> = schema["$defs"]
            .as_object()
            .expect("$defs")
            .iter()
            .filter(|(_, def)| def["additionalProperties"] == false)
            .map(|(name, _)| name.as_str())
            .collect();
        let mut listed: Vec<&str> = SECTIONS.iter().map(|(_, def)| *def).collect();
        listed.retain(|def| !def.is_empty());
        closed.sort();
        listed.sort();
        assert_eq!(closed, listed, "every section of the schema is tested");

        for (path, def) in SECTIONS {
            let section = if def.is_empty() {
                &schema
            } else {
                &schema["$defs"][def]
            };
            let names: Vec<&str> = section["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{def} has properties"))
                .keys()
                .map(String::as_str)
                .collect();
            let all_null: Vec<String> = names.iter().map(|name| format!("{name}: null")).collect();
            let yaml = section_yaml(path, &format!("{{{}}}", all_null.join(", ")));
            let unknown: Vec<(String, String)> = read_problems(&yaml)
                .into_iter()
                .filter(|(_, message)| message.starts_with("unknown field"))
                .collect();
            assert!(unknown.is_empty(), "{path}: {unknown:?}");

            let mut required: Vec<String> = section["required"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str())
                        .map(|n| join_field(path, n))
                        .collect()
                })
                .unwrap_or_default();
            let mut missing: Vec<String> = read_problems(&section_yaml(path, "{}"))
                .into_iter()
                .filter(|(field, message)| {
                    message == "missing required field"
                        && field.rsplit_once('.').map_or("", |(parent, _)| parent) == path
                })
                .map(|(field, _)| field)
                .collect();
            required.sort();
            missing.sort();
            assert_eq!(missing, required, "required fields of `{path}`");
        }
    }
}
