//! Mapping: raw objects to catalog entities with the jq programs of the Port app config, compiled once
//! per config version.

mod budget;
mod compat;
mod deep;
pub(crate) mod evaluator;
mod jq;
mod json_text;
mod model;
mod native;
mod plain;
mod reads;
mod regex;
mod rewrite;
mod setpath;
mod shape;
mod sugar;

use std::collections::{BTreeSet, HashSet};

use jaq_json::Val;
use serde_json::{Map, Value};

pub use jq::{JqError, Limits, Program};
pub use model::{
    Changes, Entity, EntityConfig, EntityRef, MappingFailure, PortAppConfig, PortResourceConfig, ResourceConfig,
    Selector,
};

use crate::error::{Error, Result};
use crate::payload::Payload;

enum Template {
    Jq(Program),
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

struct Compiled {
    selector: Program,
    identifier: Template,
    blueprint: Template,
    whole: Template,
    items_to_parse: Option<Program>,
    items_name: String,
    top_level_transform: bool,
    /// Every program of the resource is plain (see `plain.rs`).
    plain: bool,
    /// The only top-level keys of an item that its programs other than simple paths read (`None`: the
    /// whole item): the members converted into jq values. Simple paths read the item's JSON.
    reads: Option<Vec<String>>,
    /// What its programs read of an item (`None`: the whole item): what is parsed of a payload to map it.
    shape: Option<shape::Shape>,
}

/// What a mapping maps: a [`serde_json::Value`], or a [`Payload`] (what processors return), whose
/// members are parsed only as far as the programs of the resource read them: a resource whose programs
/// read `.title`, `.user.login` and `[.labels[].name]` parses the title, the `login` of the user and the
/// `name` of each label of an issue, and nothing else of it (see `shape.rs`).
pub trait RawItem: sealed::Sealed {
    /// The item as programs that read only `shape` of it (all of it when `None`) see it.
    #[doc(hidden)]
    fn json(&self, shape: Option<&shape::Shape>) -> std::borrow::Cow<'_, Value>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for serde_json::Value {}
    impl Sealed for crate::payload::Payload {}
}

impl RawItem for Value {
    fn json(&self, _: Option<&shape::Shape>) -> std::borrow::Cow<'_, Value> {
        std::borrow::Cow::Borrowed(self)
    }
}

impl RawItem for Payload {
    fn json(&self, shape: Option<&shape::Shape>) -> std::borrow::Cow<'_, Value> {
        match shape.and_then(|s| s.of_payload(self)) {
            Some(members) => std::borrow::Cow::Owned(members),
            None => std::borrow::Cow::Borrowed(self.value()),
        }
    }
}

/// An item as a resource's programs read it: its JSON, which simple paths walk, and the members the
/// other programs read, as jq values.
struct Item<'a> {
    json: std::borrow::Cow<'a, Value>,
    val: Val,
}

impl<'a> Item<'a> {
    fn new(json: std::borrow::Cow<'a, Value>, reads: Option<&[String]>) -> Self {
        let val = jq::to_val_of(&json, reads);
        Self { json, val }
    }
}

/// The top-level keys of its input every program of `t` but simple paths reads, added to `keys`; `None`
/// when one may read the whole input.
fn template_reads(t: &Template, keys: &mut BTreeSet<String>) -> Option<()> {
    match t {
        Template::Literal(_) => Some(()),
        Template::Jq(p) => program_reads(p, keys),
        Template::Object(fields) => fields.iter().try_for_each(|(_, t)| template_reads(t, keys)),
        Template::Array(items) => items.iter().try_for_each(|t| template_reads(t, keys)),
    }
}

