//! The payload of an event: its body parsed as JSON when first read, at most once.
//!
//! Intake verifies the body and reads group keys and delivery ids from the raw bytes; the body is
//! parsed only when a processor reads the payload (in `should_process_event`, or in `handle_event` on a
//! worker), so that an event costs one parse wherever it is read. A processor that reads members by
//! key (`event.payload["issue"]`) parses only those: the body's top-level members are located in one
//! pass that builds nothing, and each is parsed when first read.

use std::ops::{Deref, DerefMut, Index, IndexMut, Range};
use std::sync::OnceLock;

use actix_web::web::Bytes;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// `null`, what indexing gives for a missing member.
static NULL: Value = Value::Null;

/// An event's body as JSON, parsed on first access. It reads as a [`serde_json::Value`]:
///
/// ```
/// use ocean::Payload;
/// let p = Payload::lazy(br#"{"action": "opened", "issue": {"id": 7}}"#.to_vec().into());
/// assert!(!p.is_parsed());
/// assert_eq!(p["issue"]["id"], 7);
/// assert_eq!(p.get("action").and_then(|a| a.as_str()), Some("opened"));
/// assert!(!p.is_parsed(), "members read by key are parsed alone");
/// assert_eq!(p.as_object().map(|o| o.len()), Some(2));
/// assert!(p.is_parsed());
/// let owned: serde_json::Value = p.into();
/// assert_eq!(owned["action"], "opened");
/// ```
///
/// A body that is not JSON reads as `null` (intake refuses such bodies on processor paths).
///
/// Reading a member by key (`payload["issue"]`, `payload.get("action")`) parses that member only, once;
/// any other use of the value (`payload.as_object()`, `&*payload`, a mutation) parses the whole body.
/// Both read the same bytes, so they agree: a key given twice counts as its last occurrence.
#[derive(Default)]
pub struct Payload {
    body: Bytes,
    parsed: OnceLock<Value>,
    /// The top-level members located in the body, each parsed on first read; `None` when the body is
    /// not a JSON object.
    members: OnceLock<Option<Vec<Member>>>,
    /// The body's text was checked (UTF-8 without lone surrogate escapes) when it was received.
    text_checked: bool,
    /// Members set by [`Payload::insert`] before the body was parsed whole: they replace the body's
    /// members of the same key, or come after them, as in the parsed object.
    extra: Vec<(String, Value)>,
}

/// A top-level member of the body: its key, where its value is, and the value once read.
#[derive(Clone)]
struct Member {
    key: String,
    at: Range<usize>,
    value: OnceLock<Value>,
}

/// What can index a [`Payload`]: a key (`&str`, `String`) or an array index (`usize`), as for a
/// [`serde_json::Value`].
pub trait PayloadIndex: serde_json::value::Index + sealed::Sealed {
    /// The key, when this indexes an object.
    #[doc(hidden)]
    fn key(&self) -> Option<&str>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for usize {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}

impl PayloadIndex for str {
    fn key(&self) -> Option<&str> {
        Some(self)
    }
}

impl PayloadIndex for String {
    fn key(&self) -> Option<&str> {
        Some(self)
    }
}

impl PayloadIndex for usize {
    fn key(&self) -> Option<&str> {
        None
    }
}

impl<T: PayloadIndex + ?Sized> PayloadIndex for &T {
    fn key(&self) -> Option<&str> {
        (**self).key()
    }
}

/// A top-level member as a payload holds it.
pub(crate) enum Held<'a> {
    /// Parsed already, or set by [`Payload::insert`].
    Parsed(&'a Value),
    /// Its text, checked.
    Text(&'a [u8]),
}

/// The top-level members of a payload that is not parsed whole.
pub(crate) struct HeldMembers<'a> {
    payload: &'a Payload,
    members: &'a [Member],
}

impl<'a> HeldMembers<'a> {
    /// The member `key` (its last occurrence), as held.
    pub(crate) fn get(&self, key: &str) -> Option<Held<'a>> {
        if let Some(v) = self.payload.inserted(key) {
            return Some(Held::Parsed(v));
        }
        let m = self.members.iter().rfind(|m| m.key == key)?;
        Some(match m.value.get() {
            Some(v) => Held::Parsed(v),
            None => Held::Text(&self.payload.body[m.at.clone()]),
        })
    }
}

/// `text` parsed as one JSON value; `None` when it is not one. Valid UTF-8 is parsed as `&str`, which
/// spares serde_json checking the UTF-8 of every string again.
pub(crate) fn parse(text: &[u8]) -> Option<Value> {
    match simdutf8::basic::from_utf8(text) {
        Ok(s) => serde_json::from_str(s).ok(),
        Err(_) => None,
    }
}

