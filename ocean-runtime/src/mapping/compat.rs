//! Natives that make jaq behave as libjq where real mappings notice the difference.
//!
//! `contains`: libjq raises an error when the two values have different types (so the mapping leaf becomes
//! null), where jaq answers `false`.

use jaq_core::native::{Fun, bome, run, v};
use jaq_core::{Cv, Error, ValR};
use jaq_json::Val;

type D = super::budget::Data;

pub(super) const REPLACED: [&str; 1] = ["contains"];

pub(super) fn funs() -> impl Iterator<Item = Fun<D>> {
    [run(("contains", v(1), |cv| bome(contains_native(cv))))].into_iter()
}

fn kind(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "boolean",
        Val::Num(_) => "number",
        Val::TStr(_) | Val::BStr(_) => "string",
        Val::Arr(_) => "array",
        Val::Obj(_) => "object",
    }
}

fn contains_native(mut cv: Cv<'_, D>) -> ValR<Val> {
    let b = cv.0.pop_var();
    contains(&cv.1, &b).map(Val::Bool)
}

fn contains(a: &Val, b: &Val) -> Result<bool, Error<Val>> {
    match (a, b) {
        (Val::Obj(l), Val::Obj(r)) => {
            for (k, rv) in r.iter() {
                match l.get(k) {
                    Some(lv) => {
                        if !contains(lv, rv)? {
                            return Ok(false);
                        }
                    }
                    None => return Ok(false),
                }
            }
            Ok(true)
        }
        (Val::Arr(l), Val::Arr(r)) => {
            for rv in r.iter() {
                let mut found = false;
                for lv in l.iter() {
                    if contains(lv, rv)? {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (Val::TStr(l) | Val::BStr(l), Val::TStr(r) | Val::BStr(r)) => {
            Ok(r.is_empty() || l.windows(r.len()).any(|w| w == r.as_ref()))
        }
        (x, y) if kind(x) == kind(y) => Ok(x == y),
        (x, y) => Err(Error::str(format_args!(
            "{} ({x}) and {} ({y}) cannot have their containment checked",
            kind(x),
            kind(y)
        ))),
    }
}
