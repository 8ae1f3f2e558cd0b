//! The least-privilege IAM policy an operator needs to run `plan`, `up`, `status`,
//! `deploy` and `down` for one spec: pure, spec → policy document, no AWS call.
//!
//! Each service has a table of [`Rule`]s (`statements.rs`): the actions one feature needs,
//! the resources they are limited to (names modu derives from the spec) and, for EC2, the
//! stack tag a resource must carry or a request must set. A rule applies when the spec
//! uses its tier, so a stack without a CDN gets no CloudFront statement. Reads AWS does not
//! scope to a resource are merged into one statement on `*`; what AWS cannot scope to the
//! stack at all is in statements whose Sid starts with [`NOT_SCOPABLE`].

mod statements;

use serde::Serialize;
use serde_json::{Value, json};

use crate::spec::{BucketRef, Spec, VpcRef};

/// The Sid prefix of statements whose mutating actions AWS lets no policy limit to the
/// stack's own resources (ids AWS assigns, creations without a resource type).
pub const NOT_SCOPABLE: &str = "NotScopable";

/// The Sid of the one statement of reads on `*`.
const READS: &str = "ReadOnlyDescribeAndList";

/// What `--account-id` means when not given: any account, so the policy needs no
/// credential to print; the operator may fill in their own.
pub const ANY_ACCOUNT: &str = "*";

/// An IAM policy document, as IAM takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: String,
    pub effect: &'static str,
    pub action: Vec<String>,
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// One feature's permissions in a service's table.
pub(crate) struct Rule {
    sid: &'static str,
    /// Whether the spec uses the feature.
    when: fn(&Spec) -> bool,
    actions: &'static [&'static str],
    resources: fn(&Names<'_>) -> Vec<String>,
    condition: fn(&Names<'_>) -> Option<Value>,
}

/// The names and ARNs of a stack's resources, as the rules scope to them.
pub(crate) struct Names<'a> {
    spec: &'a Spec,
    account: &'a str,
}

impl Names<'_> {
    fn stack(&self) -> &str {
        &self.spec.stack
    }

    /// `arn:aws:<service>:<region>:<account>:<resource>`.
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.spec.region, self.account
        )
    }

    /// The ARN of a global service's resource (no region).
    fn global(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}::{}:{resource}", self.account)
    }

    /// The images bucket; with `auto` and no account id, any account's.
    fn bucket(&self) -> String {
        match &self.spec.storage.bucket {
            BucketRef::Auto => format!("{}-images-{}", self.stack(), self.account),
            BucketRef::Named(name) => name.clone(),
        }
    }

    fn vpc(&self) -> String {
        match &self.spec.network.vpc {
            VpcRef::Default => self.arn("ec2", "vpc/*"),
            VpcRef::Id(id) => self.arn("ec2", &format!("vpc/{id}")),
        }
    }

    /// Only requests that tag what they create with the stack.
    fn request_tag(&self) -> Option<Value> {
        Some(json!({"StringEquals": {"aws:RequestTag/modu:stack": self.stack()}}))
    }

    /// Only resources tagged with the stack.
    fn resource_tag(&self) -> Option<Value> {
        Some(json!({"StringEquals": {"aws:ResourceTag/modu:stack": self.stack()}}))
    }
}

/// The policy `spec` needs; `account` is a 12-digit account id or [`ANY_ACCOUNT`].
pub fn for_spec(spec: &Spec, account: &str) -> Policy {
    let names = Names { spec, account };
    let mut reads: Vec<String> = Vec::new();
    let mut statements = Vec::new();
    for rule in statements::all().iter().filter(|r| (r.when)(spec)) {
        if rule.sid == READS {
            reads.extend(rule.actions.iter().map(|a| a.to_string()));
            continue;
        }
        statements.push(Statement {
            sid: rule.sid.to_string(),
            effect: "Allow",
            action: rule.actions.iter().map(|a| a.to_string()).collect(),
            resource: (rule.resources)(&names),
            condition: (rule.condition)(&names),
        });
    }
    reads.sort();
    reads.dedup();
    statements.insert(
        0,
        Statement {
            sid: READS.to_string(),
            effect: "Allow",
            action: reads,
            resource: vec!["*".to_string()],
            condition: None,
        },
    );
    Policy {
        version: "2012-10-17",
        statements,
    }
}

/// Whether `account` is what `--account-id` accepts: 12 digits, or `*`.
pub fn parse_account(account: &str) -> Result<String, String> {
    if account == ANY_ACCOUNT
        || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(account.to_string())
    } else {
        Err(format!(
            "`{account}` is not an AWS account id (12 digits) or `{ANY_ACCOUNT}`"
        ))
    }
}

#[cfg(test)]
mod tests;
