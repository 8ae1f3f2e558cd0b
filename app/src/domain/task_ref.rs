//! How a client names a job category: by numeric id or by its exact name.

use crate::Error;

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
