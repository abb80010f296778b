//! A jq program rewritten for its budget, when the step insertion of `budget::tick_points` is not
//! enough: string repetition (`"x" * 1000000000`) allocates in one operation, with no loop to stop. Such
//! programs are parsed with jaq's parser and printed again, fully parenthesised, with every `l * r` as
//! `__mul(r; l)` (a native that refuses results past the size limit), every `l / r` and `l % r` as
//! `__div(r; l)` and `__rem(r; l)` (libjq's error on a zero divisor), every `l == r` and `l != r` as
//! `__eq(r; l)` and `__ne(r; l)` (libjq's limit on nesting), every interpolated string `"\(x)"` as
//! `@text "\(x)"` (libjq's text of numbers), every slice `t[a:b]` whose bounds read no input as
//! `t | if . == null then . else .[a:b] end` (libjq slices null to null), every function body and every
//! `reduce`/`foreach` update behind `__tick`. Assignments are printed as calls of libjq's definitions
//! (`_ocean_assign`, `_ocean_modify` in `libjq.jq`), because jaq's own updates refuse to create what is
//! missing (`null | .a.b = 1`, `[1] | .[3] = 1`) and delete one path at a time. Programs with none of
//! these operators are not rewritten.

use std::fmt::Write;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};

/// The operators the rewrite prints differently.
const REWRITTEN: [&str; 15] = ["*", "/", "%", "-", "catch", "*=", "=", "|=", "+=", "-=", "/=", "%=", "//=", "==", "!="];

/// Whether the program has one of the operators the rewrite prints differently, an interpolation or a
/// slice.
pub(super) fn needs_rewrite(code: &str) -> bool {
    use jaq_core::load::lex::{Tok, Token};
    fn any(tokens: &[Token<&str>]) -> bool {
        tokens.iter().any(|Token(s, t)| match t {
            Tok::Sym | Tok::Word => REWRITTEN.contains(s),
            // A slice (`[a:b]`): libjq slices null.
            Tok::Block(inner)
                if s.starts_with('[') && inner.iter().any(|Token(s, t)| *s == ":" && matches!(t, Tok::Sym)) =>
            {
                true
            }
            Tok::Block(inner) => any(inner),
            // An interpolation is printed with libjq's text of numbers.
            Tok::Str(parts) => parts.iter().any(|p| matches!(p, StrPart::Term(_))),
            _ => false,
        })
    }
    jaq_core::load::Lexer::new(code).lex().is_ok_and(|t| any(&t))
}

/// The program printed again with its budget steps, a checked `*` and libjq's assignments; `None` when
/// it does not parse (its compilation reports why).
pub(super) fn rewrite(code: &str) -> Option<String> {
    let (defs, main) = jaq_core::load::parse(code, |p| {
        let defs = p.defs()?;
        let main = p.term()?;
        Ok((defs, main))
    })?;
    let mut out = String::with_capacity(code.len() * 2);
    for d in &defs {
        def(&mut out, d)?;
    }
    term(&mut out, &main)?;
    Some(out)
}

fn def(out: &mut String, d: &Def<&str>) -> Option<()> {
    out.push_str("def ");
    out.push_str(d.name);
    if !d.args.is_empty() {
        out.push('(');
        out.push_str(&d.args.join("; "));
        out.push(')');
    }
    out.push_str(": __tick | (");
    term(out, &d.body)?;
    out.push_str("); ");
    Some(())
}

/// `(t)`.
fn paren(out: &mut String, t: &Term<&str>) -> Option<()> {
    out.push('(');
    term(out, t)?;
    out.push(')');
    Some(())
}

fn string(out: &mut String, fmt: Option<&str>, parts: &[StrPart<&str, Term<&str>>]) -> Option<()> {
    if let Some(f) = fmt {
        out.push_str(f);
        out.push(' ');
    }
    out.push('"');
    for p in parts {
        match p {
            StrPart::Str(s) => out.push_str(s),
            StrPart::Char('"') => out.push_str("\\\""),
            StrPart::Char('\\') => out.push_str("\\\\"),
            StrPart::Char(c) if u32::from(*c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(*c));
            }
            StrPart::Char(c) => out.push(*c),
            StrPart::Term(t) => {
                out.push_str("\\(");
                term(out, t)?;
                out.push(')');
            }
        }
    }
    out.push('"');
    Some(())
}

fn pattern(out: &mut String, p: &Pattern<&str>) -> Option<()> {
    match p {
        Pattern::Var(v) => out.push_str(v),
        Pattern::Arr(ps) => {
            out.push('[');
            for (i, p) in ps.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                pattern(out, p)?;
            }
            out.push(']');
        }
        Pattern::Obj(entries) => {
            out.push('{');
            for (i, (k, p)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                paren(out, k)?;
                out.push_str(": ");
                pattern(out, p)?;
            }
            out.push('}');
        }
    }
    Some(())
}

