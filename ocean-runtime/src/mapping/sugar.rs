//! Syntax of libjq that jaq does not parse, written as the jq it means.
//!
//! - `$__loc__`: the object `{"file": "<top-level>", "line": N}` of its line; `.5`: `0.5`; `{$name: p}`
//!   in a pattern: `{name: $name, name: p}`; `reduce .[] / 2 as ...`: `reduce (.[] / 2) as ...`.
//! - Destructuring alternatives, `E as P1 ?// P2 | BODY`: written as
//!   `E as $__ocean_d | (try ($__ocean_d as P1 | BODY) catch ($__ocean_d as P2 | BODY))`. Each
//!   alternative binds every variable of every pattern, those of the others to null; an error in the
//!   destructuring or in the body of an alternative tries the next one, and the last one's error is the
//!   result's, as libjq does.

use jaq_core::load::lex::{StrPart, Tok, Token};

/// Keywords and symbols that end the body of `as ... |` in the enclosing expression.
/// (The closing delimiter of a block is the last token of its list.)
const BODY_ENDS: [&str; 9] = [";", "then", "elif", "else", "end", "catch", ")", "]", "}"];

/// The program with `$__loc__` and its destructuring alternatives written out; `None` when it has neither
/// (or does not lex: its compilation reports why).
pub(super) fn desugar(code: &str) -> Option<String> {
    let located = locations(code);
    let mut current = located.clone().unwrap_or_else(|| code.to_owned());
    let mut changed = located.is_some();
    // One alternative at a time, the leftmost first; the bodies they copy are desugared by later rounds.
    for _ in 0..64 {
        let tokens = jaq_core::load::Lexer::new(current.as_str()).lex().ok()?;
        let Some((range, text)) = first(&current, &tokens) else { break };
        current.replace_range(range, &text);
        changed = true;
    }
    changed.then_some(current)
}

/// Local rewrites, each of a few tokens: `$__loc__`, numbers written from their point (`.5`), `$name:
/// pattern` in object patterns, and a `reduce`/`foreach` source that is an operation (`reduce .[] / 2 as`),
/// which jaq reads only in parentheses.
fn locations(code: &str) -> Option<String> {
    let tokens = jaq_core::load::Lexer::new(code).lex().ok()?;
    let mut edits = Vec::new();
    local(code, &tokens, &mut edits);
    if edits.is_empty() {
        return None;
    }
    // From the last, so that the earlier ranges stay valid.
    edits.sort_by_key(|(r, _): &(std::ops::Range<usize>, String)| std::cmp::Reverse((r.start, r.end)));
    let mut out = code.to_owned();
    for (r, text) in edits {
        out.replace_range(r, &text);
    }
    Some(out)
}

/// Operators that make a `reduce`/`foreach` source an operation.
const OPERATORS: [&str; 14] = ["+", "-", "*", "/", "%", "//", "==", "!=", "<", "<=", ">", ">=", "and", "or"];

fn local(code: &str, tokens: &[Token<&str>], edits: &mut Vec<(std::ops::Range<usize>, String)>) {
    for (i, t) in tokens.iter().enumerate() {
        match &t.1 {
            Tok::Var if t.0 == "$__loc__" => {
                let r = span(code, t.0);
                let line = code[..r.start].matches('\n').count() + 1;
                edits.push((r, format!("{{\"file\":\"<top-level>\",\"line\":{line}}}")));
            }
            Tok::Sym if t.0 == "." => {
                if let Some(n @ Token(_, Tok::Num)) = tokens.get(i + 1)
                    && span(code, t.0).end == span(code, n.0).start
                {
                    edits.push((span(code, t.0), "0.".into()));
                }
            }
            Tok::Word if t.0 == "as" => {
                if let Some(p) = tokens.get(i + 1) {
                    key_patterns(code, p, edits);
                }
            }
            Tok::Word if t.0 == "reduce" || t.0 == "foreach" => {
                let source = &tokens[i + 1..];
                let Some(end) = source.iter().position(|t| matches!(t, Token("as", Tok::Word))) else { continue };
                let operation =
                    source[..end].iter().any(|t| matches!(t, Token(s, Tok::Sym | Tok::Word) if OPERATORS.contains(s)));
                if operation && end > 0 {
                    edits.push((span(code, source[0].0).start..span(code, source[0].0).start, "(".into()));
                    let stop = span(code, source[end - 1].0).end;
                    edits.push((stop..stop, ")".into()));
                }
            }
            _ => {}
        }
        // A wrapped index is not looked into again: its edits would overlap.
        if i > 0 && is_index(code, &tokens[i - 1], t) && fractional_index(code, t, edits) {
            continue;
        }
        match &t.1 {
            Tok::Block(inner) => local(code, inner, edits),
            Tok::Str(parts) => parts.iter().for_each(|p| {
                if let StrPart::Term(Token(_, Tok::Block(inner))) = p {
                    local(code, inner, edits);
                }
            }),
            _ => {}
        }
    }
}

