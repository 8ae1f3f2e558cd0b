//! The text fields of a resume. Lengths count characters, not bytes, so Korean text
//! has the same limits as Latin text; content is otherwise stored verbatim.

use super::{ValidationError, has_control_chars};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicantName(String);

impl ApplicantName {
    pub const MAX_CHARS: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::new("name", "name is required"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "name",
                "name must be at most 50 characters",
            ));
        }
        if has_control_chars(raw, false) {
            return Err(ValidationError::new(
                "name",
                "name must not contain control characters",
            ));
        }
        Ok(ApplicantName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Motivation(String);

impl Motivation {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::new("motivation", "motivation is required"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "motivation",
                "motivation must be at most 2000 characters",
            ));
        }
        if has_control_chars(raw, true) {
            return Err(ValidationError::new(
                "motivation",
                "motivation must not contain control characters",
            ));
        }
        Ok(Motivation(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_count_characters() {
        assert!(ApplicantName::parse(&"가".repeat(50)).is_ok());
        assert!(ApplicantName::parse(&"가".repeat(51)).is_err());
        assert!(ApplicantName::parse("   ").is_err());
        assert!(ApplicantName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn motivation_keeps_newlines() {
        assert!(Motivation::parse("line one\nline two").is_ok());
        assert!(Motivation::parse(&"x".repeat(2001)).is_err());
        assert!(Motivation::parse("").is_err());
    }
}
