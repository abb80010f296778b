//! An entity written over its stored version (Port's merge) without building the stored values: the
//! stored properties and relations stay JSON text, replaced key by key or followed by the new ones, in
//! the order a parsed merge gives (stored keys first, in their order; new keys after them).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value};

use crate::mapping::Entity;

/// Properties or relations: keys with their values as JSON text.
type Fields = IndexMap<String, Box<RawValue>>;

/// What a merge reads of a stored entity.
#[derive(Deserialize)]
struct Stored {
    properties: Option<Box<RawValue>>,
    relations: Option<Box<RawValue>>,
}

/// Port's entity shape, as stored.
#[derive(Serialize)]
struct Doc<'a> {
    identifier: &'a str,
    title: &'a Value,
    blueprint: &'a str,
    icon: &'a Value,
    team: &'a Value,
    properties: Fields,
    relations: Fields,
}

/// The fields of a stored object; none when it is missing or not an object.
fn fields(stored: Option<&RawValue>) -> Fields {
    stored.and_then(|r| serde_json::from_str(r.get()).ok()).unwrap_or_default()
}

fn merged(mut old: Fields, new: &Map<String, Value>) -> serde_json::Result<Fields> {
    for (k, v) in new {
        old.insert(k.clone(), to_raw_value(v)?);
    }
    Ok(old)
}

/// The stored text of `e`; with `stored` (the text of its stored version), its properties and relations
/// are merged into the stored ones. A stored text that is not an entity is replaced.
pub(super) fn doc(e: &Entity, id: &str, stored: Option<&[u8]>) -> serde_json::Result<Vec<u8>> {
    let (props, rels) = match stored.and_then(|b| serde_json::from_slice::<Stored>(b).ok()) {
        Some(s) => (fields(s.properties.as_deref()), fields(s.relations.as_deref())),
        None => (Fields::default(), Fields::default()),
    };
    serde_json::to_vec(&Doc {
        identifier: id,
        title: &e.title,
        blueprint: &e.blueprint,
        icon: &e.icon,
        team: &e.team,
        properties: merged(props, &e.properties)?,
        relations: merged(rels, &e.relations)?,
    })
}

/// [`doc`] as text, for a catalog that stores text (PostgreSQL's `ocean_entities.doc`); the error names
/// the entity.
pub(super) fn text(e: &Entity, id: &str, stored: Option<&str>) -> Result<String, String> {
    let why = |m: &dyn std::fmt::Display| format!("entity {}/{id} cannot be written as JSON: {m}", e.blueprint);
    let bytes = doc(e, id, stored.map(str::as_bytes)).map_err(|m| why(&m))?;
    String::from_utf8(bytes).map_err(|m| why(&m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The merge on parsed values, as Port describes it: the reference the text merge is held to.
    fn to_doc(e: &Entity, id: &str, existing: Option<Value>) -> Value {
        let (mut props, mut rels) = match existing {
            Some(Value::Object(mut old)) => (
                match old.remove("properties") {
                    Some(Value::Object(p)) => p,
                    _ => Map::new(),
                },
                match old.remove("relations") {
                    Some(Value::Object(r)) => r,
                    _ => Map::new(),
                },
            ),
            _ => (Map::new(), Map::new()),
        };
        props.extend(e.properties.clone());
        rels.extend(e.relations.clone());
        json!({
            "identifier": id,
            "title": e.title,
            "blueprint": e.blueprint,
            "icon": e.icon,
            "team": e.team,
            "properties": props,
            "relations": rels,
        })
    }

    fn entity(props: Value, rels: Value) -> Entity {
        let (Value::Object(properties), Value::Object(relations)) = (props, rels) else { unreachable!() };
        Entity {
            identifier: json!("a"),
            title: json!("A"),
            blueprint: "b".into(),
            icon: Value::Null,
            team: json!(["t"]),
            properties,
            relations,
        }
    }

    #[test]
    fn the_text_is_what_a_parsed_merge_writes() {
        let e = entity(json!({"z": 1, "b": {"x": [1.5, "\u{e9}\n"]}, "new": null}), json!({"r": "x"}));
        let stored = [
            None,
            Some(
                json!({"identifier": "a", "properties": {"b": 0, "keep": "\"q\"", "a": 1e300}, "relations": {"s": ["y"]}}),
            ),
            Some(json!({"properties": null, "relations": 3})),
            Some(json!([1, 2])),
        ];
        for old in stored {
            let text = old.as_ref().map(|v| serde_json::to_vec(v).unwrap());
            let parsed = to_doc(&e, "a", old);
            assert_eq!(doc(&e, "a", text.as_deref()).unwrap(), serde_json::to_vec(&parsed).unwrap());
            let stored = text.as_deref().map(|t| std::str::from_utf8(t).unwrap());
            assert_eq!(super::text(&e, "a", stored).unwrap(), parsed.to_string());
        }
        assert_eq!(doc(&e, "a", Some(b"not json")).unwrap(), serde_json::to_vec(&to_doc(&e, "a", None)).unwrap());
    }
}
