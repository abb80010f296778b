//! Natives that make jaq behave as libjq where real mappings notice the difference.
//!
//! `contains`: libjq raises an error when the two values have different types (so the mapping leaf becomes
//! null), where jaq answers `false`. `_ocean_decode_uri` and `_ocean_decode_base64` (under `@urid` and
//! `@base64d` in `libjq.jq`): libjq's decoders, which refuse invalid input with libjq's messages, and read
//! base64 without padding.

use jaq_core::native::{Fun, bome, run, v};
use jaq_core::{Cv, Error, ValR};
use jaq_json::Val;
use jaq_std::ValT as _;

type D = super::budget::Data;

pub(super) const REPLACED: [&str; 1] = ["contains"];

pub(super) fn funs() -> impl Iterator<Item = Fun<D>> {
    [
        run(("contains", v(1), |cv| bome(contains_native(cv)))),
        run(("_ocean_decode_uri", v(0), |cv| bome(decode_uri(&cv.1)))),
        run(("_ocean_decode_base64", v(0), |cv| bome(decode_base64(&cv.1)))),
        run(("__div", v(2), |cv| bome(divide(cv, false)))),
        run(("__rem", v(2), |cv| bome(divide(cv, true)))),
        run(("__neg", v(1), |mut cv| bome(negate(cv.0.pop_var())))),
        run(("_ocean_error_text", v(0), |cv| bome(Ok(error_text(cv.1))))),
        run(("_ocean_tonumber", v(0), |cv| bome(to_number(&cv.1)))),
        run(("_ocean_broken_down", v(1), |mut cv| {
            let what = cv.0.pop_var();
            bome(broken_down(cv.1, &what))
        })),
    ]
    .into_iter()
}

/// A value as libjq shows it in messages: its JSON, cut to 28 bytes (25 and `...`).
pub(super) fn dump(v: &Val) -> String {
    cut(v.to_string())
}

fn cut(mut text: String) -> String {
    if text.len() > 28 {
        let mut end = 25;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        // A string keeps its closing quote.
        text.push_str(if text.starts_with('"') { "...\"" } else { "..." });
    }
    text
}

/// `string ("...") <what>`.
fn type_error(v: &Val, what: &str) -> Error<Val> {
    Error::str(format_args!("{} ({}) {what}", kind(v), dump(v)))
}

/// `__div(r; l)` is `l / r` and `__rem(r; l)` is `l % r` (the rewrite prints them so), except that a
/// number divided by zero is libjq's error instead of infinity, NaN or jaq's message.
fn divide(mut cv: Cv<'_, D>, remainder: bool) -> ValR<Val> {
    let l = cv.0.pop_var();
    let r = cv.0.pop_var();
    if let (Val::Num(_), Val::Num(_)) = (&l, &r) {
        // `%` works on integers, as libjq's cast makes them: fractions cut, infinities the extremes, NaN 0.
        // A divisor between -1 and 1 is zero to it.
        let as_int = |v: &Val| v.as_f64().unwrap_or(0.0) as i64;
        let nan = |v: &Val| v.as_f64().is_some_and(f64::is_nan);
        if remainder && (nan(&l) || nan(&r)) {
            return Ok(Val::from(f64::NAN));
        }
        if remainder && as_int(&r) != 0 {
            return Ok(Val::from(as_int(&l).wrapping_rem(as_int(&r)) as isize));
        }
        let zero = r.as_f64().is_some_and(|d| if remainder { d.trunc() == 0.0 } else { d == 0.0 });
        if zero {
            let how = if remainder { "divided (remainder)" } else { "divided" };
            return Err(Error::str(format_args!(
                "{} ({}) and {} ({}) cannot be {how} because the divisor is zero",
                kind(&l),
                dump(&l),
                kind(&r),
                dump(&r)
            )));
        }
    }
    if remainder { l % r } else { l / r }
}

fn string_bytes(v: &Val) -> Result<&[u8], Error<Val>> {
    match v {
        Val::TStr(b) | Val::BStr(b) => Ok(b),
        _ => Err(type_error(v, "is not a string")),
    }
}

