//! How problems with a spec are told: [`Problem`] (file, line, column, dotted
//! field path, message, help), [`SpecError`] (every problem of a file, shown
//! one per line or drawn by miette over the source), and the helpers that
//! build them: positions from the YAML reader's locations, and "did you mean"
//! suggestions.

use std::fmt;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use serde_saphyr::Location;

/// One thing wrong with a spec, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The spec file, as it was named to modu.
    pub file: PathBuf,
    /// 1-based line, or 0 when the problem is with the file as a whole.
    pub line: usize,
    /// 1-based column (in characters), or 0 with `line`.
    pub column: usize,
    /// Dotted path of the field, e.g. `compute.min`; empty when there is none.
    pub field: String,
    pub message: String,
    /// A hint on how to fix it, e.g. "did you mean `compute`?".
    pub help: Option<String>,
    /// Byte range in the source, for the snippet miette draws.
    pub(super) span: Option<SourceSpan>,
}

impl fmt::Display for Problem {
    /// `file:line:column: field: message (help: …)`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// Why a spec was rejected: every problem found, one per line when displayed.
#[derive(Debug, thiserror::Error)]
pub struct SpecError {
    problems: Vec<Problem>,
    /// The spec text, so miette can show the offending lines.
    source_text: Option<NamedSource<String>>,
}

impl SpecError {
    /// A spec refused for `problems` found after it was read (see [`Findings`]).
    pub fn refusing(problems: Vec<Problem>, file: &Path) -> Self {
        SpecError::new(problems, file, None)
    }

    /// Every problem found, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub(super) fn new(mut problems: Vec<Problem>, file: &Path, text: Option<&str>) -> Self {
        problems.sort_by_key(|p| (p.line, p.column));
        let source_text =
            text.map(|text| NamedSource::new(file.display().to_string(), text.to_owned()));
        SpecError {
            problems,
            source_text,
        }
    }

    /// A file whose `bytes` are not UTF-8 text, from the byte at `valid_up_to`
    /// on: located there, and shown over the text with that byte replaced.
    pub(super) fn not_utf8(bytes: &[u8], valid_up_to: usize, file: &Path) -> Self {
        let (line, column) = position_after(&String::from_utf8_lossy(&bytes[..valid_up_to]));
        let message = match bytes.get(valid_up_to) {
            Some(byte) => format!("not UTF-8 text: byte 0x{byte:02x} cannot be read"),
            None => "not UTF-8 text".to_owned(),
        };
        // The lossy text keeps every byte before the bad one where it was, and shows
        // the bad sequence as one U+FFFD (3 bytes).
        let text = String::from_utf8_lossy(bytes);
        let span = SourceSpan::new(valid_up_to.into(), '\u{fffd}'.len_utf8());
        let problem = Problem {
            file: file.to_path_buf(),
            line,
            column,
            field: String::new(),
            message,
            help: Some("save the file as UTF-8".to_owned()),
            span: Some(span),
        };
        SpecError::new(vec![problem], file, Some(&text))
    }

    pub(super) fn unreadable(file: &Path, message: String) -> Self {
        let problem = Problem {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message,
            help: None,
            span: None,
        };
        SpecError::new(vec![problem], file, None)
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl Diagnostic for SpecError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("modu::spec"))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source_text.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source_text.as_ref()?;
        let labels = self.problems.iter().filter_map(|p| {
            let label = if p.field.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.field, p.message)
            };
            p.span
                .map(|span| LabeledSpan::new_with_span(Some(label), span))
        });
        Some(Box::new(labels))
    }
}

/// What a valid spec says that is still worth telling, each with its place in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Sound but likely not what was meant (printed, never fatal).
    pub warnings: Vec<Problem>,
    /// Zones under the domains reserved for documentation: Route 53 refuses to create them
    /// and nobody can delegate them, so only tests and a local cloud may use them, with
    /// `--allow-example-domains`.
    pub example_domains: Vec<Problem>,
}

/// The problems of one spec file, noted as they are found, by the reader and
/// the checks alike.
pub(super) struct Reporter<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<Problem>,
    findings: Findings,
}

impl<'a> Reporter<'a> {
    pub(super) fn new(file: &'a Path, text: &'a str) -> Self {
        Reporter {
            file,
            text,
            problems: Vec::new(),
            findings: Findings::default(),
        }
    }

