//! The `postgres` backend: one queue shared by every replica of an integration.
//!
//! - **Intake** ([`append`]): concurrent pushes share one transaction that records the delivery ids, inserts
//!   the events, counts them per group and notifies the other replicas; the push is answered once it
//!   commits.
//! - **Claims** ([`claim`]): a replica leases whole groups (one entity's events), processes their events
//!   one at a time in commit order, renews its leases while it works, and gives a group up when it has
//!   no events left. A replica that dies stops renewing; its groups are claimed again once their lease
//!   expires, from their first unfinished event.
//! - **Dead letters** ([`dead`]) live in the database, so any replica lists and replays them.

mod append;
mod claim;
mod dead;

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::dead::DeadLetter;
use super::item::{Delivery, Pushed, QueueError, QueuedEvent};
use crate::config::QueueSettings;
use crate::postgres::Database;

/// What this replica holds: groups leased, and their events ready for a worker.
#[derive(Default)]
struct Held {
    /// Events whose group this replica leases, waiting for a worker.
    ready: VecDeque<QueuedEvent>,
    /// Every group leased by this replica (ready, in flight, or being acknowledged).
    groups: HashSet<String>,
}

/// The queue kept in PostgreSQL.
pub(crate) struct Shared {
    db: Arc<Database>,
    /// This replica's name in leases: unique per process.
    me: String,
    names: Vec<String>,
    lease: Duration,
    window: Duration,
    capacity: usize,
    /// How many groups this replica leases at most (its workers).
    target: usize,
    held: Mutex<Held>,
    /// Workers wait on it for ready events.
    ready: Notify,
    /// The claimer waits on it: a notification, a group given up, or a stop.
    wake: Arc<Notify>,
    appender: append::Appender,
    /// Events in the database, by path, as last counted.
    depth: Mutex<Vec<(String, usize)>>,
    total: AtomicUsize,
    /// No new claims (draining or closed).
    draining: AtomicBool,
    closed: AtomicBool,
    stop: CancellationToken,
}