fn op(o: &BinaryOp<&str>) -> Option<String> {
    Some(match o {
        BinaryOp::Pipe(None) => "|".into(),
        BinaryOp::Pipe(Some(_)) => return None,
        BinaryOp::Comma => ",".into(),
        BinaryOp::Alt => "//".into(),
        BinaryOp::Or => "or".into(),
        BinaryOp::And => "and".into(),
        BinaryOp::Math(m) => m.as_str().into(),
        BinaryOp::Cmp(c) => c.as_str().into(),
        BinaryOp::Assign | BinaryOp::Update | BinaryOp::UpdateMath(_) | BinaryOp::UpdateAlt => return None,
    })
}

/// `l = r`, `l |= f`, `l op= r` and `l //= r` as libjq defines them: the right side of `=`, `op=` and
/// `//=` is evaluated on the input, once per output.
fn assignment(out: &mut String, l: &Term<&str>, o: &BinaryOp<&str>, r: &Term<&str>) -> Option<()> {
    let (call, rhs_first) = match o {
        BinaryOp::Assign => ("_ocean_assign(", false),
        BinaryOp::Update => ("_ocean_modify(", false),
        _ => ("_ocean_modify(", true),
    };
    if rhs_first {
        out.push('(');
        paren(out, r)?;
        out.push_str(" as $__ocean_v | ");
    }
    out.push_str(call);
    term(out, l)?;
    out.push_str("; ");
    match o {
        BinaryOp::UpdateMath(Math::Mul) => out.push_str("__mul($__ocean_v; .)"),
        BinaryOp::UpdateMath(Math::Div) => out.push_str("__div($__ocean_v; .)"),
        BinaryOp::UpdateMath(Math::Rem) => out.push_str("__rem($__ocean_v; .)"),
        BinaryOp::UpdateMath(m) => {
            out.push_str(". ");
            out.push_str(m.as_str());
            out.push_str(" $__ocean_v");
        }
        BinaryOp::UpdateAlt => out.push_str(". // $__ocean_v"),
        _ => term(out, r)?,
    }
    out.push(')');
    if rhs_first {
        out.push(')');
    }
    Some(())
}

