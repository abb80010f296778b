//! Bounds on the evaluation of one mapping leaf: time, steps and stack.
//!
//! jq programs can loop forever (`last(range(1e12))`, `def f: f; f`) or recurse until the stack is gone.
//! jaq offers no hook inside its evaluator, so the loops of the language report to a budget themselves:
//! every generator that can run unboundedly (`range`, `repeat`, `recurse`, `while`, `until`), every
//! function body and every step of `reduce` and `foreach` pass through `__tick`, a native that fails the
//! evaluation once the leaf has spent its time, its steps or its stack. The failure is a halt, which
//! `try` does not catch, so that a program cannot keep running past its budget.

use std::cell::Cell;
use std::time::{Duration, Instant};

use jaq_core::box_iter::box_once;
use jaq_core::data::{DataT, HasLut};
use jaq_core::native::Fun;
use jaq_core::{Exn, Native, ValX, ValXs};
use jaq_json::Val;
use jaq_std::ValT as _;

/// The exit code of the halt that ends an evaluation over budget (never seen outside this module).
pub(super) const HALT_CODE: i32 = 0x0cea;

/// Steps a leaf may take (ticks: loop iterations, function calls, generated values).
const MAX_STEPS: u64 = 1_000_000;

/// The largest string a leaf may build, in bytes, and the most items of an array or object.
pub(super) const MAX_BYTES: usize = 64 << 20;
pub(super) const MAX_ITEMS: usize = 4 << 20;

/// Natives that walk a value (printing, comparing, flattening) read the clock every this many nodes: a
/// value whose parts are shared (`reduce range(40) as $_ ([]; [., .])`) is small in memory but
/// exponentially large when walked.
const NODES_PER_CLOCK: u64 = 4096;

/// The clock is read every this many steps.
const CLOCK_EVERY: u64 = 256;

/// Why an evaluation was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Time(Duration),
    Steps,
    Stack,
    Size,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Time(t) => {
                write!(
                    f,
                    "evaluation took longer than its budget of {} ms (OCEAN__MAPPING__LEAF_BUDGET_MS)",
                    t.as_millis()
                )
            }
            Self::Steps => write!(f, "evaluation took more than {MAX_STEPS} steps"),
            Self::Stack => f.write_str("evaluation recursed too deeply"),
            Self::Size => write!(f, "a value grew past {} MiB or {MAX_ITEMS} items", MAX_BYTES >> 20),
        }
    }
}

/// The budget of one evaluation, on the thread that runs it.
pub(crate) struct Budget {
    time: Duration,
    deadline: Instant,
    steps: Cell<u64>,
    /// An address near the top of the stack when the evaluation started.
    stack_top: usize,
    /// How much stack the evaluation may use below `stack_top`.
    stack_room: usize,
    /// Nodes walked by natives since the clock was last read.
    nodes: Cell<u64>,
    exceeded: Cell<Option<Exceeded>>,
}

/// An address in the current stack frame (the stack grows down on every platform this runs on).
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

impl Budget {
    /// A budget of `time`, allowing `stack_room` bytes of stack from here.
    pub(crate) fn new(time: Duration, stack_room: usize) -> Self {
        Self {
            time,
            deadline: Instant::now() + time,
            steps: Cell::new(0),
            stack_top: stack_position(),
            stack_room,
            nodes: Cell::new(0),
            exceeded: Cell::new(None),
        }
    }

