//! jq programs through jaq, with Port's semantics: single-quote rewriting, `env` blanked, first output.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars};
use jaq_json::Val;
use serde_json::{Map, Value};

use super::budget::{self, Budget, Env};
use super::native::Native;
use super::{compat, deep, json_text, regex, rewrite, setpath, sugar};

type D = budget::Data;

/// How long one leaf may evaluate and how much stack it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time per evaluation (`OCEAN__MAPPING__LEAF_BUDGET_MS`, default 1000 ms).
    pub time: std::time::Duration,
    /// Stack per evaluation, in bytes: what the evaluating thread has to spare.
    pub stack: usize,
}

impl Default for Limits {
    /// One second, and half a MiB of stack (what any thread of a tokio runtime can spare).
    fn default() -> Self {
        Self { time: std::time::Duration::from_secs(1), stack: 512 * 1024 }
    }
}

/// A compile error of a jq program, with the byte offset in the program as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the expression, when known.
    pub offset: Option<usize>,
}

impl std::fmt::Display for JqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at position {o}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A compiled jq program. Compiled once per config version; `Send + Sync`, shared by every worker.
pub struct Program {
    /// jq's compiled program (a few hundred KB: it carries the whole prelude). A program with a native
    /// form runs jq only for the inputs that form gives nothing for, so it is compiled again on first
    /// use, from `full`, instead of being kept from the start.
    filter: std::sync::OnceLock<jaq_core::Filter<D>>,
    /// What `filter` was compiled from: the prelude of `env`, then the program.
    full: String,
    source: String,
    /// `.a.b`, `[.a[].b]`, `.a == null`, ...: evaluated on the JSON directly, without converting the
    /// input (see `native.rs`).
    native: Option<Native>,
    /// The only top-level keys of its input it can read (`None`: it may read the whole input).
    reads: Option<Vec<String>>,
    /// It can neither loop nor recurse (see `plain.rs`).
    plain: bool,
}

/// What evaluation returned, before Port's semantics turn an error into null.
pub(crate) type Outcome<T> = Result<Option<T>, LeafError>;

/// Why an evaluation gave no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeafError {
    /// An error of the program (`error`, a type error, ...), as jq reports it.
    Jq(String),
    /// The evaluation was stopped: it went past its time, steps or stack.
    Budget(String),
}

impl std::fmt::Display for LeafError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jq(e) | Self::Budget(e) => f.write_str(e),
        }
    }
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({:?})", self.source)
    }
}

/// Rewrites single-quoted delimiters to double quotes exactly as the reference framework does.
pub(crate) fn format_filter(program: &str) -> String {
    static RE: std::sync::LazyLock<fancy_regex::Regex> = std::sync::LazyLock::new(|| {
        fancy_regex::Regex::new(r#"(^|\s)'(?!\s|")|(?<!\s|")'(\s|$)"#).expect("static regex")
    });
    RE.replace_all(program, "$1\"$2").into_owned()
}

/// Definitions in jq that give libjq's answers where jaq's own differ (`join`, `@csv`, `IN`, ...).
const LIBJQ: &str = include_str!("libjq.jq");

/// jq's standard definitions, parsed once per process rather than once per program.
/// jq's loops are defined again after them, with a budget step in each iteration (see `budget`), and
/// libjq's definitions last, so that they shadow jaq's.
static PRELUDE: std::sync::LazyLock<Vec<jaq_core::load::parse::Def<&'static str>>> = std::sync::LazyLock::new(|| {
    let loops = jaq_core::load::parse(budget::LOOPS, |p| p.defs()).unwrap_or_default();
    let libjq = jaq_core::load::parse(LIBJQ, |p| p.defs()).unwrap_or_default();
    jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs()).chain(loops).chain(libjq).collect()
});

