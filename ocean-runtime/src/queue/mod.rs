//! The queue between intake and workers: explicit ack and nack, per-group ordering.
//!
//! Events of one group are delivered one at a time, in arrival order; the group is held until the
//! delivery is acked or nacked, with no lock that expires. Backends implement [`Queue`]; the in-memory
//! one is [`MemoryQueue`].

mod memory;

use std::sync::Arc;

pub use memory::MemoryQueue;

use crate::event::WebhookEvent;
use crate::processor::BoxFuture;

/// An event waiting for processing, with the processors that accepted it at intake.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    /// The event.
    pub event: Arc<WebhookEvent>,
    /// Indices of the accepting processors in the runtime's processor list.
    pub processors: Vec<usize>,
}

impl QueuedEvent {
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

/// A queue backend.
pub trait Queue: Send + Sync + 'static {
    /// Adds an event; returns once it is held (persisted, for durable backends).
    fn push(&self, item: QueuedEvent) -> BoxFuture<'_, Result<(), QueueError>>;
    /// Waits for the next deliverable event; `None` once closed and drained of deliverable events.
    fn next(&self) -> BoxFuture<'_, Option<Delivery>>;
    /// The event is done (applied, ignored or recorded as failed): it leaves the queue.
    fn ack(&self, delivery: Delivery);
    /// The event is not done: it goes back to the head of its group.
    fn nack(&self, delivery: Delivery);
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