    /// Why the evaluation was stopped, if it was.
    pub(crate) fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded.get()
    }

    fn stop(&self, e: Exceeded) -> Exceeded {
        self.exceeded.set(Some(e));
        e
    }

    /// One node walked by a native; `Err` once the leaf's time is spent.
    pub(super) fn visit(&self) -> Result<(), Exceeded> {
        let n = self.nodes.get() + 1;
        self.nodes.set(n);
        if n.is_multiple_of(NODES_PER_CLOCK) {
            if let Some(e) = self.exceeded.get() {
                return Err(e);
            }
            if Instant::now() > self.deadline {
                return Err(self.stop(Exceeded::Time(self.time)));
            }
        }
        Ok(())
    }

    /// Stops the evaluation: a native was about to build a value past the size limits.
    pub(super) fn too_big(&self) -> Exceeded {
        self.stop(Exceeded::Size)
    }

    /// One step over `v`: values that double in a loop (`. + .`) are stopped at their size.
    fn tick_on(&self, v: &Val) -> Result<(), Exceeded> {
        let too_big = match v {
            Val::TStr(b) | Val::BStr(b) => b.len() > MAX_BYTES,
            Val::Arr(a) => a.len() > MAX_ITEMS,
            Val::Obj(o) => o.len() > MAX_ITEMS,
            _ => false,
        };
        if too_big {
            return Err(self.stop(Exceeded::Size));
        }
        self.tick()
    }

    /// One step; `Err` once the budget is spent (and for every step after).
    fn tick(&self) -> Result<(), Exceeded> {
        if let Some(e) = self.exceeded.get() {
            return Err(e);
        }
        let n = self.steps.get() + 1;
        self.steps.set(n);
        let over = if n > MAX_STEPS {
            Some(Exceeded::Steps)
        } else if n.is_multiple_of(CLOCK_EVERY) && Instant::now() > self.deadline {
            Some(Exceeded::Time(self.time))
        } else if self.stack_top.saturating_sub(stack_position()) > self.stack_room {
            Some(Exceeded::Stack)
        } else {
            None
        };
        match over {
            Some(e) => {
                self.exceeded.set(Some(e));
                Err(e)
            }
            None => Ok(()),
        }
    }
}

/// What natives see of an evaluation: the program's definitions and its budget.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) lut: &'a jaq_core::Lut<Data>,
    pub(crate) budget: &'a Budget,
}

/// The data kind of mapping programs: JSON values, with a budget per evaluation.
pub(crate) struct Data;

impl DataT for Data {
    type V<'a> = Val;
    type Data<'a> = Env<'a>;
}

impl<'a> HasLut<'a, Data> for Env<'a> {
    fn lut(&self) -> &'a jaq_core::Lut<Data> {
        self.lut
    }
}

/// Why a native gave no value: an error of the program (which `try` catches), or the budget spent.
pub(super) enum Fail {
    Jq(jaq_core::Error<Val>),
    Budget,
}

impl From<jaq_core::Error<Val>> for Fail {
    fn from(e: jaq_core::Error<Val>) -> Self {
        Self::Jq(e)
    }
}

impl From<Exceeded> for Fail {
    fn from(_: Exceeded) -> Self {
        Self::Budget
    }
}

/// A native's one value, its error, or the halt of an evaluation over budget.
pub(super) fn outcome<'a>(r: Result<Val, Fail>) -> ValXs<'a, Val> {
    box_once(match r {
        Ok(v) => Ok(v),
        Err(Fail::Jq(e)) => Err(Exn::from(e)),
        Err(Fail::Budget) => halt(),
    })
}

/// The end of an evaluation over budget (see [`HALT_CODE`]).
pub(super) fn halt<'a, T>() -> ValX<'a, T, Val> {
    Err(Exn::halt(HALT_CODE))
}

/// `__tick` (the identity, in paths too, that spends one step and stops values that outgrew the limits),
/// `range/3` (spending one step per value) and `__mul` (see `rewrite`).
pub(super) fn funs() -> impl Iterator<Item = Fun<Data>> {
    let tick = Native::<Data>::new(|cv| {
        let (ctx, v) = cv;
        box_once(ctx.data().budget.tick_on(&v).map(|()| v).or_else(|_| halt()))
    })
    .with_paths(|cv| {
        let (ctx, vp) = cv;
        box_once(ctx.data().budget.tick_on(&vp.0).map(|()| vp).or_else(|_| halt()))
    });
    // `__mul(r; l)` is `l * r`. A string times a number is repeated as libjq (1.8) does: null for a
    // negative count or NaN, else the count rounded down; past the size limit it is libjq's error, before
    // anything is allocated.
    let mul = Native::<Data>::new(|mut cv| {
        let l = cv.0.pop_var();
        let r = cv.0.pop_var();
        if let (Val::TStr(s), n @ Val::Num(_)) | (n @ Val::Num(_), Val::TStr(s)) = (&l, &r) {
            let count = n.as_f64().unwrap_or(f64::NAN);
            if count.is_nan() || count < 0.0 {
                return box_once(Ok(Val::Null));
            }
            let count = count.floor();
            if count * s.len() as f64 > MAX_BYTES as f64 {
                return box_once(Err(Exn::from(jaq_core::Error::str("Repeat string result too long"))));
            }
            return box_once(Ok(Val::utf8_str(s.repeat(count as usize))));
        }
        if let (Val::Obj(_), Val::Obj(_)) = (&l, &r) {
            return outcome(super::deep::merge(l, r, cv.0.data().budget));
        }
        box_once((l * r).map_err(Exn::from))
    });
    let range = Native::<Data>::new(|mut cv| {
        let by = cv.0.pop_var();
        let upto = cv.0.pop_var();
        let from = cv.0.pop_var();
        let budget = cv.0.data().budget;
        range(from, upto, by, budget)
    });
    [
        ("__tick", jaq_core::native::v(0), tick),
        ("range", jaq_core::native::v(3), range),
        ("__mul", jaq_core::native::v(2), mul),
    ]
    .into_iter()
}