/// A compiled Port app config: every jq expression compiled once, shared by every worker.
///
/// ```
/// let yaml = r#"
/// resources:
///   - kind: issue
///     selector: { query: '.state == "open"' }
///     port:
///       entity:
///         mappings:
///           identifier: .id | tostring
///           title: .title
///           blueprint: '"githubIssue"'
///           properties: { state: .state }
/// "#;
/// let m = ocean::mapping::Mapping::parse("port-app-config.yml", yaml, false).unwrap();
/// let open = serde_json::json!({"id": 7, "title": "Bug", "state": "open"});
/// let closed = serde_json::json!({"id": 8, "title": "Old", "state": "closed"});
/// let changes = m.map_items("issue", &[open, closed], &[]);
/// assert_eq!(changes.upserts.len(), 1);
/// assert_eq!(changes.upserts[0].identifier, "7");
/// assert_eq!(changes.deletes[0].identifier, "8");
/// ```
pub struct Mapping {
    config: PortAppConfig,
    compiled: Vec<Compiled>,
    limits: Limits,
    /// What did not compile, when compiled with [`Mapping::compile_lenient`].
    broken: Vec<String>,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("resources", &self.config.resources.len()).finish()
    }
}

impl Mapping {
    /// Parses and compiles a Port app config (YAML or JSON). Errors name `origin`, the resource index, the
    /// field and the position in the expression.
    pub fn parse(origin: &str, text: &str, allow_env: bool) -> Result<Self> {
        Self::parse_lenient(origin, text, allow_env)?.strict()
    }

    /// Parses a Port app config (YAML or JSON) and compiles it as [`Mapping::compile_lenient`] does.
    pub fn parse_lenient(origin: &str, text: &str, allow_env: bool) -> Result<Self> {
        let config: PortAppConfig =
            serde_norway::from_str(text).map_err(|e| Error::Mapping(format!("{origin}: {e}")))?;
        Ok(Self::compile_lenient(origin, config, allow_env))
    }

    /// Compiles a parsed config; every expression that does not compile is reported, one line each.
    pub fn compile(origin: &str, config: PortAppConfig, allow_env: bool) -> Result<Self> {
        Self::compile_lenient(origin, config, allow_env).strict()
    }

    /// The mapping when every expression compiled; otherwise an error listing each that did not.
    fn strict(self) -> Result<Self> {
        if self.broken.is_empty() { Ok(self) } else { Err(Error::Mapping(self.broken.join("\n"))) }
    }

