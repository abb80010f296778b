//! Bounded in-memory queue with per-group ordering.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::dedup::Dedup;
use super::{DeadLetter, Delivery, Pushed, Queue, QueueError, QueuedEvent, now_ms};
use crate::processor::BoxFuture;

#[derive(Default)]
struct State {
    groups: HashMap<String, VecDeque<QueuedEvent>>,
    ready: VecDeque<String>,
    in_flight: HashSet<String>,
    len: usize,
    by_path: HashMap<String, usize>,
    closed: bool,
}

/// A bounded in-memory queue. Events are lost if the process stops; the durable backend keeps them.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use ocean::queue::{MemoryQueue, Queue, QueuedEvent};
/// use std::sync::Arc;
/// let q = MemoryQueue::new(10);
/// let mut e = ocean::WebhookEvent::from_json("/webhook", serde_json::json!({}));
/// e.group_key = Some("issue-1".into());
/// q.push(QueuedEvent::new(e.clone(), vec![0]), None).await.unwrap();
/// q.push(QueuedEvent::new(e, vec![0]), None).await.unwrap();
/// let first = q.next().await.unwrap();
/// // The second event of the group waits until the first is acked.
/// assert!(tokio::time::timeout(std::time::Duration::from_millis(20), q.next()).await.is_err());
/// q.ack(first);
/// assert!(q.next().await.is_some());
/// # });
/// ```
pub struct MemoryQueue {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
    dedup: Dedup,
    dead: Mutex<Vec<DeadLetter>>,
    seq: AtomicU64,
}

impl MemoryQueue {
    /// A queue holding at most `capacity` events, deduplicating delivery ids over 72 hours.
    pub fn new(capacity: usize) -> Self {
        Self::with_window(capacity, Duration::from_secs(72 * 3600))
    }

    /// A queue holding at most `capacity` events, deduplicating delivery ids over `window`.
    pub fn with_window(capacity: usize, window: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
            dedup: Dedup::new(window),
            dead: Mutex::new(Vec::new()),
            seq: AtomicU64::new(1),
        }
    }

    /// Adds an event already reserved and persisted by a backend (no capacity or dedup check).
    pub(crate) fn push_held(&self, item: QueuedEvent) -> Result<(), QueueError> {
        let mut st = self.lock();
        if st.closed {
            return Err(QueueError::Closed);
        }
        self.insert(&mut st, item);
        Ok(())
    }

    fn insert(&self, st: &mut State, item: QueuedEvent) {
        let group = item.group().to_owned();
        *st.by_path.entry(item.event.path.clone()).or_default() += 1;
        st.len += 1;
        let q = st.groups.entry(group.clone()).or_default();
        q.push_back(item);
        if q.len() == 1 && !st.in_flight.contains(&group) {
            st.ready.push_back(group);
            self.notify.notify_one();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn dedup(&self) -> &Dedup {
        &self.dedup
    }

    pub(crate) fn has_room(&self, extra: usize) -> bool {
        let st = self.lock();
        !st.closed && st.len + extra < self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that matters more
        // than losing the queue; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, st: &mut State, group: &str) {
        st.in_flight.remove(group);
        match st.groups.get(group) {
            Some(q) if !q.is_empty() => {
                st.ready.push_back(group.to_owned());
                self.notify.notify_one();
            }
            _ => {
                st.groups.remove(group);
            }
        }
    }
}

impl Queue for MemoryQueue {
    fn push(&self, mut item: QueuedEvent, delivery: Option<String>) -> BoxFuture<'_, Result<Pushed, QueueError>> {
        // The body stays, not the parsed payload (several times its size): the worker parses it again.
        if !item.event.payload.is_null() && !item.event.body.is_empty() {
            Arc::make_mut(&mut item.event).payload = serde_json::Value::Null;
        }
        let result = (|| {
            let mut st = self.lock();
            if st.closed {
                return Err(QueueError::Closed);
            }
            if st.len >= self.capacity {
                return Err(QueueError::Full);
            }
            if let Some(key) = &delivery
                && self.dedup.reserve(key).is_none()
            {
                return Ok(Pushed::Duplicate);
            }
            item.seq = self.seq.fetch_add(1, Ordering::Relaxed);
            self.insert(&mut st, item);
            Ok(Pushed::Queued)
        })();
        Box::pin(async move { result })
    }

    fn dead_letter(&self, item: &QueuedEvent, processors: Vec<String>, error: String, attempts: u32) {
        let mut dead = self.dead.lock().unwrap_or_else(|p| p.into_inner());
        let id = dead.last().map_or(1, |d| d.id + 1);
        dead.push(super::durable::dead_letter_of(id, item, processors, error, attempts, now_ms()));
    }

    fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn delete_dead_letter(&self, id: u64) -> bool {
        let mut dead = self.dead.lock().unwrap_or_else(|p| p.into_inner());
        let before = dead.len();
        dead.retain(|d| d.id != id);
        dead.len() != before
    }

    fn take_dead_letter(&self, id: u64) -> Option<DeadLetter> {
        let mut dead = self.dead.lock().unwrap_or_else(|p| p.into_inner());
        let i = dead.iter().position(|d| d.id == id)?;
        Some(dead.remove(i))
    }

    fn next(&self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            loop {
                let notified = self.notify.notified();
                {
                    let mut st = self.lock();
                    if st.closed {
                        return None;
                    }
                    while let Some(group) = st.ready.pop_front() {
                        let item = st.groups.get_mut(&group).and_then(VecDeque::pop_front);
                        if let Some(item) = item {
                            st.in_flight.insert(group);
                            if !st.ready.is_empty() {
                                self.notify.notify_one();
                            }
                            return Some(Delivery { item });
                        }
                    }
                }
                notified.await;
            }
        })
    }

    fn ack(&self, delivery: Delivery) {
        let mut st = self.lock();
        st.len = st.len.saturating_sub(1);
        if let Some(n) = st.by_path.get_mut(&delivery.item.event.path) {
            *n = n.saturating_sub(1);
        }
        let group = delivery.item.group().to_owned();
        self.release(&mut st, &group);
    }

    fn nack(&self, delivery: Delivery) {
        let mut st = self.lock();
        let group = delivery.item.group().to_owned();
        st.groups.entry(group.clone()).or_default().push_front(delivery.item);
        self.release(&mut st, &group);
    }

    fn len(&self) -> usize {
        self.lock().len
    }

    fn depth_by_path(&self) -> Vec<(String, usize)> {
        let st = self.lock();
        let mut v: Vec<_> = st.by_path.iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort();
        v
    }

    fn can_accept(&self) -> bool {
        let st = self.lock();
        !st.closed && st.len < self.capacity
    }

    fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }
}
