//! Delivery ids: how each provider names a delivery, so that a redelivered event is recognised.
//!
//! Each verifier brings its provider's source (GitHub's `X-GitHub-Delivery`, ...); a processor can choose
//! another with [`Processor::dedup`](crate::Processor::dedup) or `dedup = ...` in the macro.
//!
//! ```
//! let e = {
//!     let mut e = ocean::WebhookEvent::from_json("/webhook", serde_json::json!({"id": "evt_1"}));
//!     e.headers = ocean::Headers::from_pairs([("X-GitHub-Delivery", "72d3162e")]);
//!     e
//! };
//! assert_eq!(ocean::delivery::github().extract(&e).as_deref(), Some("72d3162e"));
//! assert_eq!(ocean::delivery::stripe().extract(&e).as_deref(), Some("evt_1"));
//! ```

use std::sync::Arc;

use serde_json::Value;

use crate::event::WebhookEvent;

/// A function that reads a delivery id from an event.
pub type Extractor = Arc<dyn Fn(&WebhookEvent) -> Option<String> + Send + Sync>;

/// Where a delivery id is found.
#[derive(Clone)]
pub enum DeliveryId {
    /// No deduplication.
    None,
    /// The first present header of the list.
    Headers(Vec<&'static str>),
    /// A field of the payload, by path (`["event", "id"]`).
    Body(Vec<&'static str>),
    /// A function of the event.
    Custom(Extractor),
}

impl std::fmt::Debug for DeliveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Headers(h) => write!(f, "Headers({h:?})"),
            Self::Body(p) => write!(f, "Body({p:?})"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl DeliveryId {
    /// The delivery id of an event, if it has one.
    pub fn extract(&self, event: &WebhookEvent) -> Option<String> {
        let id = match self {
            Self::None => None,
            Self::Headers(names) => names.iter().find_map(|n| event.header(n)).map(str::to_owned),
            Self::Body(path) => match event.payload.at_path(path)? {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            },
            Self::Custom(f) => f(event),
        };
        id.filter(|s| !s.is_empty() && s.len() <= 512)
    }
}

/// No deduplication.
pub fn none() -> DeliveryId {
    DeliveryId::None
}
/// GitHub: `X-GitHub-Delivery`.
pub fn github() -> DeliveryId {
    DeliveryId::Headers(vec!["x-github-delivery"])
}
/// GitLab: `Idempotency-Key`, then `webhook-id`.
pub fn gitlab() -> DeliveryId {
    DeliveryId::Headers(vec!["idempotency-key", "webhook-id"])
}
/// Jira: `X-Atlassian-Webhook-Identifier`.
pub fn jira() -> DeliveryId {
    DeliveryId::Headers(vec!["x-atlassian-webhook-identifier"])
}
/// Bitbucket: `X-Request-UUID`.
pub fn bitbucket() -> DeliveryId {
    DeliveryId::Headers(vec!["x-request-uuid"])
}
/// Standard Webhooks: `webhook-id`.
pub fn standard_webhooks() -> DeliveryId {
    DeliveryId::Headers(vec!["webhook-id"])
}
/// Stripe: the event id in the body (`.id`).
pub fn stripe() -> DeliveryId {
    DeliveryId::Body(vec!["id"])
}
/// PagerDuty v3: the event id in the body (`.event.id`).
pub fn pagerduty() -> DeliveryId {
    DeliveryId::Body(vec!["event", "id"])
}
/// A custom extractor.
pub fn custom(f: impl Fn(&WebhookEvent) -> Option<String> + Send + Sync + 'static) -> DeliveryId {
    DeliveryId::Custom(Arc::new(f))
}