    /// The spec file, as it was named to modu.
    pub(super) fn file(&self) -> &'a Path {
        self.file
    }

    /// The spec text.
    pub(super) fn text(&self) -> &'a str {
        self.text
    }

    pub(super) fn report(&mut self, at: &Location, field: &str, message: impl Into<String>) {
        self.report_with_help(at, field, message, None);
    }

    pub(super) fn report_with_help(
        &mut self,
        at: &Location,
        field: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let problem = self.problem(at, field, message.into(), help);
        self.problems.push(problem);
    }

    /// Notes something sound but likely not meant; it does not fail the spec.
    pub(super) fn warn(&mut self, at: &Location, field: &str, message: String, help: String) {
        let problem = self.problem(at, field, message, Some(help));
        self.findings.warnings.push(problem);
    }

    /// Notes a zone under a domain reserved for documentation.
    pub(super) fn example_domain(&mut self, at: &Location, field: &str, message: String) {
        let help = "use a domain you own; tests and a local cloud pass --allow-example-domains";
        let problem = self.problem(at, field, message, Some(help.to_owned()));
        self.findings.example_domains.push(problem);
    }

    fn problem(
        &self,
        at: &Location,
        field: &str,
        message: String,
        help: Option<String>,
    ) -> Problem {
        let (line, column, span) = locate(self.text, at);
        Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            field: one_line(field),
            message: one_line(&message),
            help: help.as_deref().map(one_line),
            span,
        }
    }

    /// What was found besides problems, handed to the spec it was found in.
    pub(super) fn take_findings(&mut self) -> Findings {
        std::mem::take(&mut self.findings)
    }

    /// `value` if nothing was reported, else every problem in one error.
    pub(super) fn finish<T>(self, value: T) -> Result<T, SpecError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(SpecError::new(self.problems, self.file, Some(self.text)))
        }
    }
}