/// The top-level members of `body` when it is one JSON object in UTF-8, located without being built.
fn members(body: &[u8], text_checked: bool) -> Option<Vec<Member>> {
    struct Members<'b>(&'b [u8]);
    impl<'de> Visitor<'de> for Members<'_> {
        type Value = Vec<Member>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let base = self.0.as_ptr() as usize;
            let mut out: Vec<Member> = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let raw: &'de RawValue = map.next_value()?;
                let start = raw.get().as_ptr() as usize - base;
                out.push(Member { key, at: start..start + raw.get().len(), value: OnceLock::new() });
            }
            Ok(out)
        }
    }
    if text_checked && let Some(found) = located(body) {
        return Some(found);
    }
    crate::scan::text(body).ok()?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = de.deserialize_map(Members(body)).ok()?;
    de.end().ok()?;
    Some(found)
}

/// The members of an object `body` that intake validated, located by SIMD skipping; `None` when it is not
/// an object, or when something is not as validated (the caller then reads it with serde_json).
fn located(body: &[u8]) -> Option<Vec<Member>> {
    let base = body.as_ptr() as usize;
    let mut out: Vec<Member> = Vec::new();
    for entry in sonic_rs::to_object_iter(body) {
        let (key, value) = entry.ok()?;
        let raw = value.as_raw_str().as_bytes();
        let start = (raw.as_ptr() as usize).checked_sub(base).filter(|s| s + raw.len() <= body.len())?;
        out.push(Member { key: key.into_owned(), at: start..start + raw.len(), value: OnceLock::new() });
    }
    // Nothing but the object's end follows its last member (or its start, when it has none).
    let after = match out.last() {
        Some(m) => m.at.end,
        None => body.iter().position(|&b| b == b'{')? + 1,
    };
    let rest = std::str::from_utf8(&body[after..]).ok()?.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    (rest == "}").then_some(out)
}

/// The value at `path` in a member's text, located by SIMD skipping: `Some(None)` when a key is missing
/// or a step meets something else than an object; `None` when the text is not as validated.
fn located_at<S: AsRef<str>>(text: &[u8], path: &[S]) -> Option<Option<Value>> {
    let Some((key, rest)) = path.split_first() else { return parse(text).map(Some) };
    if text.first() != Some(&b'{') {
        return Some(None);
    }
    let mut found = None;
    for entry in sonic_rs::to_object_iter(text) {
        let (k, value) = entry.ok()?;
        // A key given twice counts as its last occurrence.
        if k == key.as_ref() {
            found = Some(value);
        }
    }
    match found {
        Some(v) => located_at(v.as_raw_str().as_bytes(), rest),
        None => Some(None),
    }
}

impl Payload {
    /// A payload parsed from `body` when first read.
    pub fn lazy(body: Bytes) -> Self {
        Self { body, parsed: OnceLock::new(), members: OnceLock::new(), text_checked: false, extra: Vec::new() }
    }

    /// [`Payload::lazy`] of a body whose text intake checked when it received it (a queued event's).
    pub(crate) fn lazy_checked(body: Bytes) -> Self {
        Self { text_checked: true, ..Self::lazy(body) }
    }

    /// Notes that intake checked the body's text.
    pub(crate) fn set_text_checked(&mut self) {
        self.text_checked = true;
    }

    /// The member at `index` (a key of an object, or an index of an array), as
    /// [`serde_json::Value::get`] gives it. A key is read by parsing that member only.
    ///
    /// ```
    /// use ocean::Payload;
    /// let p = Payload::lazy(br#"{"action": "opened", "issue": {"id": 7}, "repository": {"id": 1}}"#.to_vec().into());
    /// assert_eq!(p.get("action").and_then(|a| a.as_str()), Some("opened"));
    /// assert_eq!(p["issue"]["id"], 7);
    /// assert!(p.get("sender").is_none());
    /// assert!(!p.is_parsed(), "only the members read were parsed");
    /// ```
    pub fn get<I: PayloadIndex>(&self, index: I) -> Option<&Value> {
        if let Some(v) = self.parsed.get() {
            return v.get(index);
        }
        let Some(key) = index.key() else { return self.value().get(index) };
        if let Some(v) = self.inserted(key) {
            return Some(v);
        }
        match self.members.get_or_init(|| members(&self.body, self.text_checked)) {
            // A key given twice counts as its last occurrence, as in the parsed object.
            Some(members) => members
                .iter()
                .rfind(|m| m.key == key)
                .map(|m| m.value.get_or_init(|| parse(&self.body[m.at.clone()]).unwrap_or(Value::Null))),
            // Not an object: what the whole value gives (`None`, or the member of a value given as such).
            None => self.value().get(index),
        }
    }

