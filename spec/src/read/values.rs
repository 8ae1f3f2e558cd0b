//! Reading single values: text, whole numbers, numbers, switches, an enum's
//! keywords, lists, and the free-form fields (`tags`, `network.subnets`,
//! `network.interface_endpoints`).
//! A value that cannot be read is reported here as "expected …, found …" (or
//! "unknown value" with the closest keyword) and becomes [`Field::Invalid`].

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer};
use serde_saphyr::Spanned;

use super::{MAPPING, Place, Read, SINGLE_VALUE, read_field, report_wrong_type};
use crate::diagnostics::{Reporter, source_slice, suggestion};
use crate::raw::{
    Field, RawAlgorithm, RawCacheEngine, RawCreditSpecification, RawDnsTarget, RawEndpointService,
    RawEnv, RawInterfaceEndpoints, RawOriginProtocol, RawPriceClass, RawSubnets, RawTags,
};
use crate::yaml::{Node, Value};

impl Read for RawTags {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let Value::Map(entries) = &node.value else {
            report_wrong_type(node, place, MAPPING, out);
            return None;
        };
        let mut tags = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.scalar_text(out.text()) else {
                report_wrong_type(key, place, SINGLE_VALUE, out);
                continue;
            };
            let value = read_field(value, &place.field(&name, key.at), true, out);
            tags.push((Spanned::new(name, key.at, key.defined), value));
        }
        Some(RawTags(tags))
    }
}

impl Read for RawEnv {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        RawTags::read(node, place, out).map(|tags| RawEnv(tags.0))
    }
}

impl Read for RawSubnets {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        match &node.value {
            Value::List(_) => Vec::read(node, place, out).map(RawSubnets::Ids),
            Value::Map(_) => {
                report_wrong_type(node, place, "`default` or a list of subnet ids", out);
                None
            }
            _ => node.scalar_text(out.text()).map(RawSubnets::Keyword),
        }
    }
}

impl Read for RawInterfaceEndpoints {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        const EXPECTED: &str = "true, false or a list of services";
        let switch = match &node.value {
            Value::List(_) => {
                return Vec::read(node, place, out).map(RawInterfaceEndpoints::Services);
            }
            Value::Map(_) => None,
            Value::Bool(switch) => Some(*switch),
            _ => typed_scalar(node, out.text()),
        };
        if switch.is_none() {
            report_wrong_type(node, place, EXPECTED, out);
        }
        switch.map(RawInterfaceEndpoints::All)
    }
}

impl Read for RawEndpointService {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        read_keyword(node, place, out)
    }
}

/// A list; each item has its own place (`cdn.aliases[1]`) and must not be null.
impl<T: Read> Read for Vec<Field<T>> {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let Value::List(items) = &node.value else {
            report_wrong_type(node, place, "a list", out);
            return None;
        };
        let fields = items
            .iter()
            .enumerate()
            .map(|(index, item)| read_field(item, &place.item(index, item.at), true, out))
            .collect();
        Some(fields)
    }
}

/// Text: a string, or a number or boolean as written (`matcher: 200`).
impl Read for String {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let text = node.scalar_text(out.text());
        if text.is_none() {
            report_wrong_type(node, place, SINGLE_VALUE, out);
        }
        text
    }
}

impl Read for i64 {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let number = match node.value {
            Value::Int(number) => i64::try_from(number).ok(),
            _ => typed_scalar(node, out.text()),
        };
        if number.is_none() {
            report_wrong_type(node, place, "a whole number", out);
        }
        number
    }
}

impl Read for f64 {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let number = match node.value {
            Value::Int(number) => Some(number as f64),
            Value::Float(number) => Some(number),
            _ => typed_scalar(node, out.text()),
        };
        if number.is_none() {
            report_wrong_type(node, place, "a number", out);
        }
        number
    }
}

impl Read for bool {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        let switch = match node.value {
            Value::Bool(switch) => Some(switch),
            _ => typed_scalar(node, out.text()),
        };
        if switch.is_none() {
            report_wrong_type(node, place, "true or false", out);
        }
        switch
    }
}

impl Read for RawAlgorithm {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        read_keyword(node, place, out)
    }
}

impl Read for RawPriceClass {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        read_keyword(node, place, out)
    }
}

impl Read for RawCacheEngine {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        read_keyword(node, place, out)
    }
}

impl Read for RawDnsTarget {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        read_keyword(node, place, out)
    }
}

impl Read for RawCreditSpecification {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        read_keyword(node, place, out)
    }
}

impl Read for RawOriginProtocol {
    fn read(node: &Node, place: &Place, out: &mut Reporter) -> Option<Self> {
        read_keyword(node, place, out)
    }
}

