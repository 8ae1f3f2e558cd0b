//! What `up` would do, as data: one row per resource with its action and the fields that
//! change, and the counts. One type renders the table people read and the JSON scripts
//! read, so the two cannot disagree.

use std::fmt::Write;

use serde::Serialize;

use crate::resources::Change;

/// What `up` does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// AWS cannot change a field in place: delete, then create.
    Replace,
    /// Its tier was switched off.
    Delete,
    NoChange,
}

impl Action {
    fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::NoChange => "no change",
        }
    }

    fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::NoChange => " ",
        }
    }

    /// Deletes or replaces something: `up` asks first.
    pub fn is_destructive(self) -> bool {
        matches!(self, Action::Delete | Action::Replace)
    }
}

/// One resource's line in a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub action: Action,
    /// The fields that change, current → wanted (empty for create, delete and no change).
    pub fields: Vec<Change>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub replace: usize,
    pub unchanged: usize,
}

/// The whole plan; its JSON form is a stable, documented document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<PlanRow>,
    pub summary: PlanSummary,
}

impl Plan {
    pub fn new(changes: Vec<PlanRow>) -> Self {
        let mut summary = PlanSummary::default();
        for row in &changes {
            match row.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Replace => summary.replace += 1,
                Action::Delete => summary.delete += 1,
                Action::NoChange => summary.unchanged += 1,
            }
        }
        Plan { changes, summary }
    }

    /// True when applying it would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|r| r.action != Action::NoChange)
    }

    /// The rows `up` must not carry out without confirmation.
    pub fn destructive(&self) -> Vec<&PlanRow> {
        self.changes
            .iter()
            .filter(|r| r.action.is_destructive())
            .collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// `3 to create, 1 to update, 0 to delete, 14 unchanged` (and replacements when any).
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let replace = if s.replace > 0 {
            format!(", {} to replace", s.replace)
        } else {
            String::new()
        };
        format!(
            "{} to create, {} to update, {} to delete{replace}, {} unchanged",
            s.create, s.update, s.delete, s.unchanged
        )
    }

    /// One aligned line per resource, each changed field beneath it, then the summary.
    pub fn to_table(&self) -> String {
        let kind_width = self.changes.iter().map(|r| r.kind.len()).max().unwrap_or(0);
        let mut out = String::new();
        for row in &self.changes {
            let _ = writeln!(
                out,
                "{:>3} {:<9}  {:<kind_width$}  {}",
                row.action.sign(),
                row.action.label(),
                row.kind,
                row.name
            );
            for field in &row.fields {
                let _ = writeln!(
                    out,
                    "{:16}{}: {} → {}",
                    "", field.field, field.from, field.to
                );
            }
        }
        let _ = writeln!(out, "\n{}", self.summary_line());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, name: &str, action: Action, fields: Vec<Change>) -> PlanRow {
        PlanRow {
            key: kind.into(),
            kind: kind.into(),
            name: name.into(),
            action,
            fields,
        }
    }

    fn plan() -> Plan {
        Plan::new(vec![
            row("target-group", "web-tg", Action::NoChange, vec![]),
            row(
                "auto-scaling-group",
                "web-asg",
                Action::Update,
                vec![Change::new("max", 10, 12)],
            ),
            row("alarms", "web-*", Action::Create, vec![]),
            row("dashboard", "web", Action::Delete, vec![]),
        ])
    }

    #[test]
    fn table_shows_each_row_its_fields_and_the_counts() {
        let expected = "    no change  target-group        web-tg
  ~ update     auto-scaling-group  web-asg
                max: 10 → 12
  + create     alarms              web-*
  - delete     dashboard           web

1 to create, 1 to update, 1 to delete, 1 unchanged
";
        assert_eq!(plan().to_table(), expected);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let doc: serde_json::Value = serde_json::from_str(&plan().to_json()).unwrap();
        assert_eq!(doc["changes"][1]["action"], "update");
        assert_eq!(doc["changes"][0]["action"], "no_change");
        assert_eq!(
            doc["changes"][1]["fields"][0],
            serde_json::json!({"field": "max", "from": "10", "to": "12"})
        );
        assert_eq!(
            doc["summary"],
            serde_json::json!({"create": 1, "update": 1, "delete": 1, "replace": 0, "unchanged": 1})
        );
        assert_eq!(doc["changes"][0]["key"], "target-group");
    }

    #[test]
    fn destructive_rows_are_deletes_and_replacements() {
        let plan = plan();
        let names: Vec<&str> = plan.destructive().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["web"]);
        assert!(plan.has_changes());
        assert!(!Plan::new(vec![row("a", "b", Action::NoChange, vec![])]).has_changes());
    }
}