/// Percent-decoding; a `%` without two hexadecimal digits, or bytes that are not UTF-8, are an error.
fn decode_uri(v: &Val) -> ValR<Val> {
    let b = string_bytes(v)?;
    let invalid = || type_error(v, "is not a valid uri encoding");
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).ok_or_else(invalid)?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid());
            }
            out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map(Val::utf8_str).map_err(|_| invalid())
}

/// Base64 as libjq reads it: up to the first `=`, without requiring padding; a lone trailing symbol and
/// a byte outside the alphabet are errors; bytes that are not UTF-8 become U+FFFD.
fn decode_base64(v: &Val) -> ValR<Val> {
    let b = string_bytes(v)?;
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(b.len() / 4 * 3 + 2);
    let (mut code, mut read) = (0u32, 0);
    for &c in b.iter().take_while(|c| **c != b'=') {
        let Some(x) = value(c) else { return Err(type_error(v, "is not valid base64 data")) };
        code = (code << 6) | u32::from(x);
        read += 1;
        if read == 4 {
            out.extend_from_slice(&[(code >> 16) as u8, (code >> 8) as u8, code as u8]);
            (code, read) = (0, 0);
        }
    }
    match read {
        3 => out.extend_from_slice(&[(code >> 10) as u8, (code >> 2) as u8]),
        2 => out.push((code >> 4) as u8),
        1 => return Err(type_error(v, "trailing base64 byte found")),
        _ => {}
    }
    Ok(Val::utf8_str(String::from_utf8_lossy(&out).into_owned()))
}

pub(super) fn kind(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "boolean",
        Val::Num(_) => "number",
        Val::TStr(_) | Val::BStr(_) => "string",
        Val::Arr(_) => "array",
        Val::Obj(_) => "object",
    }
}

/// Values of different types cannot be compared for containment at the top (an error); within objects
/// and arrays they simply do not contain each other, as in libjq.
fn contains_native(mut cv: Cv<'_, D>) -> ValR<Val> {
    let b = cv.0.pop_var();
    let a = &cv.1;
    if kind(a) != kind(&b) {
        return Err(Error::str(format_args!(
            "{} ({}) and {} ({}) cannot have their containment checked",
            kind(a),
            dump(a),
            kind(&b),
            dump(&b)
        )));
    }
    contains(a, &b, 0).map(Val::Bool)
}

/// libjq's limit of nesting for containment.
const MAX_CONTAINS_DEPTH: usize = 10_000;