/// `range(from; upto; by)` as jq defines it: from `from`, by `by`, while short of `upto` (up when `by` is
/// positive, down when negative; forever when it is 0 and `from` is not `upto`).
fn range<'a>(from: Val, upto: Val, by: Val, budget: &'a Budget) -> ValXs<'a, Val> {
    use std::cmp::Ordering;
    let dir = by.partial_cmp(&Val::from(0isize)).unwrap_or(Ordering::Equal);
    let mut next = Some(from);
    Box::new(std::iter::from_fn(move || {
        let x = next.take()?;
        let more = match dir {
            Ordering::Greater => x < upto,
            Ordering::Less => x > upto,
            Ordering::Equal => x != upto,
        };
        if !more {
            return None;
        }
        if budget.tick().is_err() {
            return Some(halt());
        }
        match x.clone() + by.clone() {
            Ok(n) => next = Some(n),
            Err(e) => return Some(Err(Exn::from(e))),
        }
        Some(Ok(x))
    }))
}

/// The definitions of jq's loops, each step passing through `__tick`. They replace jaq's own (the same
/// definitions without the step) for the programs compiled after them.
pub(super) const LOOPS: &str = r#"
def repeat(f): def rec: __tick | f, rec; rec;
def recurse(f): def rec: __tick | ., (f | rec); rec;
def recurse: recurse(.[]?);
def recurse(f; cond): recurse(f | select(cond));
def while(cond; update): def rec: __tick | if cond then ., (update | rec) else empty end; rec;
def until(cond; update): def rec: __tick | if cond then . else update | rec end; rec;
"#;

