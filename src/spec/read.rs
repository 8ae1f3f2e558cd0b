//! From YAML text to the raw structs of `raw.rs`, with serde-saphyr: where
//! the reader stops (a syntax error, an unknown field, a value of the wrong
//! type), the one problem is located by the YAML reader and named by the
//! field path serde was at.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};

use super::diagnostics::{Problem, join_field, locate, source_slice, suggestion};
use super::raw::RawSpec;

/// YAML to raw structs; a failure here is a single problem, located by the
/// YAML reader and named by the field path serde was at.
pub(super) fn read_raw(text: &str, file: &Path) -> Result<RawSpec, Box<Problem>> {
    let mut field_path: Option<serde_path_to_error::Path> = None;
    let result = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            field_path = Some(err.path().clone());
            err.into_inner()
        })
    });
    result.map_err(|err| {
        let field = field_path.as_ref().map(dotted_path).unwrap_or_default();
        Box::new(problem_from_yaml_error(&err, field, file, text))
    })
}

/// Turns serde's path into `compute.min` / `network.subnets[1]`.
///
/// Each `Spanned` value adds a synthetic `value` segment, which is dropped (no
/// field of the spec is called `value`). Tag names are read as `Spanned` keys,
/// which the path does not record, so a problem inside `tags` names `tags`.
fn dotted_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Enum { .. } => {}
            Segment::Unknown => break,
        }
    }
    out
}

fn problem_from_yaml_error(
    err: &serde_saphyr::Error,
    field: String,
    file: &Path,
    text: &str,
) -> Problem {
    use serde_saphyr::Error as E;
    let mut location = err.location();
    let found = location
        .map(|loc| source_slice(text, &loc))
        .unwrap_or_default();
    let mut field = field;
    let mut help = None;
    let message = match err.without_snippet() {
        E::SerdeUnknownField {
            field: unknown,
            expected,
            ..
        } => {
            help = Some(suggestion(unknown, expected));
            format!("unknown field `{unknown}`")
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            help = Some(suggestion(variant, expected));
            format!("unknown value `{variant}`")
        }
        E::SerdeMissingField { field: missing, .. } => {
            // The reader notices at the end of the mapping; point at the
            // mapping's own key (`compute:`) instead, when it can be found.
            if let Some(parent) = mapping_key_location(text, &field) {
                location = Some(parent);
            }
            field = join_field(&field, missing);
            "missing required field".to_owned()
        }
        E::InvalidScalar { ty, .. } => {
            format!("expected {}, found `{}`", describe_type(ty), found.trim())
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => format!("expected {expected}, found {unexpected}"),
        E::Unexpected { expected, .. } => format!("expected {}", describe_node(expected)),
        E::NullIntoString { .. } => "must not be empty".to_owned(),
        E::ExternalMessage { msg, .. } => {
            // A syntax error: the field serde was reading says little about it.
            field.clear();
            format!("invalid YAML: {}", msg.escape_debug())
        }
        other => UserMessageFormatter
            .format_message(other)
            .escape_debug()
            .to_string(),
    };
    let (line, column, span) = match location {
        Some(loc) => locate(text, &loc),
        None => (0, 0, None),
    };
    Problem {
        file: file.to_path_buf(),
        line,
        column,
        field,
        message,
        help,
        span,
    }
}

/// Where the key of the mapping at `dotted` is (the first key of the file for
/// the top level), found by reading `text` again as a bare tree of mappings.
pub(super) fn mapping_key_location(text: &str, dotted: &str) -> Option<Location> {
    let root: KeyTree = serde_saphyr::from_str(text).ok()?;
    let mut node = &root;
    let mut location = root.0.first().map(|(key, _)| key.referenced);
    for name in dotted.split('.').filter(|name| !name.is_empty()) {
        let (key, child) = node.0.iter().find(|(key, _)| key.value == name)?;
        location = Some(key.referenced);
        node = child;
    }
    location
}

/// A YAML document reduced to its mapping keys and their positions.
#[derive(Default)]
struct KeyTree(Vec<(Spanned<String>, KeyTree)>);

impl<'de> Deserialize<'de> for KeyTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyTreeVisitor;

        impl<'de> Visitor<'de> for KeyTreeVisitor {
            type Value = KeyTree;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyTree, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<KeyTree>()?));
                }
                Ok(KeyTree(entries))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyTree, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(KeyTree::default())
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }

            fn visit_unit<E: de::Error>(self) -> Result<KeyTree, E> {
                Ok(KeyTree::default())
            }
        }

        deserializer.deserialize_any(KeyTreeVisitor)
    }
}

