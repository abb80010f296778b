//! Programs of three shapes that real mappings use on every item, evaluated on the item's JSON as jq
//! evaluates them, without converting anything into jq values:
//! - `[.a.b[].c]`: the values of an array (or of an object), each read at a path: `[.labels[].name]`;
//! - `.a.b == L` and `.a.b != L`, with `L` one of `null`, `true`, `false` or a string without escapes:
//!   `.pull_request == null`;
//! - sums of paths, string literals and `(.a|tostring)` that give strings: identifiers such as
//!   `.__repository + (.id|tostring)` or `.cluster + "_" + (.id | tostring)`;
//! - constants: a string without escapes, `true`, `false`, `null` or a small integer (`'"githubIssue"'`,
//!   a selector's `'true'`).
//!
//! Whatever the shape does not cover on a given input (a step that meets a string, an iteration over
//! null, a number in a sum, a value nested too deep) gives `None`, and the caller runs the program
//! itself: jq's errors, their messages and its arithmetic stay jq's.

use serde_json::Value;

use super::jq::{MAX_OUTPUT_DEPTH, as_jq_gives, simple_path, walk};

/// A program of one of the shapes above, or a simple path (`.a.b`, recognised by `jq.rs`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Native {
    /// A constant, whatever the input.
    Const(Value),
    /// `.a.b`: what jq gives when every step meets an object or null.
    Path(Vec<String>),
    /// `[.outer[].inner]` (`inner` may be empty: `[.outer[]]`).
    Collect { outer: Vec<String>, inner: Vec<String> },
    /// `.path == literal` (`equal`) or `.path != literal`.
    Compare { path: Vec<String>, literal: Value, equal: bool },
    /// `t1 + t2 + ...`, evaluated when every term gives a string or null.
    Concat(Vec<Term>),
}

/// A term of [`Native::Concat`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    /// `.a.b`
    Path(Vec<String>),
    /// `"text"` (without escapes)
    Literal(String),
    /// `(.a.b|tostring)`
    ToString(Vec<String>),
}

impl Term {
    fn parse(code: &str) -> Option<Self> {
        let code = code.trim();
        if let Some(inside) = code.strip_prefix('(').and_then(|c| c.strip_suffix(')')) {
            let (path, call) = inside.split_once('|')?;
            return (call.trim() == "tostring").then(|| simple_path(path).map(Self::ToString)).flatten();
        }
        if code.starts_with('"') {
            return string_literal(code).map(Self::Literal);
        }
        simple_path(code).map(Self::Path)
    }

    /// The term's value when it is a string (`Some(Some(_))`) or null (`Some(None)`); `None` otherwise
    /// (jq may add numbers, or fail).
    fn eval<'v>(&'v self, input: &'v Value) -> Option<Option<std::borrow::Cow<'v, str>>> {
        use std::borrow::Cow;
        Some(Some(match self {
            Self::Literal(s) => Cow::Borrowed(s.as_str()),
            Self::Path(p) => match walk(input, p)? {
                Value::String(s) => Cow::Borrowed(s.as_str()),
                Value::Null => return Some(None),
                _ => return None,
            },
            // What libjq's `tostring` prints for a string, null, a boolean or an integer of fewer than
            // 17 digits; other numbers are left to jq.
            Self::ToString(p) => match walk(input, p)? {
                Value::String(s) => Cow::Borrowed(s.as_str()),
                Value::Null => Cow::Borrowed("null"),
                Value::Bool(b) => Cow::Owned(b.to_string()),
                Value::Number(n) => {
                    Cow::Owned(n.as_i64().filter(|i| i.unsigned_abs() < 100_000_000_000_000_000)?.to_string())
                }
                _ => return None,
            },
        }))
    }
}

/// `"text"` without escapes → `text`.
fn string_literal(code: &str) -> Option<String> {
    let inner = code.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains(['"', '\\'])).then(|| inner.to_owned())
}

