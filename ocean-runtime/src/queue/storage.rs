//! What a queue backend persists: events, their removal, delivery ids and dead letters. The group
//! scheduler and the hot-memory budget are the queue's; a backend only stores.

use super::dead::{DeadLetter, MemoryDeadLetters};
use super::dedup::Dedup;
use super::item::{Pushed, QueueError};
use super::record::Record;
use crate::event::WebhookEvent;
use crate::processor::BoxFuture;

/// Called once the event is durable, with its sequence number, before the push is answered. Backends
/// call it in commit order, so that events enter the scheduler in the order a restart restores them.
pub(crate) type OnDurable = Box<dyn FnOnce(u64) + Send>;

/// A queue backend's storage.
pub(crate) trait Storage: Send + Sync + 'static {
    /// Persists an event accepted by the named processors, and its delivery id when given: a delivery
    /// id seen within the window is answered [`Pushed::Duplicate`] atomically, and nothing is stored.
    fn persist(
        &self,
        event: &WebhookEvent,
        processors: &[&str],
        delivery: Option<String>,
        on_durable: OnDurable,
    ) -> BoxFuture<'_, Result<Pushed, QueueError>>;
    /// The event is done: it leaves the store.
    fn remove(&self, seq: u64);
    /// Reads a stored event back (memory held only its skeleton).
    fn read(&self, seq: u64) -> Result<Record, String>;
    /// Whether stored events survive the process; a volatile store keeps events whole in memory.
    fn durable(&self) -> bool;
    /// Records a dead letter and releases its delivery id, so that a redelivery is processed.
    fn dead_letter(&self, d: DeadLetter);
    /// Marks the dead letters of a delivery id as superseded by the redelivery `by` (its trace id), all
    /// but the redelivery's own.
    fn supersede(&self, delivery: &str, by: &str);
    /// The dead letters, oldest first.
    fn dead_letters(&self) -> Vec<DeadLetter>;
    /// Takes a dead letter out of the store.
    fn take_dead_letter(&self, id: u64) -> Option<DeadLetter>;
    /// Delivery ids held in memory.
    fn delivery_ids_in_memory(&self) -> usize;
}

/// The memory backend: nothing survives the process.
pub(crate) struct Volatile {
    seq: std::sync::atomic::AtomicU64,
    dedup: Dedup,
    dead: MemoryDeadLetters,
}

impl Volatile {
    /// `memory_entries`: the delivery ids remembered (the oldest are forgotten beyond them).
    pub(crate) fn new(window: std::time::Duration, memory_entries: usize) -> Self {
        Self { seq: 1.into(), dedup: Dedup::new(window, memory_entries), dead: MemoryDeadLetters::default() }
    }
}

impl Storage for Volatile {
    fn persist(
        &self,
        _event: &WebhookEvent,
        _processors: &[&str],
        delivery: Option<String>,
        on_durable: OnDurable,
    ) -> BoxFuture<'_, Result<Pushed, QueueError>> {
        let outcome = match delivery {
            Some(key) if self.dedup.reserve(&key, |_| false).is_none() => Pushed::Duplicate,
            _ => {
                on_durable(self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                Pushed::Queued
            }
        };
        Box::pin(async move { Ok(outcome) })
    }

    fn remove(&self, _seq: u64) {}

    fn read(&self, _seq: u64) -> Result<Record, String> {
        Err("the memory queue keeps events whole".into())
    }

    fn durable(&self) -> bool {
        false
    }

    fn dead_letter(&self, d: DeadLetter) {
        if let Some(key) = &d.delivery {
            self.dedup.release(key);
        }
        self.dead.add(d);
    }

    fn supersede(&self, delivery: &str, by: &str) {
        self.dead.supersede(delivery, by);
    }

    fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.list()
    }

    fn delivery_ids_in_memory(&self) -> usize {
        self.dedup.len()
    }

    fn take_dead_letter(&self, id: u64) -> Option<DeadLetter> {
        self.dead.take(id)
    }
}
