//! jq's regular-expression primitives on `fancy-regex`, which supports look-around as libjq's Oniguruma
//! does (real Port mappings use `(?=...)`). They replace jaq's own `matches`, `split_matches` and `split_`,
//! on which `test`, `match`, `capture`, `scan`, `split`, `sub` and `gsub` are defined.

use std::cell::RefCell;
use std::collections::HashMap;

use jaq_core::box_iter::box_once;
use jaq_core::native::{Fun, bome, run, v};
use jaq_core::{Cv, Error, ValR};
use jaq_json::Val;

type D = super::budget::Data;

pub(super) const REPLACED: [&str; 3] = ["matches", "split_matches", "split_"];

pub(super) fn funs() -> impl Iterator<Item = Fun<D>> {
    [
        run(("matches", v(2), |cv| bome(apply(false, true, cv)))),
        run(("split_matches", v(2), |cv| bome(apply(true, true, cv)))),
        run(("split_", v(2), |cv| bome(apply(true, false, cv)))),
        run(("_ocean_substituted", v(1), |mut cv| {
            let parts = cv.0.pop_var();
            match substituted(parts) {
                Ok(results) if results.is_empty() => box_once(Ok(cv.1)),
                Ok(results) => Box::new(results.into_iter().map(Ok)),
                Err(e) => box_once(Err(e.into())),
            }
        })),
        run(("_ocean_capture_of_match", v(0), |cv| bome(Ok(capture_of_match(&cv.1))))),
    ]
    .into_iter()
}

/// The results of `sub`/`gsub` from the input split at its matches: the text between matches, and at
/// each match the array of the replacement's outputs. As libjq's definition does, the k-th result is
/// made of the k-th output at every match that has one, each after the text since the previous match;
/// every result ends with the text after the last match. No match (or no output) gives no result: the
/// input is the output.
fn substituted(parts: Val) -> Result<Vec<Val>, Error<Val>> {
    let Val::Arr(parts) = parts else { return Ok(Vec::new()) };
    let mut results: Vec<Vec<u8>> = Vec::new();
    let mut gap: Vec<u8> = Vec::new();
    for part in parts.iter() {
        match part {
            Val::TStr(t) | Val::BStr(t) => gap.extend_from_slice(t),
            Val::Arr(outputs) => {
                for (k, out) in outputs.iter().enumerate() {
                    let insert: &[u8] = match out {
                        Val::TStr(t) | Val::BStr(t) => t,
                        Val::Null => b"",
                        other => {
                            let g = Val::utf8_str(gap.clone());
                            return Err(Error::str(format_args!(
                                "string ({}) and {} ({}) cannot be added",
                                super::compat::dump(&g),
                                super::compat::kind(other),
                                super::compat::dump(other)
                            )));
                        }
                    };
                    if k == results.len() {
                        results.push(Vec::new());
                    }
                    results[k].extend_from_slice(&gap);
                    results[k].extend_from_slice(insert);
                }
                gap.clear();
            }
            _ => {}
        }
    }
    Ok(results
        .into_iter()
        .map(|mut r| {
            r.extend_from_slice(&gap);
            Val::utf8_str(r)
        })
        .collect())
}

/// The named groups of a match (its groups, as `matches` gives them) as `{name: string}`; what jaq
/// defines in jq (`map(select(.name) | {(.name): .string}) | add + {}`), for every match of `sub`,
/// `gsub` and `capture`.
fn capture_of_match(groups: &Val) -> Val {
    let mut out = jaq_json::Map::default();
    if let Val::Arr(groups) = groups {
        let name = Val::utf8_str(b"name".to_vec());
        let string = Val::utf8_str(b"string".to_vec());
        for g in groups.iter() {
            if let Val::Obj(g) = g
                && let Some(n) = g.get(&name).filter(|n| !matches!(n, Val::Null | Val::Bool(false)))
            {
                out.insert(n.clone(), g.get(&string).cloned().unwrap_or_default());
            }
        }
    }
    Val::obj(out)
}

#[derive(Clone, Copy, Default)]
struct Flags {
    global: bool,
    ignore_empty: bool,
}

thread_local! {
    static CACHE: RefCell<HashMap<(String, String), fancy_regex::Regex>> = RefCell::new(HashMap::new());
}