/// Whether `t` is a `[...]` that indexes what `prev` ends (`.a[1]`, `$x[1]`, `.[0][1]`), not an array.
fn is_index(code: &str, prev: &Token<&str>, t: &Token<&str>) -> bool {
    let adjacent = span(code, prev.0).end == span(code, t.0).start;
    let term_end = match prev {
        Token(s, Tok::Sym) => s.starts_with('.') || *s == "?",
        Token(_, Tok::Var | Tok::Block(_) | Tok::Str(_)) => true,
        _ => false,
    };
    adjacent && term_end && t.0.starts_with('[')
}

/// Whether tokens hold a number that is not an integer (`1.5`, `1e-3`, `nan`, `infinite`).
fn fractional(tokens: &[Token<&str>]) -> bool {
    tokens.iter().any(|t| match t {
        Token(n, Tok::Num) => n.contains(['.', 'e', 'E']),
        Token(w, Tok::Word) => *w == "nan" || *w == "infinite",
        _ => false,
    })
}

/// `.[x]` and `.[a:b]` with a number that is not an integer: `.[_ocean_index(x)]`,
/// `.[_ocean_lo(a):_ocean_hi(b)]` (`libjq.jq`).
fn fractional_index(code: &str, t: &Token<&str>, edits: &mut Vec<(std::ops::Range<usize>, String)>) -> bool {
    let Token(_, Tok::Block(inner)) = t else { return false };
    let content = &inner[..inner.len().saturating_sub(1)];
    if content.is_empty() || !fractional(content) {
        return false;
    }
    let text = |part: &[Token<&str>]| {
        let (first, last) = (part.first()?, part.last()?);
        Some(span(code, first.0).start..span(code, last.0).end)
    };
    let mut wrap = |part: &[Token<&str>], f: &str| {
        if let Some(r) = text(part) {
            edits.push((r.clone(), format!("{f}({})", &code[r])));
        }
    };
    match content.iter().position(|t| matches!(t, Token(":", Tok::Sym))) {
        Some(colon) => {
            wrap(&content[..colon], "_ocean_lo");
            wrap(&content[colon + 1..], "_ocean_hi");
        }
        None => wrap(content, "_ocean_index"),
    }
    true
}

/// `{$name: pattern}` in a pattern: `{name: $name, name: pattern}`.
fn key_patterns(code: &str, pattern: &Token<&str>, edits: &mut Vec<(std::ops::Range<usize>, String)>) {
    let Token(s, Tok::Block(inner)) = pattern else { return };
    if s.starts_with('{') {
        for (j, t) in inner.iter().enumerate() {
            if let (Token(v, Tok::Var), Some(Token(":", Tok::Sym))) = (t, inner.get(j + 1)) {
                let name = v.trim_start_matches('$');
                edits.push((span(code, v), format!("{name}: {v}, {name}")));
            }
        }
    }
    if s.starts_with('{') || s.starts_with('[') {
        inner.iter().for_each(|t| key_patterns(code, t, edits));
    }
}

/// The byte range of `s` within `code`.
fn span(code: &str, s: &str) -> std::ops::Range<usize> {
    let start = s.as_ptr() as usize - code.as_ptr() as usize;
    start..start + s.len()
}

fn is_sym(t: &Token<&str>, s: &str) -> bool {
    matches!(t, Token(x, Tok::Sym | Tok::Word) if *x == s)
}

/// A pattern: a variable, or an array or object pattern.
fn is_pattern(t: &Token<&str>) -> bool {
    match t {
        Token(_, Tok::Var) => true,
        Token(s, Tok::Block(_)) => s.starts_with('[') || s.starts_with('{'),
        _ => false,
    }
}

/// The variables a pattern binds (not those read by its `(key)` expressions), in order.
fn variables<'a>(t: &Token<&'a str>, out: &mut Vec<&'a str>) {
    match t {
        Token(v, Tok::Var) if !out.contains(v) => out.push(v),
        Token(s, Tok::Block(inner)) if !s.starts_with('(') => inner.iter().for_each(|t| variables(t, out)),
        _ => {}
    }
}

