//! Job categories: the `Task` a resume applies for, and `TaskRef`, how a client names
//! one (by numeric id or by its exact name).

use crate::Error;

/// A job category. The list is seeded by the migrations and never changes at run
/// time, so it is loaded once at start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRef {
    Id(i64),
    Name(String),
}

impl TaskRef {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Error::invalid("task", "task is required"));
        }
        if raw.len() > 100 {
            return Err(Error::invalid("task", "unknown task"));
        }
        match raw.parse::<i64>() {
            Ok(id) => Ok(TaskRef::Id(id)),
            Err(_) => Ok(TaskRef::Name(raw.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_or_name() {
        assert_eq!(TaskRef::parse(" 3 ").unwrap(), TaskRef::Id(3));
        assert_eq!(
            TaskRef::parse("SW 개발").unwrap(),
            TaskRef::Name("SW 개발".into())
        );
        assert!(TaskRef::parse("").is_err());
    }
}
