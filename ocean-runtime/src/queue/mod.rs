//! The queue between intake and workers: explicit ack and nack, per-group ordering, deduplication by
//! delivery id, and dead letters.
//!
//! Events of one group are delivered one at a time, in arrival order; the group is held until the
//! delivery is acked or nacked, with no lock that expires. Backends implement [`Queue`]: the durable one
//! ([`DurableQueue`], the default) persists every event before it is acknowledged; the in-memory one
//! ([`MemoryQueue`]) loses them with the process.

mod dedup;
mod durable;
mod memory;

use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) use durable::DEFAULT_HOT_MEMORY_MIB;
pub use durable::DurableQueue;
pub use memory::MemoryQueue;
use serde::{Deserialize, Serialize};

use crate::event::WebhookEvent;
use crate::processor::BoxFuture;

/// An event waiting for processing, with the processors that accepted it at intake.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    /// Position in the queue (assigned by the backend).
    pub seq: u64,
    /// The event.
    pub event: Arc<WebhookEvent>,
    /// Indices of the accepting processors in the runtime's processor list.
    pub processors: Vec<usize>,
}

impl QueuedEvent {
    /// A new event for the given processors.
    pub fn new(event: WebhookEvent, processors: Vec<usize>) -> Self {
        Self { seq: 0, event: Arc::new(event), processors }
    }

    /// The ordering group: the event's group key, or its own trace id (no ordering constraint).
    pub fn group(&self) -> &str {
        self.event.group_key.as_deref().unwrap_or(&self.event.trace_id)
    }
}

/// A delivery handed to a worker; give it back with [`Queue::ack`] or [`Queue::nack`].
#[derive(Debug)]
pub struct Delivery {
    /// The event.
    pub item: QueuedEvent,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Held (and persisted, for durable backends).
    Queued,
    /// The delivery id was seen within the deduplication window: not queued again.
    Duplicate,
}

/// Why an event could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue holds its capacity.
    #[error("queue full")]
    Full,
    /// The queue stopped accepting (shutdown).
    #[error("queue closed")]
    Closed,
    /// The backend failed.
    #[error("queue backend: {0}")]
    Backend(String),
}

/// An event that exhausted its retries or failed fatally, with why and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeadLetter {
    /// Id in the dead-letter store.
    pub id: u64,
    /// The event's trace id.
    pub trace_id: String,
    /// The processor path.
    pub path: String,
    /// The processors that failed (`path#name`).
    pub processors: Vec<String>,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the event was received (ms since the epoch).
    pub received_at_ms: u64,
    /// When it failed for good (ms since the epoch).
    pub failed_at_ms: u64,
    /// The ordering group.
    pub group_key: Option<String>,
    /// The payload.
    pub payload: serde_json::Value,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Path parameters.
    #[serde(default)]
    pub path_params: BTreeMap<String, String>,
}

/// A queue backend.
pub trait Queue: Send + Sync + 'static {
    /// Adds an event; returns once it is held (persisted, for durable backends). With a delivery key, a
    /// key seen within the window is answered [`Pushed::Duplicate`], atomically.
    fn push(&self, item: QueuedEvent, delivery: Option<String>) -> BoxFuture<'_, Result<Pushed, QueueError>>;
    /// Waits for the next deliverable event; `None` once closed.
    fn next(&self) -> BoxFuture<'_, Option<Delivery>>;
    /// The event is done (applied, ignored or dead-lettered): it leaves the queue.
    fn ack(&self, delivery: Delivery);
    /// The event is not done: it goes back to the head of its group.
    fn nack(&self, delivery: Delivery);
    /// Records a permanent failure of some of the event's processors in the dead-letter store.
    fn dead_letter(&self, item: &QueuedEvent, processors: Vec<String>, error: String, attempts: u32);
    /// The dead letters, oldest first.
    fn dead_letters(&self) -> Vec<DeadLetter>;
    /// Removes a dead letter; `false` when absent.
    fn delete_dead_letter(&self, id: u64) -> bool;
    /// Takes a dead letter out of the store, to re-enqueue it.
    fn take_dead_letter(&self, id: u64) -> Option<DeadLetter>;
    /// Events held, in flight included.
    fn len(&self) -> usize;
    /// Whether no event is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Events held per path.
    fn depth_by_path(&self) -> Vec<(String, usize)>;
    /// Whether a push would be accepted now.
    fn can_accept(&self) -> bool;
    /// Stops deliveries: `next` returns `None` from now on.
    fn close(&self);
}

pub(crate) use dedup::now_secs;

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
