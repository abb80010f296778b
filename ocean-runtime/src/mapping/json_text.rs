//! JSON text as libjq writes and reads it, where jaq differs: a value nested past 10,000 levels is
//! printed `<skipped: too deep>`, a double is printed with libjq's digits (`1e+17`, `100000000000000`),
//! and text nested past libjq's parser limit is refused before it is parsed.

use jaq_core::native::{Fun, bome, run, v};
use jaq_core::{Cv, Error, ValR};
use jaq_json::Val;

use super::budget::{Budget, Exceeded, Fail, MAX_BYTES, outcome};

type D = super::budget::Data;

/// jaq's native that this module replaces (jaq-json's).
pub(super) const REPLACED: [&str; 1] = ["tojson"];

/// libjq's limit of nesting when printing.
const MAX_PRINT_DEPTH: usize = 10_000;

/// libjq's limit of its parser's stack: an array takes one level, an object two (itself and its key).
const MAX_PARSING_DEPTH: usize = 10_000;

pub(super) fn funs() -> impl Iterator<Item = Fun<D>> {
    [
        run(("tojson", v(0), |cv: Cv<'_, D>| {
            let b = cv.0.data().budget;
            outcome(to_json(&cv.1, b).map(Val::utf8_str).map_err(Fail::from))
        })),
        run(("_ocean_tostring", v(0), |cv: Cv<'_, D>| {
            let b = cv.0.data().budget;
            outcome(match cv.1 {
                s @ Val::TStr(_) => Ok(s),
                other => to_json(&other, b).map(Val::utf8_str).map_err(Fail::from),
            })
        })),
        run(("_ocean_json_depth", v(0), |cv| bome(parse_depth(cv.1)))),
    ]
    .into_iter()
}

/// JSON text as jaq writes it, with every value nested deeper than [`MAX_PRINT_DEPTH`] written
/// `<skipped: too deep>`, as libjq does.
///
/// The walk reads the leaf's clock as it goes and stops at the size limit: a value with shared parts
/// (`reduce range(40) as $_ ([]; [., .])`) is small in memory but exponentially long as text.
fn to_json(v: &Val, budget: &Budget) -> Result<Vec<u8>, Exceeded> {
    let mut out = Vec::new();
    write(&mut out, v, 0, budget)?;
    Ok(out)
}

fn write(out: &mut Vec<u8>, v: &Val, depth: usize, budget: &Budget) -> Result<(), Exceeded> {
    budget.visit()?;
    if out.len() > MAX_BYTES {
        return Err(budget.too_big());
    }
    if depth > MAX_PRINT_DEPTH {
        out.extend_from_slice(b"<skipped: too deep>");
        return Ok(());
    }
    match v {
        Val::Arr(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, x, depth + 1, budget)?;
            }
            out.push(b']');
        }
        Val::Obj(o) => {
            out.push(b'{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                scalar(out, k);
                out.push(b':');
                write(out, x, depth + 1, budget)?;
            }
            out.push(b'}');
        }
        scalar_value => scalar(out, scalar_value),
    }
    Ok(())
}

fn scalar(out: &mut Vec<u8>, v: &Val) {
    if let Val::Num(jaq_json::Num::Float(f)) = v {
        return double(out, *f);
    }
    // Writing into a vector cannot fail.
    let _ = jaq_json::write::write(out, &jaq_json::write::Pp::default(), 0, v);
}

