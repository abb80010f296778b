//! What the programs of a resource read of an item, below its top level: `.user.login` reads the member
//! `login` of `user`, `[.labels[].name]` the member `name` of each element of `labels`. An item a
//! processor hands over unparsed (a [`Payload`]) is given to those programs as an object holding only
//! that: each member read whole is parsed, each read in part is located and only its parts parsed.
//!
//! A program whose reads are not known this precisely reads whole the top-level members `reads.rs`
//! finds; a program that may read the whole item makes the item read whole. The object built is seen
//! only by programs that read it by those paths, so it gives them what the whole item gives: a member that
//! is not an object (or, for elements, not an array or an object) where the shape goes on is kept whole,
//! and a key given twice counts as its last occurrence, as in a parsed object.

use serde_json::{Map, Value};

use super::jq::Program;
use super::native::{Native, Term};
use crate::payload::{Held, Payload};

/// For each top-level key read, what is read of its member; sorted by key, so that a member's key is
/// looked up without building anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shape(Vec<(String, Need)>);

/// What is read of a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Need {
    /// All of it.
    Whole,
    /// These members of an object.
    Fields(Shape),
    /// These members of each element of an array (or each value of an object).
    Elements(Shape),
}

impl Need {
    fn merge(&mut self, other: Need) {
        *self = match (std::mem::replace(self, Need::Whole), other) {
            (Need::Fields(mut a), Need::Fields(b)) => {
                a.merge(b);
                Need::Fields(a)
            }
            (Need::Elements(mut a), Need::Elements(b)) => {
                a.merge(b);
                Need::Elements(a)
            }
            _ => Need::Whole,
        };
    }

    /// `leaf`, at the end of `path`.
    fn at(path: &[String], leaf: Need) -> Need {
        path.iter().rev().fold(leaf, |need, key| Need::Fields(Shape(vec![(key.clone(), need)])))
    }
}

impl Shape {
    fn merge(&mut self, other: Shape) {
        for (key, need) in other.0 {
            match self.find(&key) {
                Ok(i) => self.0[i].1.merge(need),
                Err(i) => self.0.insert(i, (key, need)),
            }
        }
    }

    /// Where `key` is, or would be inserted.
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Adds what `path` reads, `leaf` at its end; `None` for an empty path (the whole item).
    fn add_path(&mut self, path: &[String], leaf: Need) -> Option<()> {
        let (first, rest) = path.split_first()?;
        self.merge(Shape(vec![(first.clone(), Need::at(rest, leaf))]));
        Some(())
    }

    /// Adds what `p` reads of its input; `None` when it may read the whole input.
    pub(crate) fn add_program(&mut self, p: &Program) -> Option<()> {
        match p.native() {
            Some(Native::Const(_)) => Some(()),
            Some(Native::Path(path)) | Some(Native::Compare { path, .. }) => self.add_path(path, Need::Whole),
            Some(Native::Collect { outer, inner }) => {
                let each = match inner.split_first() {
                    None => Need::Whole,
                    Some(_) => match Need::at(inner, Need::Whole) {
                        Need::Fields(shape) => Need::Elements(shape),
                        whole => whole,
                    },
                };
                self.add_path(outer, each)
            }
            Some(Native::Concat(terms)) => terms.iter().try_for_each(|t| match t {
                Term::Literal(_) => Some(()),
                Term::Path(path) | Term::ToString(path) => self.add_path(path, Need::Whole),
            }),
            None => {
                for key in p.reads()? {
                    self.add_path(std::slice::from_ref(key), Need::Whole);
                }
                Some(())
            }
        }
    }

    /// The object the programs see of `item`: its members read, each as far as it is read. `None` when
    /// `item` is parsed whole already or is not an object (the programs read it as it is).
    pub(crate) fn of_payload(&self, item: &Payload) -> Option<Value> {
        let members = item.held()?;
        let mut out = Map::with_capacity(self.0.len());
        for (key, need) in &self.0 {
            let value = match members.get(key) {
                Some(Held::Parsed(v)) => v.clone(),
                Some(Held::Text(text)) => partial(text, need),
                None => continue,
            };
            out.insert(key.clone(), value);
        }
        Some(Value::Object(out))
    }
}

/// The JSON `text` (checked) as far as `need` reads it.
fn partial(text: &[u8], need: &Need) -> Value {
    match need {
        Need::Whole => whole(text),
        Need::Fields(shape) => object_part(text, shape),
        Need::Elements(shape) => elements(text, shape),
    }
}

fn whole(text: &[u8]) -> Value {
    crate::payload::parse(text).unwrap_or(Value::Null)
}

/// The members of the object `text` that `shape` reads; another value whole.
fn object_part(text: &[u8], shape: &Shape) -> Value {
    let part = (text.first() == Some(&b'{')).then(|| fields(text, shape)).flatten();
    part.unwrap_or_else(|| whole(text))
}

