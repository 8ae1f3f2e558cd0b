//! AWS's wire protocols, spoken directly for the services where the generated SDK crate
//! costs more to build than its few calls are worth — by modu and by the service it deploys.
//!
//! aws-sdk-ec2 models every one of EC2's several hundred actions and took more than 17
//! minutes of a cold release build on two cores; aws-sdk-ssm took almost 5 for the one
//! `GetParameter` modu makes. The Query (form in, XML out) and JSON 1.1 protocols are short
//! and documented, so modu signs with the SDK's own SigV4 signer and takes endpoint,
//! credentials, timeouts and retry settings from the same `SdkConfig` as every SDK client.
//! The other services keep their SDK crates.

use std::error::Error as StdError;
use std::sync::Once;

pub mod query;
pub mod transport;
pub mod xml;

/// Why a call failed, shaped like the SDK's errors: a service error has a code.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{code}: {message}")]
    Service {
        action: String,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("{action} answered HTTP {status}: {body}")]
    Status {
        action: String,
        status: u16,
        body: String,
    },
    #[error("{action} did not reach AWS: {detail}")]
    Transport { action: String, detail: String },
    #[error("{0}")]
    Endpoint(String),
    #[error("no usable credentials: {0}")]
    Credentials(String),
    #[error("the request could not be signed: {0}")]
    Signing(String),
    #[error("the answer to {action} could not be read: {detail}")]
    Unreadable { action: String, detail: String },
}

impl CallError {
    /// The error code AWS answered with, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True for failures before AWS answered (network, credentials).
    pub fn is_transport(&self) -> bool {
        !matches!(self, CallError::Service { .. } | CallError::Status { .. })
    }
}

pub type CallResult<T> = std::result::Result<T, CallError>;

/// An error and its sources on one line, without repeating a cause that the error's own
/// text already carries.
pub fn flatten(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Makes ring the process's rustls provider, which reqwest's clients look up when built.
/// Idempotent; a provider installed earlier by someone else is kept.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
