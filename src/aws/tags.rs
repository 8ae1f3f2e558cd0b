//! The tags that make a resource part of a stack.
//!
//! There is no local state: modu finds a stack's resources by deterministic name and by
//! `modu:stack`, so any machine with the same spec sees the same stack.

use std::collections::BTreeMap;

use crate::spec::Spec;

pub const STACK: &str = "modu:stack";
pub const COMPONENT: &str = "modu:component";
/// On instances: the release their boot script installs, so `status` (and the console)
/// tells which instance runs which.
pub const RELEASE: &str = "modu:release";

/// All tags for one resource: the spec's extra tags, then `Name` and modu's own
/// (which win over anything the spec says, since validation forbids `modu:` keys).
pub fn for_resource(spec: &Spec, component: &str, name: &str) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.insert("Name".into(), name.into());
    tags.insert(STACK.into(), spec.stack.clone());
    tags.insert(COMPONENT.into(), component.into());
    tags
}

/// [`for_resource`] as key/value pairs, for the requests modu builds itself (IAM, RDS).
pub fn pairs(spec: &Spec, component: &str, name: &str) -> Vec<(String, String)> {
    for_resource(spec, component, name).into_iter().collect()
}

/// [`for_resource`] as one SDK's tag type, built by `tag` (each service has its own).
pub fn sdk<T>(
    spec: &Spec,
    component: &str,
    name: &str,
    tag: impl Fn(String, String) -> T,
) -> Vec<T> {
    for_resource(spec, component, name)
        .into_iter()
        .map(|(k, v)| tag(k, v))
        .collect()
}

/// True when `tags` (as key/value pairs) mark the resource as this stack's.
pub fn owned_by<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, stack: &str) -> bool {
    tags.into_iter().any(|(k, v)| k == STACK && v == stack)
}

/// The tag keys/values in `desired` that `current` lacks or has with another value.
pub fn missing<'a>(
    desired: &'a BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> BTreeMap<&'a str, &'a str> {
    desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The plan line for tags that `current` lacks or has with another value (`missing`'s
/// result): `key=old` → `key=new` for each.
pub fn change(
    missing: &BTreeMap<&str, &str>,
    current: &BTreeMap<String, String>,
) -> crate::resources::Change {
    let from: Vec<String> = missing
        .keys()
        .map(|k| {
            format!(
                "{k}={}",
                current.get(*k).map(String::as_str).unwrap_or("(none)")
            )
        })
        .collect();
    let to: Vec<String> = missing.iter().map(|(k, v)| format!("{k}={v}")).collect();
    crate::resources::Change::new("tags", from.join(","), to.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lists_absent_and_changed_tags_only() {
        let desired = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
            ("c".to_string(), "3".to_string()),
        ]);
        let current = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "x".to_string()),
            ("z".to_string(), "9".to_string()),
        ]);
        let got: Vec<_> = missing(&desired, &current).into_iter().collect();
        assert_eq!(got, vec![("b", "2"), ("c", "3")]);
    }

    #[test]
    fn ownership_needs_the_exact_stack() {
        assert!(owned_by([("modu:stack", "web")], "web"));
        assert!(!owned_by([("modu:stack", "web2")], "web"));
        assert!(!owned_by([("Name", "web")], "web"));
    }
}