/// A double as libjq prints it: the shortest digits that read back the same, in positional notation
/// unless the decimal point lies more than 15 places past them or before the fourth decimal, then as
/// `1.5e+17` (a signed exponent of at least two digits); NaN as `null`, an infinity as the largest finite
/// double of its sign.
fn double(out: &mut Vec<u8>, f: f64) {
    use std::io::Write as _;
    if f.is_nan() {
        return out.extend_from_slice(b"null");
    }
    let f = if f.is_infinite() { f64::MAX.copysign(f) } else { f };
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e17`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    // The position of the decimal point relative to the digits' start.
    let point = exp + 1;
    out.extend_from_slice(sign.as_bytes());
    if point <= -4 || point > n + 15 {
        out.extend_from_slice(&digits.as_bytes()[..1]);
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits.as_bytes()[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
        out.extend_from_slice(digits.as_bytes());
    } else if point < n {
        let (int, frac) = digits.split_at(point as usize);
        let _ = write!(out, "{int}.{frac}");
    } else {
        out.extend_from_slice(digits.as_bytes());
        out.extend(std::iter::repeat_n(b'0', (point - n) as usize));
    }
}

/// The input string, or libjq's error when its JSON nests past [`MAX_PARSING_DEPTH`] (checked before the
/// text is parsed, which would otherwise build the whole value first). libjq's parser keeps every open
/// array and object on its stack, and an object's key while its value is read.
fn parse_depth(v: Val) -> ValR<Val> {
    let Val::TStr(text) = &v else { return Ok(v) };
    let (mut depth, mut line, mut line_start) = (0usize, 1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    // The open containers, each with whether its key is on the stack.
    let mut open: Vec<(u8, bool)> = Vec::new();
    for (i, &c) in text.iter().enumerate() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        let pushed = match c {
            b'"' => {
                in_string = true;
                false
            }
            b'\n' => {
                line += 1;
                line_start = i + 1;
                false
            }
            b'[' | b'{' => {
                open.push((c, false));
                true
            }
            b':' => match open.last_mut() {
                Some((b'{', key)) if !*key => {
                    *key = true;
                    true
                }
                _ => false,
            },
            b',' => {
                if let Some((b'{', key @ true)) = open.last_mut() {
                    *key = false;
                    depth -= 1;
                }
                false
            }
            b']' | b'}' => {
                if let Some((_, key)) = open.pop() {
                    depth -= 1 + usize::from(key);
                }
                false
            }
            _ => false,
        };
        if pushed {
            depth += 1;
            if depth > MAX_PARSING_DEPTH {
                let shown = String::from_utf8_lossy(text);
                return Err(Error::str(format_args!(
                    "Exceeds depth limit for parsing at line {line}, column {} (while parsing '{shown}')",
                    i - line_start + 1
                )));
            }
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep_array(levels: usize) -> Val {
        (0..levels).fold(Val::from(1isize), |v, _| [v].into_iter().collect())
    }

    /// Deep values recurse when dropped: the tests run on a stack as large as the mapping threads'.
    fn on_a_large_stack(f: impl FnOnce() + Send + 'static) {
        let t = std::thread::Builder::new().stack_size(256 << 20).spawn(f).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn printing_stops_past_the_limit() {
        on_a_large_stack(printing);
    }

    fn printing() {
        let budget = Budget::new(std::time::Duration::from_secs(10), 1 << 20);
        let text = String::from_utf8(to_json(&deep_array(MAX_PRINT_DEPTH + 1), &budget).unwrap()).unwrap();
        assert!(text.starts_with("[[[") && text.contains("[<skipped: too deep>]"), "{}", &text[9990..]);
        let small = to_json(&deep_array(3), &budget).unwrap();
        assert_eq!(small, b"[[[1]]]");
    }

    #[test]
    fn doubles_print_as_in_libjq() {
        let text = |f: f64| {
            let mut out = Vec::new();
            double(&mut out, f);
            String::from_utf8(out).unwrap()
        };
        let cases = [
            (1e15, "1000000000000000"),
            (1e16, "1e+16"),
            (1.5e17, "1.5e+17"),
            (123456789012345678.0, "123456789012345680"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (2.75, "2.75"),
            (-2.5, "-2.5"),
            (1e300, "1e+300"),
            (-0.0, "-0"),
            (f64::NAN, "null"),
            (f64::INFINITY, "1.7976931348623157e+308"),
        ];
        for (f, want) in cases {
            assert_eq!(text(f), want, "{f}");
        }
    }

    #[test]
    fn parsing_depth_counts_objects_twice() {
        let arrays = |n: usize| Val::utf8_str(format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes());
        assert!(parse_depth(arrays(MAX_PARSING_DEPTH)).is_ok());
        let e = parse_depth(arrays(MAX_PARSING_DEPTH + 1)).err().unwrap().to_string();
        assert!(e.contains("Exceeds depth limit for parsing at line 1, column 10001"), "{}", &e[..80]);
        let objects = |n: usize| Val::utf8_str(format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes());
        assert!(parse_depth(objects(MAX_PARSING_DEPTH / 2)).is_ok());
        assert!(parse_depth(objects(MAX_PARSING_DEPTH / 2 + 1)).is_err());
        // Brackets inside strings do not count.
        let quoted = Val::utf8_str(format!("\"{}\\\"\"", "[".repeat(MAX_PARSING_DEPTH + 5)).into_bytes());
        assert!(parse_depth(quoted).is_ok());
    }
}