fn compile(re: &str, flags: &str) -> Result<(fancy_regex::Regex, Flags), String> {
    let mut f = Flags::default();
    let mut builder_flags = String::new();
    for c in flags.chars() {
        match c {
            'g' => f.global = true,
            'n' => f.ignore_empty = true,
            'i' => builder_flags.push('i'),
            'x' => builder_flags.push('x'),
            's' => builder_flags.push('s'),
            'm' | 'p' => builder_flags.push('s'),
            'l' => {}
            other => return Err(format!("{other} is not a valid modifier string")),
        }
    }
    let key = (re.to_owned(), builder_flags.clone());
    if let Some(r) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok((r, f));
    }
    let pattern = if builder_flags.is_empty() { re.to_owned() } else { format!("(?{builder_flags}){re}") };
    let r = fancy_regex::Regex::new(&pattern).map_err(|e| format!("{re} (at offset 0) is not a valid regex: {e}"))?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(key, r.clone());
    });
    Ok((r, f))
}

/// Character offsets of byte positions, counted incrementally: matches come in increasing order, so the
/// input is walked once rather than once per match (which made `gsub` quadratic on long strings).
struct CharIndex<'a> {
    input: &'a str,
    byte: usize,
    chars: usize,
}

impl CharIndex<'_> {
    fn at(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            // A group before the last position (inside a look-behind): counted on its own.
            return self.input[..byte].chars().count();
        }
        self.chars += self.input[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars
    }
}

fn text(v: &Val) -> Option<&[u8]> {
    match v {
        Val::TStr(b) => Some(b),
        _ => None,
    }
}

fn apply(split: bool, matches: bool, mut cv: Cv<'_, D>) -> ValR<Val> {
    let flags = cv.0.pop_var();
    let re = cv.0.pop_var();
    let input =
        text(&cv.1).ok_or_else(|| Error::str(format_args!("{} cannot be matched, as it is not a string", cv.1)))?;
    let input = std::str::from_utf8(input).map_err(|_| Error::str("invalid UTF-8"))?;
    let re = text(&re).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(|| Error::str("regex must be a string"))?;
    let flags = match &flags {
        Val::Null => "",
        other => {
            text(other).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(|| Error::str("flags must be a string"))?
        }
    };
    let (regex, f) = compile(re, flags).map_err(Error::str)?;
    let names: Vec<Option<&str>> = regex.capture_names().collect();
    let mut chars = CharIndex { input, byte: 0, chars: 0 };
    let s = |t: &str| Val::utf8_str(t.to_owned().into_bytes());
    let mut out = Vec::new();
    let mut last = 0;
    let mut start = 0;
    while start <= input.len() {
        let caps = match regex.captures_from_pos(input, start) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(Error::str(format_args!("regex error: {e}"))),
        };
        let Some(whole) = caps.get(0) else { break };
        let empty = whole.start() == whole.end();
        if !(f.ignore_empty && empty) {
            if split {
                out.push(s(&input[last..whole.start()]));
                last = whole.end();
            }
            if matches {
                let mut groups = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let mut obj = jaq_json::Map::default();
                    match caps.get(i) {
                        Some(m) => {
                            obj.insert(s("offset"), Val::from(chars.at(m.start()) as isize));
                            obj.insert(s("length"), Val::from(m.as_str().chars().count() as isize));
                            obj.insert(s("string"), s(m.as_str()));
                        }
                        // libjq's order of keys for a group that did not take part.
                        None => {
                            obj.insert(s("offset"), Val::from(-1isize));
                            obj.insert(s("string"), Val::Null);
                            obj.insert(s("length"), Val::from(0isize));
                        }
                    }
                    // Captures carry their name, null when unnamed; the whole match has none.
                    if i > 0 {
                        obj.insert(s("name"), name.map_or(Val::Null, &s));
                    }
                    groups.push(Val::obj(obj));
                }
                out.push(groups.into_iter().collect());
            }
        }
        if !f.global {
            break;
        }
        start = if empty {
            match input[whole.end()..].chars().next() {
                Some(c) => whole.end() + c.len_utf8(),
                None => input.len() + 1,
            }
        } else {
            whole.end()
        };
    }
    if split {
        out.push(s(&input[last.min(input.len())..]));
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::mapping::Program;

    fn run(code: &str, input: serde_json::Value) -> serde_json::Value {
        Program::compile(code, false).unwrap().first(&input).unwrap().unwrap()
    }

    #[test]
    fn offsets_count_characters_across_matches_and_look_behind_groups() {
        assert_eq!(run(r#"[match("é."; "g") | .offset]"#, json!("aéb éc éd")), json!([1, 4, 7]));
        let m = run(r#"match("(?<=(a))b")"#, json!("xéab"));
        assert_eq!(m["offset"], json!(3));
        assert_eq!(m["captures"][0]["offset"], json!(2));
        assert_eq!(run(r#"gsub("\\["; "-")"#, json!("[".repeat(3000))), json!("-".repeat(3000)));
    }
}
