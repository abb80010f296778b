//! `setpath` as libjq updates a path, without recursion (a path may have 10,000 steps): what is missing
//! is created (an object for a string key, an array padded with nulls for an index), an index before the
//! start of an array is an error, and a slice (`{"start": .., "end": ..}`) is replaced by an array.
//! Assignments (`.a.b = 1`, `|=`, `del`, `pick`) go through it (`libjq.jq`).

use jaq_core::native::{Fun, run, v};
use jaq_core::{Cv, Error};
use jaq_json::{Map, Rc, Val};
use jaq_std::ValT as _;

use super::budget::{Budget, Fail, MAX_ITEMS, outcome};
use super::compat::kind;

type D = super::budget::Data;

/// libjq's longest path.
const MAX_PATH: usize = 10_000;

/// libjq's largest array index when setting one.
const MAX_INDEX: f64 = 536_870_912.0;

pub(super) fn funs() -> impl Iterator<Item = Fun<D>> {
    [run(("_ocean_setpath", v(2), |mut cv: Cv<'_, D>| {
        let value = cv.0.pop_var();
        let path = cv.0.pop_var();
        let budget = cv.0.data().budget;
        outcome(setpath(cv.1, &path, value, budget))
    }))]
    .into_iter()
}

/// One level of the path on the way down: the container, taken apart, and where the new value goes.
enum Step {
    Key(Map, Val),
    Index(Vec<Val>, usize),
    Slice(Vec<Val>, usize, usize),
}

fn setpath(root: Val, path: &Val, value: Val, budget: &Budget) -> Result<Val, Fail> {
    let Val::Arr(path) = path else { return Err(jq("Path must be specified as an array")) };
    if path.len() > MAX_PATH {
        return Err(jq("Path too deep"));
    }
    let mut current = root;
    let mut steps = Vec::with_capacity(path.len());
    for key in path.iter() {
        current = match key {
            Val::TStr(k) | Val::BStr(k) => {
                let mut map = match current {
                    Val::Null => Map::default(),
                    Val::Obj(o) => Rc::unwrap_or_clone(o),
                    other => {
                        return Err(jq(format_args!(
                            "Cannot index {} with \"{}\"",
                            kind(&other),
                            String::from_utf8_lossy(k)
                        )));
                    }
                };
                // The child is taken out, so that it is not shared and is updated in place below.
                let child = map.get_mut(key).map(std::mem::take).unwrap_or_default();
                steps.push(Step::Key(map, key.clone()));
                child
            }
            Val::Num(_) => {
                let mut items = match current {
                    Val::Null => Vec::new(),
                    Val::Arr(a) => Rc::unwrap_or_clone(a),
                    other => {
                        return Err(jq(format_args!("Cannot index {} with number ({key})", kind(&other))));
                    }
                };
                // A NaN index comes as the largest integer (`_ocean_index` in `libjq.jq`).
                let k = match key {
                    Val::Num(jaq_json::Num::Int(isize::MAX)) => f64::NAN,
                    other => other.as_f64().unwrap_or(f64::NAN),
                };
                let i = index(k, items.len())?;
                // Padding with nulls past the size limit stops the leaf before anything is allocated.
                if i >= MAX_ITEMS {
                    return Err(budget.too_big().into());
                }
                if i >= items.len() {
                    items.resize(i + 1, Val::Null);
                }
                let child = std::mem::take(&mut items[i]);
                steps.push(Step::Index(items, i));
                child
            }
            Val::Obj(slice) => {
                let items = match current {
                    Val::Null => Vec::new(),
                    Val::Arr(a) => Rc::unwrap_or_clone(a),
                    Val::TStr(_) | Val::BStr(_) => return Err(jq("Cannot update string slices")),
                    other => {
                        return Err(jq(format_args!("Cannot update field at object index of {}", kind(&other))));
                    }
                };
                let (start, end) = bounds(slice, items.len())?;
                let part: Val = items[start..end].iter().cloned().collect();
                steps.push(Step::Slice(items, start, end));
                part
            }
            other => {
                return Err(jq(format_args!("Cannot update field at {} index of {}", kind(other), kind(&current))));
            }
        };
    }
    let mut acc = value;
    while let Some(step) = steps.pop() {
        acc = match step {
            Step::Key(mut map, key) => {
                map.insert(key, acc);
                Val::obj(map)
            }
            Step::Index(mut items, i) => {
                items[i] = acc;
                items.into_iter().collect()
            }
            Step::Slice(mut items, start, end) => {
                let Val::Arr(new) = acc else {
                    return Err(jq("A slice of an array can only be assigned another array"));
                };
                items.splice(start..end, Rc::unwrap_or_clone(new));
                items.into_iter().collect()
            }
        };
    }
    Ok(acc)
}

/// An error of the program, with `message`.
fn jq(message: impl ToString) -> Fail {
    Fail::Jq(Error::str(message))
}

/// The position an index sets in an array of `len` items: rounded down, counted from the end when
/// negative.
fn index(k: f64, len: usize) -> Result<usize, Error<Val>> {
    if k.is_nan() {
        return Err(Error::str("Cannot set array element at NaN index"));
    }
    let mut i = k.floor();
    if i < 0.0 {
        i += len as f64;
    }
    if i < 0.0 {
        Err(Error::str("Out of bounds negative array index"))
    } else if i >= MAX_INDEX {
        Err(Error::str("Array index too large"))
    } else {
        Ok(i as usize)
    }
}

/// The items a slice object covers in an array of `len`: its start rounded down and its end up, each
/// counted from the end when negative and kept within the array; missing ones are the ends.
fn bounds(slice: &Map, len: usize) -> Result<(usize, usize), Error<Val>> {
    let n = len as f64;
    let bound = |name: &str, default: f64, round: fn(f64) -> f64| -> Result<f64, Error<Val>> {
        let x = match slice.get(&Val::utf8_str(name.as_bytes().to_vec())) {
            None | Some(Val::Null | Val::Bool(false)) => default,
            Some(v @ Val::Num(_)) => v.as_f64().unwrap_or(f64::NAN),
            Some(_) => return Err(Error::str("Start and end indices of an array slice must be numbers")),
        };
        let x = round(if x < 0.0 { x + n } else { x });
        Ok(x.clamp(0.0, n))
    };
    let start = bound("start", 0.0, f64::floor)?;
    let end = bound("end", n, f64::ceil)?.max(start);
    Ok((start as usize, end as usize))
}
