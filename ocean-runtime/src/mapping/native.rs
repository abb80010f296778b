//! Programs of two shapes that real mappings use on every item, evaluated on the item's JSON as jq
//! evaluates them, without converting anything into jq values:
//! - `[.a.b[].c]`: the values of an array (or of an object), each read at a path: `[.labels[].name]`;
//! - `.a.b == L` and `.a.b != L`, with `L` one of `null`, `true`, `false` or a string without escapes:
//!   `.pull_request == null`.
//!
//! Whatever the shape does not cover on a given input (a step that meets a string, an iteration over
//! null, a value nested too deep) gives `None`, and the caller runs the program itself: jq's error, and
//! its message, stay jq's.

use serde_json::Value;

use super::jq::{MAX_OUTPUT_DEPTH, as_jq_gives, simple_path, walk};

/// A program of one of the shapes above.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Native {
    /// `[.outer[].inner]` (`inner` may be empty: `[.outer[]]`).
    Collect { outer: Vec<String>, inner: Vec<String> },
    /// `.path == literal` (`equal`) or `.path != literal`.
    Compare { path: Vec<String>, literal: Value, equal: bool },
}

impl Native {
    /// The shape of `code`, when it has one.
    pub(crate) fn parse(code: &str) -> Option<Self> {
        let code = code.trim();
        if let Some(inside) = code.strip_prefix('[').and_then(|c| c.strip_suffix(']')) {
            let (outer, inner) = inside.trim().split_once("[]")?;
            let outer = simple_path(outer)?;
            let inner = if inner.is_empty() { Vec::new() } else { simple_path_exact(inner)? };
            return Some(Self::Collect { outer, inner });
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
            s => {
                let inner = s.strip_prefix('"')?.strip_suffix('"')?;
                if inner.contains(['"', '\\']) {
                    return None;
                }
                Value::String(inner.to_owned())
            }
        };
        Some(Self::Compare { path, literal, equal })
    }

    /// The program's output on `input`, as jq gives it; `None` when jq would fail (or when the value is
    /// nested too deep), for the caller to run the program.
    pub(crate) fn eval(&self, input: &Value) -> Option<Value> {
        match self {
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
        }
    }
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
        for other in [
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
