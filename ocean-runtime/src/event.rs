//! The event model handed to processors: what was received, and what a processor returns.

use std::collections::BTreeMap;
use std::time::SystemTime;

use actix_web::web::Bytes;
use serde_json::Value;

use crate::payload::Payload;

/// Request headers with lower-cased names, in the order received.
///
/// ```
/// let h = ocean::Headers::from_pairs([("X-GitHub-Event", "issues")]);
/// assert_eq!(h.get("x-github-event"), Some("issues"));
/// assert_eq!(h.get("X-GitHub-Event"), Some("issues"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Builds headers from name-value pairs; names are lower-cased.
    pub fn from_pairs<K: AsRef<str>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into())).collect())
    }

    /// The headers of a received request; values that are not visible ASCII are left out.
    pub(crate) fn from_http(map: &actix_web::http::header::HeaderMap) -> Self {
        Self::from_pairs(map.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?.to_owned()))))
    }

    /// The first value of a header, looked up case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in the order received.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Iterates over `(lower-cased name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The headers as a JSON object (last value wins), as the reference framework exposes them.
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }
}

/// One live event, as received on a processor path.
///
/// The raw body is kept byte for byte, so that signatures are verified over exactly what was sent.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// Unique id of this event inside the integration (a UUID v7: it sorts by arrival).
    pub trace_id: String,
    /// The request body exactly as received.
    pub body: Bytes,
    /// The body as JSON, parsed when first read (it derefs to a [`serde_json::Value`]:
    /// `event.payload["issue"]["id"]`). A processor that decides from headers alone in
    /// `should_process_event` spares intake the parse.
    pub payload: Payload,
    /// Request headers, names lower-cased.
    pub headers: Headers,
    /// When the event was received.
    pub received_at: SystemTime,
    /// The key of the ordering group: events of one group are processed one at a time, in arrival order.
    pub group_key: Option<String>,
    /// The processor path the event arrived on, as registered (for example `/webhook/{source}`).
    pub path: String,
    /// Values of the path parameters (`source` in `/webhook/{source}`).
    pub path_params: BTreeMap<String, String>,
}

impl WebhookEvent {
    /// Builds an event from a JSON payload; the body is its compact serialisation. Useful in tests.
    ///
    /// ```
    /// let e = ocean::WebhookEvent::from_json("/webhook", serde_json::json!({"action": "opened"}));
    /// assert_eq!(e.body.as_ref(), br#"{"action":"opened"}"#);
    /// ```
    pub fn from_json(path: &str, payload: Value) -> Self {
        let body = Bytes::from(serde_json::to_vec(&payload).unwrap_or_default());
        Self::new(path, body, payload, Headers::default())
    }

    /// Builds an event with a fresh trace id and the current time, from its body and its payload (a
    /// [`Value`], or [`Payload::lazy`] of the body to parse it when first read).
    pub fn new(path: &str, body: Bytes, payload: impl Into<Payload>, headers: Headers) -> Self {
        Self {
            trace_id: uuid::Uuid::now_v7().to_string(),
            body,
            payload: payload.into(),
            headers,
            received_at: SystemTime::now(),
            group_key: None,
            path: path.to_owned(),
            path_params: BTreeMap::new(),
        }
    }

    /// A header value, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// What a processor returns: raw objects to upsert and raw objects to delete.
///
/// Both go through the jq mappings of the resource the processor was called for. Each object is a
/// [`Payload`]: a [`Value`] (`json!({...})`, or an object fetched from an API), or a part of the event's
/// payload that stays unparsed until the mapping reads it (`event.payload.object("issue")`): then only
/// the members the mapping's programs read are ever parsed.
///
/// ```
/// use serde_json::json;
/// let r = ocean::WebhookEventRawResults::upsert([json!({"id": 1})]);
/// assert_eq!(r.updated_raw_results.len(), 1);
/// assert_eq!(r.updated_raw_results[0]["id"], 1);
/// assert!(r.deleted_raw_results.is_empty());
///
/// let event = ocean::WebhookEvent::from_json("/webhook", json!({"issue": {"id": 7}}));
/// let r = ocean::WebhookEventRawResults::upsert(event.payload.object("issue"));
/// assert_eq!(r.updated_raw_results, [json!({"id": 7})]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookEventRawResults {
    /// Raw objects whose entities are created or updated.
    pub updated_raw_results: Vec<Payload>,
    /// Raw objects whose entities are deleted.
    pub deleted_raw_results: Vec<Payload>,
}

impl WebhookEventRawResults {
    /// Results with objects to upsert only (values, or payloads: `upsert([event.payload.clone()])`).
    pub fn upsert<T: Into<Payload>>(items: impl IntoIterator<Item = T>) -> Self {
        Self { updated_raw_results: items.into_iter().map(Into::into).collect(), deleted_raw_results: Vec::new() }
    }

    /// Results with objects to delete only.
    pub fn delete<T: Into<Payload>>(items: impl IntoIterator<Item = T>) -> Self {
        Self { updated_raw_results: Vec::new(), deleted_raw_results: items.into_iter().map(Into::into).collect() }
    }

    /// No change.
    pub fn empty() -> Self {
        Self::default()
    }
}
