//! libjq's limits on walking deeply nested values, where jaq has none: comparing, testing for equality
//! and merging objects past 10,000 levels is an error with libjq's message. Each walk here recurses at
//! most that deep, in small frames, and reads the leaf's clock as it goes (a value with shared parts is
//! exponentially large when walked); `flatten` does not recurse at all and stops at the size limit.

use std::cmp::Ordering;

use jaq_core::native::{Fun, run, v};
use jaq_core::{Cv, Error};
use jaq_json::{Rc, Val};
use jaq_std::ValT as _;

use super::budget::{Budget, Fail, MAX_ITEMS, outcome};

type D = super::budget::Data;

/// jaq's native that this module replaces (jaq-std's).
pub(super) const REPLACED: [&str; 1] = ["sort"];

/// libjq's limit of nesting when comparing, testing equality and merging objects.
const MAX_DEPTH: usize = 10_000;

pub(super) fn funs() -> impl Iterator<Item = Fun<D>> {
    [
        run(("sort", v(0), |cv: Cv<'_, D>| {
            let b = cv.0.data().budget;
            outcome(sort(cv.1, b))
        })),
        run(("_ocean_sort_keyed", v(1), |mut cv| {
            let keys = cv.0.pop_var();
            let b = cv.0.data().budget;
            outcome(keyed(cv.1, keys, b).map(|pairs| pairs.into_iter().map(|(_, x)| x).collect()))
        })),
        run(("_ocean_group_keyed", v(1), |mut cv| {
            let keys = cv.0.pop_var();
            let b = cv.0.data().budget;
            outcome(group_keyed(cv.1, keys, b))
        })),
        run(("_ocean_flatten", v(1), |mut cv| {
            let d = cv.0.pop_var();
            let b = cv.0.data().budget;
            outcome(flatten(cv.1, &d, b))
        })),
        run(("__eq", v(2), |cv| equality(cv, true))),
        run(("__ne", v(2), |cv| equality(cv, false))),
    ]
    .into_iter()
}

/// Why a walk over two values stopped.
enum Stop {
    /// Nesting past [`MAX_DEPTH`].
    TooDeep,
    /// The leaf's time is spent.
    Budget,
}

impl Stop {
    /// libjq's error `message` when too deep; the budget's halt otherwise.
    fn fail(self, message: &str) -> Fail {
        match self {
            Self::TooDeep => Fail::Jq(Error::str(message)),
            Self::Budget => Fail::Budget,
        }
    }
}

/// Entering two values `depth` levels down: a node walked, and an error past [`MAX_DEPTH`].
fn enter(depth: usize, budget: &Budget) -> Result<(), Stop> {
    budget.visit().map_err(|_| Stop::Budget)?;
    if depth > MAX_DEPTH { Err(Stop::TooDeep) } else { Ok(()) }
}

