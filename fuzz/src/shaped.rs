//! Spec documents shaped by the spec's own JSON Schema, for the `shaped` target.
//!
//! Bytes mutated at random mostly break the YAML, and the reader stops there.
//! Here the fuzzer's bytes choose instead: which sections and fields a document
//! has, which value each gets (one the schema names: a constant, default,
//! example, bound or one past it; or one the shipped specs give that field),
//! and now and then a value of another kind, a misspelled key, an
//! anchor and its alias, or a flow collection. The documents are YAML, so
//! nearly every one reaches `read/` and `check/`. The schema is the parser's own
//! (`modu_spec::json_schema`), so a new field is generated as soon as the
//! parser knows it.

use std::collections::HashMap;
use std::fmt::{self, Write};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use serde_json::{Map, Value};

/// What the schema says a value is.
enum Shape {
    /// A mapping: its known fields, and what other keys hold when it takes any.
    Object {
        fields: Vec<Field>,
        others: Option<Box<Shape>>,
    },
    List(Box<Shape>),
    /// One of several shapes (`anyOf`, `oneOf`, a list of types).
    Either(Vec<Shape>),
    /// A scalar, with the values worth trying.
    Scalar(Values),
}

/// The values worth trying for one scalar.
#[derive(Default)]
struct Values {
    /// What the schema or the shipped specs give it: most pass the checks.
    likely: Vec<Scalar>,
    /// Its bounds and one past them, and the extremes of its type.
    edges: Vec<Scalar>,
}

struct Field {
    name: String,
    required: bool,
    shape: Shape,
}

#[derive(Clone)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// The shape of a whole spec, and every string the schema names (for values
/// in the wrong place and for keys of open mappings).
struct Schema {
    root: Shape,
    words: Vec<String>,
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let json = modu_spec::json_schema();
        let defs = json
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut samples = HashMap::new();
        for spec in SHIPPED_SPECS {
            // Valid specs: a test of modu-spec loads each.
            let value: Value = serde_saphyr::from_str(spec).expect("a shipped spec is YAML");
            collect_samples(&value, "", &mut samples);
        }
        let mut words = Vec::new();
        collect_words(&json, &mut words);
        words.extend(EXTRA_WORDS.iter().map(|w| (*w).to_owned()));
        words.sort();
        words.dedup();
        let context = Context {
            defs: &defs,
            samples: &samples,
        };
        Schema {
            root: context.shape(&json, "", 0),
            words,
        }
    })
}

/// Specs the repository ships, whose values are the likeliest to pass the checks.
const SHIPPED_SPECS: &[&str] = &[
    include_str!("../../stacks/modu.yaml"),
    include_str!("../../examples/minimal.yaml"),
    include_str!("../../examples/production.yaml"),
    include_str!("../../tests/fixtures/good/full-stack.yaml"),
    include_str!("../../tests/fixtures/good/all-tiers-disabled.yaml"),
];

/// The scalars of `value` by dotted path (`compute.min`; `[]` for a list's items,
/// `*` for an open mapping's values, e.g. `tags.*`).
fn collect_samples(value: &Value, path: &str, out: &mut HashMap<String, Vec<Scalar>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_samples(child, &child_path, out);
                collect_samples(child, &format!("{path}.*"), out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_samples(item, &format!("{path}[]"), out);
            }
        }
        scalar_value => out
            .entry(path.to_owned())
            .or_default()
            .extend(scalar(scalar_value)),
    }
}

/// Strings that make checks answer differently and that no schema constant
/// names: reserved tag prefixes, environment names the boot script owns, a
/// burstable type, an ARN in another region, empty and oversized values.
const EXTRA_WORDS: &[&str] = &[
    "",
    " ",
    "aws:x",
    "modu:stack",
    "PATH",
    "DATABASE_URL",
    "RUST_LOG",
    "t3.micro",
    "t4g.nano",
    "c7i.large",
    "eu-west-3",
    "mars",
    "internal",
    "sg",
    "subnet-0123abcd",
    "subnet-4567ef01",
    "vpc-0123456789abcdef0",
    "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
    "arn:aws:sns:us-east-1:123456789012:alarms",
    "oncall@example.org",
    "www.example.com.",
    "*.example.com",
    "example.net",
    "16.4",
    "0x10",
    "1e3",
    ".inf",
    "~",
    "yes",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

fn collect_words(json: &Value, out: &mut Vec<String>) {
    match json {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "description" || key == "pattern" || key == "$ref" {
                    continue;
                }
                out.push(key.clone());
                collect_words(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_words(item, out)),
        Value::String(word) if word.len() < 80 => out.push(word.clone()),
        _ => {}
    }
}

/// What [`Context::shape`] reads besides the schema node at hand.
struct Context<'a> {
    defs: &'a Map<String, Value>,
    samples: &'a HashMap<String, Vec<Scalar>>,
}