    /// Compiles a parsed config that another engine accepted (the one Port holds): an expression that does
    /// not compile here does not take the rest down. A broken leaf maps to null, a broken selector selects
    /// nothing and a broken `itemsToParse` gives no items; [`Mapping::broken`] lists them.
    ///
    /// ```
    /// let config = serde_norway::from_str("resources:\n  - kind: issue\n    selector: {query: 'true'}\n    port: {entity: {mappings: {identifier: .id | tostring, blueprint: '\"issue\"', title: .title | nosuchfn}}}").unwrap();
    /// let m = ocean::mapping::Mapping::compile_lenient("Port", config, false);
    /// assert_eq!(m.broken().len(), 1);
    /// let changes = m.map_items("issue", &[serde_json::json!({"id": 7, "title": "x"})], &[]);
    /// assert_eq!(changes.upserts[0].identifier, "7");
    /// ```
    pub fn compile_lenient(origin: &str, config: PortAppConfig, allow_env: bool) -> Self {
        let mut compiled = Vec::with_capacity(config.resources.len());
        let mut errors = Vec::new();
        for (i, r) in config.resources.iter().enumerate() {
            let at = |field: &str| format!("{origin}: resources[{i}] (kind `{}`).{field}", r.kind);
            let mut prog = |field: &str, code: &str, instead: &str| match Program::compile(code, allow_env) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(format!("{}: {e} in `{code}`", at(field)));
                    Program::compile(instead, false).expect("a constant program compiles")
                }
            };
            let selector = prog("selector.query", &r.selector.query, "false");
            let items = r.port.items_to_parse.as_deref().map(|c| prog("port.itemsToParse", c, "[]"));
            let m = &r.port.entity.mappings;
            let mut templ_errors = Vec::new();
            let whole = template(m, "port.entity.mappings", allow_env, false, &mut templ_errors);
            let identifier = template(
                m.get("identifier").unwrap_or(&Value::Null),
                "port.entity.mappings.identifier",
                allow_env,
                false,
                &mut Vec::new(),
            );
            let blueprint = template(
                m.get("blueprint").unwrap_or(&Value::Null),
                "port.entity.mappings.blueprint",
                allow_env,
                false,
                &mut Vec::new(),
            );
            errors.extend(templ_errors.into_iter().map(|(field, e)| format!("{}: {e}", at(&field))));
            // `whole` holds the identifier and the blueprint as well.
            let mut keys = BTreeSet::new();
            let reads = program_reads(&selector, &mut keys)
                .and_then(|()| template_reads(&whole, &mut keys))
                .map(|()| keys.into_iter().collect());
            // `itemsToParse` reads the item whole.
            let mut read = shape::Shape::default();
            let shape = match &items {
                Some(_) => None,
                None => read.add_program(&selector).and_then(|()| template_shape(&whole, &mut read)).map(|()| read),
            };
            let plain = selector.is_plain()
                && items.as_ref().is_none_or(Program::is_plain)
                && template_plain(&identifier)
                && template_plain(&blueprint)
                && template_plain(&whole);
            compiled.push(Compiled {
                plain,
                selector,
                identifier,
                blueprint,
                whole,
                items_to_parse: items,
                items_name: r.port.items_to_parse_name.clone().unwrap_or_else(|| "item".into()),
                top_level_transform: r.port.items_to_parse_top_level_transform.unwrap_or(true),
                reads,
                shape,
            });
        }
        Self { config, compiled, limits: Limits::default(), broken: errors }
    }

    /// The expressions that did not compile (each with its file, resource, field and position), when
    /// compiled with [`Mapping::compile_lenient`]; empty otherwise.
    pub fn broken(&self) -> &[String] {
        &self.broken
    }

    /// Evaluates every leaf within `limits` (by default [`Limits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The config as written.
    pub fn config(&self) -> &PortAppConfig {
        &self.config
    }

    /// The resources of a kind, with their index.
    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (usize, &'a ResourceConfig)> + 'a {
        self.config.resources.iter().enumerate().filter(move |(_, r)| r.kind == kind)
    }

    /// The blueprint of resource `index` when its mapping writes a constant one (`'"githubIssue"'`).
    ///
    /// ```
    /// let yaml = "resources:\n  - kind: issue\n    selector: {query: 'true'}\n    port: {entity: {mappings: {identifier: .id, blueprint: '\"githubIssue\"'}}}";
    /// let m = ocean::mapping::Mapping::parse("config", yaml, false).unwrap();
    /// assert_eq!(m.constant_blueprint(0).as_deref(), Some("githubIssue"));
    /// ```
    pub fn constant_blueprint(&self, index: usize) -> Option<String> {
        match &self.compiled.get(index)?.blueprint {
            Template::Literal(Value::String(s)) => Some(s.clone()),
            Template::Jq(p) => serde_json::from_str::<String>(p.source().trim()).ok(),
            _ => None,
        }
        .filter(|s| !s.is_empty())
    }

    /// Maps raw items of every resource of `kind` (what `register_raw` and `ocean map` do).
    pub fn map_items<T: RawItem>(&self, kind: &str, updated: &[T], deleted: &[T]) -> Changes {
        let results: Vec<(usize, &[T], &[T])> = self.resources_of(kind).map(|(i, _)| (i, updated, deleted)).collect();
        self.map_results(&results)
    }

    /// Maps the results of one event, `(resource index, updated, deleted)` per successful call, into the
    /// upsert and delete sets as the reference computes them, plus deletes of deleted items that fail the
    /// selector when their identifier can be computed.
    pub fn map_results<T: RawItem>(&self, results: &[(usize, &[T], &[T])]) -> Changes {
        self.map_results_within(results, self.limits)
    }

    /// Whether every resource of `indices` has only plain programs (see `plain.rs`): mapping with them
    /// needs no more stack than any thread has, and [`Mapping::map_results_here`] may run it.
    pub(crate) fn is_plain(&self, mut indices: impl Iterator<Item = usize>) -> bool {
        indices.all(|i| self.compiled.get(i).is_some_and(|c| c.plain))
    }

    /// [`Mapping::map_results`] within the default stack room (what any thread can spare) and this
    /// mapping's time per leaf: for resources whose programs are plain, on the thread that asks.
    pub(crate) fn map_results_here<T: RawItem>(&self, results: &[(usize, &[T], &[T])]) -> Changes {
        self.map_results_within(results, Limits { stack: Limits::default().stack, ..self.limits })
    }

    fn map_results_within<T: RawItem>(&self, results: &[(usize, &[T], &[T])], limits: Limits) -> Changes {
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        let mut failures = Vec::new();
        let mut overruns_all = Vec::new();
        for (input, (index, updated, deleted)) in results.iter().enumerate() {
            let Some(c) = self.compiled.get(*index) else { continue };
            let kind = &self.config.resources[*index].kind;
            let mut fail = |reason: &'static str, detail: String| {
                tracing::warn!(kind = %kind, reason, "{detail}");
                failures.push(MappingFailure { input, kind: kind.clone(), reason, detail });
            };
            let mut overruns = Vec::new();
            for item in self.expand(c, updated, limits, &mut fail) {
                match self.map_one(c, &item, limits, &mut overruns) {
                    Ok((true, e)) => upserts.push(e),
                    Ok((false, e)) => deletes.extend(entity_ref(&e)),
                    // An item that fails the selector only leads to a delete when its identifier can be computed.
                    Err(Unmapped { passed: false, .. }) => {}
                    Err(Unmapped { reason, detail, .. }) => fail(reason, detail),
                }
            }
            for item in self.expand(c, deleted, limits, &mut fail) {
                if let Ok((_, e)) = self.map_one(c, &item, limits, &mut overruns) {
                    deletes.extend(entity_ref(&e));
                }
            }
            overruns_all.extend(overruns.into_iter().map(|detail| MappingFailure {
                input,
                kind: kind.clone(),
                reason: "leaf_budget",
                detail,
            }));
        }
        let kept: HashSet<(String, String)> =
            upserts.iter().filter_map(|e: &Entity| e.id_str().map(|id| (e.blueprint.clone(), id.to_owned()))).collect();
        let mut seen = HashSet::new();
        deletes.retain(|d: &EntityRef| {
            !kept.contains(&(d.blueprint.clone(), d.identifier.clone())) && seen.insert(d.clone())
        });
        Changes {
            upserts,
            deletes,
            merge: self.config.enable_merge_entity,
            delete_dependents: self.config.delete_dependent_entities,
            create_missing_related: self.config.create_missing_related_entities,
            failures,
            overruns: overruns_all,
        }
    }

    fn expand<'a, T: RawItem>(
        &self,
        c: &Compiled,
        items: &'a [T],
        limits: Limits,
        fail: &mut impl FnMut(&'static str, String),
    ) -> Vec<Item<'a>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Some(p) = &c.items_to_parse else {
                out.push(Item::new(item.json(c.shape.as_ref()), c.reads.as_deref()));
                continue;
            };
            let item = item.json(None);
            let v = jq::to_val(&item);
            let elements = match p.first_val(v, limits) {
                Ok(Some(arr)) => match jq::from_val(&arr) {
                    Ok(Value::Array(a)) => a,
                    Err(e) => {
                        fail("items_to_parse", format!("itemsToParse `{}`: {e}", p.source()));
                        continue;
                    }
                    Ok(other) => {
                        let got = kind_of(&other);
                        fail("items_to_parse", format!("itemsToParse `{}` gave {got}, not an array", p.source()));
                        continue;
                    }
                },
                Ok(None) => continue,
                Err(e) => {
                    fail("items_to_parse", format!("itemsToParse `{}` failed: {e}", p.source()));
                    continue;
                }
            };
            let mut base = item.into_owned();
            if c.top_level_transform
                && let Some(path) = p.simple_path()
            {
                remove_path(&mut base, path);
            }
            for el in elements {
                let mut merged = base.clone();
                if let Value::Object(m) = &mut merged {
                    m.insert(c.items_name.clone(), el);
                }
                out.push(Item::new(std::borrow::Cow::Owned(merged), c.reads.as_deref()));
            }
        }
        out
    }

    /// `(passed selector, entity)`, or why the item gives no entity.
    fn map_one(
        &self,
        c: &Compiled,
        item: &Item<'_>,
        limits: Limits,
        overruns: &mut Vec<String>,
    ) -> std::result::Result<(bool, Entity), Unmapped> {
        let passed = match c.selector.first_of(&item.json, &item.val, limits) {
            Ok(Some(Value::Bool(b))) => b,
            Ok(other) => {
                let got = other.map_or_else(|| "no output".to_owned(), |v| v.to_string());
                return Err(Unmapped::new(
                    true,
                    "selector_not_boolean",
                    format!("selector `{}` gave {got}, not a boolean", c.selector.source()),
                ));
            }
            Err(e) => {
                return Err(Unmapped::new(
                    true,
                    "selector_error",
                    format!("selector `{}` failed: {e}", c.selector.source()),
                ));
            }
        };
        if !passed {
            let identifier = eval(&c.identifier, item, limits, overruns);
            let blueprint = eval(&c.blueprint, item, limits, overruns);
            let entity = Entity {
                identifier,
                title: Value::Null,
                blueprint: blueprint.as_str().unwrap_or_default().to_owned(),
                icon: Value::Null,
                team: Value::Null,
                properties: Map::new(),
                relations: Map::new(),
            };
            return valid(entity, false).map(|e| (false, e));
        }
        let Value::Object(mut m) = eval(&c.whole, item, limits, overruns) else {
            return Err(Unmapped::new(true, "no_identifier", "the entity mapping is not an object".into()));
        };
        let entity = Entity {
            identifier: m.remove("identifier").unwrap_or(Value::Null),
            title: m.remove("title").unwrap_or(Value::Null),
            blueprint: m.remove("blueprint").and_then(|b| b.as_str().map(str::to_owned)).unwrap_or_default(),
            icon: m.remove("icon").unwrap_or(Value::Null),
            team: m.remove("team").unwrap_or(Value::Null),
            properties: match m.remove("properties") {
                Some(Value::Object(p)) => p,
                _ => Map::new(),
            },
            relations: match m.remove("relations") {
                Some(Value::Object(r)) => r,
                _ => Map::new(),
            },
        };
        valid(entity, true).map(|e| (true, e))
    }
}

