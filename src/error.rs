//! The one error type of the `modu` library.
//!
//! Every variant says what was being done, to which resource, and where it can what to do next;
//! the binary renders it with miette at the edge.

use std::time::Duration;

use miette::Diagnostic;
use thiserror::Error;

use crate::spec::SpecError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Spec(#[from] SpecError),

    /// `modu load` could not measure anything.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] modu_load::Error),

    #[error("no AWS credentials found: {detail}")]
    #[diagnostic(
        code(modu::credentials),
        help(
            "configure credentials with `aws configure`, pick a profile with `--profile NAME`, \
             or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    )]
    NoCredentials { detail: String },

    #[error("cannot reach AWS in region {region} at {endpoint}: {detail}")]
    #[diagnostic(code(modu::unreachable))]
    Unreachable {
        region: String,
        endpoint: String,
        detail: String,
        #[help]
        help: Option<String>,
    },

    /// A call to AWS failed: names the action, the resource and what AWS said.
    #[error("{action} {kind} {name}: {message}")]
    #[diagnostic(code(modu::aws))]
    Aws {
        action: &'static str,
        kind: &'static str,
        name: String,
        code: Option<String>,
        message: String,
        #[help]
        help: Option<String>,
    },

    /// Something outside modu is not as the spec needs it (a missing VPC, a taken bucket
    /// name…): the user can fix it, and `help` says how.
    #[error("{message}")]
    #[diagnostic(code(modu::fixable))]
    Fixable {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A resource of the stack's name exists but lacks the stack's ownership marker: modu
    /// adopts nothing it did not create, and changes nothing.
    #[error("{what} exists but is not part of stack {stack}")]
    #[diagnostic(code(modu::not_owned))]
    NotOwned {
        what: String,
        stack: String,
        #[help]
        help: Option<String>,
    },

    /// A resource vanished between being looked up and being changed (someone else deleted it).
    #[error("{kind} {name} disappeared while modu was working on it")]
    #[diagnostic(
        code(modu::disappeared),
        help("something else deleted it: run the same command again, it will be created anew")
    )]
    Disappeared { kind: &'static str, name: String },

    /// A bug in modu.
    #[error("internal: {message}")]
    #[diagnostic(
        code(modu::internal),
        help("this is a bug in modu; please report it with the output of `modu -v`")
    )]
    Internal { message: String },

    #[error("timed out after {}s waiting for {what} (last seen: {last_state})", after.as_secs())]
    #[diagnostic(
        code(modu::timeout),
        help(
            "AWS may still be working on it: run the same command again to resume, or raise --timeout"
        )
    )]
    Timeout {
        what: String,
        after: Duration,
        last_state: String,
    },

    /// A stop was asked for (Ctrl-C) while modu was doing this.
    #[error("interrupted while {what}")]
    #[diagnostic(
        code(modu::interrupted),
        help("run the same command again: it goes on from what is there")
    )]
    Interrupted { what: String },

    #[error("refusing to delete stack {stack} without confirmation")]
    #[diagnostic(
        code(modu::not_confirmed),
        help("run `modu down --yes` to confirm non-interactively")
    )]
    NotConfirmed { stack: String },

    /// `up` would delete or replace resources and nobody confirmed it.
    #[error("the plan for stack {stack} deletes or replaces {what}; refusing without confirmation")]
    #[diagnostic(
        code(modu::not_confirmed),
        help("review it with `modu plan`, then run `modu up --yes` to apply it")
    )]
    Destructive { stack: String, what: String },

    #[error("{count} resources failed:{}", list(errors))]
    #[diagnostic(code(modu::failed))]
    Several {
        count: usize,
        #[related]
        errors: Vec<Error>,
    },

    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

/// One indented line per error, for `Several`.
fn list(errors: &[Error]) -> String {
    errors.iter().map(|e| format!("\n  - {e}")).collect()
}

impl Error {
    /// State outside modu the user can fix, with what to do.
    pub fn fixable(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Fixable {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// AWS refused the call for want of a permission.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::Aws { code: Some(code), .. } if matches!(
            code.as_str(),
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError"
        ))
    }

    /// AWS answered the call with an error, or did not answer it: whether the change was
    /// made anyway is for a fresh look to tell.
    pub fn is_from_aws(&self) -> bool {
        matches!(self, Error::Aws { .. } | Error::Unreachable { .. })
    }

    /// One error stays itself; several become `Several`.
    pub fn from_many(mut errors: Vec<Error>) -> Option<Self> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            count => Some(Error::Several { count, errors }),
        }
    }

    /// What kind of problem this is, stable for scripts (`--output json`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Spec(_) => "spec",
            Error::Load(_) => "load",
            Error::NoCredentials { .. } => "credentials",
            Error::Unreachable { .. } => "unreachable",
            Error::Aws { .. } => "aws",
            Error::Fixable { .. } => "fixable",
            Error::NotOwned { .. } => "not_owned",
            Error::Disappeared { .. } => "disappeared",
            Error::Internal { .. } => "internal",
            Error::Timeout { .. } => "timeout",
            Error::Interrupted { .. } => "interrupted",
            Error::NotConfirmed { .. } | Error::Destructive { .. } => "not_confirmed",
            Error::Several { .. } => "several",
            Error::Io { .. } => "io",
        }
    }

    /// The error as the JSON document `--output json` prints on failure:
    /// `{"error": {"kind", "message", "help"}}` (and `errors` for several).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.json_body() })
    }

    fn json_body(&self) -> serde_json::Value {
        let help = Diagnostic::help(self).map(|h| h.to_string());
        let mut body = serde_json::json!({
            "kind": self.kind(),
            "message": self.to_string(),
            "help": help,
        });
        if let Error::Several { errors, .. } = self {
            body["errors"] = errors.iter().map(Error::json_body).collect();
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_kind_message_and_help() {
        let err = Error::fixable("VPC vpc-1 does not exist", "check `network.vpc`");
        assert_eq!(
            err.to_json(),
            serde_json::json!({"error": {"kind": "fixable", "message": "VPC vpc-1 does not exist", "help": "check `network.vpc`"}})
        );
        let several = Error::from_many(vec![err, Error::internal("x")]).unwrap();
        let doc = several.to_json();
        assert_eq!(doc["error"]["kind"], "several");
        assert_eq!(doc["error"]["errors"][1]["kind"], "internal");
    }
}
