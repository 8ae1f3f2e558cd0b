//! Helpers shared by the spec's unit tests: parsing a spec from a string,
//! collecting its error lines, and the files tests need beside a spec.

use std::path::{Path, PathBuf};

use super::{Spec, SpecError, parse_str};

/// The repository root (the shipped specs and the fixtures are there), found from this
/// crate's folder so tests run from any working directory.
pub(super) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A fresh folder for files a test needs beside its spec.
pub(super) fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("modu-spec-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create test folder");
    dir
}

pub(super) fn parse(yaml: &str) -> Result<Spec, SpecError> {
    parse_str(yaml, Path::new("stacks/modu.yaml"))
}

/// The error lines for a spec that must be rejected.
pub(super) fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(spec) => panic!("spec was accepted: {spec:?}"),
        Err(err) => err.to_string().lines().map(str::to_owned).collect(),
    }
}

/// Asserts that exactly one problem is reported and that it starts with `expected`.
#[track_caller]
pub(super) fn assert_single_error(yaml: &str, expected: &str) {
    let lines = errors(yaml);
    assert_eq!(lines.len(), 1, "expected one problem, got {lines:#?}");
    assert!(
        lines[0].starts_with(expected),
        "\nexpected: {expected}\n     got: {}",
        lines[0]
    );
}

pub(super) const BASE: &str =
    "stack: modu\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n";

pub(super) const CDN_CERT: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000002";