fn contains(a: &Val, b: &Val, depth: usize) -> Result<bool, Error<Val>> {
    if depth > MAX_CONTAINS_DEPTH {
        return Err(Error::str("Containment check too deep"));
    }
    let d = depth + 1;
    Ok(match (a, b) {
        (Val::Obj(l), Val::Obj(r)) => {
            for (k, rv) in r.iter() {
                if !l.get(k).map(|lv| contains(lv, rv, d)).transpose()?.unwrap_or(false) {
                    return Ok(false);
                }
            }
            true
        }
        (Val::Arr(l), Val::Arr(r)) => {
            for rv in r.iter() {
                let mut found = false;
                for lv in l.iter() {
                    if contains(lv, rv, d)? {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(false);
                }
            }
            true
        }
        (Val::TStr(l) | Val::BStr(l), Val::TStr(r) | Val::BStr(r)) => {
            r.is_empty() || l.windows(r.len()).any(|w| w == r.as_ref())
        }
        (x, y) => kind(x) == kind(y) && x == y,
    })
}

/// `-x`: libjq's error for anything but a number.
fn negate(x: Val) -> ValR<Val> {
    match x {
        Val::Num(_) => -x,
        other => Err(Error::str(format_args!("{} ({}) cannot be negated", kind(&other), dump(&other)))),
    }
}

/// The type of a JSON value, as libjq names it.
fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value as J;
    match v {
        J::Null => "null",
        J::Bool(_) => "boolean",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}

/// `kind (json)`, the JSON cut as [`dump`] cuts it.
fn shown(v: &serde_json::Value) -> String {
    format!("{} ({})", json_kind(v), cut(v.to_string()))
}

/// The first JSON value of `s` and what follows it.
fn leading_json(s: &str) -> Option<(serde_json::Value, &str)> {
    let mut values = serde_json::Deserializer::from_str(s).into_iter::<serde_json::Value>();
    let v = values.next()?.ok()?;
    Some((v, &s[values.byte_offset()..]))
}

/// An error caught by `try ... catch`, in libjq's words where jaq's differ: iterating, indexing and
/// arithmetic on values of the wrong type. Other values are left as they are.
fn error_text(v: Val) -> Val {
    let Val::TStr(b) = &v else { return v };
    let Ok(text) = std::str::from_utf8(b) else { return v };
    let translated = (|| {
        if let Some(rest) = text.strip_prefix("cannot use ")
            && let Some(value) = rest.strip_suffix(" as iterable (array or object)")
        {
            let (x, tail) = leading_json(value)?;
            return tail.is_empty().then(|| format!("Cannot iterate over {}", shown(&x)));
        }
        if let Some(rest) = text.strip_prefix("cannot index ") {
            let (x, tail) = leading_json(rest)?;
            let (k, tail) = leading_json(tail.strip_prefix(" with ")?)?;
            return tail.is_empty().then(|| format!("Cannot index {} with {}", json_kind(&x), shown(&k)));
        }
        if let Some(value) = text.strip_prefix("invalid path expression with input ") {
            let (x, tail) = leading_json(value)?;
            return tail.is_empty().then(|| format!("Invalid path expression with result {x}"));
        }
        if let Some(rest) = text.strip_prefix("cannot calculate ") {
            let (l, tail) = leading_json(rest)?;
            let (op, tail) = tail.trim_start().split_once(' ')?;
            let (r, tail) = leading_json(tail)?;
            let verb = match op {
                "+" => "added",
                "-" => "subtracted",
                "*" => "multiplied",
                "/" => "divided",
                "%" => "divided (remainder)",
                _ => return None,
            };
            return tail.is_empty().then(|| format!("{} and {} cannot be {verb}", shown(&l), shown(&r)));
        }
        None
    })();
    translated.map_or(v, Val::utf8_str)
}

/// A string that is a number written in full, as libjq 1.8 reads it: an optional sign, digits with an
/// optional point (on either side of which digits may be missing, not on both), an optional exponent; no
/// spaces, no other text.
fn to_number(v: &Val) -> ValR<Val> {
    let err = || Error::str(format_args!("{} ({}) cannot be parsed as a number", kind(v), dump(v)));
    let text = match v {
        Val::TStr(b) => std::str::from_utf8(b).map_err(|_| err())?,
        _ => return Err(err()),
    };
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').map_or((mantissa, None), |(a, b)| (a, Some(b)));
    let valid = digits(int)
        && frac.is_none_or(digits)
        && !(int.is_empty() && frac.is_none_or(str::is_empty))
        && exponent.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        });
    if !valid {
        return Err(err());
    }
    if frac.is_none()
        && exponent.is_none()
        && let Ok(i) = text.trim_start_matches('+').parse::<isize>()
    {
        return Ok(Val::from(i));
    }
    text.parse::<f64>().map(Val::from).map_err(|_| err())
}

/// A broken-down time for `mktime` and `strftime`: an array of numbers, its missing fields zero;
/// anything else is libjq's error naming the function `what`.
fn broken_down(v: Val, what: &Val) -> ValR<Val> {
    match &v {
        Val::Arr(a) if a.iter().all(|x| matches!(x, Val::Num(_))) => {
            if a.len() >= 6 {
                return Ok(v);
            }
            let mut padded: Vec<Val> = a.iter().cloned().collect();
            padded.resize(6, Val::from(0isize));
            Ok(padded.into_iter().collect())
        }
        _ => {
            let name = match what {
                Val::TStr(b) => String::from_utf8_lossy(b).into_owned(),
                other => other.to_string(),
            };
            Err(Error::str(format_args!("{name} requires parsed datetime inputs")))
        }
    }
}