/// `builtins`: every public definition and native, as `name/arity`, as libjq lists its own.
static BUILTINS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let mut names: Vec<String> = PRELUDE
        .iter()
        .map(|d| (d.name, d.args.len()))
        .chain(natives().map(|(name, args, _)| (name, args.len())))
        .filter(|(name, _)| !name.starts_with('_') && !name.starts_with('@'))
        .map(|(name, arity)| format!("{name}/{arity}"))
        .collect();
    names.push("builtins/0".into());
    names.sort();
    names.dedup();
    names
});

/// The native functions of every program: jaq's, with the budget's `range` and the regular expressions and
/// JSON functions this module replaces.
fn natives() -> impl Iterator<Item = jaq_core::native::Fun<D>> {
    jaq_core::funs()
        .filter(|(name, args, _)| !(*name == "range" && args.len() == 3))
        .chain(budget::funs())
        .chain(jaq_std::funs().filter(|(name, _, _)| !regex::REPLACED.contains(name) && !deep::REPLACED.contains(name)))
        .chain(
            jaq_json::funs()
                .filter(|(name, _, _)| !compat::REPLACED.contains(name) && !json_text::REPLACED.contains(name)),
        )
        .chain(regex::funs())
        .chain(compat::funs())
        .chain(deep::funs())
        .chain(json_text::funs())
        .chain(setpath::funs())
        .chain(std::iter::once(jaq_core::native::run(("builtins", jaq_core::native::v(0), |_| {
            jaq_core::box_iter::box_once(Ok(BUILTINS.iter().map(|n| Val::utf8_str(n.clone())).collect()))
        }))))
}

impl Program {
    /// Compiles a mapping expression. Without `allow_env`, `env` and `$ENV` are empty objects.
    ///
    /// ```
    /// let p = ocean::mapping::Program::compile(".a + 1", false).unwrap();
    /// assert_eq!(p.first(&serde_json::json!({"a": 1})).unwrap(), Some(serde_json::json!(2)));
    /// let err = ocean::mapping::Program::compile(".a | nosuchfn", false).unwrap_err();
    /// assert!(err.message.contains("nosuchfn"));
    /// ```
    pub fn compile(code: &str, allow_env: bool) -> Result<Self, JqError> {
        // Every function body and every `reduce`/`foreach` step spends from the evaluation's budget. Errors
        // are reported on the program as written: a program that does not compile with the budget steps
        // is compiled without them, and its error, if any, is its own.
        let written = format_filter(code);
        let formatted = sugar::desugar(&written).unwrap_or_else(|| written.clone());
        let rewritten = rewrite::needs_rewrite(&formatted).then(|| rewrite::rewrite(&formatted)).flatten();
        let instrumented = rewritten.unwrap_or_else(|| {
            let points = budget::tick_points(&formatted).unwrap_or_default();
            budget::insert_ticks(&formatted, &points)
        });
        let ((compiled, full), plain) = match Self::build(&instrumented, allow_env) {
            Ok(f) => (f, super::plain::is_plain(&instrumented)),
            Err(_) if instrumented != written => (Self::build(&written, allow_env)?, false),
            Err(e) => return Err(e),
        };
        let reads = super::reads::input_keys(&formatted).map(|k| k.into_iter().collect());
        let native = simple_path(code).map(Native::Path).or_else(|| Native::parse(code));
        let filter = std::sync::OnceLock::new();
        if native.is_none() {
            let _ = filter.set(compiled);
        }
        Ok(Self { filter, full, source: code.to_owned(), native, reads, plain })
    }

    /// jq's compiled program, compiled again on first use for a program with a native form.
    fn filter(&self) -> &jaq_core::Filter<D> {
        self.filter.get_or_init(|| match Self::build_full(&self.full, 0) {
            Ok(f) => f,
            // `full` compiled when the program was; a compiler that is a function of its input
            // cannot fail on it now. Should it, the program is `error`, evaluated as jq's errors are.
            Err(e) => Self::build_full(&format!("error({})", Value::String(e.message)), 0)
                .or_else(|_| Self::build_full("error", 0))
                .unwrap_or_else(|_| unreachable!("`error` compiles")),
        })
    }