/// One of an enum's keywords, matched by the enum's own `Deserialize` so the
/// names are serde's (and the schema's); an unknown one gets "did you mean".
fn read_keyword<T: DeserializeOwned>(node: &Node, place: &Place, out: &mut Reporter) -> Option<T> {
    let Some(word) = node.scalar_text(out.text()) else {
        report_wrong_type(node, place, SINGLE_VALUE, out);
        return None;
    };
    let deserializer: de::value::StrDeserializer<'_, KeywordError> =
        word.as_str().into_deserializer();
    match T::deserialize(deserializer) {
        Ok(value) => Some(value),
        Err(KeywordError::Unknown(expected)) => {
            out.report_with_help(
                &node.at,
                &place.path,
                format!("unknown value `{word}`"),
                Some(suggestion(&word, expected)),
            );
            None
        }
        Err(KeywordError::Other(message)) => {
            out.report(&node.at, &place.path, message);
            None
        }
    }
}

/// Why a word is none of an enum's keywords, keeping serde's list of them.
#[derive(Debug)]
enum KeywordError {
    Unknown(&'static [&'static str]),
    Other(String),
}

impl de::Error for KeywordError {
    fn custom<M: fmt::Display>(message: M) -> Self {
        KeywordError::Other(message.to_string())
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        KeywordError::Unknown(expected)
    }
}

impl fmt::Display for KeywordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeywordError::Unknown(expected) => write!(f, "expected one of {expected:?}"),
            KeywordError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for KeywordError {}

/// A scalar read as `T` by the YAML reader's own typed rules, from its text in
/// the file. So `"8000"` is still a whole number and `yes` still true, as when
/// serde-saphyr reads a typed field.
fn typed_scalar<T: DeserializeOwned>(node: &Node, text: &str) -> Option<T> {
    if matches!(node.value, Value::List(_) | Value::Map(_)) {
        return None;
    }
    serde_saphyr::from_str(&source_slice(text, &node.defined)).ok()
}

#[cfg(test)]
mod tests {
    use crate::testing::{BASE, assert_single_error, parse};

    #[test]
    fn wrong_type_names_the_field() {
        assert_single_error(
            &format!("{BASE}  min: two\n"),
            "stacks/modu.yaml:5:8: compute.min: expected a whole number, found `two`",
        );
    }

    #[test]
    fn switches_must_be_true_or_false() {
        assert_single_error(
            &format!("{BASE}cdn:\n  enabled: maybe\n  origin_protocol: http\n"),
            "stacks/modu.yaml:6:12: cdn.enabled: expected true or false, found `maybe`",
        );
        assert_single_error(
            &format!("{BASE}dns:\n  zone: example.com\n  record: example.com\n  create_zone: 1\n"),
            "stacks/modu.yaml:8:16: dns.create_zone: expected true or false, found `1`",
        );
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
            &format!("{BASE}cdn:\n  price_class: priceclass_200\n  origin_protocol: http\n"),
            "stacks/modu.yaml:6:16: cdn.price_class: unknown value `priceclass_200` (help: did you mean `PriceClass_200`?)",
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

    #[test]
    fn empty_values_of_required_fields_and_list_items() {
        assert_single_error(
            "stack:\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n",
            "stacks/modu.yaml:1:6: stack: must not be empty",
        );
        assert_single_error(
            &format!("{BASE}tags:\n  team: ~\n"),
            "stacks/modu.yaml:6:9: tags.team: must not be empty",
        );
        assert_single_error(
            &format!("{BASE}network:\n  subnets: [subnet-0123abcd, ~, subnet-4567ef01]\n"),
            "stacks/modu.yaml:6:30: network.subnets[1]: must not be empty",
        );
    }

    #[test]
    fn scalars_are_read_as_the_yaml_reader_types_them() {
        let yaml = format!(
            "{BASE}  min: \"3\"\n  cpu_target: \"55.5\"\ntags:\n  version: 1.10\n  public: yes\nstorage:\n  bucket: 0123\ncdn:\n  enabled: yes\n  origin_protocol: http\nload_balancer:\n  health_check:\n    matcher: 200\n"
        );
        let spec = parse(&yaml).expect("valid");
        assert_eq!((spec.compute.min, spec.compute.cpu_target), (3, 55.5));
        assert_eq!(spec.tags["version"], "1.10");
        assert_eq!(spec.tags["public"], "yes");
        assert_eq!(spec.storage.bucket, crate::BucketRef::Named("0123".into()));
        assert!(spec.cdn.is_some());
        assert_eq!(spec.load_balancer.health_check.matcher, "200");
    }
}