fn describe_type(ty: &str) -> &str {
    match ty {
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128" => {
            "a whole number"
        }
        "f32" | "f64" => "a number",
        "bool" | "boolean" => "true or false",
        other => other,
    }
}

fn describe_node(expected: &str) -> &str {
    match expected {
        "string scalar" => "a single value",
        "mapping start" => "a mapping (`key: value` lines)",
        "sequence start" => "a list",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::testing::{BASE, assert_single_error, errors};

    #[test]
    fn yaml_syntax_error_is_located() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n    min: 2\n",
            "stacks/modu.yaml:5:8: invalid YAML: mapping values are not allowed",
        );
    }

    #[test]
    fn unknown_top_level_field_suggests_the_closest() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncomputee:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:3:1: computee: unknown field `computee` (help: did you mean `compute`?)",
        );
    }

    #[test]
    fn unknown_nested_field_suggests_the_closest() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncompute:\n  instance_typo: t3.micro\n",
            "stacks/modu.yaml:4:3: compute.instance_typo: unknown field `instance_typo` (help: did you mean `instance_type`?)",
        );
    }

    #[test]
    fn unknown_field_far_from_any_lists_the_choices() {
        let lines = errors(&format!("{BASE}  zzz: 1\n"));
        assert!(
            lines[0].contains("compute.zzz: unknown field `zzz` (help: expected one of `image`")
        );
    }

    #[test]
    fn wrong_type_names_the_field() {
        assert_single_error(
            &format!("{BASE}  min: two\n"),
            "stacks/modu.yaml:5:8: compute.min: expected a whole number, found `two`",
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
    fn switches_must_be_true_or_false() {
        assert_single_error(
            &format!("{BASE}cdn:\n  enabled: maybe\n"),
            "stacks/modu.yaml:6:12: cdn.enabled: expected true or false, found `maybe`",
        );
        assert_single_error(
            &format!("{BASE}dns:\n  zone: example.com\n  record: example.com\n  create_zone: 1\n"),
            "stacks/modu.yaml:8:16: dns.create_zone: expected true or false, found `1`",
        );
    }

    #[test]
    fn empty_or_non_mapping_documents_are_rejected() {
        assert_single_error("", "stacks/modu.yaml:1:1: unexpected end of file");
        assert_single_error("- a\n", "stacks/modu.yaml:1:1: expected a mapping");
    }

    #[test]
    fn unknown_algorithm_suggests_the_closest() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\nload_balancer:\n  algorithm: least_outstanding\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:4:14: load_balancer.algorithm: unknown value `least_outstanding` (help: did you mean `least_outstanding_requests`?)",
        );
    }

    #[test]
    fn bad_price_class_suggests_the_closest() {
        assert_single_error(
            &format!("{BASE}cdn:\n  price_class: priceclass_200\n"),
            "stacks/modu.yaml:6:16: cdn.price_class: unknown value `priceclass_200` (help: did you mean `PriceClass_200`?)",
        );
    }

    #[test]
    fn unknown_field_in_cache_suggests_the_closest() {
        assert_single_error(
            &format!("{BASE}cache:\n  node_typ: cache.t3.micro\n"),
            "stacks/modu.yaml:6:3: cache.node_typ: unknown field `node_typ` (help: did you mean `node_type`?)",
        );
    }

    #[test]
    fn unknown_cache_engine_suggests_the_closest() {
        assert_single_error(
            &format!("{BASE}cache:\n  engine: valkyrie\n"),
            "stacks/modu.yaml:6:11: cache.engine: unknown value `valkyrie` (help: did you mean `valkey`?)",
        );
    }

    #[test]
    fn bad_dns_target_suggests_the_closest() {
        assert_single_error(
            &format!(
                "{BASE}dns:\n  zone: example.com\n  record: www.example.com\n  target: loadbalancer\n"
            ),
            "stacks/modu.yaml:8:11: dns.target: unknown value `loadbalancer` (help: did you mean `load_balancer`?)",
        );
    }

    #[test]
    fn field_paths_drop_span_markers() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ntags:\n  team: [a]\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:4:9: tags",
        );
    }
}