/// The first destructuring alternative in `tokens` (or in a block or string within them): the range it
/// covers, from its first pattern to the end of its body, and the text that replaces it.
fn first(code: &str, tokens: &[Token<&str>]) -> Option<(std::ops::Range<usize>, String)> {
    for (i, t) in tokens.iter().enumerate() {
        if is_sym(t, "as")
            && let Some(found) = at(code, &tokens[i + 1..])
        {
            return Some(found);
        }
        let inner = match &t.1 {
            Tok::Block(inner) => first(code, inner),
            Tok::Str(parts) => parts.iter().find_map(|p| match p {
                StrPart::Term(Token(_, Tok::Block(inner))) => first(code, inner),
                _ => None,
            }),
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
    }
    None
}

/// Where the body of `as ... |` ends: at a keyword or symbol of [`BODY_ENDS`] that does not belong to an
/// `if`, `try` or `def` of the body itself, or at the end.
fn body_end(tokens: &[Token<&str>]) -> usize {
    let (mut ifs, mut tries, mut defs) = (0usize, 0usize, 0usize);
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token("if", Tok::Word) => ifs += 1,
            Token("end", Tok::Word) if ifs > 0 => ifs -= 1,
            Token("then" | "elif" | "else", Tok::Word) if ifs > 0 => {}
            Token("try", Tok::Word) => tries += 1,
            Token("catch", Tok::Word) if tries > 0 => tries -= 1,
            Token("def", Tok::Word) => defs += 1,
            Token(";", Tok::Sym) if defs > 0 => defs -= 1,
            t if BODY_ENDS.iter().any(|e| is_sym(t, e)) => return i,
            _ => {}
        }
    }
    tokens.len()
}

/// `P1 ?// P2 ... | BODY` at the start of `rest`.
fn at(code: &str, rest: &[Token<&str>]) -> Option<(std::ops::Range<usize>, String)> {
    let mut patterns = vec![rest.first().filter(|t| is_pattern(t))?];
    let mut i = 1;
    while let (Some(q), Some(alt), Some(p)) = (rest.get(i), rest.get(i + 1), rest.get(i + 2)) {
        // `?//` is one operator: `?` directly followed by `//`.
        let adjacent = span(code, q.0).end == span(code, alt.0).start;
        if !(is_sym(q, "?") && is_sym(alt, "//") && adjacent && is_pattern(p)) {
            break;
        }
        patterns.push(p);
        i += 3;
    }
    if patterns.len() < 2 || !rest.get(i).is_some_and(|t| is_sym(t, "|")) {
        return None;
    }
    let body_tokens = &rest[i + 1..];
    let end = body_end(body_tokens);
    let body = match (body_tokens.first(), end.checked_sub(1).and_then(|l| body_tokens.get(l))) {
        (Some(a), Some(b)) => &code[span(code, a.0).start..span(code, b.0).end],
        _ => return None,
    };
    let mut all = Vec::new();
    patterns.iter().for_each(|p| variables(p, &mut all));
    let alternative = |p: &Token<&str>| {
        let mut own = Vec::new();
        variables(p, &mut own);
        let nulls: String = all.iter().filter(|v| !own.contains(v)).map(|v| format!("null as {v} | ")).collect();
        format!("$__ocean_d as {} | {nulls}{body}", p.0)
    };
    let mut text = alternative(patterns[patterns.len() - 1]);
    for p in patterns[..patterns.len() - 1].iter().rev() {
        text = format!("try ({}) catch ({text})", alternative(p));
    }
    let start = span(code, patterns[0].0).start;
    let stop = span(code, body_tokens[end - 1].0).end;
    Some((start..stop, format!("$__ocean_d | ({text})")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn alternatives_are_written_out_and_other_programs_left_alone() {
        let d = super::desugar(".[] as [$a] ?// $a | $a").unwrap();
        assert_eq!(d, ".[] as $__ocean_d | (try ($__ocean_d as [$a] | $a) catch ($__ocean_d as $a | $a))");
        let d = super::desugar("def f: . as {$a} ?// [$b] | [$a, $b]; f").unwrap();
        assert!(d.ends_with("null as $a | [$a, $b])); f"), "{d}");
        let d = super::desugar("[.[] as [$a] ?// $b | if $a then try error catch 1 else 2 end]").unwrap();
        assert!(d.ends_with("if $a then try error catch 1 else 2 end))]"), "{d}");
        assert!(super::desugar(".a? // 1").is_none());
        assert_eq!(super::desugar("1 |\n $__loc__").unwrap(), "1 |\n {\"file\":\"<top-level>\",\"line\":2}");
        assert_eq!(super::desugar("select(. > .5)").unwrap(), "select(. > 0.5)");
        assert_eq!(super::desugar(". as {$a, $b: [$c]} | $c").unwrap(), ". as {$a, b: $b, b: [$c]} | $c");
        assert_eq!(super::desugar("reduce .[] / 2 as $x (0; . + $x)").unwrap(), "reduce (.[] / 2) as $x (0; . + $x)");
        assert!(super::desugar("reduce .[] as $x (0; . + $x) | .a.b").is_none());
        assert_eq!(
            super::desugar(".a[1.5], .[:2.5], [1.5]").unwrap(),
            ".a[_ocean_index(1.5)], .[:_ocean_hi(2.5)], [1.5]"
        );
        assert!(super::desugar(". as [$a] | $a").is_none());
    }
}