    /// A copy of the value at a simple path (`&["repository", "name"]`, jq's `.repository.name` on
    /// objects), read from the body without parsing the rest of it; `None` when a key is missing or a
    /// step meets something else than an object.
    ///
    /// ```
    /// use ocean::Payload;
    /// let p = Payload::lazy(br#"{"repository": {"id": 1, "name": "ocean"}}"#.to_vec().into());
    /// assert_eq!(p.value_at(&["repository", "name"]), Some(serde_json::json!("ocean")));
    /// assert_eq!(p.value_at(&["repository", "owner", "login"]), None);
    /// assert!(!p.is_parsed());
    /// ```
    pub fn value_at<S: AsRef<str>>(&self, path: &[S]) -> Option<Value> {
        self.at_path(path)
    }

    /// Whether the whole value exists already (read whole once, or given as a value); members read by key
    /// alone do not make it so.
    pub fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }

    /// The value, parsed now if it was not yet.
    pub fn value(&self) -> &Value {
        self.parsed.get_or_init(|| self.parse_whole())
    }

    /// The value, owned (parsed now if it was not yet).
    pub fn into_value(mut self) -> Value {
        match self.parsed.take() {
            Some(v) => v,
            None => self.parse_whole(),
        }
    }

    /// The member `key` set by [`Payload::insert`] (before the body was parsed whole), if any.
    fn inserted(&self, key: &str) -> Option<&Value> {
        self.extra.iter().rfind(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The body parsed, with the members set by [`Payload::insert`].
    fn parse_whole(&self) -> Value {
        let mut v = parse(&self.body).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            for (key, value) in &self.extra {
                m.insert(key.clone(), value.clone());
            }
        }
        v
    }

    /// The member `key` when it is an object, as a payload of its own that shares this one's body: its
    /// members are parsed when first read, as this one's are. A processor that returns it
    /// (`upsert([issue])`) spares the members the mapping does not read from being parsed at all.
    ///
    /// ```
    /// use ocean::Payload;
    /// let p = Payload::lazy(br#"{"action": "opened", "issue": {"id": 7, "title": "Bug"}}"#.to_vec().into());
    /// let issue = p.object("issue").unwrap();
    /// assert_eq!(issue["title"], "Bug");
    /// assert!(!issue.is_parsed());
    /// assert_eq!(issue, serde_json::json!({"id": 7, "title": "Bug"}));
    /// assert!(p.object("action").is_none(), "a string is not an object");
    /// assert!(p.object("sender").is_none());
    /// ```
    pub fn object(&self, key: &str) -> Option<Payload> {
        if self.parsed.get().is_none()
            && self.inserted(key).is_none()
            && let Some(members) = self.members.get_or_init(|| members(&self.body, self.text_checked))
        {
            let m = members.iter().rfind(|m| m.key == key)?;
            if m.value.get().is_none() {
                // Members are located in text that was checked (by intake, or before locating them).
                return (self.body.get(m.at.start) == Some(&b'{'))
                    .then(|| Self::lazy_checked(self.body.slice(m.at.clone())));
            }
        }
        self.get(key).filter(|v| v.is_object()).map(|v| Self::from(v.clone()))
    }

    /// Sets the member `key` of an object, as [`serde_json::Map::insert`] does (in place when the key
    /// is there, else after the others), without parsing the body; `false`, and nothing set, when the
    /// payload is not an object.
    ///
    /// ```
    /// use ocean::Payload;
    /// let mut issue = Payload::lazy(br#"{"id": 7, "title": "Bug"}"#.to_vec().into());
    /// assert!(issue.insert("__repository", "ocean".into()));
    /// assert_eq!(issue["__repository"], "ocean");
    /// assert!(!issue.is_parsed());
    /// assert_eq!(issue, serde_json::json!({"id": 7, "title": "Bug", "__repository": "ocean"}));
    /// assert!(!Payload::lazy(b"[1]".to_vec().into()).insert("a", 1.into()));
    /// ```
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> bool {
        let key = key.into();
        if let Some(v) = self.parsed.get_mut() {
            return match v {
                Value::Object(m) => {
                    m.insert(key, value);
                    true
                }
                _ => false,
            };
        }
        let object = if self.text_checked {
            self.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        } else {
            self.members.get_or_init(|| members(&self.body, false)).is_some()
        };
        if object {
            self.extra.retain(|(k, _)| *k != key);
            self.extra.push((key, value));
        }
        object
    }

    /// The top-level members as held, without parsing any: `None` when the payload is parsed whole
    /// already, or is not an object.
    pub(crate) fn held(&self) -> Option<HeldMembers<'_>> {
        if self.parsed.get().is_some() {
            return None;
        }
        let members = self.members.get_or_init(|| members(&self.body, self.text_checked)).as_ref()?;
        Some(HeldMembers { payload: self, members })
    }

    /// The value at a simple path (`["issue", "id"]`, jq's `.issue.id` on objects): read from the parsed
    /// value when there is one, else from the raw body without building it (see `scan.rs`). `None` when
    /// a key is missing, a step meets something else than an object, or the body is not JSON.
    pub(crate) fn at_path<S: AsRef<str>>(&self, path: &[S]) -> Option<Value> {
        fn walk<S: AsRef<str>>(v: &Value, path: &[S]) -> Option<Value> {
            path.iter().try_fold(v, |v, key| v.get(key.as_ref())).cloned()
        }
        if let Some(v) = self.parsed.get() {
            return walk(v, path);
        }
        let Some((first, rest)) = path.split_first() else { return Some(self.value().clone()) };
        if let Some(v) = self.inserted(first.as_ref()) {
            return walk(v, rest);
        }
        // A body intake checked is located once (SIMD skipping), then read within the member.
        let members = if self.text_checked {
            self.members.get_or_init(|| members(&self.body, true)).as_ref()
        } else {
            self.members.get().and_then(Option::as_ref)
        };
        if let Some(members) = members {
            let m = members.iter().rfind(|m| m.key == first.as_ref())?;
            return match m.value.get() {
                Some(v) => walk(v, rest),
                None => {
                    let text = &self.body[m.at.clone()];
                    let located = if self.text_checked { located_at(text, rest) } else { None };
                    // Located, the body's text was checked.
                    located.unwrap_or_else(|| crate::scan::at_path_of_text(text, rest).ok().flatten())
                }
            };
        }
        crate::scan::at_path(&self.body, path).ok().flatten()
    }

    /// Whether any part of the body is held parsed (the whole value, or members read by key).
    pub(crate) fn holds_values(&self) -> bool {
        self.is_parsed()
            || !self.extra.is_empty()
            || self.members.get().is_some_and(|m| m.iter().flatten().any(|m| m.value.get().is_some()))
    }

    /// The same payload without its parsed values, when it has a body to parse again: what a queue keeps
    /// in memory (a parsed value costs several times its text).
    pub(crate) fn unparsed(&self) -> Self {
        if self.body.is_empty() {
            self.clone()
        } else {
            Self { text_checked: self.text_checked, extra: self.extra.clone(), ..Self::lazy(self.body.clone()) }
        }
    }
}

