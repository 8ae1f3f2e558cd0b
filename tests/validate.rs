//! Spec validation happens before any AWS call: every bad fixture fails
//! `validate` and `up` with its expected message (file:line:column included),
//! good specs pass, and `schema` prints a JSON Schema.
//!
//! A bad fixture's first line is `# expect: <substring of the error>`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{
    Emulator, Spec, arg, describe_calls, modu, modu_offline, modu_offline_strict, repo_path,
};

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let dir = repo_path(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

fn expected_error(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("reading the fixture");
    let first = text.lines().next().unwrap_or_default();
    first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{} must start with `# expect: <message>`", path.display()))
        .trim()
        .to_string()
}

/// The fixture's file name, line and column as diagnostics print them:
/// `<file>:<line>:<column>`.
fn location(path: &Path, expected: &str) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    let line_column: String = expected
        .trim_start_matches(':')
        .split(':')
        .take(2)
        .collect::<Vec<_>>()
        .join(":");
    format!("{name}:{line_column}")
}

#[tokio::test]
async fn bad_specs_fail_validate_and_up_before_any_aws_call() {
    let emulator = Emulator::start();
    let files = yaml_files("tests/fixtures/bad");
    assert!(
        files.len() >= 12,
        "at least 12 bad specs, found {}",
        files.len()
    );

    let mut failures = Vec::new();
    for path in &files {
        let expected = expected_error(path);
        let located = location(path, &expected);
        for command in ["validate", "up"] {
            let run = modu(&emulator, &[command, "-f", arg(path)]).await;
            let ok = run.code == Some(1)
                && run.stderr.contains(&expected)
                && run.stderr.contains(&located);
            if !ok {
                failures.push(format!(
                    "expected exit 1 with {expected:?} at {located}\n{run}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs went wrong:\n\n{}",
        failures.len(),
        files.len() * 2,
        failures.join("\n\n")
    );

    let calls = emulator.calls();
    assert!(
        calls.is_empty(),
        "a bad spec reached AWS: {}",
        describe_calls(&calls)
    );
}

/// One file with problems of shape (an unknown field, a missing required
/// field) and of meaning (the stack name, min above max, a port out of range):
/// all five are in the one report, in file order and each at its own line and
/// column, and nothing reaches AWS.
#[tokio::test]
async fn problems_of_shape_and_meaning_are_reported_together() {
    let emulator = Emulator::start();
    let path = repo_path("tests/fixtures/bad/shape-and-meaning-together.yaml");
    let expected = [
        "shape-and-meaning-together.yaml:2:8: stack: must start with a lowercase letter",
        "shape-and-meaning-together.yaml:4:1: load_balancr: unknown field `load_balancr` (help: did you mean `load_balancer`?)",
        "shape-and-meaning-together.yaml:6:1: compute.instance_type: missing required field",
        "shape-and-meaning-together.yaml:8:8: compute.max: must be at least min (5)",
        "shape-and-meaning-together.yaml:9:9: compute.port: must be between 1 and 65535 (got 70000)",
    ];

    for command in ["validate", "up"] {
        let run = modu(&emulator, &[command, "-f", arg(&path)]).await;
        run.expect_code(1);
        let positions: Vec<Option<usize>> = expected
            .iter()
            .map(|problem| run.stderr.find(problem))
            .collect();
        let missing: Vec<&str> = expected
            .iter()
            .zip(&positions)
            .filter(|(_, position)| position.is_none())
            .map(|(problem, _)| *problem)
            .collect();
        assert!(
            missing.is_empty(),
            "`{command}` does not report {missing:#?}\n{run}"
        );
        assert!(
            positions.is_sorted(),
            "`{command}` reports the problems out of file order\n{run}"
        );
    }

    let calls = emulator.calls();
    assert!(
        calls.is_empty(),
        "a bad spec reached AWS: {}",
        describe_calls(&calls)
    );
}

#[tokio::test]
async fn good_specs_validate() {
    let dir = tempfile::tempdir().unwrap();
    let generated = Spec::new("generated").write(dir.path());
    let mut files = yaml_files("tests/fixtures/good");
    assert!(!files.is_empty(), "tests/fixtures/good has specs");
    files.push(repo_path("stacks/modu.yaml"));
    files.push(generated);

    for path in &files {
        let run = modu_offline(&["validate", "-f", arg(path)]).await;
        run.expect_success();
        assert!(
            run.stdout.contains(": ok (stack "),
            "validate prints `FILE: ok (stack NAME, N resources)`\n{run}"
        );
    }
    let run = modu_offline(&["validate", "-f", arg(&repo_path("stacks/modu.yaml"))]).await;
    assert!(run.stdout.contains("ok (stack modu,"), "{run}");
}

#[tokio::test]
async fn schema_prints_a_json_schema_of_the_spec() {
    let run = modu_offline(&["schema"]).await;
    run.expect_success();
    let schema = run.json();
    assert!(
        schema["$schema"].is_string(),
        "the document declares its JSON Schema dialect\n{run}"
    );
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("top-level properties\n{run}"));
    for field in [
        "stack",
        "region",
        "tags",
        "network",
        "storage",
        "load_balancer",
        "compute",
    ] {
        assert!(
            properties.contains_key(field),
            "the schema describes `{field}`\n{run}"
        );
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level fields are rejected by the schema too\n{run}"
    );
}

/// The reference spec's zone is a placeholder: Route 53 refuses example.com, so `validate`
/// (and every command) says to put the user's own domain there, unless a test or a local
/// cloud passes `--allow-example-domains`. A warning never fails a spec.
#[tokio::test]
async fn an_example_domain_needs_an_explicit_allowance_and_a_warning_passes() {
    let reference = repo_path("stacks/modu.yaml");
    let run = modu_offline_strict(&["validate", "-f", arg(&reference)]).await;
    run.expect_code(1);
    let zone_line = std::fs::read_to_string(&reference)
        .unwrap()
        .lines()
        .position(|l| l.contains("zone: example.com"))
        .expect("the reference spec's zone")
        + 1;
    assert!(
        run.stderr.contains(&format!(
            "modu.yaml:{zone_line}:9: dns.zone: `example.com` is reserved for documentation"
        )) && run.stderr.contains("--allow-example-domains"),
        "{run}"
    );
    modu_offline_strict(&["validate", "-f", arg(&reference), "--allow-example-domains"])
        .await
        .expect_success();

    let dir = tempfile::tempdir().unwrap();
    let burstable = dir.path().join("burstable.yaml");
    std::fs::write(
        &burstable,
        "stack: web\nregion: us-east-1\ncompute:\n  instance_type: t3.small\n",
    )
    .unwrap();
    let run = modu_offline_strict(&["validate", "-f", arg(&burstable)]).await;
    run.expect_success();
    let warning = format!(
        "warning: {}:4:18: compute.instance_type: `t3.small` is burstable with a baseline of 20 %",
        burstable.display()
    );
    assert!(run.stderr.contains(&warning), "{run}");

    let plain = dir.path().join("plain-origin.yaml");
    std::fs::write(
        &plain,
        "stack: web\nregion: us-east-1\ncompute:\n  instance_type: c7i.large\ncdn:\n  origin_protocol: http\n",
    )
    .unwrap();
    let run = modu_offline_strict(&["validate", "-f", arg(&plain)]).await;
    run.expect_success();
    let warning = format!(
        "warning: {}:6:20: cdn.origin_protocol: requests and the origin secret header cross the internet unencrypted",
        plain.display()
    );
    assert!(run.stderr.contains(&warning), "{run}");

    let bypass = dir.path().join("bypass.yaml");
    std::fs::write(
        &bypass,
        "stack: web\nregion: us-east-1\ncompute:\n  instance_type: c7i.large\ncdn:\n  origin_protocol: http\ndns:\n  zone: shop.test\n  record: www.shop.test\n  target: load_balancer\n",
    )
    .unwrap();
    let run = modu_offline_strict(&["validate", "-f", arg(&bypass)]).await;
    run.expect_success();
    let warning = format!(
        "warning: {}:7:1: dns.target: the record sends viewers straight to the load balancer",
        bypass.display()
    );
    assert!(run.stderr.contains(&warning), "{run}");
}