    /// Compiles a formatted program; error offsets are in `formatted`. Returns the compiled program and
    /// the text it was compiled from.
    fn build(formatted: &str, allow_env: bool) -> Result<(jaq_core::Filter<D>, String), JqError> {
        let (prefix, env_json) = if allow_env {
            let env: serde_json::Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::String(v))).collect();
            let json = Value::Object(env).to_string();
            (format!("def env: {json}; {json} as $ENV | "), true)
        } else {
            ("def env: {}; {} as $ENV | ".to_owned(), false)
        };
        let _ = env_json;
        let full = format!("{prefix}{formatted}");
        let filter = Self::build_full(&full, prefix.len())?;
        Ok((filter, full))
    }

    /// Compiles `full`, whose first `shift` bytes precede the program as written (error offsets count
    /// from there).
    fn build_full(full: &str, shift: usize) -> Result<jaq_core::Filter<D>, JqError> {
        let offset_in = |part: &str| {
            let span = jaq_core::load::span(full, part);
            span.start.checked_sub(shift)
        };
        let loader = Loader::new(PRELUDE.iter().cloned());
        let arena = Arena::default();
        let modules = loader.load(&arena, File { code: full, path: () }).map_err(|errs| {
            let mut first = None;
            for (_, e) in errs {
                let (msg, off) = match e {
                    jaq_core::load::Error::Io(v) => {
                        (v.first().map(|(p, m)| format!("cannot import `{p}`: {m}")).unwrap_or_default(), None)
                    }
                    jaq_core::load::Error::Lex(v) => match v.first() {
                        Some((expect, found)) => {
                            (format!("syntax error: expected {}", expect.as_str()), offset_in(found))
                        }
                        None => ("syntax error".into(), None),
                    },
                    jaq_core::load::Error::Parse(v) => match v.first() {
                        Some((expect, found)) => {
                            let got = if found.is_empty() {
                                "end of input".to_owned()
                            } else {
                                format!("`{}`", found.chars().take(20).collect::<String>())
                            };
                            (format!("syntax error: expected {}, found {got}", expect.as_str()), offset_in(found))
                        }
                        None => ("syntax error".into(), None),
                    },
                };
                first.get_or_insert(JqError { message: msg, offset: off });
            }
            first.unwrap_or(JqError { message: "invalid jq program".into(), offset: None })
        })?;
        let filter = Compiler::default().with_funs(natives()).compile(modules).map_err(|errs| {
            let first = errs.into_iter().flat_map(|(_, es)| es).next();
            match first {
                Some((name, undefined)) => {
                    JqError { message: format!("undefined {} `{name}`", undefined.as_str()), offset: offset_in(name) }
                }
                None => JqError { message: "invalid jq program".into(), offset: None },
            }
        })?;
        Ok(filter)
    }

    /// The program's native form (a simple path or a shape of `native.rs`), when it has one.
    pub(crate) fn native(&self) -> Option<&Native> {
        self.native.as_ref()
    }

    /// The path, when the program is only one (`.a.b`): `["a", "b"]`.
    pub(crate) fn simple_path(&self) -> Option<&[String]> {
        match &self.native {
            Some(Native::Path(path)) => Some(path),
            _ => None,
        }
    }

    /// Whether the program is evaluated on an item's JSON without jq: a simple path, or a shape of
    /// `native.rs` (jq runs only on inputs the shape gives nothing for, reading the members it needs).
    pub(crate) fn reads_json(&self) -> bool {
        self.native.is_some()
    }

    /// Whether the program can neither loop nor recurse: it evaluates within a few frames of stack, in
    /// time bounded by its input's size.
    pub(crate) fn is_plain(&self) -> bool {
        self.plain
    }

    /// The only top-level keys of its input the program can read; `None` when it may read more.
    pub(crate) fn reads(&self) -> Option<&[String]> {
        self.reads.as_deref()
    }

    /// The program as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first output for a JSON input; `Ok(None)` when the program yields nothing. Evaluated within
    /// the default [`Limits`]; an evaluation beyond them is an error.
    ///
    /// ```
    /// use serde_json::json;
    /// let p = ocean::mapping::Program::compile(".a.b", false).unwrap();
    /// assert_eq!(p.first(&json!({"a": {"b": 1}})).unwrap(), Some(json!(1)));
    /// // Evaluated without jq, except for jq's error, which jq gives.
    /// let err = p.first(&json!({"a": "text"})).unwrap_err();
    /// assert!(err.contains("cannot index \"text\" with \"b\""), "{err}");
    /// ```
    pub fn first(&self, input: &Value) -> Result<Option<Value>, String> {
        self.first_within(input, Limits::default())
    }

    /// [`Program::first`] within `limits`.
    pub fn first_within(&self, input: &Value, limits: Limits) -> Result<Option<Value>, String> {
        if let Some(v) = self.native.as_ref().and_then(|n| n.eval(input)) {
            return Ok(Some(v));
        }
        self.first_val_json(input, limits)
    }

    /// The first output for a JSON input, from jq (converting the whole input).
    pub(crate) fn first_val_json(&self, input: &Value, limits: Limits) -> Result<Option<Value>, String> {
        let out = self.first_val(to_val(input), limits).map_err(|e| e.to_string())?;
        out.map(|v| from_val(&v)).transpose()
    }

    /// The first output for an item, as JSON: simple paths and the other shapes of `native.rs` are
    /// evaluated on the item's JSON (`json`) without running the program or converting anything; other
    /// programs run on `val`, the item's members they read as jq values (see `to_val_of`).
    pub(crate) fn first_of(&self, json: &Value, val: &Val, limits: Limits) -> Outcome<Value> {
        let out = match &self.native {
            Some(native) => match native.eval(json) {
                Some(v) => return Ok(Some(v)),
                // jq's error (a step into a string, a value nested too deep, ...), from jq, on the
                // members the program reads (`val` may not hold them).
                None => self.first_val(to_val_of(json, self.reads()), limits),
            },
            None => self.first_val(val.clone(), limits),
        }?;
        out.map(|v| from_val(&v).map_err(LeafError::Jq)).transpose()
    }

    /// The first output for a jaq value, within `limits`.
    pub(crate) fn first_val(&self, input: Val, limits: Limits) -> Outcome<Val> {
        let budget = Budget::new(limits.time, limits.stack);
        let filter = self.filter();
        let ctx = Ctx::<D>::new(Env { lut: &filter.lut, budget: &budget }, Vars::new([]));
        let mut out = filter.id.run((ctx, input));
        let first = out.next();
        drop(out);
        match first {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            // Errors and `halt` are values here, never a process exit.
            Some(Err(exn)) => match exn.get_err() {
                Ok(e) => Err(LeafError::Jq(e.to_string())),
                Err(halt) => match (budget.exceeded(), halt.get_halt()) {
                    (Some(why), Ok(budget::HALT_CODE)) => Err(LeafError::Budget(format!("`{}`: {why}", self.source))),
                    _ => Err(LeafError::Jq("halt".into())),
                },
            },
        }
    }
}

