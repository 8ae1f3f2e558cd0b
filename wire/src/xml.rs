//! Just enough XML for EC2's answers: a small element tree, read once per response.
//!
//! EC2 answers are a few kilobytes of elements and text (no attributes that matter, no
//! mixed content), so a tree with name, text and children is all the reading code needs.

/// One element: its local name, its text (unescaped; only meaningful for leaves) and its
/// child elements in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a whole document and returns its root element.
    pub fn parse(document: &str) -> Result<Element, String> {
        let mut open: Vec<Element> = Vec::new();
        let mut root = None;
        for token in xmlparser::Tokenizer::from(document) {
            let token = token.map_err(|err| err.to_string())?;
            match token {
                xmlparser::Token::ElementStart { local, .. } => open.push(Element {
                    name: local.as_str().to_string(),
                    ..Element::default()
                }),
                xmlparser::Token::ElementEnd { end, .. } => match end {
                    xmlparser::ElementEnd::Open => {}
                    xmlparser::ElementEnd::Close(..) | xmlparser::ElementEnd::Empty => {
                        let done = open.pop().ok_or("a closing tag without an opening one")?;
                        match open.last_mut() {
                            Some(parent) => parent.children.push(done),
                            None => root = Some(done),
                        }
                    }
                },
                xmlparser::Token::Text { text } => {
                    if let Some(current) = open.last_mut() {
                        current.text.push_str(&unescape(text.as_str())?);
                    }
                }
                xmlparser::Token::Cdata { text, .. } => {
                    if let Some(current) = open.last_mut() {
                        current.text.push_str(text.as_str());
                    }
                }
                _ => {}
            }
        }
        root.ok_or_else(|| "the document has no root element".to_string())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The text of child `name`, or empty.
    pub fn string(&self, name: &str) -> String {
        self.text_of(name).unwrap_or_default().to_string()
    }

    /// The text of child `name` as a number, if it is one.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text_of(name).and_then(|t| t.trim().parse().ok())
    }

    /// Every element of the list `name`, whatever each is called (`member` in IAM,
    /// `DBInstance`, `Tag`… in RDS).
    pub fn list<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Element> + 'a {
        self.child(name)
            .into_iter()
            .flat_map(|list| list.children.iter())
    }

    /// The `<item>` elements of the list `name` (EC2 wraps every list member in `item`).
    pub fn items<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Element> + 'a {
        self.child(name)
            .into_iter()
            .flat_map(|list| list.children.iter().filter(|c| c.name == "item"))
    }
}

/// Replaces XML's five named entities and numeric character references.
fn unescape(text: &str) -> Result<String, String> {
    if !text.contains('&') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .ok_or_else(|| format!("an unterminated entity in {text:?}"))?;
        let entity = &rest[at + 1..at + end];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = entity.strip_prefix('#') {
                    decimal.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("an unknown entity &{entity}; in {text:?}"))?
            }
        };
        out.push(decoded);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_items_and_leaf_text_are_read() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
            <DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
              <requestId>r-1</requestId>
              <vpcSet>
                <item><vpcId>vpc-1</vpcId><isDefault>true</isDefault></item>
                <item><vpcId>vpc-2</vpcId><isDefault>false</isDefault></item>
              </vpcSet>
            </DescribeVpcsResponse>"#;
        let root = Element::parse(doc).unwrap();
        assert_eq!(root.name, "DescribeVpcsResponse");
        let ids: Vec<String> = root.items("vpcSet").map(|v| v.string("vpcId")).collect();
        assert_eq!(ids, ["vpc-1", "vpc-2"]);
        assert_eq!(root.items("missing").count(), 0);
    }

    #[test]
    fn entities_are_unescaped_and_empty_elements_are_leaves() {
        let root =
            Element::parse("<a><b>x &lt;&amp;&gt; &#65;&#x42; &quot;q&apos;</b><c/></a>").unwrap();
        assert_eq!(root.text_of("b"), Some("x <&> AB \"q'"));
        assert_eq!(root.text_of("c"), Some(""));
        assert!(unescape("&bogus;").is_err());
    }

    #[test]
    fn a_broken_document_is_an_error() {
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("").is_err());
    }
}
