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

    /// Something outside modu is not as the spec needs it (a missing VPC, a taken bucket name…).
    #[error("{message}")]
    #[diagnostic(code(modu::precondition))]
    Precondition {
        message: String,
        #[help]
        help: Option<String>,
    },

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

    #[error("refusing to delete stack {stack} without confirmation")]
    #[diagnostic(
        code(modu::not_confirmed),
        help("run `modu down --yes` to confirm non-interactively")
    )]
    NotConfirmed { stack: String },

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
    pub fn precondition(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Precondition {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    /// One error stays itself; several become `Several`.
    pub fn from_many(mut errors: Vec<Error>) -> Option<Self> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            count => Some(Error::Several { count, errors }),
        }
    }
}
