//! Validated values. Each newtype has a `parse()` that is the only way to build it,
//! so a value that exists is a value that was checked; parsing is pure (no I/O) and
//! refuses with the one domain error, `ValidationError`, which knows nothing of HTTP.

mod error;
mod image;
mod resume_fields;
mod task;
mod user_fields;

pub use error::ValidationError;
pub use image::{ImageKind, SniffedImage};
pub use resume_fields::{ApplicantName, Motivation};
pub use task::{Task, TaskRef};
pub use user_fields::{Password, Username};

/// Rejects control characters other than line breaks and tabs: they are never part of
/// a name or a letter and they break logs and terminals.
fn has_control_chars(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
}
