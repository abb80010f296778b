//! What the queue holds and hands out, and what a push can become.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::event::WebhookEvent;

/// An event waiting for processing, with the processors that accepted it at intake.
#[derive(Debug, Clone)]
pub(crate) struct QueuedEvent {
    /// Position in the queue (assigned by the storage).
    pub(crate) seq: u64,
    pub(crate) event: Arc<WebhookEvent>,
    /// The accepting processors, as indices into the integration's processors.
    pub(crate) processors: Vec<usize>,
    /// The delivery id's deduplication key (`path:id`), when the provider sent one.
    pub(crate) delivery: Option<String>,
    /// What the event took from a queue's memory budget, given back when the last copy is dropped.
    pub(crate) held: Option<Arc<Held>>,
}

impl QueuedEvent {
    pub(crate) fn new(event: WebhookEvent, processors: Vec<usize>) -> Self {
        Self { seq: 0, event: Arc::new(event), processors, delivery: None, held: None }
    }

    /// The ordering group: the event's group key, or its own trace id (no ordering constraint).
    pub(crate) fn group(&self) -> &str {
        self.event.group_key.as_deref().unwrap_or(&self.event.trace_id)
    }
}

/// A delivery handed to a worker; give it back with [`Queue::ack`] or [`Queue::nack`].
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) item: QueuedEvent,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Held (and persisted, for durable backends).
    Queued,
    /// The delivery id was seen within the deduplication window: not queued again.
    Duplicate,
}

/// Why an event could not be queued.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueueError {
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

/// What memory keeps of a persisted event: enough to order it, not its body, headers or payload.
pub(super) fn skeleton(
    trace_id: &str,
    path: &str,
    received_at: std::time::SystemTime,
    group_key: &Option<String>,
) -> WebhookEvent {
    WebhookEvent {
        trace_id: trace_id.to_owned(),
        body: Default::default(),
        payload: Default::default(),
        headers: Default::default(),
        received_at,
        group_key: group_key.clone(),
        path: path.to_owned(),
        path_params: Default::default(),
    }
}

/// The skeleton of an event held in memory.
pub(super) fn skeleton_of(e: &WebhookEvent) -> WebhookEvent {
    skeleton(&e.trace_id, &e.path, e.received_at, &e.group_key)
}

/// Bytes that queued events may hold at once: the memory queue's bodies (`OCEAN__QUEUE__MEMORY_MIB`), the
/// durable queue's events kept whole (`OCEAN__QUEUE__HOT_MEMORY_MIB`).
#[derive(Debug)]
pub(crate) struct Budget {
    pub(super) limit: usize,
    used: Arc<AtomicUsize>,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, used: Arc::default() }
    }

    /// Whether nothing more fits.
    pub(crate) fn full(&self) -> bool {
        self.used.load(Ordering::Acquire) >= self.limit
    }

    /// Takes `bytes` from the budget, `None` when they do not fit.
    pub(crate) fn take(&self, bytes: usize) -> Option<Arc<Held>> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_add(bytes).filter(|&t| t <= self.limit))
            .ok()
            .map(|_| Arc::new(Held { used: self.used.clone(), bytes }))
    }
}

/// Bytes taken from a [`Budget`], given back on drop.
#[derive(Debug)]
pub(crate) struct Held {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}
