//! What the fuzz targets hold the spec parser to, whatever the input: it returns
//! (no panic), and every problem it reports, fatal or a warning, names the file
//! and a line and column inside the text, with a span on the same line that
//! miette can read the source around.
//!
//! `spec` feeds raw bytes to [`modu_spec::parse_bytes`], what `modu` does with a
//! spec file once read; `shaped` feeds documents built from the spec's JSON
//! Schema ([`shaped`]), which reach the checks behind the YAML reader more often.

use std::path::Path;

use miette::{Diagnostic, NarratableReportHandler};
use modu_spec::{Problem, SpecError, parse_bytes};

pub mod shaped;

/// The file the targets name to the parser. Nothing is beside it, so a
/// `compute.user_data` or `app.artifact` the input names is not found, as a
/// missing file is for a user.
pub const SPEC_PATH: &str = "fuzz-input/modu.yaml";

/// Parses `bytes` as a spec file and checks what came back.
pub fn check(bytes: &[u8]) {
    let path = Path::new(SPEC_PATH);
    match parse_bytes(bytes, path) {
        Ok(spec) => {
            let text = std::str::from_utf8(bytes).expect("an accepted spec is UTF-8");
            let findings = &spec.findings;
            for problem in findings.warnings.iter().chain(&findings.example_domains) {
                assert_located(problem, text, path);
            }
        }
        Err(err) => {
            // The text the error shows: invalid UTF-8 is drawn replaced.
            let text = String::from_utf8_lossy(bytes);
            assert_error_located(&err, &text, path);
        }
    }
}

fn assert_error_located(err: &SpecError, text: &str, path: &Path) {
    let problems = err.problems();
    assert!(!problems.is_empty(), "an error with no problem");
    for problem in problems {
        assert_located(problem, text, path);
    }
    // One label per problem, each inside the text and on the problem's line.
    assert!(err.source_code().is_some(), "no source text for {err}");
    let labels: Vec<_> = err.labels().expect("labels").collect();
    assert_eq!(
        labels.len(),
        problems.len(),
        "a problem without a span: {err}"
    );
    for (label, problem) in labels.iter().zip(problems) {
        let (start, end) = (label.offset(), label.offset() + label.len());
        assert!(
            end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end),
            "span {start}..{end} outside the text ({} bytes): {problem}",
            text.len()
        );
        // Exactly at the column would be stricter, but whether a byte order mark takes one
        // is the YAML reader's business.
        let (line_start, line_end) = line_range(text, problem.line).expect("a line of the text");
        assert!(
            (line_start..=line_end).contains(&start),
            "the span {start}..{end} is not on line {}: {problem}",
            problem.line
        );
    }
    // The narrated report reads every span's lines from the text, as the drawn one does.
    let mut told = String::new();
    NarratableReportHandler::new()
        .render_report(&mut told, err)
        .unwrap_or_else(|_| panic!("the report cannot be told: {err}"));
}

fn assert_located(problem: &Problem, text: &str, path: &Path) {
    assert_eq!(problem.file, path, "{problem}");
    assert!(!problem.message.is_empty(), "no message: {problem:?}");
    // Shown one per line, each line starting with its place: a line break inside one
    // would leave a line without.
    assert!(
        !problem.to_string().contains(['\n', '\r']),
        "a line break in a problem: {problem:?}"
    );
    assert!(
        problem.line >= 1 && problem.column >= 1,
        "no position: {problem:?}"
    );
    let (start, end) = line_range(text, problem.line)
        .unwrap_or_else(|| panic!("line {} is not in the text: {problem:?}", problem.line));
    // The column after the line's last character is where an end of line or file is told.
    assert!(
        problem.column <= text[start..end].chars().count() + 1,
        "column {} is not in line {}: {problem:?}",
        problem.column,
        problem.line
    );
}

/// The byte range of a 1-based line's characters, lines broken as YAML breaks
/// them (`\n`, `\r\n`, a lone `\r`); `None` past the end of the text.
fn line_range(text: &str, line: usize) -> Option<(usize, usize)> {
    let mut start = 0;
    for _ in 1..line {
        let end = start + text[start..].find(['\n', '\r'])?;
        start = end
            + if text[end..].starts_with("\r\n") {
                2
            } else {
                1
            };
    }
    let end = text[start..]
        .find(['\n', '\r'])
        .map_or(text.len(), |at| start + at);
    Some((start, end))
}