impl Context<'_> {
    /// The shape of the schema node `json`, the value at dotted `path`.
    fn shape(&self, json: &Value, path: &str, depth: usize) -> Shape {
        let Some(object) = json.as_object() else {
            return Shape::Scalar(Values::default());
        };
        if depth > 16 {
            return Shape::Scalar(Values::default());
        }
        if let Some(target) = object.get("$ref").and_then(Value::as_str) {
            let name = target.trim_start_matches("#/$defs/");
            return match self.defs.get(name) {
                Some(def) => self.shape(def, path, depth + 1),
                None => Shape::Scalar(Values::default()),
            };
        }
        let mut choices = Vec::new();
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(variants)) = object.get(key) {
                choices.extend(variants.iter().map(|v| self.shape(v, path, depth + 1)));
            }
        }
        let types: Vec<&str> = match object.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for kind in &types {
            match *kind {
                "object" => choices.push(self.object(object, path, depth)),
                "array" => {
                    let items = object
                        .get("items")
                        .map_or(Shape::Scalar(Values::default()), |items| {
                            self.shape(items, &format!("{path}[]"), depth + 1)
                        });
                    choices.push(Shape::List(Box::new(items)));
                }
                scalar => choices.push(Shape::Scalar(self.scalars(object, scalar, path))),
            }
        }
        if types.is_empty() && choices.is_empty() {
            choices.push(Shape::Scalar(self.scalars(object, "", path)));
        }
        if choices.len() == 1 {
            choices.remove(0)
        } else {
            Shape::Either(choices)
        }
    }

    fn object(&self, object: &Map<String, Value>, path: &str, depth: usize) -> Shape {
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let fields = object
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(name, field)| {
                        let child = if path.is_empty() {
                            name.clone()
                        } else {
                            format!("{path}.{name}")
                        };
                        Field {
                            name: name.clone(),
                            required: required.contains(&name.as_str()),
                            shape: self.shape(field, &child, depth + 1),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let others = match object.get("additionalProperties") {
            Some(value @ Value::Object(_)) => {
                Some(Box::new(self.shape(value, &format!("{path}.*"), depth + 1)))
            }
            _ => None,
        };
        Shape::Object { fields, others }
    }

    /// The values worth trying for a scalar of type `kind` described by `object`
    /// at `path`: the schema's, and the shipped specs'.
    fn scalars(&self, object: &Map<String, Value>, kind: &str, path: &str) -> Values {
        let mut likely = Vec::new();
        for key in ["const", "default"] {
            if let Some(value) = object.get(key) {
                likely.extend(scalar(value));
            }
        }
        for key in ["examples", "enum"] {
            if let Some(Value::Array(values)) = object.get(key) {
                likely.extend(values.iter().filter_map(scalar));
            }
        }
        likely.extend(self.samples.get(path).into_iter().flatten().cloned());
        let mut edges = Vec::new();
        for (key, step) in [("minimum", -1), ("maximum", 1)] {
            if let Some(bound) = object.get(key).and_then(Value::as_i64) {
                edges.extend([Scalar::Int(bound), Scalar::Int(bound.saturating_add(step))]);
            }
        }
        match kind {
            "null" => likely.push(Scalar::Null),
            "boolean" => likely.extend([Scalar::Bool(true), Scalar::Bool(false)]),
            "integer" => edges.extend([Scalar::Int(0), Scalar::Int(-1), Scalar::Int(i64::MAX)]),
            "number" => edges.extend([Scalar::Float(0.5), Scalar::Float(f64::NAN)]),
            _ => {}
        }
        Values { likely, edges }
    }
}

fn scalar(value: &Value) -> Option<Scalar> {
    Some(match value {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64()?),
        },
        Value::String(s) => Scalar::Str(s.clone()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// A generated spec document. Its `Debug` is the text, so a crash shows it and
/// `cargo fuzz fmt shaped <input>` prints it.
pub struct Document(pub String);

impl<'a> Arbitrary<'a> for Document {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        document(u).map(Document)
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A YAML document of the spec's shape, as the fuzzer's bytes choose it.
pub fn document(u: &mut Unstructured) -> Result<String> {
    let schema = schema();
    let mut writer = Writer {
        out: String::new(),
        anchors: 0,
    };
    let root = generate(&schema.root, u, &schema.words, 0)?;
    writer.block(&root, u, 0)?;
    Ok(writer.out)
}

/// A generated value, before it is written out.
enum Node {
    Scalar(Scalar),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

const MAX_DEPTH: usize = 6;

fn generate(shape: &Shape, u: &mut Unstructured, words: &[String], depth: usize) -> Result<Node> {
    // Now and then a value of any kind where the schema wants another.
    if depth > MAX_DEPTH || chance(u, 64)? {
        return any(u, words, depth);
    }
    Ok(match shape {
        Shape::Either(shapes) if !shapes.is_empty() => {
            generate(u.choose(shapes)?, u, words, depth)?
        }
        Shape::Either(_) => any(u, words, depth)?,
        Shape::Scalar(values) => {
            let Values { likely, edges } = values;
            let pick = u.int_in_range(0..=31)?;
            Node::Scalar(if pick < 29 && !likely.is_empty() {
                u.choose(likely)?.clone()
            } else if pick < 31 && !edges.is_empty() {
                u.choose(edges)?.clone()
            } else {
                any_scalar(u, words)?
            })
        }
        Shape::List(items) => {
            let len = u.int_in_range(0..=4)?;
            let mut list = Vec::with_capacity(len);
            for _ in 0..len {
                list.push(generate(items, u, words, depth + 1)?);
            }
            Node::List(list)
        }
        Shape::Object { fields, others } => {
            let mut entries = Vec::new();
            for field in fields {
                // Required fields nearly always, so that some documents are valid.
                let wanted = if field.required {
                    !chance(u, 64)?
                } else {
                    chance(u, 3)?
                };
                if wanted {
                    let value = generate(&field.shape, u, words, depth + 1)?;
                    entries.push((key(&field.name, u)?, value));
                }
            }
            if let Some(others) = others {
                for _ in 0..u.int_in_range(0..=3)? {
                    let name = u.choose(words)?.clone();
                    entries.push((name, generate(others, u, words, depth + 1)?));
                }
            }
            if !entries.is_empty() && chance(u, 4)? {
                // Order matters to messages that point at the first key.
                let at = u.choose_index(entries.len())?;
                let entry = entries.remove(at);
                entries.push(entry);
            }
            Node::Map(entries)
        }
    })
}

/// True one time in `n`; false once the fuzzer's bytes are used up, so that a
/// short input makes a short, plain document rather than one odd in every place.
fn chance(u: &mut Unstructured, n: u8) -> Result<bool> {
    Ok(!u.is_empty() && u.ratio(1, n)?)
}

/// A known key, or rarely one misspelled: a character dropped, doubled or swapped.
fn key(name: &str, u: &mut Unstructured) -> Result<String> {
    if !chance(u, 64)? || name.is_empty() {
        return Ok(name.to_owned());
    }
    let mut chars: Vec<char> = name.chars().collect();
    let at = u.choose_index(chars.len())?;
    match u.int_in_range(0..=2)? {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        _ => {
            let next = (at + 1) % chars.len();
            chars.swap(at, next);
        }
    }
    Ok(chars.into_iter().collect())
}

fn any(u: &mut Unstructured, words: &[String], depth: usize) -> Result<Node> {
    Ok(match u.int_in_range(0..=5)? {
        0 if depth < MAX_DEPTH => Node::List(vec![Node::Scalar(any_scalar(u, words)?)]),
        1 if depth < MAX_DEPTH => Node::Map(vec![(
            u.choose(words)?.clone(),
            Node::Scalar(any_scalar(u, words)?),
        )]),
        _ => Node::Scalar(any_scalar(u, words)?),
    })
}

fn any_scalar(u: &mut Unstructured, words: &[String]) -> Result<Scalar> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Scalar::Null,
        1 => Scalar::Bool(u.arbitrary()?),
        2 => Scalar::Int(u.arbitrary()?),
        3 => Scalar::Float(u.arbitrary()?),
        4 => Scalar::Str(u.arbitrary()?),
        _ => Scalar::Str(u.choose(words)?.clone()),
    })
}

/// Writes nodes as YAML: block style mostly, flow style and anchors sometimes.
struct Writer {
    out: String,
    anchors: usize,
}

impl Writer {
    /// Writes `node` in block style at `indent` (a scalar or an empty collection in
    /// flow style), as a document or below the `key:` or `-` it belongs to.
    fn block(&mut self, node: &Node, u: &mut Unstructured, indent: usize) -> Result<()> {
        let pad = " ".repeat(indent);
        match node {
            Node::Map(entries) if !entries.is_empty() => {
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 || indent > 0 {
                        self.out.push_str(&pad);
                    }
                    self.out.push_str(&quote(key, u)?);
                    self.out.push(':');
                    self.value_after_key(value, u, indent)?;
                }
            }
            Node::List(items) if !items.is_empty() => {
                for (index, item) in items.iter().enumerate() {
                    if index > 0 || indent > 0 {
                        self.out.push_str(&pad);
                    }
                    self.out.push('-');
                    self.value_after_key(item, u, indent)?;
                }
            }
            _ => {
                self.flow(node, u)?;
                self.out.push('\n');
            }
        }
        Ok(())
    }

    fn value_after_key(&mut self, value: &Node, u: &mut Unstructured, indent: usize) -> Result<()> {
        let nested = matches!(value, Node::Map(e) if !e.is_empty())
            || matches!(value, Node::List(i) if !i.is_empty());
        if nested && !chance(u, 8)? {
            if chance(u, 16)? {
                self.anchors += 1;
                let _ = write!(self.out, " &a{}", self.anchors);
            }
            self.out.push('\n');
            self.block(value, u, indent + 2)
        } else {
            self.out.push(' ');
            if self.anchors > 0 && chance(u, 64)? {
                let alias = u.int_in_range(1..=self.anchors)?;
                let _ = writeln!(self.out, "*a{alias}");
                return Ok(());
            }
            if chance(u, 16)? {
                self.anchors += 1;
                let _ = write!(self.out, "&a{} ", self.anchors);
            }
            self.flow(value, u)?;
            self.out.push('\n');
            Ok(())
        }
    }

    fn flow(&mut self, node: &Node, u: &mut Unstructured) -> Result<()> {
        match node {
            Node::Scalar(value) => {
                let text = match value {
                    Scalar::Null => ["null", "~", ""][u.choose_index(3)?].to_owned(),
                    Scalar::Bool(b) => b.to_string(),
                    Scalar::Int(i) => i.to_string(),
                    Scalar::Float(f) if f.is_nan() => ".nan".to_owned(),
                    Scalar::Float(f) if f.is_infinite() => {
                        if *f > 0.0 { ".inf" } else { "-.inf" }.to_owned()
                    }
                    Scalar::Float(f) => format!("{f:?}"),
                    Scalar::Str(s) => quote(s, u)?,
                };
                self.out.push_str(&text);
            }
            Node::List(items) => {
                self.out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.out.push_str(", ");
                    }
                    self.flow(item, u)?;
                }
                self.out.push(']');
            }
            Node::Map(entries) => {
                self.out.push('{');
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push_str(&quote(key, u)?);
                    self.out.push_str(": ");
                    self.flow(value, u)?;
                }
                self.out.push('}');
            }
        }
        Ok(())
    }
}