/// What jq's `.a.b` gives on `v` when every step meets an object or null; `None` when one meets anything
/// else (jq's error).
pub(super) fn walk<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, key| match v {
        Value::Object(m) => Some(m.get(key).unwrap_or(&Value::Null)),
        Value::Null => Some(&Value::Null),
        _ => None,
    })
}

/// `.a.b` (identifiers only) → `["a", "b"]`.
pub(super) fn simple_path(code: &str) -> Option<Vec<String>> {
    let rest = code.trim().strip_prefix('.')?;
    let parts: Vec<String> = rest.split('.').map(str::to_owned).collect();
    let ident = |p: &String| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    };
    parts.iter().all(ident).then_some(parts)
}

/// Converts a JSON value into a jaq value.
pub(crate) fn to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => {
            // An integer that a double cannot hold keeps its digits while unchanged and becomes a double
            // in arithmetic, as libjq's number literals do (jaq's decimal numbers); the others are
            // integers, usable as indices.
            if let Some(i) = n.as_i64().filter(|&i| i == (i as f64) as i64) {
                Val::Num(jaq_json::Num::from_integral(i))
            } else if n.is_i64() || n.is_u64() {
                Val::Num(jaq_json::Num::Dec(jaq_json::Rc::new(n.to_string())))
            } else {
                Val::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Val::utf8_str(s.clone().into_bytes()),
        Value::Array(a) => a.iter().map(to_val).collect(),
        Value::Object(m) => {
            let map: jaq_json::Map =
                m.iter().map(|(k, v)| (Val::utf8_str(k.clone().into_bytes()), to_val(v))).collect();
            Val::obj(map)
        }
    }
}

