//! The one error type of the service. Whatever the client did wrong becomes a 4xx
//! with `{"error": "...", "field": "..."}`; whatever went wrong inside is logged with
//! its cause and answered with a bare 500, so no detail leaks out.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that is well-formed but not acceptable (too long, unknown task, bad image…).
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A body that cannot be read at all (malformed multipart or JSON).
    #[error("{message}")]
    Malformed {
        field: &'static str,
        message: String,
    },
    #[error("{message}")]
    TooLarge {
        field: &'static str,
        message: String,
    },
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error("authentication required")]
    Unauthorized,
    #[error("bad username or password")]
    BadCredentials,
    #[error("only the owner may change this resume")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("the request took longer than the server allows")]
    TimedOut,
    #[error("no such endpoint")]
    NoRoute,
    /// The path exists, but not for this method (`Allow` lists those it takes).
    #[error("this endpoint does not take that method")]
    NoMethod,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// An internal failure with its cause, kept for the log only.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct Internal {
    context: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn malformed(field: &'static str, message: impl Into<String>) -> Self {
        Error::Malformed {
            field,
            message: message.into(),
        }
    }

    pub fn too_large(field: &'static str, message: impl Into<String>) -> Self {
        Error::TooLarge {
            field,
            message: message.into(),
        }
    }

    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal(Internal {
            context,
            source: source.into(),
        })
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Malformed { .. } => StatusCode::BAD_REQUEST,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Unauthorized | Error::BadCredentials => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NotFound | Error::NoRoute => StatusCode::NOT_FOUND,
            Error::NoMethod => StatusCode::METHOD_NOT_ALLOWED,
            Error::TimedOut => StatusCode::REQUEST_TIMEOUT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The input a refusal concerns, as the body's `field` names it.
    fn field(&self) -> &'static str {
        match self {
            Error::Invalid { field, .. }
            | Error::Malformed { field, .. }
            | Error::TooLarge { field, .. }
            | Error::Conflict { field, .. } => field,
            Error::Unauthorized => "token",
            Error::BadCredentials => "password",
            Error::Forbidden | Error::NotFound => "id",
            Error::NoRoute => "path",
            Error::NoMethod => "method",
            Error::TimedOut => "body",
            // Never sent: an internal error is answered without a body.
            Error::Internal(_) => "service",
        }
    }
}

/// A value the domain refused is the client's to fix: 422, naming the field.
impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Error::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

/// Shorthand for "this went wrong inside while doing X".
pub trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, Error>;
}

impl<T, E> Context<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, context: &'static str) -> Result<T, Error> {
        self.map_err(|e| Error::internal(context, e))
    }
}

/// The body of every refusal, whichever part of the service refused: what is wrong,
/// for a person, and which input it concerns, for a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"error": "name is required", "field": "name"}))]
pub struct ErrorBody {
    /// What is wrong, in a sentence.
    pub error: String,
    /// The input concerned: a form or JSON field (`name`, `motivation`, `task`, `image`,
    /// `remove_image`, `username`, `password`, `password_confirm`), a query parameter
    /// (`limit`, `cursor`), or `body`, `query`, `id`, `path`, `method`, `token`, `origin`,
    /// `content-type`, `client`, `service`.
    pub field: &'static str,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>, field: &'static str) -> Self {
        ErrorBody {
            error: error.into(),
            field,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Error::Internal(e) = &self {
            tracing::error!(error = %e, "internal error");
            return status.into_response();
        }
        (status, Json(ErrorBody::new(self.to_string(), self.field()))).into_response()
    }
}
