//! Reading AWS errors: codes through `ProvideErrorMetadata`, not-found as a predicate,
//! and conversion into modu's `Error` naming the action and the resource.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

pub use modu_wire::flatten;

/// The modelled error code AWS answered with (`DependencyViolation`, `NoSuchBucket`…), if any.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// True when AWS answered with one of `codes`.
pub fn is_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    code(err).is_some_and(|c| codes.contains(&c))
}

/// The HTTP status of a service error (S3's HEAD calls carry no code, only a status).
pub fn status<E>(err: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// What AWS said, or the transport failure with its causes.
pub fn message<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                (None, Some(msg)) => msg.to_string(),
                (None, None) => flatten(err),
            }
        }
        _ => flatten(err),
    }
}

/// The next step to suggest for well-known error codes.
fn help_for(code: Option<&str>, is_transport: bool) -> Option<String> {
    let help = match code? {
        "AuthFailure"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException" => {
            "the credentials were rejected: refresh them (`aws sso login`, `aws configure`) or pick another --profile"
        }
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
            "the credentials lack a permission: grant it to the IAM identity modu runs as (`modu iam-policy` prints what the stack needs)"
        }
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => {
            "AWS is throttling this account: wait a minute and run the same command again"
        }
        "CertificateNotFound" => {
            "check `certificate_arn` in the spec: the certificate must exist in ACM in the stack's region"
        }
        "BucketAlreadyExists" => {
            "bucket names are global: choose another `storage.bucket` in the spec (or `auto`)"
        }
        _ if is_transport => "check the network, the region and --endpoint-url",
        _ => return None,
    };
    Some(help.to_string())
}

/// What modu reads from a failed AWS call, whichever client made it (an SDK crate or
/// [`super::wire`]).
pub trait Failure: StdError + 'static {
    /// The modelled error code AWS answered with, if it answered.
    fn code(&self) -> Option<&str>;
    /// What AWS said, or the transport failure with its causes.
    fn message(&self) -> String;
    /// True when the call failed before AWS answered.
    fn is_transport(&self) -> bool;
}

impl<E, R> Failure for SdkError<E, R>
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    fn code(&self) -> Option<&str> {
        code(self)
    }
    fn message(&self) -> String {
        message(self)
    }
    fn is_transport(&self) -> bool {
        !matches!(self, SdkError::ServiceError(_))
    }
}

impl Failure for super::wire::CallError {
    fn code(&self) -> Option<&str> {
        super::wire::CallError::code(self)
    }
    fn message(&self) -> String {
        flatten(self)
    }
    fn is_transport(&self) -> bool {
        super::wire::CallError::is_transport(self)
    }
}

/// Attaches what modu was doing to a failed AWS call.
pub trait AwsContext<T> {
    fn context(self, action: &'static str, kind: &'static str, name: &str) -> Result<T, Error>;
}

impl<T, F: Failure> AwsContext<T> for Result<T, F> {
    fn context(self, action: &'static str, kind: &'static str, name: &str) -> Result<T, Error> {
        self.map_err(|err| {
            let code = err.code().map(str::to_string);
            Error::Aws {
                action,
                kind,
                name: name.to_string(),
                help: help_for(code.as_deref(), err.is_transport()),
                message: err.message(),
                code,
            }
        })
    }
}

/// Not-found and delete-of-missing as values, over the modelled error codes, so a
/// resource file says once which codes mean "not there".
pub trait Absent<T> {
    /// `Ok(None)` when AWS answered one of `not_found`; other errors name the action.
    fn or_absent(
        self,
        not_found: &[&str],
        action: &'static str,
        kind: &'static str,
        name: &str,
    ) -> Result<Option<T>, Error>;

    /// A delete of something already gone is success.
    fn or_gone(self, not_found: &[&str], kind: &'static str, name: &str) -> Result<(), Error>;
}

impl<T, F: Failure> Absent<T> for Result<T, F> {
    fn or_absent(
        self,
        not_found: &[&str],
        action: &'static str,
        kind: &'static str,
        name: &str,
    ) -> Result<Option<T>, Error> {
        match self {
            Err(err) if err.code().is_some_and(|c| not_found.contains(&c)) => Ok(None),
            other => other.map(Some).context(action, kind, name),
        }
    }

    fn or_gone(self, not_found: &[&str], kind: &'static str, name: &str) -> Result<(), Error> {
        self.or_absent(not_found, "deleting", kind, name)
            .map(|_| ())
    }
}

/// Unwraps an SDK builder whose required fields modu always sets.
pub fn built<T>(
    result: Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T, Error> {
    result.map_err(|err| Error::internal(format!("incomplete AWS request: {err}")))
}
