//! The queue of one process: the group scheduler in memory over a storage (the embedded redb store, or
//! nothing for the memory backend). It answers a push once the storage says the event is durable, keeps
//! events whole in memory within a budget, and reads them back otherwise.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::dead::DeadLetter;
use super::item::skeleton_of;
use super::item::{Budget, Delivery, Pushed, QueueError, QueuedEvent};
use super::record::Record;
use super::scheduler::Scheduler;
use super::storage::{self, Storage};
use crate::barrier::{Barrier, Release};
use tracing::{error, info, warn};

use crate::config::{QueueBackend, QueueSettings};
use crate::error::Result;
use crate::event::WebhookEvent;

/// Estimated memory of an event kept whole by the durable queue: its body, and the parsed payload (a
/// few times the body) when a processor read it at intake.
fn hot_cost(e: &WebhookEvent) -> usize {
    e.body.len().saturating_mul(if e.payload.holds_values() { 5 } else { 1 })
}

/// The queue of one process.
pub(crate) struct Local {
    scheduler: Arc<Scheduler>,
    storage: Arc<dyn Storage>,
    /// With the local catalog: removals wait until the catalog has made the event's changes durable.
    barrier: Option<Arc<Barrier>>,
    /// Processor identities (`path#name`) by index, as records name them.
    names: Vec<String>,
    capacity: usize,
    /// Pushes between the capacity check and the scheduler.
    pending: AtomicUsize,
    /// With the memory backend: the bytes its events' bodies may hold.
    bodies: Option<Budget>,
    /// With a durable backend: events kept whole while they wait (`OCEAN__QUEUE__HOT_MEMORY_MIB`), by
    /// [`hot_cost`]; beyond it they wait on disk only.
    pub(super) hot: Budget,
    /// Delivery ids of dead letters not yet superseded: a push of one of them supersedes its dead letter.
    dead_deliveries: Mutex<HashSet<String>>,
}

impl Local {
    /// Opens the configured backend, restoring unfinished events in order. `names` identifies the
    /// processors by index; events of processors that no longer exist are dead-lettered. With a
    /// `barrier`, the durable backend removes a processed event once the barrier releases it. `persist`
    /// times each batch the durable backend makes durable.
    pub(crate) fn open(
        settings: &QueueSettings,
        state_dir: &Path,
        names: Vec<String>,
        barrier: Option<Arc<Barrier>>,
        persist: metrics::Histogram,
    ) -> Result<Self> {
        let window = std::time::Duration::from_secs(settings.dedup_window_seconds);
        let (storage, restored, barrier): (Arc<dyn Storage>, _, _) = match settings.backend {
            QueueBackend::Memory => {
                (Arc::new(storage::Volatile::new(window, settings.dedup_memory_entries)), Vec::new(), None)
            }
            QueueBackend::Durable | QueueBackend::Postgres => {
                let segment_bytes = settings.segment_mib.max(1).saturating_mul(1024 * 1024);
                let dedup = super::dedup::Dedup::with_disk(window, settings.dedup_memory_entries);
                let (s, restored) =
                    super::embedded::Embedded::open(&state_dir.join("queue.redb"), dedup, segment_bytes, persist)?;
                let s = Arc::new(s);
                if let Some(b) = &barrier {
                    let to: std::sync::Weak<dyn Release> = Arc::downgrade(&s) as _;
                    b.release_to(to);
                }
                (s, restored, barrier)
            }
        };
        let q = Self {
            scheduler: Arc::default(),
            storage,
            barrier,
            names,
            capacity: settings.capacity.max(restored.len() + 1),
            pending: AtomicUsize::new(0),
            bodies: (settings.backend == QueueBackend::Memory)
                .then(|| Budget::new(settings.memory_mib.saturating_mul(1024 * 1024))),
            hot: Budget::new(settings.hot_memory_mib.saturating_mul(1024 * 1024)),
            dead_deliveries: Mutex::default(),
        };
        let open_dead = q.storage.dead_letters().into_iter().filter(|d| d.superseded_by.is_none());
        q.dead_deliveries.lock().unwrap_or_else(|p| p.into_inner()).extend(open_dead.filter_map(|d| d.delivery));
        let n = restored.len();
        for (seq, record) in restored {
            q.restore(seq, record);
        }
        if n > 0 {
            info!(resumed = n, "queue restored");
        }
        Ok(q)
    }

    /// Puts a stored event back in its group; its body stays on disk until a worker takes it.
    fn restore(&self, seq: u64, record: Record) {
        let known: Vec<usize> =
            record.processors.iter().filter_map(|n| self.names.iter().position(|m| m == n)).collect();
        if known.len() < record.processors.len() {
            let missing: Vec<String> = record.processors.iter().filter(|n| !self.names.contains(n)).cloned().collect();
            warn!(trace_id = %record.trace_id, ?missing, "queued event names processors that no longer exist");
            if known.is_empty() {
                let delivery = record.delivery.clone();
                let whole =
                    QueuedEvent { seq, event: Arc::new(record.into_event()), processors: known, delivery, held: None };
                self.dead_letter(&whole, missing, "no such processor in this build".into(), 0);
                self.storage.remove(seq);
                return;
            }
        }
        let (event, delivery) = (Arc::new(record.skeleton()), record.delivery);
        self.scheduler.push(QueuedEvent { seq, event, processors: known, delivery, held: None });
    }