/// Why an item gives no entity.
struct Unmapped {
    /// Whether the item passed the selector (only then is it a failure of the event).
    passed: bool,
    reason: &'static str,
    detail: String,
}

impl Unmapped {
    fn new(passed: bool, reason: &'static str, detail: String) -> Self {
        Self { passed, reason, detail }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An entity with an identifier (a non-empty string, or a search query object) and a blueprint.
fn valid(e: Entity, passed: bool) -> std::result::Result<Entity, Unmapped> {
    let has_id = match &e.identifier {
        Value::String(s) => !s.is_empty(),
        Value::Object(_) => true,
        _ => false,
    };
    if !has_id {
        let detail = format!("the identifier is {}, not a non-empty string", describe(&e.identifier));
        Err(Unmapped::new(passed, "no_identifier", detail))
    } else if e.blueprint.is_empty() {
        Err(Unmapped::new(passed, "no_blueprint", format!("entity {} has no blueprint", e.identifier)))
    } else {
        Ok(e)
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(_) => "an empty string".into(),
        other => format!("{} ({other})", kind_of(other)),
    }
}

fn entity_ref(e: &Entity) -> Option<EntityRef> {
    e.id_str().map(|id| EntityRef { blueprint: e.blueprint.clone(), identifier: id.to_owned() })
}

/// A leaf's value; errors are null, as Port's semantics say, and evaluations stopped by their budget are
/// also noted in `overruns` (they are counted).
fn eval(t: &Template, item: &Item<'_>, limits: Limits, overruns: &mut Vec<String>) -> Value {
    match t {
        Template::Literal(v) => v.clone(),
        Template::Jq(p) => match p.first_of(&item.json, &item.val, limits) {
            Ok(Some(v)) => v,
            Ok(None) => Value::Null,
            Err(jq::LeafError::Budget(e)) => {
                tracing::warn!(error = %e, "mapping expression stopped; null used");
                overruns.push(e);
                Value::Null
            }
            Err(e) => {
                tracing::warn!(expr = p.source(), error = %e, "mapping expression failed; null used");
                Value::Null
            }
        },
        Template::Object(fields) => {
            Value::Object(fields.iter().map(|(k, t)| (k.clone(), eval(t, item, limits, overruns))).collect())
        }
        Template::Array(items) => Value::Array(items.iter().map(|t| eval(t, item, limits, overruns)).collect()),
    }
}

/// Whether every program of `t` is plain.
fn template_plain(t: &Template) -> bool {
    match t {
        Template::Literal(_) => true,
        Template::Jq(p) => p.is_plain(),
        Template::Object(fields) => fields.iter().all(|(_, t)| template_plain(t)),
        Template::Array(items) => items.iter().all(template_plain),
    }
}

/// The top-level keys of its input `p` reads, added to `keys`, unless it reads the item's JSON (a simple
/// path, or a shape of `native.rs`); `None` when it may read the whole input.
fn program_reads(p: &Program, keys: &mut BTreeSet<String>) -> Option<()> {
    if !p.reads_json() {
        keys.extend(p.reads()?.iter().cloned());
    }
    Some(())
}

/// What every program of `t` reads of its input, added to `shape`; `None` when one may read the whole input.
fn template_shape(t: &Template, shape: &mut shape::Shape) -> Option<()> {
    match t {
        Template::Literal(_) => Some(()),
        Template::Jq(p) => shape.add_program(p),
        Template::Object(fields) => fields.iter().try_for_each(|(_, t)| template_shape(t, shape)),
        Template::Array(items) => items.iter().try_for_each(|t| template_shape(t, shape)),
    }
}

/// Compiles a mapping template; in search queries `combinator`, `property` and `operator` are literal.
fn template(v: &Value, field: &str, allow_env: bool, literal: bool, errors: &mut Vec<(String, JqError)>) -> Template {
    match v {
        Value::String(s) if literal => Template::Literal(Value::String(s.clone())),
        // `file://` and `search://` leaves are resolved by integrations (GitLab, for example), not by jq.
        Value::String(s) if is_integration_reference(s) => Template::Literal(Value::Null),
        Value::String(code) => match Program::compile(code, allow_env) {
            Ok(p) => Template::Jq(p),
            Err(e) => {
                errors.push((
                    field.to_owned(),
                    JqError { message: format!("{} in `{code}`", e.message), offset: e.offset },
                ));
                Template::Literal(Value::Null)
            }
        },
        Value::Object(m) => {
            let search = m.contains_key("combinator") && m.contains_key("rules");
            Template::Object(
                m.iter()
                    .map(|(k, v)| {
                        let lit = (search && k == "combinator") || (!search && literal_rule_key(m, k));
                        (k.clone(), template(v, &format!("{field}.{k}"), allow_env, lit, errors))
                    })
                    .collect(),
            )
        }
        Value::Array(a) => Template::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| template(v, &format!("{field}[{i}]"), allow_env, false, errors))
                .collect(),
        ),
        other => Template::Literal(other.clone()),
    }
}

