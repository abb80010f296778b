//! The queue between intake and workers: explicit ack and nack, per-group ordering, deduplication by
//! delivery id, and dead letters.
//!
//! Two kinds of queue behind one interface, chosen by `OCEAN__QUEUE__BACKEND`:
//! - [`local`]: one process's queue. The [`scheduler`] orders events per group in memory (one in flight
//!   per group, groups in parallel) over a [`storage`]: the embedded redb store of [`embedded`] with the
//!   [`record`] codec (`durable`), or nothing (`memory`); [`dedup`] and [`dead`] are its components.
//! - [`shared`]: the `postgres` backend, one queue for every replica, ordered per group across them by
//!   leases held in the database.

mod dead;
mod dedup;
mod embedded;
mod item;
mod journal;
mod local;
mod record;
mod scheduler;
mod shared;
mod storage;

use std::path::Path;
use std::sync::Arc;

pub(crate) use dead::DeadLetter;
pub(crate) use item::{Delivery, Pushed, QueueError, QueuedEvent};
use local::Local;
use shared::Shared;

use crate::config::{QueueBackend, QueueSettings};
use crate::error::Result;
use crate::postgres::Database;

/// The queue of one integration.
pub(crate) enum Queue {
    /// This process's queue (`durable` or `memory`).
    Local(Local),
    /// The replicas' queue in PostgreSQL.
    Shared(Arc<Shared>),
}

impl Queue {
    /// Opens the configured backend, restoring unfinished events in order. `names` identifies the
    /// processors by index; events of processors that no longer exist are dead-lettered. `db` is the
    /// database of the `postgres` backend; `workers` bounds the groups a replica claims at once. With
    /// `barrier` (the local catalog's), the durable backend removes processed events as it releases them.
    /// `persist` times how long each batch of pushes takes to become durable.
    pub(crate) fn open(
        settings: &QueueSettings,
        state_dir: &Path,
        names: Vec<String>,
        db: Option<Arc<Database>>,
        workers: usize,
        barrier: Option<Arc<crate::barrier::Barrier>>,
        persist: metrics::Histogram,
    ) -> Result<Self> {
        match (settings.backend, db) {
            (QueueBackend::Postgres, Some(db)) => Ok(Self::Shared(Shared::open(db, settings, names, workers, persist))),
            _ => Ok(Self::Local(Local::open(settings, state_dir, names, barrier, persist)?)),
        }
    }

    /// Adds an event; returns once it is held (persisted, for durable backends). With a delivery key, a
    /// key seen within the window is answered [`Pushed::Duplicate`], atomically.
    pub(crate) async fn push(&self, item: QueuedEvent, delivery: Option<String>) -> Result<Pushed, QueueError> {
        match self {
            Self::Local(q) => q.push(item, delivery).await,
            Self::Shared(q) => q.push(item, delivery).await,
        }
    }

    /// Waits for the next deliverable event, whole; `None` once closed.
    pub(crate) async fn next(&self) -> Option<Delivery> {
        match self {
            Self::Local(q) => q.next().await,
            Self::Shared(q) => q.next().await,
        }
    }

    /// The event is done (applied, ignored or dead-lettered): it leaves the queue.
    pub(crate) fn ack(&self, delivery: Delivery) {
        match self {
            Self::Local(q) => q.ack(delivery),
            Self::Shared(q) => q.ack(delivery),
        }
    }

    /// The event is not done: it goes back to the head of its group.
    pub(crate) fn nack(&self, delivery: Delivery) {
        match self {
            Self::Local(q) => q.nack(delivery),
            Self::Shared(q) => q.nack(delivery),
        }
    }

    /// Records a permanent failure of some of the event's processors.
    pub(crate) async fn dead_letter(&self, item: &QueuedEvent, processors: Vec<String>, error: String, attempts: u32) {
        match self {
            Self::Local(q) => q.dead_letter(item, processors, error, attempts),
            Self::Shared(q) => q.dead_letter(DeadLetter::of(item, processors, error, attempts)).await,
        }
    }

    /// The dead letters, oldest first.
    pub(crate) async fn dead_letters(&self) -> Vec<DeadLetter> {
        match self {
            Self::Local(q) => q.dead_letters(),
            Self::Shared(q) => q.dead_letters().await,
        }
    }

    /// Takes a dead letter out of the store, to re-enqueue or drop it.
    pub(crate) async fn take_dead_letter(&self, id: u64) -> Option<DeadLetter> {
        match self {
            Self::Local(q) => q.take_dead_letter(id),
            Self::Shared(q) => q.take_dead_letter(id).await,
        }
    }

    /// Events held, in flight included (with `postgres`: this replica's).
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Local(q) => q.len(),
            Self::Shared(q) => q.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events held per path (with `postgres`: in the database, as last counted).
    pub(crate) fn depth_by_path(&self) -> Vec<(String, usize)> {
        match self {
            Self::Local(q) => q.depth_by_path(),
            Self::Shared(q) => q.depth_by_path(),
        }
    }

    /// Delivery ids held in memory for deduplication (`None` with `postgres`, which keeps them in the
    /// database).
    pub(crate) fn delivery_ids_in_memory(&self) -> Option<usize> {
        match self {
            Self::Local(q) => Some(q.delivery_ids_in_memory()),
            Self::Shared(_) => None,
        }
    }

    /// With `postgres`: whether the database answered the last operation, and the entities this replica
    /// leases.
    pub(crate) fn replica(&self) -> Option<(bool, usize)> {
        match self {
            Self::Local(_) => None,
            Self::Shared(q) => Some(q.replica()),
        }
    }

    /// The database replicas share, with `postgres`.
    pub(crate) fn database(&self) -> Option<&Arc<Database>> {
        match self {
            Self::Local(_) => None,
            Self::Shared(q) => Some(q.database()),
        }
    }

    /// Whether a push would be accepted now.
    pub(crate) fn can_accept(&self) -> bool {
        match self {
            Self::Local(q) => q.can_accept(),
            Self::Shared(q) => q.can_accept(),
        }
    }

    /// Shutdown begins: take no new work. A shared queue gives up the entities no worker has started, so
    /// that other replicas take them at once.
    pub(crate) async fn drain(&self) {
        if let Self::Shared(q) = self {
            q.drain().await;
        }
    }

    /// Stops deliveries: `next` returns `None` from now on.
    pub(crate) fn close(&self) {
        match self {
            Self::Local(q) => q.close(),
            Self::Shared(q) => q.close(),
        }
    }
}

#[cfg(test)]
mod tests;