impl<I: PayloadIndex> Index<I> for Payload {
    type Output = Value;

    /// The member at `index`, `null` when there is none (as indexing a [`serde_json::Value`] gives).
    fn index(&self, index: I) -> &Value {
        self.get(index).unwrap_or(&NULL)
    }
}

impl<I: PayloadIndex> IndexMut<I> for Payload {
    /// The member at `index` of the whole value, to change it (as [`serde_json::Value`]'s `IndexMut`).
    fn index_mut(&mut self, index: I) -> &mut Value {
        &mut self.deref_mut()[index]
    }
}

impl Deref for Payload {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl DerefMut for Payload {
    fn deref_mut(&mut self) -> &mut Value {
        self.value();
        // Members read by key would no longer be what the value holds.
        self.members = OnceLock::new();
        self.parsed.get_mut().expect("parsed by value() just before")
    }
}

impl Clone for Payload {
    fn clone(&self) -> Self {
        Self {
            body: self.body.clone(),
            parsed: self.parsed.clone(),
            members: self.members.clone(),
            text_checked: self.text_checked,
            extra: self.extra.clone(),
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parsed.get() {
            Some(v) => v.fmt(f),
            None => write!(f, "Payload(unparsed, {} bytes)", self.body.len()),
        }
    }
}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        Self {
            body: Bytes::new(),
            parsed: OnceLock::from(v),
            members: OnceLock::new(),
            text_checked: false,
            extra: Vec::new(),
        }
    }
}