/// Byte offsets in `code` where ` __tick |` goes: after the `:` of every `def name(args):`, and before the
/// update of every `reduce` and `foreach`. `None` when the program does not lex (its compilation reports why).
pub(super) fn tick_points(code: &str) -> Option<Vec<usize>> {
    use jaq_core::load::lex::{StrPart, Tok, Token};
    let tokens = jaq_core::load::Lexer::new(code).lex().ok()?;
    let end = |s: &str| jaq_core::load::span(code, s).end;
    fn walk(tokens: &[Token<&str>], end: &impl Fn(&str) -> usize, out: &mut Vec<usize>) {
        let word = |i: usize, w: &str| matches!(tokens.get(i), Some(Token(s, Tok::Word)) if *s == w);
        let sym = |i: usize, w: &str| matches!(tokens.get(i), Some(Token(s, Tok::Sym)) if *s == w);
        let block =
            |i: usize, open: char| matches!(tokens.get(i), Some(Token(s, Tok::Block(_))) if s.starts_with(open));
        for (i, Token(s, tok)) in tokens.iter().enumerate() {
            if *s == "def" && matches!(tok, Tok::Word) && matches!(tokens.get(i + 1), Some(Token(_, Tok::Word))) {
                let colon = if block(i + 2, '(') { i + 3 } else { i + 2 };
                if sym(colon, ":") {
                    out.push(end(tokens[colon].0));
                }
            }
            if (*s == "reduce" || *s == "foreach") && matches!(tok, Tok::Word) {
                // The arguments are the first `(...)` after `as` and its pattern.
                if let Some(as_at) = (i + 1..tokens.len()).find(|&j| word(j, "as"))
                    && let Some(args) = (as_at + 1..tokens.len()).find(|&j| block(j, '('))
                    && let Token(_, Tok::Block(inner)) = &tokens[args]
                    && let Some(Token(semi, _)) = inner.iter().find(|Token(s, t)| *s == ";" && matches!(t, Tok::Sym))
                {
                    out.push(end(semi));
                }
            }
            match tok {
                Tok::Block(inner) => walk(inner, end, out),
                Tok::Str(parts) => {
                    for p in parts {
                        if let StrPart::Term(Token(_, Tok::Block(inner))) = p {
                            walk(inner, end, out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(&tokens, &end, &mut out);
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// The text inserted at each tick point.
pub(super) const TICK: &str = " __tick |";

/// `code` with [`TICK`] at `points`.
pub(super) fn insert_ticks(code: &str, points: &[usize]) -> String {
    let mut out = String::with_capacity(code.len() + points.len() * TICK.len());
    let mut last = 0;
    for &p in points {
        out.push_str(&code[last..p]);
        out.push_str(TICK);
        last = p;
    }
    out.push_str(&code[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_go_after_definitions_and_before_updates() {
        let code = r#"def f(x): x; def g: 1; reduce .[] as [$a, $b] (0; . + $a) | foreach .[] as $x (0; . + 1; .) | "\(def h: 2; h)" | {reduce: 1}"#;
        let points = tick_points(code).unwrap();
        let ticked = insert_ticks(code, &points);
        assert_eq!(
            ticked,
            r#"def f(x): __tick | x; def g: __tick | 1; reduce .[] as [$a, $b] (0; __tick | . + $a) | foreach .[] as $x (0; __tick | . + 1; .) | "\(def h: __tick | 2; h)" | {reduce: 1}"#
        );
        assert_eq!(tick_points("reduce"), Some(vec![]));
    }

    #[test]
    fn errors_point_into_the_program_as_written() {
        // Found by the `program` fuzz target: the error lay in the inserted step.
        let code = "def \rfu:==i";
        let e = super::super::Program::compile(code, false).unwrap_err();
        assert!(e.offset.is_some_and(|o| o <= code.len()), "{e}");
        assert!(!e.message.contains("__tick"), "{e}");
    }
}

#[cfg(test)]
mod runaway {
    use super::super::{Limits, Program};
    use std::time::{Duration, Instant};

    fn run(code: &str) -> (Result<Option<serde_json::Value>, String>, Duration) {
        let p = Program::compile(code, false).unwrap();
        let started = Instant::now();
        let limits = Limits { time: Duration::from_millis(200), ..Limits::default() };
        (p.first_within(&serde_json::json!(null), limits), started.elapsed())
    }

    #[test]
    fn runaway_leaves_end_in_an_error() {
        for code in [
            "last(range(1e12))",
            "def f: f; f",
            "def f: 1 + f; f",
            "[limit(1e12; repeat(1))] | length",
            "[.[]?] | until(false; .)",
            "try last(range(1e12)) catch 0",
            "def f: try f catch f; f",
            // Natives that build or walk: padding an array, and values whose parts are shared (small in
            // memory, 2^40 nodes when walked).
            "null | setpath([500000000]; 1) | length",
            "reduce range(40) as $_ ([]; [., .]) | tojson | length",
            "\"\\(reduce range(40) as $_ ([]; [., .]))\" | length",
            "reduce range(40) as $_ ([[1]]; [., .]) | flatten | length",
            "reduce range(40) as $_ ([]; [., .]) as $x | reduce range(40) as $_ ([]; [., .]) as $y | $x == $y",
            "reduce range(40) as $_ ([]; [., .]) as $x | reduce range(40) as $_ ([]; [., .]) as $y | [$x, $y] | sort",
            "reduce range(40) as $_ ({}; {a: ., b: .}) as $x | reduce range(40) as $_ ({}; {a: ., b: .}) as $y | $x * $y",
        ] {
            let (out, took) = run(code);
            eprintln!("{code}: {out:?} in {took:?}");
            assert!(out.is_err(), "{code}: {out:?}");
        }
    }
}
