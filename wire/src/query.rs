//! EC2's request encoding: one form-encoded body of `Name=value` pairs, where structures
//! are dotted (`MetadataOptions.HttpTokens`) and lists are numbered from 1
//! (`Filter.1.Value.1`). EC2 always numbers list members directly under the list's name.

/// The API version every EC2 Query request names.
pub const API_VERSION: &str = "2016-11-15";

/// The parameters of one request, in the order they were set.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn new(action: &str) -> Self {
        Self::versioned(action, API_VERSION)
    }

    /// A request of another Query service (IAM, RDS), which names its own API version.
    pub fn versioned(action: &str, version: &str) -> Self {
        Params {
            pairs: vec![
                ("Action".into(), action.into()),
                ("Version".into(), version.into()),
            ],
        }
    }

    /// `name.member.1=a&name.member.2=b…`, the list encoding of IAM and RDS, whose lists
    /// name their members (`member` in IAM; `SubnetIdentifier`, `Tag`… in RDS).
    pub fn members<S: AsRef<str>>(&mut self, name: &str, member: &str, values: &[S]) -> &mut Self {
        for (i, value) in values.iter().enumerate() {
            self.set(format!("{name}.{member}.{}", i + 1), value.as_ref());
        }
        self
    }

    /// `prefix.<member>.N.Key` / `.Value` pairs (IAM's and RDS's tags).
    pub fn member_tags(
        &mut self,
        prefix: &str,
        member: &str,
        tags: &[(String, String)],
    ) -> &mut Self {
        for (i, (key, value)) in tags.iter().enumerate() {
            self.set(format!("{prefix}.{member}.{}.Key", i + 1), key);
            self.set(format!("{prefix}.{member}.{}.Value", i + 1), value);
        }
        self
    }

    pub fn action(&self) -> &str {
        &self.pairs[0].1
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl ToString) -> &mut Self {
        self.pairs.push((name.into(), value.to_string()));
        self
    }

    /// `name.1=a&name.2=b…`
    pub fn list<S: AsRef<str>>(&mut self, name: &str, values: &[S]) -> &mut Self {
        for (i, value) in values.iter().enumerate() {
            self.set(format!("{name}.{}", i + 1), value.as_ref());
        }
        self
    }

    pub fn filters(&mut self, filters: &[Filter]) -> &mut Self {
        for (i, filter) in filters.iter().enumerate() {
            let prefix = format!("Filter.{}", i + 1);
            self.set(format!("{prefix}.Name"), &filter.name);
            self.list(&format!("{prefix}.Value"), &filter.values);
        }
        self
    }

    /// `prefix.N.ResourceType` and its tags, one tag specification per resource type.
    pub fn tag_specifications(&mut self, prefix: &str, specs: &[(&str, &[Tag])]) -> &mut Self {
        for (i, (resource_type, tags)) in specs.iter().enumerate() {
            let spec = format!("{prefix}.{}", i + 1);
            self.set(format!("{spec}.ResourceType"), resource_type);
            for (j, tag) in tags.iter().enumerate() {
                self.set(format!("{spec}.Tag.{}.Key", j + 1), &tag.key);
                self.set(format!("{spec}.Tag.{}.Value", j + 1), &tag.value);
            }
        }
        self
    }

    /// A copy without the parameter `name`.
    pub fn without(&self, name: &str) -> Params {
        Params {
            pairs: self
                .pairs
                .iter()
                .filter(|(n, _)| n != name)
                .cloned()
                .collect(),
        }
    }

    /// The request body.
    pub fn encode(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .finish()
    }
}

/// A `Filter` of a Describe call: results whose `name` matches any of `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    pub fn new<S: Into<String>>(name: &str, values: impl IntoIterator<Item = S>) -> Self {
        Filter {
            name: name.to_string(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }
}

/// A resource tag, as EC2 sends and takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_lists_are_numbered_from_one() {
        let mut params = Params::new("DescribeSubnets");
        params
            .filters(&[
                Filter::new("vpc-id", ["vpc-1"]),
                Filter::new("default-for-az", ["true", "false"]),
            ])
            .list("SubnetId", &["subnet-a", "subnet-b"]);
        assert_eq!(
            params.encode(),
            "Action=DescribeSubnets&Version=2016-11-15\
             &Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1\
             &Filter.2.Name=default-for-az&Filter.2.Value.1=true&Filter.2.Value.2=false\
             &SubnetId.1=subnet-a&SubnetId.2=subnet-b"
        );
    }

    #[test]
    fn tag_specifications_and_values_are_form_encoded() {
        let tags = [Tag::new("modu:stack", "web"), Tag::new("Name", "a b/c")];
        let mut params = Params::new("CreateSecurityGroup");
        params
            .set("GroupDescription", "from anywhere: 0.0.0.0/0")
            .tag_specifications("TagSpecification", &[("security-group", &tags)]);
        assert_eq!(
            params.encode(),
            "Action=CreateSecurityGroup&Version=2016-11-15\
             &GroupDescription=from+anywhere%3A+0.0.0.0%2F0\
             &TagSpecification.1.ResourceType=security-group\
             &TagSpecification.1.Tag.1.Key=modu%3Astack&TagSpecification.1.Tag.1.Value=web\
             &TagSpecification.1.Tag.2.Key=Name&TagSpecification.1.Tag.2.Value=a+b%2Fc"
        );
    }
}