    /// Adds an event; returns once it is held (persisted, for durable backends). With a delivery key, a
    /// key seen within the window is answered [`Pushed::Duplicate`], atomically.
    pub(crate) async fn push(&self, mut item: QueuedEvent, delivery: Option<String>) -> Result<Pushed, QueueError> {
        let pending = self.pending.fetch_add(1, Ordering::AcqRel);
        let _guard = PendingGuard(&self.pending);
        if self.scheduler.is_closed() {
            return Err(QueueError::Closed);
        }
        if self.scheduler.len() + pending >= self.capacity {
            return Err(QueueError::Full);
        }
        if let Some(budget) = &self.bodies {
            // An event larger than the whole budget is charged all of it: it is taken when the queue
            // holds nothing, rather than refused forever.
            let charge = item.event.body.len().min(budget.limit);
            item.held = Some(budget.take(charge).ok_or(QueueError::Full)?);
        }
        if delivery.is_some() {
            item.delivery.clone_from(&delivery);
        }
        // A redelivery of a dead-lettered event supersedes its dead letter once it is queued.
        let superseding = delivery
            .as_ref()
            .is_some_and(|k| self.dead_deliveries.lock().unwrap_or_else(|p| p.into_inner()).contains(k))
            .then(|| item.event.trace_id.clone());
        let names: Vec<&str> = item.processors.iter().filter_map(|i| self.names.get(*i).map(String::as_str)).collect();
        // What the scheduler holds: a volatile store keeps the body (not the parsed payload, several times
        // its size); a durable one keeps the whole event within the hot budget, a skeleton beyond it.
        // `source` is the event as received, for the storage to encode. A push that does not queue drops
        // the item, and with it what it took from a budget.
        let hot = (self.storage.durable() && !item.event.body.is_empty())
            .then(|| self.hot.take(hot_cost(&item.event)))
            .flatten();
        let source = if !self.storage.durable() {
            if item.event.payload.holds_values() {
                let unparsed = item.event.payload.unparsed();
                Arc::make_mut(&mut item.event).payload = unparsed;
            }
            item.event.clone()
        } else if hot.is_some() {
            item.held = hot;
            item.event.clone()
        } else {
            let skeleton = Arc::new(skeleton_of(&item.event));
            std::mem::replace(&mut item.event, skeleton)
        };
        let scheduler = self.scheduler.clone();
        let on_durable = Box::new(move |seq| {
            item.seq = seq;
            scheduler.push(item);
        });
        let outcome = self.storage.persist(&source, &names, delivery.clone(), on_durable).await;
        if let (Ok(Pushed::Queued), Some(key), Some(trace_id)) = (&outcome, &delivery, &superseding)
            && self.dead_deliveries.lock().unwrap_or_else(|p| p.into_inner()).remove(key)
        {
            info!(trace_id = %trace_id, delivery = %key, "redelivery of a dead-lettered event; the dead letter is superseded");
            self.storage.supersede(key, trace_id);
        }
        outcome
    }

    /// Waits for the next deliverable event, whole; `None` once closed.
    pub(crate) async fn next(&self) -> Option<Delivery> {
        let mut item = self.scheduler.next().await?;
        if !item.event.body.is_empty() {
            if self.storage.durable() {
                // The hot budget is for events that wait; the memory queue's is held until the event
                // is dropped.
                item.held = None;
            }
            return Some(Delivery { item });
        }
        match self.storage.read(item.seq) {
            Ok(record) => item.event = Arc::new(record.into_event()),
            Err(e) => error!(seq = item.seq, error = %e, "cannot read a queued event back; processing what is known"),
        }
        Some(Delivery { item })
    }

    /// The event is done (applied, ignored or dead-lettered): it leaves the queue.
    pub(crate) fn ack(&self, delivery: Delivery) {
        self.scheduler.done(&delivery.item);
        match &self.barrier {
            Some(b) => b.remove(delivery.item.seq),
            None => self.storage.remove(delivery.item.seq),
        }
    }

    /// The event is not done: it goes back to the head of its group.
    pub(crate) fn nack(&self, mut delivery: Delivery) {
        if self.storage.durable() {
            // Back to a skeleton: the next delivery reads the event from disk, and the budget stays exact.
            delivery.item.event = Arc::new(skeleton_of(&delivery.item.event));
        }
        self.scheduler.requeue(delivery.item);
    }

    /// Records a permanent failure of some of the event's processors.
    pub(crate) fn dead_letter(&self, item: &QueuedEvent, processors: Vec<String>, error: String, attempts: u32) {
        if let Some(key) = &item.delivery {
            self.dead_deliveries.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone());
        }
        self.storage.dead_letter(DeadLetter::of(item, processors, error, attempts));
    }

    /// The dead letters, oldest first.
    pub(crate) fn dead_letters(&self) -> Vec<DeadLetter> {
        self.storage.dead_letters()
    }

    /// Takes a dead letter out of the store, to re-enqueue or drop it.
    pub(crate) fn take_dead_letter(&self, id: u64) -> Option<DeadLetter> {
        self.storage.take_dead_letter(id)
    }

    /// Events held, in flight included.
    pub(crate) fn len(&self) -> usize {
        self.scheduler.len()
    }

    /// Events held per path.
    pub(crate) fn depth_by_path(&self) -> Vec<(String, usize)> {
        self.scheduler.depth_by_path()
    }

    /// Delivery ids held in memory for deduplication.
    pub(crate) fn delivery_ids_in_memory(&self) -> usize {
        self.storage.delivery_ids_in_memory()
    }

    /// Whether a push would be accepted now.
    pub(crate) fn can_accept(&self) -> bool {
        !self.scheduler.is_closed()
            && self.scheduler.len() < self.capacity
            && !self.bodies.as_ref().is_some_and(Budget::full)
    }

    /// Stops deliveries: `next` returns `None` from now on.
    pub(crate) fn close(&self) {
        self.scheduler.close();
    }
}

struct PendingGuard<'a>(&'a AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