/// A string as a YAML scalar: plain when that reads back as the same string,
/// else double-quoted (JSON's escapes are YAML's); sometimes quoted anyway.
fn quote(value: &str, u: &mut Unstructured) -> Result<String> {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./@*-".contains(c))
        && !value.starts_with(['-', '*', '.', '@'])
        && !matches!(
            value,
            "null" | "Null" | "NULL" | "true" | "false" | "yes" | "no" | "on" | "off"
        );
    if plain && !chance(u, 6)? {
        Ok(value.to_owned())
    } else {
        Ok(serde_json::to_string(value).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random choices, the same on every run (xorshift).
    fn choices(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed.max(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    }

    #[test]
    fn documents_are_yaml_and_some_are_valid_specs() {
        let (mut not_yaml, mut valid) = (Vec::new(), 0);
        for seed in 1..=300 {
            let bytes = choices(seed, 1024);
            let document = document(&mut Unstructured::new(&bytes)).expect("a document");
            match modu_spec::parse_str(&document, std::path::Path::new("modu.yaml")) {
                Ok(_) => valid += 1,
                Err(err) if err.to_string().contains("invalid YAML") => {
                    not_yaml.push(format!("{document}=> {err}"));
                }
                Err(_) => {}
            }
        }
        // A key misspelled into another is the only way to a YAML error (a duplicate key).
        assert!(not_yaml.len() <= 6, "{}", not_yaml.join("\n----\n"));
        assert!(valid >= 10, "only {valid} of 300 documents are valid specs");
    }
}
