//! Which top-level keys of its input a jq program can read: the keys of `.key` paths taken from the
//! input itself, when that is all it reads of the input. A mapping converts only those members of an
//! item into jq values, the most costly part of mapping a large object by a few leaves.
//!
//! The analysis is conservative: a program is taken to read its whole input unless every use of the
//! input is a member with a literal key (`.a`, `.a.b[0]`, `."a b"`, `.["a"]`). Filters that see the
//! input whole (`.`, `..`, `.[]`, `keys`, `map(f)`, an assignment, a definition, and every call of a
//! builtin but a few that read nothing) make it read everything. What a pipe's right side reads is the
//! left side's output, not the input; the update of `reduce`/`foreach` reads the accumulator; `catch`
//! reads the error.

use std::collections::BTreeSet;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Pattern, Term};
use jaq_core::path::Part;

/// The keys read, `None` for the whole input.
type Keys = Option<BTreeSet<String>>;

/// Builtins, with their number of arguments, that produce their output without reading their input
/// (their arguments are analysed: they read the input).
const INPUT_FREE: [(&str, usize); 11] = [
    ("empty", 0),
    ("null", 0),
    ("true", 0),
    ("false", 0),
    ("now", 0),
    ("env", 0),
    ("error", 1),
    ("range", 1),
    ("range", 2),
    ("range", 3),
    ("first", 1),
];

/// The top-level keys of its input that `code` can read; `None` when it may read more (or does not parse).
pub(super) fn input_keys(code: &str) -> Option<BTreeSet<String>> {
    let (defs, main) = jaq_core::load::parse(code, |p| Ok((p.defs()?, p.term()?)))?;
    if !defs.is_empty() {
        return None;
    }
    reads(&main)
}

fn union(a: Keys, b: Keys) -> Keys {
    let (mut a, b) = (a?, b?);
    a.extend(b);
    Some(a)
}

fn all<'a>(terms: impl IntoIterator<Item = &'a Term<&'a str>>) -> Keys {
    terms.into_iter().try_fold(BTreeSet::new(), |acc, t| union(Some(acc), reads(t)))
}

/// The text of a string without interpolation (`"a"`, `a` in `.a` or `{a: 1}`).
fn literal(t: &Term<&str>) -> Option<String> {
    let Term::Str(None, parts) = t else { return None };
    parts.iter().try_fold(String::new(), |mut s, p| {
        match p {
            StrPart::Str(text) => s.push_str(text),
            StrPart::Char(c) => s.push(*c),
            StrPart::Term(_) => return None,
        }
        Some(s)
    })
}

fn string_parts(parts: &[StrPart<&str, Term<&str>>]) -> Keys {
    all(parts.iter().filter_map(|p| if let StrPart::Term(t) = p { Some(t) } else { None }))
}

/// Patterns whose object keys are all literal read nothing of the input themselves.
fn pattern_is_literal(p: &Pattern<&str>) -> bool {
    match p {
        Pattern::Var(_) => true,
        Pattern::Arr(ps) => ps.iter().all(pattern_is_literal),
        Pattern::Obj(entries) => {
            entries.iter().all(|(k, p)| (matches!(k, Term::Var(_)) || literal(k).is_some()) && pattern_is_literal(p))
        }
    }
}

