//! Usernames and passwords as accepted at sign-up.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::ValidationError;

/// Passwords an attacker tries first (`app/common-passwords.txt`, lower case).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 32;

    /// 3 to 32 letters (any script), digits, `_`, `.` or `-`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if raw.is_empty() {
            return Err(ValidationError::new("username", "username is required"));
        }
        if !(3..=Self::MAX_CHARS).contains(&len) {
            return Err(ValidationError::new(
                "username",
                "username must be 3 to 32 characters",
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(ValidationError::new(
                "username",
                "username may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Username(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// 8 to 128 characters; the upper bound keeps hashing cost bounded.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if raw.is_empty() {
            return Err(ValidationError::new("password", "password is required"));
        }
        if !(8..=128).contains(&len) {
            return Err(ValidationError::new(
                "password",
                "password must be 8 to 128 characters",
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    /// A new password for `username` (sign-up, or a change): as `parse`, and neither
    /// one of the most common passwords nor the username itself, ignoring case. Those
    /// are the guesses that per-account login limits still let through.
    pub fn parse_new(raw: &str, username: &Username) -> Result<Self, ValidationError> {
        let password = Self::parse(raw)?;
        let folded = raw.to_lowercase();
        if folded == username.as_str().to_lowercase() {
            return Err(ValidationError::new(
                "password",
                "password must not be the username",
            ));
        }
        if COMMON_PASSWORDS.contains(folded.as_str()) {
            return Err(ValidationError::new(
                "password",
                "this password is one of the most common ones; choose another",
            ));
        }
        Ok(password)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("kim_01").is_ok());
        assert!(Username::parse("김철수").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("a b c").is_err());
        assert!(Username::parse("x'; DROP TABLE users;--").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("correct horse").is_ok());
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn new_passwords_are_neither_common_nor_the_username() {
        let kim = Username::parse("Kim.Minji").unwrap();
        assert!(Password::parse_new("correct horse battery", &kim).is_ok());
        for refused in [
            "password",
            "Password1",
            "QWERTYUIOP",
            "12345678",
            "kim.minji",
        ] {
            let err = Password::parse_new(refused, &kim).unwrap_err();
            assert_eq!(err.field, "password", "{refused}");
        }
        // Still the length rule first.
        assert!(Password::parse_new("short", &kim).is_err());
    }

    #[test]
    fn the_common_list_is_loaded_lower_case_without_comments() {
        assert!(COMMON_PASSWORDS.len() >= 300, "{}", COMMON_PASSWORDS.len());
        assert!(
            COMMON_PASSWORDS
                .iter()
                .all(|p| *p == p.to_lowercase() && !p.starts_with('#') && p.chars().count() >= 8)
        );
    }
}