impl From<Payload> for Value {
    fn from(p: Payload) -> Self {
        p.into_value()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Payload {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl serde::Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lazy(body: &[u8]) -> Payload {
        Payload::lazy(Bytes::copy_from_slice(body))
    }

    #[test]
    fn members_read_by_key_are_the_parsed_value_s_over_every_corpus_payload() {
        let all = crate::scan::tests::payloads();
        assert!(all.len() > 400, "the corpus is where it should be");
        for (file, body) in &all {
            let whole: Value = serde_json::from_slice(body).unwrap();
            let p = lazy(body);
            let checked = Payload::lazy_checked(Bytes::copy_from_slice(body));
            let keys: Vec<&String> = whole.as_object().map(|o| o.keys().collect()).unwrap_or_default();
            for key in &keys {
                assert_eq!(p.get(key.as_str()), whole.get(key.as_str()), "{} .{key}", file.display());
                assert_eq!(checked.get(key.as_str()), whole.get(key.as_str()), "{} .{key}", file.display());
                assert_eq!(&p[*key], &whole[key.as_str()]);
                for sub in whole[key.as_str()].as_object().map(|o| o.keys().collect::<Vec<_>>()).unwrap_or_default() {
                    let path = [key.as_str(), sub.as_str()];
                    assert_eq!(p.value_at(&path).as_ref(), whole[key.as_str()].get(sub), "{} {path:?}", file.display());
                    let fresh = Payload::lazy_checked(Bytes::copy_from_slice(body));
                    let at = fresh.value_at(&path);
                    assert_eq!(at.as_ref(), whole[key.as_str()].get(sub), "{} {path:?}", file.display());
                }
            }
            assert_eq!(p.get("no such member"), None);
            assert_eq!(p["no such member"], Value::Null);
            assert!(!p.is_parsed(), "{}: read by key without a whole parse", file.display());
            assert_eq!(p.holds_values(), !keys.is_empty());
        }
    }

    #[test]
    fn by_key_and_whole_agree_on_odd_bodies() {
        let bodies: [&[u8]; 9] = [
            br#"{"a": {"b": 1}, "a": {"b": 2}}"#,
            br#"{"\u0061": 3, "b": "\ud83d\ude00"}"#,
            br#"[{"a": 1}, 2]"#,
            br#""text""#,
            br#"{"a": 1} trailing"#,
            br#"{"a": 1, "b": [}"#,
            br#"{"a": 1, "b": "\ud800"}"#,
            b"{\"a\": 1, \"b\": \"\xff\"}",
            b"",
        ];
        for body in bodies {
            let whole: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let p = lazy(body);
            for key in ["a", "b", "c"] {
                assert_eq!(p.get(key), whole.get(key), "{} .{key}", String::from_utf8_lossy(body));
                assert_eq!(p.value_at(&[key, "b"]), whole.get(key).and_then(|v| v.get("b")).cloned());
                let object = lazy(body).object(key).map(Payload::into_value);
                assert_eq!(
                    object.as_ref(),
                    whole.get(key).filter(|v| v.is_object()),
                    "{}",
                    String::from_utf8_lossy(body)
                );
                let mut set = lazy(body);
                let mut expected = whole.clone();
                let is_object = expected.as_object_mut().map(|o| o.insert(key.into(), json!([key]))).is_some();
                assert_eq!(set.insert(key, json!([key])), is_object);
                assert_eq!(set.get(key), expected.get(key));
                assert_eq!(set.into_value(), expected, "{} after insert {key}", String::from_utf8_lossy(body));
            }
            assert_eq!(p.get(0), whole.get(0));
            assert_eq!(p[1], whole[1]);
            if serde_json::from_slice::<Value>(body).is_ok() {
                // What intake validated: located by SIMD skipping.
                let checked = Payload::lazy_checked(Bytes::copy_from_slice(body));
                for key in ["a", "b", "c"] {
                    assert_eq!(checked.get(key), whole.get(key), "{} .{key}", String::from_utf8_lossy(body));
                    let at = checked.value_at(&[key, "b"]);
                    assert_eq!(at, whole.get(key).and_then(|v| v.get("b")).cloned());
                }
            }
        }
    }

    #[test]
    fn a_change_is_what_every_later_read_sees() {
        let mut p = lazy(br#"{"issue": {"id": 7}, "action": "opened"}"#);
        assert_eq!(p["issue"]["id"], 7);
        p["issue"] = json!({"id": 8});
        assert_eq!(p["issue"]["id"], 8);
        assert_eq!(p.get("issue"), Some(&json!({"id": 8})));
        assert_eq!(p.value_at(&["issue", "id"]), Some(json!(8)));
        p.as_object_mut().unwrap().remove("action");
        assert_eq!(p.get("action"), None);
        let given = Payload::from(json!({"a": [1, 2]}));
        assert_eq!(given["a"][1], 2);
        assert_eq!(given.value_at(&["a"]), Some(json!([1, 2])));
    }
}