fn reads(t: &Term<&str>) -> Keys {
    match t {
        Term::Id | Term::Recurse | Term::Def(..) => None,
        Term::Num(_) | Term::Var(_) | Term::Break(_) | Term::Arr(None) => Some(BTreeSet::new()),
        // A format alone (`@base64`) is a call; with a string it applies to the interpolated values.
        Term::Str(_, parts) => string_parts(parts),
        Term::Arr(Some(t)) | Term::Neg(t) | Term::Label(_, t) | Term::TryCatch(t, _) => reads(t),
        Term::Obj(entries) => entries.iter().try_fold(BTreeSet::new(), |acc, (k, v)| {
            let key = match (k, v) {
                // `{$x}` reads a variable; `{a}` is `{a: .a}`.
                (Term::Var(_), None) => Some(BTreeSet::new()),
                (k, None) => Some(BTreeSet::from([literal(k)?])),
                (k, Some(v)) => union(if literal(k).is_some() { Some(BTreeSet::new()) } else { reads(k) }, reads(v)),
            };
            union(Some(acc), key)
        }),
        Term::BinOp(l, op, r) => match op {
            BinaryOp::Pipe(None) => reads(l),
            // `l as $x | r`: `r` reads the same input.
            BinaryOp::Pipe(Some(p)) if pattern_is_literal(p) => union(reads(l), reads(r)),
            BinaryOp::Pipe(Some(_)) => None,
            BinaryOp::Comma | BinaryOp::Alt | BinaryOp::Or | BinaryOp::And | BinaryOp::Math(_) | BinaryOp::Cmp(_) => {
                union(reads(l), reads(r))
            }
            // An assignment's output is its input, changed.
            BinaryOp::Assign | BinaryOp::Update | BinaryOp::UpdateMath(_) | BinaryOp::UpdateAlt => None,
        },
        // `reduce xs as $x (init; update)`: the update (and `foreach`'s extraction) reads the accumulator.
        Term::Fold(_, xs, p, args) if pattern_is_literal(p) => {
            union(reads(xs), args.first().map_or(Some(BTreeSet::new()), reads))
        }
        Term::Fold(..) => None,
        Term::IfThenElse(branches, otherwise) => {
            // Without `else`, the input is the output.
            let otherwise = reads(otherwise.as_deref()?)?;
            branches.iter().try_fold(otherwise, |acc, (c, b)| union(union(Some(acc), reads(c)), reads(b)))
        }
        Term::Call(name, args) if INPUT_FREE.contains(&(*name, args.len())) => all(args),
        Term::Call(..) => None,
        Term::Path(head, path) => {
            let mut parts = path.0.iter();
            let head = match **head {
                // `.a…`: the first step names the member read.
                Term::Id => match parts.next() {
                    Some((Part::Index(k), _)) => Some(BTreeSet::from([literal(k)?])),
                    _ => return None,
                },
                ref other => reads(other),
            };
            // Indices and bounds of later steps are evaluated on the input, not on the value indexed.
            parts.try_fold(head?, |acc, (part, _)| {
                let step = match part {
                    Part::Index(i) => reads(i),
                    Part::Range(from, to) => {
                        let bound = |b: &Option<Term<&str>>| b.as_ref().map_or(Some(BTreeSet::new()), reads);
                        union(bound(from), bound(to))
                    }
                };
                union(Some(acc), step)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(code: &str) -> Option<Vec<String>> {
        input_keys(code).map(|k| k.into_iter().collect())
    }

    #[test]
    fn members_with_literal_keys_are_all_that_is_read() {
        let cases: [(&str, Option<&[&str]>); 24] = [
            (".title", Some(&["title"])),
            (".user.login", Some(&["user"])),
            (r#".["a b"].c[0]"#, Some(&["a b"])),
            ("[.labels[].name]", Some(&["labels"])),
            (".__repository + (.id|tostring)", Some(&["__repository", "id"])),
            (r#"if .private then "private" else "public" end"#, Some(&["private"])),
            (".pull_request == null", Some(&["pull_request"])),
            (r#""\(.a)/\(.b)""#, Some(&["a", "b"])),
            ("{a, $x}", Some(&["a"])),
            ("{a, b: .c, (.d): 1}", Some(&["a", "c", "d"])),
            (".a as $x | .b + $x", Some(&["a", "b"])),
            ("reduce .xs[] as $x (.init; . + $x)", Some(&["init", "xs"])),
            ("try .a catch .", Some(&["a"])),
            ("first(.a, .b)", Some(&["a", "b"])),
            (".a[.b]", Some(&["a", "b"])),
            ("'x'", None),
            (".", None),
            ("..", None),
            (".[]", None),
            (".[0]", None),
            ("keys", None),
            ("map(.name)", None),
            ("if .a then .b end", None),
            (".a = 1", None),
        ];
        for (code, want) in cases {
            let want = want.map(|w| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
            assert_eq!(keys(code), want, "{code}");
        }
        assert_eq!(keys("def f: .a; f"), None);
        assert_eq!(keys(r#""a" | ascii_downcase"#), Some(vec![]));
        assert_eq!(keys("first"), None, "`first` without arguments is `.[0]`");
        assert_eq!(keys("error"), None);
        assert_eq!(keys("error(.msg)"), Some(vec!["msg".to_owned()]));
    }
}
