//! The payload of an event: its body parsed as JSON when first read, at most once.
//!
//! Intake verifies the body and reads group keys and delivery ids from the raw bytes; the body is
//! parsed only when a processor reads the payload (in `should_process_event`, or in `handle_event` on a
//! worker), so that an event costs one parse wherever it is read.

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use actix_web::web::Bytes;
use serde_json::Value;

/// An event's body as JSON, parsed on first access. It reads as a [`serde_json::Value`]:
///
/// ```
/// use ocean::Payload;
/// let p = Payload::lazy(br#"{"action": "opened", "issue": {"id": 7}}"#.to_vec().into());
/// assert!(!p.is_parsed());
/// assert_eq!(p["issue"]["id"], 7);
/// assert_eq!(p.get("action").and_then(|a| a.as_str()), Some("opened"));
/// assert!(p.is_parsed());
/// let owned: serde_json::Value = p.into();
/// assert_eq!(owned["action"], "opened");
/// ```
///
/// A body that is not JSON reads as `null` (intake refuses such bodies on processor paths).
#[derive(Default)]
pub struct Payload {
    body: Bytes,
    parsed: OnceLock<Value>,
}

impl Payload {
    /// A payload parsed from `body` when first read.
    pub fn lazy(body: Bytes) -> Self {
        Self { body, parsed: OnceLock::new() }
    }

    /// Whether the value exists already (read once, or given as a value).
    pub fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }

    /// The value, parsed now if it was not yet.
    pub fn value(&self) -> &Value {
        self.parsed.get_or_init(|| serde_json::from_slice(&self.body).unwrap_or(Value::Null))
    }

    /// The value, owned (parsed now if it was not yet).
    pub fn into_value(mut self) -> Value {
        match self.parsed.take() {
            Some(v) => v,
            None => serde_json::from_slice(&self.body).unwrap_or(Value::Null),
        }
    }

    /// The value at a simple path (`["issue", "id"]`, jq's `.issue.id` on objects): read from the parsed
    /// value when there is one, else from the raw body without building it (see `scan.rs`). `None` when
    /// a key is missing, a step meets something else than an object, or the body is not JSON.
    pub(crate) fn at_path<S: AsRef<str>>(&self, path: &[S]) -> Option<Value> {
        match self.parsed.get() {
            Some(v) => path.iter().try_fold(v, |v, key| v.get(key.as_ref())).cloned(),
            None => crate::scan::at_path(&self.body, path).ok().flatten(),
        }
    }

    /// The same payload without its parsed value, when it has a body to parse again: what a queue keeps
    /// in memory (the parsed value costs several times the body).
    pub(crate) fn unparsed(&self) -> Self {
        if self.body.is_empty() { self.clone() } else { Self::lazy(self.body.clone()) }
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
        self.parsed.get_mut().expect("parsed by value() just before")
    }
}

impl Clone for Payload {
    fn clone(&self) -> Self {
        Self { body: self.body.clone(), parsed: self.parsed.clone() }
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
        Self { body: Bytes::new(), parsed: OnceLock::from(v) }
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
