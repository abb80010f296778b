//! Dead letters: events that exhausted their retries or failed fatally, with why and when.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::item::QueuedEvent;
use super::record::millis;

/// An event that failed for good, as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct DeadLetter {
    /// Id in the dead-letter store.
    pub(crate) id: u64,
    pub(crate) trace_id: String,
    pub(crate) path: String,
    /// The processors that failed (`path#name`).
    pub(crate) processors: Vec<String>,
    /// The last error.
    pub(crate) error: String,
    pub(crate) attempts: u32,
    /// When the event was received (ms since the epoch).
    pub(crate) received_at_ms: u64,
    /// When it failed for good (ms since the epoch).
    pub(crate) failed_at_ms: u64,
    pub(crate) group_key: Option<String>,
    pub(crate) payload: serde_json::Value,
    pub(crate) headers: Vec<(String, String)>,
    #[serde(default)]
    pub(crate) path_params: BTreeMap<String, String>,
    /// The delivery id's deduplication key (`path:id`), when the provider sent one.
    #[serde(default)]
    pub(crate) delivery: Option<String>,
    /// The trace id of a redelivery of the same delivery id, accepted after this event failed.
    #[serde(default)]
    pub(crate) superseded_by: Option<String>,
}

impl DeadLetter {
    /// The dead letter of an event (its id is given by the store).
    pub(crate) fn of(item: &QueuedEvent, processors: Vec<String>, error: String, attempts: u32) -> Self {
        let e = &item.event;
        Self {
            id: 0,
            trace_id: e.trace_id.clone(),
            path: e.path.clone(),
            processors,
            error,
            attempts,
            received_at_ms: millis(e.received_at),
            failed_at_ms: millis(std::time::SystemTime::now()),
            group_key: e.group_key.clone(),
            payload: e.payload.value().clone(),
            headers: e.headers.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            path_params: e.path_params.clone(),
            delivery: item.delivery.clone(),
            superseded_by: None,
        }
    }
}

/// Dead letters held in memory (the memory backend's store).
#[derive(Default)]
pub(crate) struct MemoryDeadLetters(Mutex<Vec<DeadLetter>>);

impl MemoryDeadLetters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<DeadLetter>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add(&self, mut d: DeadLetter) {
        let mut dead = self.lock();
        d.id = dead.last().map_or(1, |l| l.id + 1);
        dead.push(d);
    }

    pub(crate) fn list(&self) -> Vec<DeadLetter> {
        self.lock().clone()
    }

    pub(crate) fn supersede(&self, delivery: &str, by: &str) {
        // The redelivery itself may have failed already: it does not supersede itself.
        for d in self.lock().iter_mut().filter(|d| d.delivery.as_deref() == Some(delivery) && d.trace_id != by) {
            d.superseded_by.get_or_insert_with(|| by.to_owned());
        }
    }

    pub(crate) fn take(&self, id: u64) -> Option<DeadLetter> {
        let mut dead = self.lock();
        let i = dead.iter().position(|d| d.id == id)?;
        Some(dead.remove(i))
    }
}
