//! The spec file as a YAML tree: every mapping, list and scalar with where it
//! is in the file, before anything is known about what the spec expects.
//!
//! serde-saphyr parses the text (anchors, aliases and merge keys resolved) into
//! [`Node`]s. This is the one step that can stop the whole read: a file that
//! is not YAML (a syntax error, a duplicate key, two documents) gives a single
//! problem. Any YAML document becomes a tree, so every later problem (an
//! unknown field, a value of the wrong type, a bad stack name) is found and
//! reported with the others.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::options::NonFiniteFloatPolicy;
use serde_saphyr::{Location, MessageFormatter, Options, Spanned, UserMessageFormatter};

use super::diagnostics::{Problem, locate, one_line, source_slice};

/// One YAML value and its position.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) value: Value,
    /// Where the value is used: for an alias (`*name`), the alias itself.
    pub(super) at: Location,
    /// Where the value is written: for an alias, its anchored original.
    pub(super) defined: Location,
}

/// A YAML value as the parser typed it. Plain scalars get YAML's implicit
/// types (`8000` is an integer, `yes` a boolean), quoted ones stay strings;
/// the reader decides what each field accepts.
#[derive(Debug)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub(super) fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// A scalar as written: a string's own text, or for a number or boolean
    /// the characters of the file (`0042` stays `0042`). `None` for a list or
    /// mapping.
    pub(super) fn scalar_text(&self, text: &str) -> Option<String> {
        match &self.value {
            Value::Str(value) => Some(value.clone()),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                Some(source_slice(text, &self.defined))
            }
            Value::List(_) | Value::Map(_) => None,
        }
    }

    /// What the node is, for "expected …, found …" messages.
    pub(super) fn found(&self, text: &str) -> String {
        match &self.value {
            Value::List(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
            _ => format!("`{}`", source_slice(text, &self.defined).trim()),
        }
    }

    /// Where the key of the mapping at dotted `path` is, e.g. `dns`; for the
    /// empty path, the document's first key.
    pub(super) fn key_location(&self, path: &str) -> Option<Location> {
        let Value::Map(entries) = &self.value else {
            return None;
        };
        let mut location = entries.first().map(|(key, _)| key.at);
        let mut node = self;
        for name in path.split('.').filter(|name| !name.is_empty()) {
            let Value::Map(entries) = &node.value else {
                return None;
            };
            let (key, child) = entries
                .iter()
                .find(|(key, _)| matches!(&key.value, Value::Str(k) if k == name))?;
            location = Some(key.at);
            node = child;
        }
        location
    }
}

/// Parses `text` into a tree; a file that is not YAML is one problem.
pub(super) fn read_tree(text: &str, file: &Path) -> Result<Node, Box<Problem>> {
    let mut options = Options::default();
    // `.inf` and `.nan` are numbers to YAML; whether a field takes them is the
    // checks' business (typed reads accept them too).
    options.non_finite_float_policy = NonFiniteFloatPolicy::PassThrough;
    serde_saphyr::from_str_with_options(text, options)
        .map_err(|err| Box::new(problem_from_yaml_error(&err, file, text)))
}

fn problem_from_yaml_error(err: &serde_saphyr::Error, file: &Path, text: &str) -> Problem {
    use serde_saphyr::Error as E;
    let location = err.location();
    let message = match err.without_snippet() {
        E::ExternalMessage { msg, .. } => format!("invalid YAML: {}", msg.escape_debug()),
        // A tagged scalar that does not fit its tag, e.g. `!!int abc`.
        E::InvalidScalar { ty, .. } => {
            let found = location
                .map(|loc| source_slice(text, &loc))
                .unwrap_or_default();
            format!(
                "expected {}, found `{}`",
                describe_type(ty),
                one_line(found.trim())
            )
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
        field: String::new(),
        message,
        help: None,
        span,
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

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            at: spanned.referenced,
            defined: spanned.defined,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
                Ok(Value::Bool(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
                Ok(Value::Int(value.into()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
                Ok(Value::Int(value.into()))
            }

            fn visit_i128<E: de::Error>(self, value: i128) -> Result<Value, E> {
                Ok(Value::Int(value))
            }

            fn visit_u128<E: de::Error>(self, value: u128) -> Result<Value, E> {
                // Beyond i128 no field could take it anyway.
                Ok(i128::try_from(value).map_or(Value::Float(value as f64), Value::Int))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
                Ok(Value::Float(value))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
                Ok(Value::Str(value.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Value::List(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Node, Node>()? {
                    entries.push(entry);
                }
                Ok(Value::Map(entries))
            }
        }

        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_single_error;

    fn tree(text: &str) -> Node {
        read_tree(text, Path::new("t.yaml")).expect("valid YAML")
    }

    #[test]
    fn scalars_keep_their_text_and_position() {
        let text = "a: 0042\nb: \"5\"\nc: &x yes\nd: *x\n";
        let root = tree(text);
        let Value::Map(entries) = &root.value else {
            panic!("a mapping: {root:?}");
        };
        let texts: Vec<Option<String>> = entries.iter().map(|(_, v)| v.scalar_text(text)).collect();
        assert_eq!(
            texts,
            [
                Some("0042".into()),
                Some("5".into()),
                Some("yes".into()),
                Some("yes".into())
            ]
        );
        let (_, alias) = &entries[3];
        assert_eq!((alias.at.line(), alias.at.column()), (4, 4));
        assert_eq!((alias.defined.line(), alias.defined.column()), (3, 7));
    }

    #[test]
    fn key_locations_are_found_by_path() {
        let root = tree("# spec\nstack: modu\ndns:\n  zone: example.com\n");
        let at = |path: &str| root.key_location(path).map(|l| (l.line(), l.column()));
        assert_eq!(at(""), Some((2, 1)));
        assert_eq!(at("dns"), Some((3, 1)));
        assert_eq!(at("dns.zone"), Some((4, 3)));
        assert_eq!(at("cdn"), None);
    }

    #[test]
    fn what_is_not_yaml_is_one_problem() {
        let err = read_tree("a: b\n  c: d\n", Path::new("t.yaml")).expect_err("not YAML");
        assert_eq!((err.line, err.column), (2, 4));
        assert!(
            err.message
                .starts_with("invalid YAML: mapping values are not allowed")
        );
        let err = read_tree("a: 1\na: 2\n", Path::new("t.yaml")).expect_err("duplicate");
        assert_eq!((err.line, err.column), (2, 1));
        assert!(err.message.contains("duplicate"), "{}", err.message);
    }

    #[test]
    fn yaml_syntax_error_is_located() {
        assert_single_error(
            "stack: modu\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n    min: 2\n",
            "stacks/modu.yaml:5:8: invalid YAML: mapping values are not allowed",
        );
    }
}