fn term(out: &mut String, t: &Term<&str>) -> Option<()> {
    match t {
        Term::Id => out.push('.'),
        Term::Recurse => out.push_str(".."),
        Term::Num(n) => out.push_str(n),
        // `"\(x)"` writes `x` as jaq prints it (`1.0`); `@text` is libjq's `tostring` (`libjq.jq`).
        Term::Str(None, parts) if parts.iter().any(|p| matches!(p, StrPart::Term(_))) => {
            string(out, Some("@text"), parts)?
        }
        Term::Str(fmt, parts) => string(out, *fmt, parts)?,
        Term::Arr(None) => out.push_str("[]"),
        Term::Arr(Some(t)) => {
            out.push('[');
            term(out, t)?;
            out.push(']');
        }
        Term::Obj(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match (k, v) {
                    (k, Some(v)) => {
                        paren(out, k)?;
                        out.push_str(": ");
                        paren(out, v)?;
                    }
                    (Term::Var(x), None) => out.push_str(x),
                    (Term::Str(fmt, parts), None) => string(out, *fmt, parts)?,
                    _ => return None,
                }
            }
            out.push('}');
        }
        Term::Neg(t) => {
            out.push_str("__neg(");
            term(out, t)?;
            out.push(')');
        }
        Term::BinOp(l, BinaryOp::Math(m @ (Math::Mul | Math::Div | Math::Rem)), r) => {
            // jq combines every value of `l` with each value of `r`: `r` varies slowest, as the first
            // argument of a native does.
            out.push_str(match m {
                Math::Mul => "__mul(",
                Math::Div => "__div(",
                _ => "__rem(",
            });
            term(out, r)?;
            out.push_str("; ");
            term(out, l)?;
            out.push(')');
        }
        Term::BinOp(l, BinaryOp::Cmp(c @ (Cmp::Eq | Cmp::Ne)), r) => {
            // libjq's equality, which refuses values nested past its limit (`mapping/deep.rs`).
            out.push_str(if *c == Cmp::Eq { "__eq(" } else { "__ne(" });
            term(out, r)?;
            out.push_str("; ");
            term(out, l)?;
            out.push(')');
        }
        Term::BinOp(
            l,
            o @ (BinaryOp::Assign | BinaryOp::Update | BinaryOp::UpdateMath(_) | BinaryOp::UpdateAlt),
            r,
        ) => {
            assignment(out, l, o, r)?;
        }
        Term::BinOp(l, BinaryOp::Pipe(Some(p)), r) => {
            paren(out, l)?;
            out.push_str(" as ");
            pattern(out, p)?;
            out.push_str(" | ");
            paren(out, r)?;
        }
        Term::BinOp(l, o, r) => {
            paren(out, l)?;
            out.push(' ');
            out.push_str(&op(o)?);
            out.push(' ');
            paren(out, r)?;
        }
        Term::Label(x, t) => {
            out.push_str("label ");
            out.push_str(x);
            out.push_str(" | ");
            paren(out, t)?;
        }
        Term::Break(x) => {
            out.push_str("break ");
            out.push_str(x);
        }
        Term::Fold(name, xs, p, args) => {
            out.push_str(name);
            out.push(' ');
            paren(out, xs)?;
            out.push_str(" as ");
            pattern(out, p)?;
            out.push_str(" (");
            for (i, a) in args.iter().enumerate() {
                match i {
                    0 => {}
                    1 => out.push_str("; __tick | "),
                    _ => out.push_str("; "),
                }
                paren(out, a)?;
            }
            out.push(')');
        }
        Term::TryCatch(t, c) => {
            out.push_str("try ");
            paren(out, t)?;
            if let Some(c) = c {
                // The error in libjq's words, as the handler sees it there.
                out.push_str(" catch (_ocean_error_text | ");
                term(out, c)?;
                out.push(')');
            }
        }
        Term::IfThenElse(branches, otherwise) => {
            for (i, (c, then)) in branches.iter().enumerate() {
                out.push_str(if i == 0 { "if " } else { " elif " });
                paren(out, c)?;
                out.push_str(" then ");
                paren(out, then)?;
            }
            if let Some(e) = otherwise {
                out.push_str(" else ");
                paren(out, e)?;
            }
            out.push_str(" end");
        }
        Term::Def(defs, t) => {
            for d in defs {
                def(out, d)?;
            }
            paren(out, t)?;
        }
        Term::Call(name, args) => {
            out.push_str(name);
            if !args.is_empty() {
                out.push('(');
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_str("; ");
                    }
                    term(out, a)?;
                }
                out.push(')');
            }
        }
        Term::Var(x) => out.push_str(x),
        Term::Path(t, path) => {
            // Everything printed so far of this path, so that a slice can wrap it.
            let mut chain = String::new();
            paren(&mut chain, t)?;
            for (part, opt) in &path.0 {
                // `.[]` is a range without bounds: an iteration, not a slice.
                if let Part::Range(from, upto) = part
                    && (from.is_some() || upto.is_some())
                    && [from, upto].iter().all(|b| b.as_ref().is_none_or(input_free))
                {
                    // libjq slices null to null (jaq refuses): `null | .[1:3]` is null, and assigning to
                    // it sets the whole value. Bounds that read no input keep their value in the branch.
                    let mut slice = String::new();
                    range(&mut slice, from.as_ref(), upto.as_ref())?;
                    let q = if matches!(opt, Opt::Optional) { "?" } else { "" };
                    chain = format!("({chain} | (if . == null then . else .[{slice}] end){q})");
                    continue;
                }
                let out = &mut chain;
                out.push('[');
                match part {
                    Part::Index(i) => term(out, i)?,
                    Part::Range(from, upto) => {
                        if let Some(f) = from {
                            term(out, f)?;
                        }
                        if from.is_some() || upto.is_some() {
                            out.push(':');
                        }
                        if let Some(u) = upto {
                            term(out, u)?;
                        }
                    }
                }
                out.push(']');
                if matches!(opt, Opt::Optional) {
                    out.push('?');
                }
            }
            out.push_str(&chain);
        }
    }
    Some(())
}

/// `from:upto` of a slice.
fn range(out: &mut String, from: Option<&Term<&str>>, upto: Option<&Term<&str>>) -> Option<()> {
    if let Some(f) = from {
        term(out, f)?;
    }
    out.push(':');
    if let Some(u) = upto {
        term(out, u)?;
    }
    Some(())
}

