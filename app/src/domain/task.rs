//! Job categories: the `Task` a resume applies for, and `TaskRef`, how a client names
//! one (by numeric id or by its exact name).

use super::ValidationError;

/// A job category. The list is seeded by the migrations and never changes at run
/// time, so it is loaded once at start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": 3, "name": "SW 개발"}))]
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
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ValidationError::new("task", "task is required"));
        }
        if raw.len() > 100 {
            return Err(ValidationError::new("task", "unknown task"));
        }
        match raw.parse::<i64>() {
            Ok(id) => Ok(TaskRef::Id(id)),
            Err(_) => Ok(TaskRef::Name(raw.to_owned())),
        }
    }

    /// The category this names among `tasks`.
    pub fn resolve(&self, tasks: &[Task]) -> Result<Task, ValidationError> {
        tasks
            .iter()
            .find(|t| match self {
                TaskRef::Id(id) => t.id == *id,
                TaskRef::Name(name) => t.name == *name,
            })
            .cloned()
            .ok_or_else(|| ValidationError::new("task", "unknown task"))
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

    #[test]
    fn resolves_by_id_or_exact_name() {
        let tasks = [Task {
            id: 3,
            name: "SW 개발".into(),
        }];
        assert_eq!(TaskRef::Id(3).resolve(&tasks).unwrap().id, 3);
        assert_eq!(
            TaskRef::Name("SW 개발".into()).resolve(&tasks).unwrap().id,
            3
        );
        assert_eq!(TaskRef::Id(4).resolve(&tasks).unwrap_err().field, "task");
        assert!(TaskRef::Name("sw 개발".into()).resolve(&tasks).is_err());
    }
}
