//! S3: the images bucket's policy, which two resources write. The bucket owns a statement
//! that refuses plain-HTTP requests; media access owns the distribution's read grant.
//!
//! A bucket has one policy document, so each writer owns one statement, found by its `Sid`,
//! and keeps every other: it reads the document fresh, replaces or removes its statement
//! and writes the whole back (or deletes the policy when nothing is left). A plan's reading
//! may be stale by the time the other writer has applied, hence the fresh read.

use serde_json::{Value, json};

use super::super::Context;
use crate::aws::errors::{Absent, AwsContext};
use crate::error::Result;

const NOT_FOUND: &[&str] = &["NoSuchBucketPolicy", "NoSuchBucket"];

/// The bucket's policy; `None` when it has none (or the bucket is gone).
pub async fn read_policy(cx: &Context, kind: &'static str, bucket: &str) -> Result<Option<Value>> {
    let out = cx
        .clients
        .s3
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .or_absent(NOT_FOUND, "reading the policy of", kind, bucket)?;
    Ok(out
        .and_then(|o| o.policy)
        .and_then(|text| serde_json::from_str(&text).ok()))
}

/// The statement `sid` of `policy`, if it has one.
pub fn statement<'a>(policy: &'a Value, sid: &str) -> Option<&'a Value> {
    policy["Statement"]
        .as_array()?
        .iter()
        .find(|st| st["Sid"] == sid)
}

/// True when two statements grant or refuse the same: a one-element list and its element
/// are the same value to AWS, and the order of a list's members does not matter.
pub fn same_statement(live: &Value, want: &Value) -> bool {
    normalized(live) == normalized(want)
}

fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.len() == 1 => normalized(&items[0]),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_key(Value::to_string);
            Value::Array(items)
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `policy` with `statement` in place of the one of the same `Sid` (or added).
fn with_statement(policy: Option<Value>, statement: Value) -> Value {
    let mut policy = policy.unwrap_or_else(|| json!({ "Version": "2012-10-17" }));
    let sid = statement["Sid"].clone();
    let mut statements: Vec<Value> = match policy["Statement"].take() {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        single => vec![single],
    };
    match statements.iter_mut().find(|st| st["Sid"] == sid) {
        Some(slot) => *slot = statement,
        None => statements.push(statement),
    }
    policy["Statement"] = Value::Array(statements);
    policy
}

/// `policy` without the statement `sid`; `None` when no statement is left.
fn without_statement(mut policy: Value, sid: &str) -> Option<Value> {
    let statements: Vec<Value> = match policy["Statement"].take() {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        single => vec![single],
    };
    let rest: Vec<Value> = statements
        .into_iter()
        .filter(|st| st["Sid"] != sid)
        .collect();
    if rest.is_empty() {
        return None;
    }
    policy["Statement"] = Value::Array(rest);
    Some(policy)
}

/// Writes `statement` into the bucket's policy, keeping the other statements.
pub async fn put_statement(
    cx: &Context,
    kind: &'static str,
    bucket: &str,
    statement: Value,
) -> Result<()> {
    let current = read_policy(cx, kind, bucket).await?;
    let policy = with_statement(current, statement);
    cx.clients
        .s3
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .context("putting the policy of", kind, bucket)?;
    Ok(())
}

/// Removes the statement `sid` from the bucket's policy, keeping the others; deletes the
/// policy when it was the last. A bucket or statement already gone is success.
pub async fn remove_statement(
    cx: &Context,
    kind: &'static str,
    bucket: &str,
    sid: &str,
) -> Result<()> {
    let Some(current) = read_policy(cx, kind, bucket).await? else {
        return Ok(());
    };
    if statement(&current, sid).is_none() {
        return Ok(());
    }
    match without_statement(current, sid) {
        Some(rest) => {
            cx.clients
                .s3
                .put_bucket_policy()
                .bucket(bucket)
                .policy(rest.to_string())
                .send()
                .await
                .context("putting the policy of", kind, bucket)?;
            Ok(())
        }
        None => cx
            .clients
            .s3
            .delete_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .or_gone(NOT_FOUND, kind, bucket),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(sid: &str, effect: &str) -> Value {
        json!({ "Sid": sid, "Effect": effect, "Action": "s3:*" })
    }

    #[test]
    fn a_statement_replaces_its_namesake_and_keeps_the_others() {
        let policy = with_statement(None, st("A", "Deny"));
        assert_eq!(policy["Version"], "2012-10-17");
        let policy = with_statement(Some(policy), st("B", "Allow"));
        let policy = with_statement(Some(policy), st("A", "Allow"));
        assert_eq!(
            policy["Statement"],
            json!([st("A", "Allow"), st("B", "Allow")])
        );
        assert_eq!(statement(&policy, "B"), Some(&st("B", "Allow")));
        assert_eq!(statement(&policy, "C"), None);
    }

    #[test]
    fn removing_the_last_statement_leaves_no_policy() {
        let policy = with_statement(
            Some(with_statement(None, st("A", "Deny"))),
            st("B", "Allow"),
        );
        let rest = without_statement(policy, "B").expect("A is left");
        assert_eq!(rest["Statement"], json!([st("A", "Deny")]));
        assert_eq!(without_statement(rest, "A"), None);
    }

    #[test]
    fn a_one_element_list_is_its_element_and_order_does_not_matter() {
        let live = json!({ "Action": ["s3:GetObject"], "Resource": ["b", "a"] });
        let want = json!({ "Action": "s3:GetObject", "Resource": ["a", "b"] });
        assert!(same_statement(&live, &want));
        assert!(!same_statement(
            &live,
            &json!({ "Action": "s3:*", "Resource": ["a", "b"] })
        ));
    }
}