/// A term whose value does not depend on its input: a number, a negated one, a variable.
fn input_free(t: &Term<&str>) -> bool {
    match t {
        Term::Num(_) | Term::Var(_) => true,
        Term::Neg(t) => input_free(t),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Limits, Program};
    use serde_json::json;

    /// Every output, through a program compiled as it is written (a `*` inside a string keeps it from the
    /// rewrite) and as rewritten.
    fn all(code: &str, input: serde_json::Value) -> serde_json::Value {
        let p = Program::compile(&format!("[{code}]"), false).unwrap();
        p.first_within(&input, Limits::default()).unwrap().unwrap()
    }

    #[test]
    fn the_rewrite_keeps_what_programs_mean() {
        let cases = [
            ("(1,2) * (3,4)", json!(null), json!([3, 6, 4, 8])),
            (r#""ab" * 3, 2 * "c", "x" * 0, "x" * 1.5, "x" * -1"#, json!(null), json!(["ababab", "cc", "", "x", null])),
            (
                r#"try (1 | .[]) catch ., try ({} + 1) catch ., try -"a" catch ., -(.a - 3)"#,
                json!({"a": 1}),
                json!([
                    "Cannot iterate over number (1)",
                    "object ({}) and number (1) cannot be added",
                    "string (\"a\") cannot be negated",
                    2
                ]),
            ),
            (r#"{"a": {"b": 1}} * {"a": {"c": 2}}"#, json!(null), json!([{"a": {"b": 1, "c": 2}}])),
            (".a * 2 | . + 1", json!({"a": 5}), json!([11])),
            ("def f(x; $y): x * $y; f(.a; 3)", json!({"a": 2}), json!([6])),
            ("reduce .[] as [$a, $b] (0; . + $a * $b)", json!([[1, 2], [3, 4]]), json!([14])),
            ("foreach .[] as {a: $x} (1; . * $x; [., $x])", json!([{"a": 2}, {"a": 3}]), json!([[2, 2], [6, 3]])),
            (r#".[] as $x | "\($x * 2)-\u00e9\t\"q\"""#, json!([1]), json!(["2-é\t\"q\""])),
            ("path(.a[0].b?) | length * 1", json!(null), json!([3])),
            (".a[1:] | length * 2", json!({"a": [1, 2, 3]}), json!([4])),
            ("if . then 2 * 2 elif false then 0 else 1 end", json!(true), json!([4])),
            ("try error(\"x\" * 2) catch .", json!(null), json!(["xx"])),
            ("label $out | 1 * 2, break $out", json!(null), json!([2])),
            ("1 as $x | {a: 1, $x, \"b\": (2 * 3)} | [.b, .x]", json!(null), json!([[6, 1]])),
            ("-(.a * 2) | @base64 \"\\(.)\"", json!({"a": 1}), json!(["LTI="])),
            (".a.b[1] = 1", json!(null), json!([{"a": {"b": [null, 1]}}])),
            (
                "(7, 9) / (2, 1), 7 % 2, \"a,b\" / \",\", (.x /= 4 | .x)",
                json!({"x": 2}),
                json!([3.5, 4.5, 7, 9, 1, ["a", "b"], 0.5]),
            ),
            (
                "try (1 / 0) catch ., try (1 % 0.5) catch .",
                json!(null),
                json!([
                    "number (1) and number (0) cannot be divided because the divisor is zero",
                    "number (1) and number (0.5) cannot be divided (remainder) because the divisor is zero"
                ]),
            ),
            (".a = (1, 2)", json!({}), json!([{"a": 1}, {"a": 2}])),
            (".[] |= select(. > 1)", json!([1, 2, 3]), json!([[2, 3]])),
            (
                ".a += 1 | .b -= 1 | .c *= 3 | .d /= 2 | .e %= 2 | .f //= 7",
                json!({"a": 1, "b": 1, "c": 2, "d": 4, "e": 5}),
                json!([{"a": 2, "b": 0, "c": 6, "d": 2, "e": 1, "f": 7}]),
            ),
        ];
        for (code, input, want) in cases {
            assert!(super::needs_rewrite(code), "{code}");
            assert!(super::rewrite(&super::super::jq::format_filter(code)).is_some(), "{code} is rewritten");
            assert_eq!(all(code, input), want, "{code}");
        }
    }

    #[test]
    fn repetition_and_doubling_stop_at_the_size_limit() {
        // Repetition is refused before it allocates, with libjq's error.
        for code in [r#""x" * 1000000000"#, r#""abc" * 1e12"#] {
            let p = Program::compile(code, false).unwrap();
            let e = p.first_within(&json!(null), Limits::default()).unwrap_err();
            assert!(e.contains("Repeat string result too long"), "{code}: {e}");
        }
        for code in [
            r#"reduce range(40) as $_ ("x"; . + .) | length * 1"#,
            r#"reduce range(40) as $_ ("x"; . + .) | length"#,
            r#"def f: if length > 1e12 then . else . + . | f end; [1] | f | length"#,
        ] {
            let p = Program::compile(code, false).unwrap();
            let e = p.first_within(&json!(null), Limits::default()).unwrap_err();
            assert!(e.contains("grew past"), "{code}: {e}");
        }
    }
}
