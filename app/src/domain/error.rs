//! The one error the domain returns: a value that was refused, naming the field it
//! came from and saying why. It knows nothing of HTTP; `crate::error` maps it to a 422
//! with the service's `{error, field}` body at the edge.

/// A refused value: `field` names the input, the message says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            field,
            message: message.into(),
        }
    }
}
