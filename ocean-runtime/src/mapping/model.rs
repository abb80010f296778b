//! The Port app config: the mapping from raw objects to catalog entities.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

fn yes() -> bool {
    true
}
fn default_query() -> String {
    "true".into()
}

/// The whole Port app config. Unknown keys are kept in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortAppConfig {
    /// Merge upserted properties into the existing entity (default true).
    #[serde(default = "yes")]
    pub enable_merge_entity: bool,
    /// Delete dependent entities with an entity (default true).
    #[serde(default = "yes")]
    pub delete_dependent_entities: bool,
    /// Create missing related entities on upsert (default true).
    #[serde(default = "yes")]
    pub create_missing_related_entities: bool,
    /// Resync deletion threshold (kept for resyncs; not used by live events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_deletion_threshold: Option<f64>,
    /// The resources, one mapping each.
    #[serde(default)]
    pub resources: Vec<ResourceConfig>,
    /// Integration-specific keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One resource: a kind, a selector and the entity mapping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceConfig {
    /// The kind, as processors name it (`issue`, `pull-request`).
    pub kind: String,
    /// Which items are kept.
    #[serde(default)]
    pub selector: Selector,
    /// How items become entities.
    pub port: PortResourceConfig,
    /// Integration-specific keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A resource's selector: a jq boolean query plus integration-specific keys (for example `states`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// jq expression that must yield a boolean.
    #[serde(default = "default_query", deserialize_with = "string_or_scalar")]
    pub query: String,
    /// Integration-specific keys, readable by processors.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for Selector {
    fn default() -> Self {
        Self { query: default_query(), extra: Map::new() }
    }
}

impl Selector {
    /// An integration-specific key (`states`, `includedFiles`, ...).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.extra.get(key)
    }
}

/// The `port` part of a resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortResourceConfig {
    /// The entity mapping.
    pub entity: EntityConfig,
    /// jq expression yielding an array: each element becomes an item (under `itemsToParseName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_to_parse: Option<String>,
    /// Name of the element in the expanded item (default `item`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_to_parse_name: Option<String>,
    /// Remove the source array from the expanded item (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_to_parse_top_level_transform: Option<bool>,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The entity mapping: `identifier`, `title`, `blueprint`, `icon`, `team`, `properties`, `relations`, each
/// leaf a jq expression. Identifiers and relations may be search queries (`combinator`, `rules`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityConfig {
    /// The mapping templates.
    pub mappings: Value,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn string_or_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a jq expression, got {other}"))),
    }
}

/// A catalog entity in Port's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Identifier (a string, or a search query object).
    pub identifier: Value,
    /// Title.
    #[serde(default)]
    pub title: Value,
    /// Blueprint identifier.
    pub blueprint: String,
    /// Icon.
    #[serde(default)]
    pub icon: Value,
    /// Team(s).
    #[serde(default)]
    pub team: Value,
    /// Properties.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// Relations.
    #[serde(default)]
    pub relations: Map<String, Value>,
}

impl Entity {
    /// The identifier as a string, when it is one.
    pub fn id_str(&self) -> Option<&str> {
        self.identifier.as_str()
    }
}

/// A reference to an entity to delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    /// Blueprint identifier.
    pub blueprint: String,
    /// Entity identifier.
    pub identifier: String,
}

/// What one event changes in the catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Entities to create or update.
    pub upserts: Vec<Entity>,
    /// Entities to delete.
    pub deletes: Vec<EntityRef>,
    /// Merge upserts into existing entities.
    pub merge: bool,
    /// Delete dependents with deleted entities.
    pub delete_dependents: bool,
    /// Create missing related entities.
    pub create_missing_related: bool,
    /// Items the mapping could not turn into an entity; not part of what a sink applies.
    pub failures: Vec<MappingFailure>,
    /// Leaves stopped by their budget (`OCEAN__MAPPING__LEAF_BUDGET_MS`), which became null: counted,
    /// not failures of the event.
    pub overruns: Vec<MappingFailure>,
}

/// An item that the mapping could not turn into an entity, and why.
///
/// ```
/// let yaml = r#"
/// resources:
///   - kind: repo
///     selector: { query: "true" }
///     port: { entity: { mappings: { identifier: .name, blueprint: '"repo"' } } }
/// "#;
/// let m = ocean::mapping::Mapping::parse("config", yaml, false).unwrap();
/// let c = m.map_items("repo", &[serde_json::json!({"name": 7})], &[]);
/// assert!(c.upserts.is_empty());
/// assert_eq!(c.failures[0].reason, "no_identifier");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingFailure {
    /// Which of the `map_results` inputs the item came from.
    pub input: usize,
    /// The resource's kind.
    pub kind: String,
    /// A short reason, as the `ocean_mapping_failures_total` metric labels it: `no_identifier`,
    /// `no_blueprint`, `selector_error`, `selector_not_boolean`, `items_to_parse`, or `leaf_budget` for a
    /// leaf stopped by its budget.
    pub reason: &'static str,
    /// What happened, naming the expression.
    pub detail: String,
}

impl std::fmt::Display for MappingFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kind `{}` ({}): {}", self.kind, self.reason, self.detail)
    }
}

impl Changes {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
}