/// "did you mean `x`?" when a candidate is close, else the list of candidates.
pub(super) fn suggestion(given: &str, candidates: &[&str]) -> String {
    let closest = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(given, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, candidate)) => format!("did you mean `{candidate}`?"),
        None => {
            let names: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
            format!("expected one of {}", names.join(", "))
        }
    }
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`; tabs stay), for
/// problems that quote the file: a value or a key with a line break would split a
/// problem over lines that do not start with its place, and a terminal escape
/// would reach the terminal.
pub(super) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn join_field(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// 1-based line and column plus the byte span of `loc` within `text`.
pub(super) fn locate(text: &str, loc: &Location) -> (usize, usize, Option<SourceSpan>) {
    let line = usize::try_from(loc.line()).unwrap_or(0);
    let column = usize::try_from(loc.column()).unwrap_or(0);
    let span = loc
        .span()
        .byte_offset()
        .and_then(|offset| usize::try_from(offset).ok())
        .or_else(|| byte_offset_of(text, line, column))
        .map(|offset| {
            let len = loc
                .span()
                .byte_len()
                .and_then(|len| usize::try_from(len).ok())
                .unwrap_or(0);
            SourceSpan::new(offset.into(), len)
        });
    (line, column, span)
}

/// Byte offset of a 1-based line and (character) column, counted as the YAML
/// reader counts them: a line ends at `\n`, `\r\n` or a lone `\r`. A column
/// past the end of its line is the end of the line, a line past the end of
/// the text the end of the text.
fn byte_offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    // A byte order mark opening the text takes no column.
    let mut line_start = if text.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    };
    for _ in 1..line {
        let rest = &text[line_start..];
        let Some(end) = rest.find(['\n', '\r']) else {
            return Some(text.len());
        };
        let break_len = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        line_start += end + break_len;
    }
    let rest = &text[line_start..];
    let line_text = &rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())];
    let in_line = line_text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_text.len(), |(i, _)| i);
    Some(line_start + in_line)
}

/// The byte order mark, which the YAML reader skips at the start of a file.
const BOM: char = '\u{feff}';

/// The 1-based line and (character) column just after `before`, counted as the
/// YAML reader counts them (a line ends at `\n`, `\r\n` or a lone `\r`; a byte
/// order mark opening the text takes no column).
fn position_after(before: &str) -> (usize, usize) {
    let before = before.strip_prefix(BOM).unwrap_or(before);
    let breaks = before.matches(['\n', '\r']).count() - before.matches("\r\n").count();
    let last_line = before.rsplit(['\n', '\r']).next().unwrap_or_default();
    (breaks + 1, last_line.chars().count() + 1)
}

/// The source text a location covers (empty when unknown).
pub(super) fn source_slice(text: &str, loc: &Location) -> String {
    let span = loc.span();
    let (Some(offset), Some(len)) = (span.byte_offset(), span.byte_len()) else {
        return String::new();
    };
    let (Ok(start), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else {
        return String::new();
    };
    text.get(start..start.saturating_add(len))
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use miette::{Diagnostic, LabeledSpan};

    use crate::load::{load, parse_bytes};
    use crate::testing::{BASE, parse, test_dir};

    #[test]
    fn diagnostic_points_at_each_problem() {
        let yaml = format!("{BASE}  port: 0\n  min: 0\n");
        let err = parse(&yaml).expect_err("invalid");
        assert!(err.source_code().is_some());
        let labels: Vec<LabeledSpan> = err.labels().expect("labels").collect();
        assert_eq!(labels.len(), 2);
        let port_offset = yaml.find("port: 0").expect("port line") + "port: ".len();
        assert_eq!(labels[0].offset(), port_offset);
        assert_eq!(labels[0].len(), 1);
        assert_eq!(
            labels[0].label(),
            Some("compute.port: must be between 1 and 65535 (got 0)")
        );
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(rendered.contains("port: 0"), "{rendered}");
    }

    #[test]
    fn values_quoted_in_problems_keep_each_problem_on_its_line() {
        // A multi-line scalar, a line break or a terminal escape in a value or a key: each
        // problem is still one line starting with its place, the value shown escaped.
        for (yaml, shown) in [
            ("e\n1\n".to_owned(), r"found `e\n1`"),
            (
                format!("{BASE}  port: \"8\n    0\"\n"),
                r#"found `"8\n    0"`"#,
            ),
            (
                "stack: modu\nregion: us-east-1\ncompute:\n  instance_type: \"\\e[31m\"\n"
                    .to_owned(),
                r"`\u{1b}[31m` is not an EC2 instance type",
            ),
            (
                format!("{BASE}\"a\\nb\": 1\n"),
                r"a\nb: unknown field `a\nb`",
            ),
        ] {
            let err = parse(&yaml).expect_err("invalid");
            let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
            assert_eq!(lines.len(), 1, "{yaml:?}: {lines:#?}");
            assert!(lines[0].starts_with("stacks/modu.yaml:"), "{lines:#?}");
            assert!(lines[0].contains(shown), "{yaml:?}: {lines:#?}");
        }
    }

    #[test]
    fn a_syntax_error_after_a_lone_carriage_return_is_drawn_at_its_position() {
        // YAML breaks lines at `\r\n`, `\n` and a lone `\r`: the reader counts the
        // line so, and the span drawn under it must agree (it fell at the end of the file).
        for (text, offset) in [
            ("a: 1\rb: c: d\n", 9),
            ("a: 1\r\nb: c: d\n", 10),
            ("a: 1\nb: c: d\n", 9),
        ] {
            let err = parse(text).expect_err("not YAML");
            let problem = &err.problems()[0];
            assert_eq!((problem.line, problem.column), (2, 5), "{text:?}");
            let labels: Vec<LabeledSpan> = err.labels().expect("labels").collect();
            assert_eq!(labels[0].offset(), offset, "{text:?}");
        }
    }

    #[test]
    fn a_syntax_error_after_a_byte_order_mark_is_drawn_at_its_position() {
        // The reader skips a byte order mark opening the file: it takes no column.
        for (text, column, offset) in [("\u{feff}\u{5}", 1, 3), ("\u{feff}a: b: c\n", 5, 7)] {
            let err = parse(text).expect_err("not YAML");
            let problem = &err.problems()[0];
            assert_eq!((problem.line, problem.column), (1, column), "{text:?}");
            let labels: Vec<LabeledSpan> = err.labels().expect("labels").collect();
            assert_eq!(labels[0].offset(), offset, "{text:?}");
        }
        let err = parse_bytes(b"\xef\xbb\xbfa\xff", Path::new("x.yaml")).expect_err("not UTF-8");
        let problem = &err.problems()[0];
        assert_eq!((problem.line, problem.column), (1, 2));
    }

    #[test]
    fn text_that_is_not_utf8_is_located_at_its_first_bad_byte() {
        let dir = test_dir("not-utf8");
        let path = dir.join("modu.yaml");
        std::fs::write(&path, b"stack: modu\nregion: us-\xffeast-1\n").expect("write spec");
        let err = load(&path).expect_err("not UTF-8");
        let problem = &err.problems()[0];
        assert_eq!((problem.line, problem.column), (2, 12));
        assert_eq!(
            problem.to_string(),
            format!(
                "{}:2:12: not UTF-8 text: byte 0xff cannot be read (help: save the file as UTF-8)",
                path.display()
            )
        );
        let labels: Vec<LabeledSpan> = err.labels().expect("labels").collect();
        assert_eq!((labels[0].offset(), labels[0].len()), (23, 3));
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(rendered.contains("region: us-\u{fffd}east-1"), "{rendered}");
        // Lines counted as the YAML reader counts them: a lone `\r` ends one too.
        let err =
            parse_bytes(b"stack: modu\rregion: us-\xffeast-1\r\n", &path).expect_err("not UTF-8");
        let problem = &err.problems()[0];
        assert_eq!((problem.line, problem.column), (2, 12));
    }

    #[test]
    fn unreadable_file_is_reported_without_a_position() {
        let path = Path::new("no/such/modu.yaml");
        let err = load(path).expect_err("missing file");
        let problem = &err.problems()[0];
        assert_eq!((problem.line, problem.column), (0, 0));
        assert!(
            err.to_string()
                .starts_with("cannot read no/such/modu.yaml: ")
        );
        assert!(err.source_code().is_none());
    }
}
