//! Results of a run and of `status`, and how they render for people and as JSON.
//!
//! One type per result renders both ways, so the table and the JSON document can never
//! disagree.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::resources::Change;

/// What happened to one resource during `up` or `down`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated(Vec<String>),
    /// Deleted and created again (AWS cannot change those fields in place).
    Replaced(Vec<String>),
    Unchanged,
    Deleted,
    /// `down` found nothing to delete.
    Absent,
    /// `down` left it in place, for the reason given.
    Kept(String),
    Failed(String),
    /// Not attempted because something it depends on failed.
    Skipped,
    /// Not started, or abandoned, because the run was asked to stop (Ctrl-C).
    Interrupted,
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Outcome::Created => "created".into(),
            Outcome::Updated(changes) => format!("updated: {}", changes.join("; ")),
            Outcome::Replaced(changes) => format!("replaced: {}", changes.join("; ")),
            Outcome::Unchanged => "unchanged".into(),
            Outcome::Deleted => "deleted".into(),
            Outcome::Absent => "already absent".into(),
            Outcome::Kept(why) => format!("kept ({why})"),
            Outcome::Failed(why) => format!("failed: {why}"),
            Outcome::Skipped => "skipped (a dependency failed)".into(),
            Outcome::Interrupted => "not done (interrupted)".into(),
        }
    }
}

/// One resource's line in a run summary.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub outcome: Outcome,
}

/// The end of an `up` or `down`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub command: &'static str,
    pub stack: String,
    pub rows: Vec<RunRow>,
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    pub outputs: BTreeMap<String, String>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 10.0).round() / 10.0)
}

impl Summary {
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| {
            matches!(
                r.outcome,
                Outcome::Failed(_) | Outcome::Skipped | Outcome::Interrupted
            )
        })
    }

    fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.rows.iter().filter(|r| pred(&r.outcome)).count()
    }

    /// `up web: 9 created, 1 updated, 1 unchanged in 41.2s` plus the kept/failed rows and outputs.
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |n: usize, label: &str| {
            if n > 0 {
                parts.push(format!("{n} {label}"));
            }
        };
        push(self.count(|o| *o == Outcome::Created), "created");
        push(self.count(|o| matches!(o, Outcome::Updated(_))), "updated");
        push(
            self.count(|o| matches!(o, Outcome::Replaced(_))),
            "replaced",
        );
        push(self.count(|o| *o == Outcome::Unchanged), "unchanged");
        push(self.count(|o| *o == Outcome::Deleted), "deleted");
        push(self.count(|o| *o == Outcome::Absent), "already absent");
        push(self.count(|o| matches!(o, Outcome::Kept(_))), "kept");
        push(self.count(|o| matches!(o, Outcome::Failed(_))), "failed");
        push(self.count(|o| *o == Outcome::Skipped), "skipped");
        push(
            self.count(|o| *o == Outcome::Interrupted),
            "not done (interrupted)",
        );
        let mut out = format!(
            "{} {}: {} in {:.1}s\n",
            self.command,
            self.stack,
            if parts.is_empty() {
                "nothing to do".to_string()
            } else {
                parts.join(", ")
            },
            self.elapsed.as_secs_f64()
        );
        for row in &self.rows {
            if matches!(
                row.outcome,
                Outcome::Updated(_)
                    | Outcome::Replaced(_)
                    | Outcome::Kept(_)
                    | Outcome::Failed(_)
                    | Outcome::Skipped
                    | Outcome::Interrupted
            ) {
                let _ = writeln!(out, "  {} {}: {}", row.kind, row.name, row.outcome.label());
            }
        }
        for (key, value) in &self.outputs {
            let _ = writeln!(out, "  {key}: {value}");
        }
        out
    }
}

/// One resource as `status` sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceStatus {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub id: Option<String>,
    pub exists: bool,
    pub healthy: bool,
    pub state: String,
    /// Settings that differ from the spec (what `modu up` would change).
    pub drift: Vec<Change>,
    pub details: serde_json::Value,
}

/// The whole stack as `status` sees it; the JSON form is a stable document.
#[derive(Debug, Clone, Serialize)]
pub struct StackStatus {
    pub stack: String,
    pub region: String,
    /// Every resource exists.
    pub complete: bool,
    /// Complete, and every resource reports healthy.
    pub healthy: bool,
    pub resources: Vec<ResourceStatus>,
    pub outputs: BTreeMap<String, String>,
}