/// Splits `code` at its top-level `+` (outside parentheses and strings without escapes).
fn terms(code: &str) -> Option<Vec<&str>> {
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0usize, false, 0);
    for (i, c) in code.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '\\' => return None,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.checked_sub(1)?,
            '+' if !quoted && depth == 0 => {
                out.push(&code[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&code[start..]);
    (!quoted && depth == 0).then_some(out)
}

impl Native {
    /// The shape of `code`, when it has one.
    pub(crate) fn parse(code: &str) -> Option<Self> {
        let code = code.trim();
        if let Some(v) = constant(code) {
            return Some(Self::Const(v));
        }
        if let Some(inside) = code.strip_prefix('[').and_then(|c| c.strip_suffix(']')) {
            let (outer, inner) = inside.trim().split_once("[]")?;
            let outer = simple_path(outer)?;
            let inner = if inner.is_empty() { Vec::new() } else { simple_path_exact(inner)? };
            return Some(Self::Collect { outer, inner });
        }
        if let Some(parts) = terms(code).filter(|t| t.len() > 1) {
            return parts.into_iter().map(Term::parse).collect::<Option<Vec<_>>>().map(Self::Concat);
        }
        let (at, equal) = match (code.find("=="), code.find("!=")) {
            (Some(i), None) => (i, true),
            (None, Some(i)) => (i, false),
            _ => return None,
        };
        let path = simple_path(&code[..at])?;
        let literal = match code[at + 2..].trim() {
            "null" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            s => Value::String(string_literal(s)?),
        };
        Some(Self::Compare { path, literal, equal })
    }

    /// The program's output on `input`, as jq gives it; `None` when jq would fail (or when the value is
    /// nested too deep), for the caller to run the program.
    pub(crate) fn eval(&self, input: &Value) -> Option<Value> {
        match self {
            Self::Const(v) => Some(v.clone()),
            Self::Path(path) => as_jq_gives(walk(input, path)?, MAX_OUTPUT_DEPTH),
            Self::Collect { outer, inner } => {
                let each = |v: &Value| walk(v, inner).and_then(|v| as_jq_gives(v, MAX_OUTPUT_DEPTH - 1));
                match walk(input, outer)? {
                    Value::Array(a) => a.iter().map(each).collect::<Option<Vec<_>>>().map(Value::Array),
                    Value::Object(m) => m.values().map(each).collect::<Option<Vec<_>>>().map(Value::Array),
                    // jq: "Cannot iterate over ...".
                    _ => None,
                }
            }
            // The literal is null, a boolean or a string: jq's equality is the values'.
            Self::Compare { path, literal, equal } => Some(Value::Bool((walk(input, path)? == literal) == *equal)),
            Self::Concat(terms) => {
                // `null + null` is null; null added to a string is the string.
                let mut out: Option<String> = None;
                for t in terms {
                    if let Some(s) = t.eval(input)? {
                        out.get_or_insert_default().push_str(&s);
                    }
                }
                Some(out.map_or(Value::Null, Value::String))
            }
        }
    }
}

/// A literal whose value jq prints as JSON prints it: a string without escapes, `true`, `false`, `null`,
/// or an integer of at most 15 digits without leading zeros.
fn constant(code: &str) -> Option<Value> {
    match code {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        "null" => return Some(Value::Null),
        _ => {}
    }
    if code.starts_with('"') {
        return string_literal(code).map(Value::String);
    }
    let digits = code.strip_prefix('-').unwrap_or(code);
    let integer = (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (code == "0" || !digits.starts_with('0'));
    integer.then(|| code.parse::<i64>().ok().map(Value::from)).flatten()
}

/// `.a.b` written without spaces (what follows `[]` in `[.a[].b]`).
fn simple_path_exact(code: &str) -> Option<Vec<String>> {
    (code.trim() == code).then(|| simple_path(code)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Program;
    use serde_json::json;

    #[test]
    fn the_shapes_are_recognised_and_nothing_else() {
        let collect = |o: &[&str], i: &[&str]| {
            Some(Native::Collect {
                outer: o.iter().map(|s| s.to_string()).collect(),
                inner: i.iter().map(|s| s.to_string()).collect(),
            })
        };
        assert_eq!(Native::parse("[.assignees[].login]"), collect(&["assignees"], &["login"]));
        assert_eq!(Native::parse(" [ .a.b[].c.d ] "), collect(&["a", "b"], &["c", "d"]));
        assert_eq!(Native::parse("[.labels[]]"), collect(&["labels"], &[]));
        assert_eq!(
            Native::parse(".pull_request == null"),
            Some(Native::Compare { path: vec!["pull_request".into()], literal: Value::Null, equal: true })
        );
        assert_eq!(
            Native::parse(".state!=\"open\""),
            Some(Native::Compare { path: vec!["state".into()], literal: json!("open"), equal: false })
        );
        for (code, v) in [("\"githubIssue\"", json!("githubIssue")), (" true ", json!(true)), ("null", json!(null))] {
            assert_eq!(Native::parse(code), Some(Native::Const(v)), "{code}");
        }
        for (code, n) in [("0", 0), ("42", 42), ("-7", -7), ("999999999999999", 999_999_999_999_999i64)] {
            assert_eq!(Native::parse(code), Some(Native::Const(json!(n))), "{code}");
        }
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            Native::parse(".__repository + (.id|tostring)"),
            Some(Native::Concat(vec![Term::Path(path("__repository")), Term::ToString(path("id"))]))
        );
        assert_eq!(
            Native::parse(" .metadata.uid+\"-(+)\" + ( .item.id | tostring ) "),
            Some(Native::Concat(vec![
                Term::Path(path("metadata.uid")),
                Term::Literal("-(+)".into()),
                Term::ToString(path("item.id"))
            ]))
        );
        for other in [
            ".name + \"-\" + .item | tostring",
            ".a + (.b|tostring) | gsub(\" \"; \"\")",
            "(.a // .b) + \"-\" + (.id|tostring)",
            ".a + 1",
            ".a + \"x\\\"y\"",
            "(.a|tostring)",
            ".a + (.b|ascii_downcase)",
            "[.a[].b | tostring]",
            "[.a[] .b]",
            "[.a[][].b]",
            "[.a[]?.b]",
            "[.[].b]",
            "[.a[].b[]]",
            ".a == 1",
            ".a == \"x\\\"y\"",
            ".a == \"\\(.b)\"",
            ".a == .b",
            ".a == null and .b == null",
            ".a == null == true",
            ".a != null | not",
            ".a",
            "[.a]",
            "01",
            "-0",
            "1.0",
            "1e3",
            "+1",
            "1234567890123456",
            "\"a\\\"b\"",
            "\"\\(.a)\"",
            "True",
        ] {
            assert_eq!(Native::parse(other), None, "{other}");
        }
    }

    /// Every program, on every input: the native output, or jq's when the shape gives none, equals jq's.
    #[test]
    fn native_outputs_are_jq_s_on_corpus_payloads_and_odd_inputs() {
        let programs = [
            "[.issue.labels[].name]",
            "[.issue.assignees[].login]",
            "[.pull_request.requested_reviewers[].login]",
            "[.commits[].id]",
            "[.commits[].author.name]",
            "[.repository.topics[]]",
            "[.issue[]]",
            "[.sender[].login]",
            ".issue.pull_request == null",
            ".issue.pull_request != null",
            ".action == \"opened\"",
            ".action != \"deleted\"",
            ".repository.private == false",
            ".repository.fork == true",
            ".issue.user.login + (.issue.id|tostring)",
            ".repository.name + \"-\" + (.issue.number | tostring)",
            ".action + .missing",
            ".missing + .missing2",
            ".missing + (.missing|tostring)",
            ".repository.name + (.repository.private|tostring)",
            "(.issue.title|tostring) + \"!\"",
            ".issue.id + (.issue.number|tostring)",
            ".sender + \"x\"",
            "\"githubIssue\"",
            "true",
            "false",
            "null",
            "42",
            "-7",
            "0",
        ];
        let mut inputs: Vec<Value> =
            crate::scan::tests::payloads().iter().map(|(_, b)| serde_json::from_slice(b).unwrap()).collect();
        inputs.extend([
            json!(null),
            json!("text"),
            json!({"issue": {"labels": null, "assignees": "x", "pull_request": 1}}),
            json!({"issue": {"labels": [{"name": 2.0}, null, {"name": [1.5, 3.0]}]}}),
            json!({"issue": {"labels": [{"name": "a"}, "b"]}}),
            json!({"issue": {"labels": {"z": {"name": "z"}, "a": {"name": "a"}}}}),
            json!({"commits": [], "action": null, "repository": {"private": 0}}),
            json!({"action": ["opened"], "repository": {"private": false, "fork": "true"}}),
            json!({"issue": {"id": 2.5, "number": 3.0, "user": {"login": null}, "title": 7}}),
            json!({"issue": {"id": 9007199254740993u64, "number": -12, "user": {"login": "u"}}}),
            json!({"issue": {"id": 123456789012345678u64, "number": 18446744073709551615u64}}),
            json!({"repository": {"name": null, "private": true}, "action": "a", "sender": null}),
        ]);
        let mut natives = 0;
        for code in programs {
            let native = Native::parse(code).unwrap_or_else(|| panic!("{code} has a shape"));
            let program = Program::compile(code, false).unwrap();
            for input in &inputs {
                let jq = program.first_val_json(input, crate::mapping::Limits::default()).ok().flatten();
                let ours = native.eval(input);
                natives += usize::from(ours.is_some());
                if ours.is_some() {
                    assert_eq!(ours, jq, "{code} on {input}");
                }
                assert_eq!(program.first(input).ok().flatten(), jq, "{code} through `first` on {input}");
            }
        }
        assert!(natives > inputs.len() * 4, "most evaluations are native ({natives})");
    }
}