impl Shared {
    /// Opens the queue on `db` and starts its tasks (intake's appender, the claimer, lease renewal, the
    /// wake-up listener and the janitor); they end with [`Shared::close`].
    pub(crate) fn open(
        db: Arc<Database>,
        settings: &QueueSettings,
        names: Vec<String>,
        workers: usize,
        persist: metrics::Histogram,
    ) -> Arc<Self> {
        let stop = CancellationToken::new();
        let wake = Arc::new(Notify::new());
        let q = Arc::new(Self {
            appender: append::Appender::spawn(db.clone(), stop.clone(), wake.clone(), persist),
            db: db.clone(),
            me: format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple()),
            names,
            lease: Duration::from_secs(settings.lease_seconds.max(2)),
            window: Duration::from_secs(settings.dedup_window_seconds),
            capacity: settings.capacity,
            target: workers.max(1),
            held: Mutex::default(),
            ready: Notify::new(),
            wake,
            depth: Mutex::default(),
            total: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stop: stop.clone(),
        });
        tokio::spawn(crate::postgres::listen(db.clone(), q.wake.clone(), stop.clone()));
        tokio::spawn(db.watch(stop.clone()));
        tokio::spawn(claim::claimer(Arc::downgrade(&q), stop.clone()));
        tokio::spawn(claim::renewer(Arc::downgrade(&q), stop.clone()));
        tokio::spawn(claim::janitor(Arc::downgrade(&q), stop));
        tracing::info!(replica = %q.me, "queue shared in PostgreSQL");
        q
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits the event (and its delivery id) before answering.
    pub(crate) async fn push(&self, item: QueuedEvent, delivery: Option<String>) -> Result<Pushed, QueueError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(QueueError::Closed);
        }
        if self.total.load(Ordering::Acquire) >= self.capacity {
            return Err(QueueError::Full);
        }
        let names: Vec<&str> = item.processors.iter().filter_map(|i| self.names.get(*i).map(String::as_str)).collect();
        let delivery = delivery.or(item.delivery.clone());
        let record = super::record::Record::of(&item.event, &names, delivery.clone());
        let bytes = record.encode().map_err(QueueError::Backend)?;
        let push = append::Push {
            group: item.group().to_owned(),
            path: item.event.path.clone(),
            trace_id: item.event.trace_id.clone(),
            bytes,
            delivery,
            window: self.window,
        };
        self.appender.push(push).await
    }

    /// Waits for an event of a group this replica leases; `None` once closed.
    pub(crate) async fn next(&self) -> Option<Delivery> {
        loop {
            let notified = self.ready.notified();
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            let (item, more) = {
                let mut held = self.lock();
                let item = held.ready.pop_front();
                (item, !held.ready.is_empty())
            };
            if let Some(item) = item {
                if more {
                    // Wake-ups given while no worker waited collapse into one: pass it on.
                    self.ready.notify_one();
                }
                return Some(Delivery { item });
            }
            notified.await;
        }
    }

    /// Hands a claimed event to the workers.
    fn deliver(&self, item: QueuedEvent) {
        self.lock().ready.push_back(item);
        self.ready.notify_one();
    }

    /// The group is no longer this replica's: the claimer may take another.
    fn give_up(&self, group: &str) {
        self.lock().groups.remove(group);
        self.wake.notify_one();
    }

    /// The event is done: it leaves the database, and the group's next event (if any) is delivered.
    pub(crate) fn ack(self: &Arc<Self>, delivery: Delivery) {
        let q = self.clone();
        tokio::spawn(async move { claim::finish(&q, delivery.item).await });
    }

    /// The event is not done: it is delivered again first, or given up to other replicas when closing.
    pub(crate) fn nack(self: &Arc<Self>, delivery: Delivery) {
        if self.draining.load(Ordering::Acquire) {
            let q = self.clone();
            tokio::spawn(async move { claim::release(&q, delivery.item.group()).await });
        } else {
            self.lock().ready.push_front(delivery.item);
            self.ready.notify_one();
        }
    }

    /// Records a permanent failure, so that any replica lists and replays it.
    pub(crate) async fn dead_letter(&self, d: DeadLetter) {
        dead::add(&self.db, d).await;
    }

    pub(crate) async fn dead_letters(&self) -> Vec<DeadLetter> {
        dead::list(&self.db).await
    }

    pub(crate) async fn take_dead_letter(&self, id: u64) -> Option<DeadLetter> {
        dead::take(&self.db, id).await
    }

    /// Entities this replica leases (their events ready, in flight or being acknowledged).
    pub(crate) fn len(&self) -> usize {
        self.lock().groups.len()
    }

    pub(crate) fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Whether the database answered the last operation, and the entities this replica leases.
    pub(crate) fn replica(&self) -> (bool, usize) {
        (self.db.healthy(), self.len())
    }

    /// Events in the database, by path, as last counted.
    pub(crate) fn depth_by_path(&self) -> Vec<(String, usize)> {
        self.depth.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn can_accept(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && self.db.healthy() && self.total.load(Ordering::Acquire) < self.capacity
    }

    /// Stops claiming, and gives up the groups whose events no worker has taken, so that other replicas
    /// take them at once.
    pub(crate) async fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        let waiting: Vec<String> = {
            let mut held = self.lock();
            let items: Vec<QueuedEvent> = held.ready.drain(..).collect();
            items.iter().map(|i| i.group().to_owned()).collect()
        };
        for group in waiting {
            claim::release(self, &group).await;
        }
    }

    /// Stops deliveries and the background tasks.
    pub(crate) fn close(&self) {
        self.draining.store(true, Ordering::Release);
        self.closed.store(true, Ordering::Release);
        self.ready.notify_waiters();
        self.stop.cancel();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "replica".into())
}