impl StackStatus {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// An aligned table, one row per resource, then the outputs.
    pub fn to_table(&self) -> String {
        let header = ["KIND", "NAME", "ID", "DRIFT", "STATE"];
        let rows: Vec<[String; 5]> = self
            .resources
            .iter()
            .map(|r| {
                let state = if !r.exists {
                    "MISSING".to_string()
                } else if r.healthy {
                    r.state.clone()
                } else {
                    format!("UNHEALTHY: {}", r.state)
                };
                let drift = if r.drift.is_empty() {
                    "-".to_string()
                } else {
                    r.drift
                        .iter()
                        .map(|c| c.field.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                [
                    r.kind.clone(),
                    r.name.clone(),
                    r.id.as_deref().map(short_id).unwrap_or_else(|| "-".into()),
                    drift,
                    state,
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: [&str; 5], out: &mut String| {
            let _ = writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
        };
        line(header, &mut out);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]], &mut out);
        }
        let verdict = match (self.complete, self.healthy) {
            (true, true) => "complete and healthy",
            (true, false) => "complete, but something is unhealthy",
            (false, _) => "incomplete: resources are missing (run `modu up`)",
        };
        let _ = writeln!(out, "\nstack {} in {}: {verdict}", self.stack, self.region);
        for (key, value) in &self.outputs {
            let _ = writeln!(out, "{key}: {value}");
        }
        out
    }
}

/// ARNs are long and mostly repeat the account and region; the table shows the resource
/// part only (the JSON keeps the whole ARN).
fn short_id(id: &str) -> String {
    const MAX: usize = 48;
    let resource = match id.strip_prefix("arn:") {
        Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or(id),
        None => id,
    };
    if resource.chars().count() > MAX {
        let head: String = resource.chars().take(MAX - 1).collect();
        format!("{head}…")
    } else {
        resource.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> StackStatus {
        StackStatus {
            stack: "web".into(),
            region: "us-east-1".into(),
            complete: false,
            healthy: false,
            resources: vec![
                ResourceStatus {
                    key: "load-balancer".into(),
                    kind: "load-balancer".into(),
                    name: "web-lb".into(),
                    id: Some("arn:lb".into()),
                    exists: true,
                    healthy: true,
                    state: "active".into(),
                    drift: vec![Change::new("subnets", "a", "a,b")],
                    details: serde_json::json!({}),
                },
                ResourceStatus {
                    key: "asg".into(),
                    kind: "auto-scaling-group".into(),
                    name: "web-asg".into(),
                    id: None,
                    exists: false,
                    healthy: false,
                    state: "missing".into(),
                    drift: Vec::new(),
                    details: serde_json::json!({}),
                },
            ],
            outputs: BTreeMap::from([("load_balancer_url".into(), "http://lb/".into())]),
        }
    }

    #[test]
    fn table_aligns_columns_and_flags_missing_rows() {
        let table = status().to_table();
        let expected = "\
KIND                NAME     ID      DRIFT    STATE
load-balancer       web-lb   arn:lb  subnets  active
auto-scaling-group  web-asg  -       -        MISSING

stack web in us-east-1: incomplete: resources are missing (run `modu up`)
load_balancer_url: http://lb/
";
        assert_eq!(table, expected);
    }

    #[test]
    fn table_shortens_arns_to_their_resource_part() {
        assert_eq!(
            short_id(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/6bb6ef50f2ef0460"
            ),
            "targetgroup/web-tg/6bb6ef50f2ef0460"
        );
        assert_eq!(short_id("sg-0123"), "sg-0123");
        let long = short_id(&format!(
            "arn:aws:autoscaling:us-east-1:1:scalingPolicy:{}",
            "x".repeat(80)
        ));
        assert_eq!(long.chars().count(), 48);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let doc: serde_json::Value = serde_json::from_str(&status().to_json()).unwrap();
        assert_eq!(doc["stack"], "web");
        assert_eq!(doc["complete"], false);
        assert_eq!(doc["resources"][0]["id"], "arn:lb");
        assert_eq!(doc["resources"][1]["id"], serde_json::Value::Null);
        assert_eq!(doc["resources"][0]["drift"][0]["field"], "subnets");
        assert_eq!(doc["outputs"]["load_balancer_url"], "http://lb/");
    }

    #[test]
    fn summary_counts_each_outcome() {
        let row = |name: &str, outcome| RunRow {
            key: name.into(),
            kind: "k".into(),
            name: name.into(),
            outcome,
        };
        let summary = Summary {
            command: "down",
            stack: "web".into(),
            rows: vec![
                row("a", Outcome::Deleted),
                row("b", Outcome::Deleted),
                row("c", Outcome::Kept("holds data".into())),
            ],
            elapsed: Duration::from_millis(3140),
            outputs: BTreeMap::new(),
        };
        assert_eq!(
            summary.render(),
            "down web: 2 deleted, 1 kept in 3.1s\n  k c: kept (holds data)\n"
        );
        assert!(!summary.failed());
    }
}