/// Each element of the array `text` (or each value of the object `text`) as far as `shape` reads it;
/// another value whole.
fn elements(text: &[u8], shape: &Shape) -> Value {
    let built = match text.first() {
        Some(b'[') => sonic_rs::to_array_iter(text)
            .map(|e| e.ok().map(|raw| object_part(raw.as_raw_str().as_bytes(), shape)))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        // A key given twice keeps its first place and its last value, as in a parsed object.
        Some(b'{') => sonic_rs::to_object_iter(text)
            .map(|e| e.ok().map(|(k, raw)| (k.into_owned(), object_part(raw.as_raw_str().as_bytes(), shape))))
            .collect::<Option<Map<_, _>>>()
            .map(Value::Object),
        _ => None,
    };
    built.unwrap_or_else(|| whole(text))
}

/// The members of the object `text` that `shape` reads; `None` when the text is not as checked.
fn fields(text: &[u8], shape: &Shape) -> Option<Value> {
    let mut found: Vec<Option<&[u8]>> = vec![None; shape.0.len()];
    for entry in sonic_rs::to_object_iter(text) {
        let (key, raw) = entry.ok()?;
        // A key given twice counts as its last occurrence.
        if let Ok(i) = shape.find(&key) {
            // The member's bytes, as a part of `text` (they outlive the iterator's item).
            let bytes = raw.as_raw_str().as_bytes();
            let start = (bytes.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
            found[i] = Some(text.get(start..start + bytes.len())?);
        }
    }
    let mut out = Map::with_capacity(shape.0.len());
    for ((key, need), text) in shape.0.iter().zip(found) {
        if let Some(text) = text {
            out.insert(key.clone(), partial(text, need));
        }
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::Mapping;

    impl Shape {
        fn get(&self, key: &str) -> Option<&Need> {
            self.find(key).ok().map(|i| &self.0[i].1)
        }
    }

    /// Mappings of every shape read in part, on items whose parts are odd: several elements, elements
    /// that are not objects, an object iterated, keys given twice, escapes, members missing, values that
    /// are not what the path expects. Each maps as the same item parsed whole.
    #[test]
    fn items_read_in_part_map_as_items_read_whole() {
        let yaml = r#"
resources:
  - kind: thing
    selector:
      query: .state.open != false
    port:
      entity:
        mappings:
          identifier: .owner.login + "-" + (.id | tostring)
          title: .title.text
          blueprint: '"thing"'
          properties:
            labels: '[.labels[].name]'
            all: '[.tags[]]'
            deep: .a.b.c
            count: .tags | length
            first: '[.assignees[].login.first]'
            whole_user: .owner
"#;
        let m = Mapping::parse("shapes.yml", yaml, false).unwrap();
        let c = &m.compiled[0];
        assert!(matches!(c.shape.as_ref().and_then(|s| s.get("assignees")), Some(Need::Elements(_))));
        assert!(matches!(c.shape.as_ref().and_then(|s| s.get("title")), Some(Need::Fields(_))));
        assert_eq!(c.shape.as_ref().and_then(|s| s.get("owner")), Some(&Need::Whole), "read whole by one program");
        assert_eq!(c.shape.as_ref().and_then(|s| s.get("tags")), Some(&Need::Whole));
        let items = [
            r#"{"id": 1, "owner": {"login": "a", "x": 1}, "title": {"text": "t", "other": [1, 2]},
                "labels": [{"name": "x", "color": 1}, {"name": "y"}, {"color": 2}, "plain", null], "tags": [1, {"a": 2}],
                "assignees": {"k1": {"login": {"first": "f", "last": "l"}}, "k2": {"login": "s"}},
                "a": {"b": {"c": [1, {"d": 2}], "e": 3}}, "state": {"open": true}}"#,
            r#"{"id": 2, "owner": {"login": "b"}, "title": "not an object", "labels": {"n1": {"name": "z"}, "n1": {"name": "w"}},
                "assignees": [{"login": {"first": "\u00e9", "first": "last wins"}}, 3], "a": {"b": "string"},
                "state": {"open": false}}"#,
            r#"{"id": 3, "owner": {"login": "c"}, "title": {"text": "\"quoted\""}, "labels": [], "assignees": [],
                "a": null, "state": null, "id": 4, "tags": {"k": 1}}"#,
            r#"{"id": 5, "owner": {"login": "d"}, "labels": "text", "assignees": null, "a": {"b": {"c": {"deep": [[1]]}}}}"#,
        ];
        for text in items {
            let whole: Value = serde_json::from_str(text).unwrap();
            let lazy = Payload::lazy(text.as_bytes().to_vec().into());
            assert_eq!(
                m.map_items("thing", std::slice::from_ref(&lazy), &[]),
                m.map_items("thing", std::slice::from_ref(&whole), &[]),
                "{text}"
            );
            assert_eq!(
                m.map_items("thing", &[], std::slice::from_ref(&lazy)),
                m.map_items("thing", &[], std::slice::from_ref(&whole)),
                "{text}"
            );
            assert!(!lazy.is_parsed(), "read in part: {text}");
        }
        let partial =
            c.shape.as_ref().unwrap().of_payload(&Payload::lazy(items[0].as_bytes().to_vec().into())).unwrap();
        assert_eq!(partial["labels"], json!([{"name": "x"}, {"name": "y"}, {}, "plain", null]));
        assert_eq!(partial["title"], json!({"text": "t"}));
        assert_eq!(partial["assignees"], json!({"k1": {"login": {"first": "f"}}, "k2": {"login": "s"}}));
        assert_eq!(partial["owner"], json!({"login": "a", "x": 1}));
    }
}
