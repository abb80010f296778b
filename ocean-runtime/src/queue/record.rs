//! The record codec of queued events: `O1`, the length of the metadata (u32, little endian), the metadata
//! as JSON, then the body as received (not re-escaped into a JSON string). Processors are named
//! (`path#name`), so that a new build maps them anew.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use actix_web::web::Bytes;
use serde::{Deserialize, Serialize};

use super::item::skeleton;
use crate::event::{Headers, WebhookEvent};
use crate::payload::Payload;

const MAGIC: &[u8; 2] = b"O1";

/// A queued event as a storage keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) trace_id: String,
    pub(crate) path: String,
    #[serde(skip)]
    pub(crate) body: Bytes,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) received_at_ms: u64,
    pub(crate) group_key: Option<String>,
    #[serde(default)]
    pub(crate) path_params: BTreeMap<String, String>,
    pub(crate) processors: Vec<String>,
    /// The delivery id's deduplication key, released if the event is dead-lettered.
    #[serde(default)]
    pub(crate) delivery: Option<String>,
}

pub(crate) fn millis(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Record {
    /// The record of an event accepted by the named processors. The body is shared, not copied.
    pub(crate) fn of(e: &WebhookEvent, processors: &[&str], delivery: Option<String>) -> Self {
        Self {
            trace_id: e.trace_id.clone(),
            path: e.path.clone(),
            body: e.body.clone(),
            headers: e.headers.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            received_at_ms: millis(e.received_at),
            group_key: e.group_key.clone(),
            path_params: e.path_params.clone(),
            processors: processors.iter().map(|p| (*p).to_owned()).collect(),
            delivery,
        }
    }

    /// What memory keeps of the event while it waits on disk: enough to order it.
    pub(crate) fn skeleton(&self) -> WebhookEvent {
        skeleton(&self.trace_id, &self.path, UNIX_EPOCH + Duration::from_millis(self.received_at_ms), &self.group_key)
    }

    /// The event again; its body (checked at intake) is parsed when first read.
    pub(crate) fn into_event(self) -> WebhookEvent {
        let payload = Payload::lazy_checked(self.body.clone());
        let mut event = WebhookEvent::new(&self.path, self.body, payload, Headers::from_pairs(self.headers));
        event.trace_id = self.trace_id;
        event.received_at = UNIX_EPOCH + Duration::from_millis(self.received_at_ms);
        event.group_key = self.group_key;
        event.path_params = self.path_params;
        event
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        let meta = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(6 + meta.len() + self.body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&u32::try_from(meta.len()).map_err(|e| e.to_string())?.to_le_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes.strip_prefix(MAGIC).ok_or("not a queue record (bad magic)")?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or("truncated record")?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err("truncated record".into());
        }
        let (meta, body) = rest.split_at(len);
        let mut r: Self = serde_json::from_slice(meta).map_err(|e| e.to_string())?;
        r.body = Bytes::copy_from_slice(body);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_codec_and_a_cut_one_is_refused() {
        let mut e = WebhookEvent::from_json("/webhook", serde_json::json!({"a": "\"quoted\""}));
        e.group_key = Some("g".into());
        let r = Record::of(&e, &["/webhook#p"], Some("/webhook:d1".into()));
        let bytes = r.encode().unwrap();
        let back = Record::decode(&bytes).unwrap();
        assert_eq!(back.body, e.body);
        assert_eq!(back.processors, ["/webhook#p"]);
        assert_eq!(back.delivery.as_deref(), Some("/webhook:d1"));
        assert_eq!(back.into_event().payload, e.payload);
        assert!(Record::decode(&bytes[..8]).is_err());
        assert!(Record::decode(b"XX").is_err());
    }
}