/// Whether a mapping leaf is an integration-specific reference rather than a jq program.
pub fn is_integration_reference(leaf: &str) -> bool {
    let l = leaf.trim_start();
    l.starts_with("file://") || l.starts_with("search://")
}

/// In a search rule (`{property, operator, value}`), only `value` is jq.
fn literal_rule_key(m: &Map<String, Value>, k: &str) -> bool {
    m.contains_key("operator") && m.contains_key("value") && (k == "property" || k == "operator")
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, init)) = path.split_last() else { return };
    let mut cur = v;
    for p in init {
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_s_resources_convert_only_the_members_they_read() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/github/.port/resources/port-app-config.yml");
        let m = Mapping::parse("example", &std::fs::read_to_string(path).unwrap(), false).unwrap();
        let reads: Vec<Option<Vec<String>>> = m.compiled.iter().map(|c| c.reads.clone()).collect();
        // Simple paths (`.title`, `.user.login`), the selector `.pull_request == null`, the collections
        // `[.labels[].name]` and the identifier `.__repository + (.id|tostring)` read the item's JSON
        // (`native.rs`): nothing of an issue becomes a jq value.
        assert_eq!(reads[2].as_deref(), Some(&[][..]));
        // The pull requests' lead time binds the input's members by `as`, in a pipe that reads them.
        assert!(reads[0].is_some() && reads[1].is_some(), "{reads:?}");
        // No program of the example loops or recurses: its events are mapped on their workers.
        assert!(m.is_plain(0..m.compiled.len()));
        let item = serde_json::json!({"id": 1, "title": "t", "state": "open", "__repository": "r", "user": {"login": "u"}, "assignees": [], "labels": [{"name": "bug"}], "extra": {"big": [1, 2, 3]}});
        let changes = m.map_items("issue", &[item], &[]);
        assert_eq!(changes.upserts[0].identifier, "r1");
        assert_eq!(changes.upserts[0].properties["labels"], serde_json::json!(["bug"]));
        assert_eq!(changes.upserts[0].properties["creator"], "u");
        assert_eq!(changes.upserts[0].title, "t");
        assert_eq!(changes.upserts[0].properties["closedAt"], serde_json::Value::Null);
        // A simple path that meets a string is jq's error, which maps to null.
        let odd =
            serde_json::json!({"id": 2, "title": "t", "__repository": "r", "user": "u", "assignees": [], "labels": []});
        let changes = m.map_items("issue", &[odd], &[]);
        assert_eq!(changes.upserts[0].identifier, "r2");
        assert_eq!(changes.upserts[0].properties["creator"], serde_json::Value::Null);
        // An identifier from a number that is not an integer: jq's own `tostring`.
        let item = serde_json::json!({"id": 7.5, "__repository": "r", "assignees": [], "labels": []});
        assert_eq!(m.map_items("issue", &[item], &[]).upserts[0].identifier, "r7.5");
        // A collection that meets something else than an object or an array is jq's error too: null.
        let odd = serde_json::json!({"id": 5, "__repository": "r", "assignees": null, "labels": [{"name": "a"}, "b"]});
        let e = &m.map_items("issue", &[odd], &[]).upserts[0];
        assert_eq!(
            (&e.properties["assignees"], &e.properties["labels"]),
            (&serde_json::Value::Null, &serde_json::Value::Null)
        );
        // The selector reads the item's JSON: a pull request's issue is no issue entity.
        let pr = serde_json::json!({"id": 6, "__repository": "r", "assignees": [], "labels": [], "pull_request": {"url": "u"}});
        assert!(m.map_items("issue", &[pr], &[]).upserts.is_empty());
        // A simple path gives numbers as libjq does: an integral double as an integer.
        let item = serde_json::json!({"id": 4, "title": 2.0, "number": 1.5, "__repository": "r", "assignees": [], "labels": [{"name": 3.0}, {"n": 1}]});
        let e = &m.map_items("issue", &[item], &[]).upserts[0];
        assert_eq!((e.title.to_string(), e.properties["issueNumber"].to_string()), ("2".into(), "1.5".into()));
        assert_eq!(e.properties["labels"].to_string(), "[3,null]");
        // A simple path gives no value nested deeper than a leaf may give, as the other programs do.
        let nested = |levels: usize| (0..levels).fold(serde_json::json!(1), |v, _| serde_json::json!([v]));
        for (levels, kept) in [(100, true), (101, false)] {
            let item = serde_json::json!({"id": 3, "title": nested(levels), "__repository": "r", "assignees": [], "labels": []});
            let title = &m.map_items("issue", &[item], &[]).upserts[0].title;
            assert_eq!(*title == nested(levels), kept, "{levels} levels");
            assert_eq!(title.is_null(), !kept, "{levels} levels");
        }
    }
}
