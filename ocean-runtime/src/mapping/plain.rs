//! Whether a jq program is plain: it can neither loop nor recurse, so that it evaluates within a few
//! frames of stack and in time bounded by its input's size. A mapping whose programs are all plain runs
//! on the worker that asks for it, without the hop to a mapping thread (whose large stack it does not
//! need); any other runs on the mapping threads.
//!
//! The analysis is conservative: paths, literals, operators, conditionals, `try` and variable bindings
//! are plain, and calls of a few builtins that do not recurse into values deeper than their input (or
//! loop only over their input); definitions, `reduce`/`foreach`, `..`, `label` and every other call are
//! not.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Pattern, Term};
use jaq_core::path::Part;

/// Builtins a plain program may call. `__eq`, `__ne`, `__div`, `__mul`, `__rem`, `__neg` and
/// `_ocean_error_text` are the natives the rewrite prints for libjq's operators and `catch`.
const PLAIN_CALLS: &[&str] = &[
    "__div",
    "__eq",
    "__mul",
    "__ne",
    "__neg",
    "__rem",
    "_ocean_error_text",
    "add",
    "all",
    "any",
    "arrays",
    "ascii_downcase",
    "ascii_upcase",
    "booleans",
    "ceil",
    "contains",
    "empty",
    "endswith",
    "env",
    "error",
    "false",
    "first",
    "floor",
    "gmtime",
    "gsub",
    "has",
    "join",
    "keys",
    "keys_unsorted",
    "last",
    "length",
    "ltrimstr",
    "map",
    "max",
    "min",
    "mktime",
    "not",
    "now",
    "null",
    "numbers",
    "objects",
    "reverse",
    "round",
    "rtrimstr",
    "scalars",
    "select",
    "sort",
    "split",
    "startswith",
    "strftime",
    "strings",
    "strptime",
    "sub",
    "test",
    "todate",
    "fromdate",
    "todateiso8601",
    "fromdateiso8601",
    "tojson",
    "tonumber",
    "tostring",
    "trimstr",
    "true",
    "type",
    "unique",
    "utf8bytelength",
    "values",
];

/// Whether `code` (as compiled: formatted, rewritten, with its budget steps) is plain.
pub(super) fn is_plain(code: &str) -> bool {
    let Some((defs, main)) = jaq_core::load::parse(code, |p| Ok((p.defs()?, p.term()?))) else { return false };
    defs.is_empty() && term(&main)
}

fn term(t: &Term<&str>) -> bool {
    match t {
        Term::Id | Term::Num(_) | Term::Var(_) => true,
        Term::Recurse | Term::Label(..) | Term::Break(_) | Term::Fold(..) | Term::Def(..) => false,
        Term::Str(_, parts) => parts.iter().all(|p| !matches!(p, StrPart::Term(t) if !term(t))),
        Term::Arr(inner) => inner.as_deref().is_none_or(term),
        Term::Obj(entries) => entries.iter().all(|(k, v)| term(k) && v.as_ref().is_none_or(term)),
        Term::Neg(t) => term(t),
        Term::BinOp(l, op, r) => binary(op) && term(l) && term(r),
        Term::TryCatch(t, catch) => term(t) && catch.as_deref().is_none_or(term),
        Term::IfThenElse(branches, otherwise) => {
            branches.iter().all(|(c, t)| term(c) && term(t)) && otherwise.as_deref().is_none_or(term)
        }
        Term::Call(name, args) => PLAIN_CALLS.contains(name) && args.iter().all(term),
        Term::Path(t, path) => {
            term(t)
                && path.0.iter().all(|(part, _)| match part {
                    Part::Index(i) => term(i),
                    Part::Range(from, to) => from.as_ref().is_none_or(term) && to.as_ref().is_none_or(term),
                })
        }
    }
}

/// Assignments run libjq's definitions over paths; the other operators are plain.
fn binary(op: &BinaryOp<&str>) -> bool {
    match op {
        BinaryOp::Pipe(pattern) => pattern.as_ref().is_none_or(pattern_is_plain),
        BinaryOp::Comma | BinaryOp::Alt | BinaryOp::Or | BinaryOp::And | BinaryOp::Math(_) | BinaryOp::Cmp(_) => true,
        BinaryOp::Assign | BinaryOp::Update | BinaryOp::UpdateMath(_) | BinaryOp::UpdateAlt => false,
    }
}

fn pattern_is_plain(p: &Pattern<&str>) -> bool {
    match p {
        Pattern::Var(_) => true,
        Pattern::Arr(ps) => ps.iter().all(pattern_is_plain),
        Pattern::Obj(entries) => entries.iter().all(|(k, p)| term(k) && pattern_is_plain(p)),
    }
}

#[cfg(test)]
mod tests {
    use crate::mapping::Program;

    #[test]
    fn programs_that_cannot_loop_or_recurse_are_plain_and_the_others_are_not() {
        let plain = [
            ".title",
            ".__repository + (.id|tostring)",
            "[.assignees[].login]",
            ".pull_request == null",
            r#"if .private then "private" else "public" end"#,
            r#"(.user.login | gsub("\\["; "-"))"#,
            r#".created_at as $c | ($c | sub("\\..*Z$"; "Z") | strptime("%Y-%m-%dT%H:%M:%SZ") | mktime) / 3600"#,
            r#""\(.a)-\(.b)""#,
            ".labels | map(.name) | join(\",\")",
            "try .a.b catch null",
            ".x[1:3]",
            "{id: .id, name: .name}",
        ];
        let not_plain = [
            "def f: 1 + f; f",
            "reduce range(100000) as $_ ([]; [.]) | length",
            "last(range(1e12))",
            "..",
            "[recurse]",
            ".s | fromjson",
            "del(.a)",
            ".a |= 1",
            ".a += 1",
            "flatten",
            "limit(1; .[])",
            "label $out | 1",
            "[paths]",
            "tostream",
            "walk(.)",
        ];
        for code in plain {
            assert!(Program::compile(code, false).unwrap().is_plain(), "plain: {code}");
        }
        for code in not_plain {
            assert!(!Program::compile(code, false).unwrap().is_plain(), "not plain: {code}");
        }
    }
}