/// jaq's order of values (jq's), walking arrays and objects at most [`MAX_DEPTH`] deep.
fn compare(a: &Val, b: &Val, depth: usize, budget: &Budget) -> Result<Ordering, Stop> {
    match (a, b) {
        (Val::Arr(x), Val::Arr(y)) => {
            enter(depth, budget)?;
            for (l, r) in x.iter().zip(y.iter()) {
                let c = compare(l, r, depth + 1, budget)?;
                if c != Ordering::Equal {
                    return Ok(c);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        (Val::Obj(x), Val::Obj(y)) => {
            enter(depth, budget)?;
            if x.is_empty() || y.is_empty() {
                return Ok(x.len().cmp(&y.len()));
            }
            // Keys first, in sorted order; then the values in the order of their keys.
            let mut l: Vec<_> = x.iter().collect();
            let mut r: Vec<_> = y.iter().collect();
            l.sort_by(|p, q| p.0.cmp(q.0));
            r.sort_by(|p, q| p.0.cmp(q.0));
            let keys = l.iter().map(|p| p.0).cmp(r.iter().map(|p| p.0));
            if keys != Ordering::Equal {
                return Ok(keys);
            }
            for ((_, lv), (_, rv)) in l.iter().zip(r.iter()) {
                let c = compare(lv, rv, depth + 1, budget)?;
                if c != Ordering::Equal {
                    return Ok(c);
                }
            }
            Ok(Ordering::Equal)
        }
        _ => Ok(a.cmp(b)),
    }
}

/// jaq's equality, walking arrays and objects at most [`MAX_DEPTH`] deep; the same value shared is
/// equal without a walk, as in libjq.
fn equal(a: &Val, b: &Val, depth: usize, budget: &Budget) -> Result<bool, Stop> {
    match (a, b) {
        (Val::Arr(x), Val::Arr(y)) => {
            if Rc::ptr_eq(x, y) {
                return Ok(true);
            }
            enter(depth, budget)?;
            if x.len() != y.len() {
                return Ok(false);
            }
            for (l, r) in x.iter().zip(y.iter()) {
                if !equal(l, r, depth + 1, budget)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (Val::Obj(x), Val::Obj(y)) => {
            if Rc::ptr_eq(x, y) {
                return Ok(true);
            }
            enter(depth, budget)?;
            if x.len() != y.len() {
                return Ok(false);
            }
            for (k, l) in x.iter() {
                match y.get(k) {
                    Some(r) if equal(l, r, depth + 1, budget)? => {}
                    _ => return Ok(false),
                }
            }
            Ok(true)
        }
        _ => Ok(a == b),
    }
}

/// `__eq(r; l)` is `l == r` and `__ne(r; l)` is `l != r` (the rewrite prints them so).
fn equality<'a>(mut cv: Cv<'a, D>, eq: bool) -> jaq_core::ValXs<'a, Val> {
    let l = cv.0.pop_var();
    let r = cv.0.pop_var();
    let budget = cv.0.data().budget;
    let same = equal(&l, &r, 0, budget).map_err(|s| s.fail("Equality check too deep"));
    outcome(same.map(|same| Val::Bool(same == eq)))
}

/// Sorts `items` by `key`, stopping at the first comparison that goes too deep or over budget.
fn sort_by_key<T>(items: &mut [T], key: impl Fn(&T) -> &Val, budget: &Budget) -> Result<(), Fail> {
    let mut stop = None;
    items.sort_by(|a, b| {
        if stop.is_some() {
            return Ordering::Equal;
        }
        compare(key(a), key(b), 0, budget).unwrap_or_else(|s| {
            stop = Some(s);
            Ordering::Equal
        })
    });
    stop.map_or(Ok(()), |s| Err(s.fail("Comparison too deep")))
}

fn array(v: Val) -> Result<Vec<Val>, Error<Val>> {
    match v {
        Val::Arr(a) => Ok(Rc::unwrap_or_clone(a)),
        other => Err(Error::str(format_args!(
            "{} ({}) cannot be sorted, as it is not an array",
            super::compat::kind(&other),
            super::compat::dump(&other)
        ))),
    }
}

/// `sort`: jq's order, stable.
fn sort(v: Val, budget: &Budget) -> Result<Val, Fail> {
    let mut items = array(v)?;
    sort_by_key(&mut items, |x| x, budget)?;
    Ok(items.into_iter().collect())
}

/// The input array's items with their keys (`keys`, an array as long as the input), sorted by key:
/// `sort_by(f)` is `_ocean_sort_keyed(map([f]))`.
fn keyed(v: Val, keys: Val, budget: &Budget) -> Result<Vec<(Val, Val)>, Fail> {
    let items = array(v)?;
    let keys = array(keys)?;
    let mut pairs: Vec<(Val, Val)> = keys.into_iter().zip(items).collect();
    sort_by_key(&mut pairs, |p| &p.0, budget)?;
    Ok(pairs)
}

/// `group_by(f)` as `_ocean_group_keyed(map([f]))`: runs of equal keys, in key order.
fn group_keyed(v: Val, keys: Val, budget: &Budget) -> Result<Val, Fail> {
    let mut groups: Vec<Val> = Vec::new();
    let mut current: Vec<Val> = Vec::new();
    let mut last: Option<Val> = None;
    for (k, x) in keyed(v, keys, budget)? {
        if let Some(prev) = &last
            && compare(prev, &k, 0, budget).map_err(|s| s.fail("Comparison too deep"))? != Ordering::Equal
        {
            groups.push(std::mem::take(&mut current).into_iter().collect());
        }
        current.push(x);
        last = Some(k);
    }
    if !current.is_empty() {
        groups.push(current.into_iter().collect());
    }
    Ok(groups.into_iter().collect())
}

/// `flatten($d)` of an array or an object's values (checked by its definition): arrays nested at most
/// `$d` deep are spliced in, without recursion, so that a deep array cannot exhaust the stack; a result
/// past the size limit stops the leaf.
fn flatten(v: Val, depth: &Val, budget: &Budget) -> Result<Val, Fail> {
    let top = match v {
        // libjq iterates an object's values.
        Val::Obj(o) => o.values().cloned().collect(),
        other => array(other)?,
    };
    let mut out = Vec::with_capacity(top.len());
    // The arrays being walked, each with its position and the depth left below it (libjq splices an
    // array while that is not zero, so a fractional depth splices every level).
    let left = depth.as_f64().unwrap_or(0.0);
    let mut stack: Vec<(Rc<Vec<Val>>, usize, f64)> = vec![(Rc::new(top), 0, left)];
    while let Some((items, at, left)) = stack.last_mut() {
        let Some(x) = items.get(*at) else {
            stack.pop();
            continue;
        };
        *at += 1;
        let left = *left;
        budget.visit()?;
        match x {
            Val::Arr(inner) if left != 0.0 => {
                let inner = inner.clone();
                stack.push((inner, 0, left - 1.0));
            }
            other => {
                if out.len() >= MAX_ITEMS {
                    return Err(budget.too_big().into());
                }
                out.push(other.clone());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// `l * r` of two objects: merged recursively, as libjq does, at most [`MAX_DEPTH`] deep.
pub(super) fn merge(l: Val, r: Val, budget: &Budget) -> Result<Val, Fail> {
    fn go(l: Val, r: Val, depth: usize, budget: &Budget) -> Result<Val, Stop> {
        match (l, r) {
            (Val::Obj(x), Val::Obj(y)) => {
                enter(depth, budget)?;
                let mut x = Rc::unwrap_or_clone(x);
                for (k, rv) in y.iter() {
                    let merged = match x.get_mut(k) {
                        Some(lv @ Val::Obj(_)) if matches!(rv, Val::Obj(_)) => {
                            go(std::mem::take(lv), rv.clone(), depth + 1, budget)?
                        }
                        _ => rv.clone(),
                    };
                    x.insert(k.clone(), merged);
                }
                Ok(Val::obj(x))
            }
            (_, r) => Ok(r),
        }
    }
    go(l, r, 0, budget).map_err(|s| s.fail("Object merge too deep"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_is_jaqs() {
        let vals: Vec<Val> = [
            "null",
            "false",
            "true",
            "0",
            "1.5",
            "-3",
            "\"a\"",
            "\"b\"",
            "[]",
            "[1]",
            "[1,2]",
            "[[0]]",
            "{}",
            "{\"a\":1}",
            "{\"a\":2}",
            "{\"b\":0}",
            "{\"a\":1,\"b\":2}",
            "{\"b\":2,\"a\":1}",
            "{\"a\":[1,{}]}",
        ]
        .iter()
        .map(|t| jaq_json::read::parse_single(t.as_bytes()).unwrap())
        .collect();
        let budget = Budget::new(std::time::Duration::from_secs(10), 1 << 20);
        for a in &vals {
            for b in &vals {
                assert_eq!(compare(a, b, 0, &budget).ok(), Some(a.cmp(b)), "{a} vs {b}");
                assert_eq!(equal(a, b, 0, &budget).ok(), Some(a == b), "{a} vs {b}");
            }
        }
    }
}