/// Converts the members `keys` of a JSON object into a jaq object (the whole value when it is not an
/// object, or when `keys` is `None`): what programs that read only those members need.
pub(crate) fn to_val_of(v: &Value, keys: Option<&[String]>) -> Val {
    match (v, keys) {
        (Value::Object(m), Some(keys)) => Val::obj(
            keys.iter().filter_map(|k| Some((Val::utf8_str(k.clone().into_bytes()), to_val(m.get(k)?)))).collect(),
        ),
        _ => to_val(v),
    }
}

/// How deep a value a leaf may give: what JSON readers accept (serde_json stops at 128 levels), less
/// the levels of the entity around it.
pub(crate) const MAX_OUTPUT_DEPTH: usize = 100;

/// Converts a jaq value back into JSON (non-finite numbers become null, as in jq); an error when it is
/// nested deeper than [`MAX_OUTPUT_DEPTH`].
pub(crate) fn from_val(v: &Val) -> Result<Value, String> {
    convert(v, MAX_OUTPUT_DEPTH).ok_or_else(too_deep)
}

fn too_deep() -> String {
    format!("the value is nested deeper than {MAX_OUTPUT_DEPTH} levels")
}

/// A copy of `v` as a program gives it back when it only reads it ([`from_val`] of [`to_val`], without
/// building the jq value): integral doubles below 1e17 become integers and integers past `i64` doubles,
/// as libjq prints them. `None` when it is nested deeper than `depth` levels.
pub(super) fn as_jq_gives(v: &Value, depth: usize) -> Option<Value> {
    Some(match v {
        Value::Number(n) if !n.is_i64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e17 {
                Value::from(f as i64)
            } else {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
        }
        Value::Array(a) => {
            let d = depth.checked_sub(1)?;
            Value::Array(a.iter().map(|v| as_jq_gives(v, d)).collect::<Option<_>>()?)
        }
        Value::Object(m) => {
            let d = depth.checked_sub(1)?;
            Value::Object(m.iter().map(|(k, v)| Some((k.clone(), as_jq_gives(v, d)?))).collect::<Option<_>>()?)
        }
        other => other.clone(),
    })
}

fn convert(v: &Val, depth: usize) -> Option<Value> {
    let below = || depth.checked_sub(1);
    Some(match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => {
            let text = n.to_string();
            if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Ok(f) = text.parse::<f64>() {
                // jq prints integral floats as integers.
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
                    Value::from(f as i64)
                } else {
                    // libjq prints an infinity as the largest finite number of its sign, NaN as null.
                    let f = if f.is_infinite() { f64::MAX.copysign(f) } else { f };
                    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
                }
            } else {
                Value::Null
            }
        }
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(a) => {
            let d = below()?;
            Value::Array(a.iter().map(|v| convert(v, d)).collect::<Option<_>>()?)
        }
        Val::Obj(m) => {
            let d = below()?;
            let mut out = Map::new();
            for (k, v) in m.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => other.to_string(),
                };
                out.insert(key, convert(v, d)?);
            }
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_libjq_definitions_parse() {
        use super::LIBJQ;
        let defs = jaq_core::load::parse(LIBJQ, |p| p.defs()).expect("libjq.jq parses");
        assert_eq!(
            defs.len(),
            LIBJQ.matches("\ndef ").count() + usize::from(LIBJQ.starts_with("def ")),
            "a definition of libjq.jq does not parse"
        );
    }
}
