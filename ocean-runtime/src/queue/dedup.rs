//! Delivery-id deduplication: an atomic check-and-reserve over a time window, with the most recent ids
//! in memory and, for a durable queue, the older ones of the window on disk.
//!
//! Memory holds at most `capacity` ids (`OCEAN__QUEUE__DEDUP_MEMORY_ENTRIES`), oldest dropped first, and
//! only once the store says they are on disk ([`Dedup::stored`]); until then it holds more. An id
//! that memory no longer holds is looked up on disk while one dropped within its window may still be
//! live. Ids are reserved in order of expiry (the window is constant), so expiring and dropping take the
//! front of a FIFO: each reservation costs O(1), however many ids the window holds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One id held in memory.
struct Slot {
    /// Its place in the FIFO (an id released then reserved again gets a new one).
    seq: u64,
    expiry: u64,
    /// On disk (or, for a store without one, never to be looked up): memory may drop it.
    stored: bool,
}

#[derive(Default)]
struct Seen {
    slots: HashMap<Arc<str>, Slot>,
    /// Reservations in order, oldest first; an entry whose id was released or reserved again since is
    /// stale (its `seq` no longer matches) and skipped.
    order: VecDeque<(u64, Arc<str>)>,
    next_seq: u64,
    /// The latest expiry of an id dropped from memory within its window: until then, a miss in memory
    /// is looked up on disk.
    forgot_until: u64,
}

impl Seen {
    /// Drops expired ids, then the oldest stored ones beyond `capacity`.
    fn trim(&mut self, now: u64, capacity: usize) {
        while let Some((seq, key)) = self.order.front() {
            let Some(slot) = self.slots.get(key) else {
                self.order.pop_front();
                continue;
            };
            if slot.seq != *seq {
                self.order.pop_front();
                continue;
            }
            if slot.expiry <= now {
                self.slots.remove(key);
            } else if self.slots.len() > capacity && slot.stored {
                self.forgot_until = self.forgot_until.max(slot.expiry);
                self.slots.remove(key);
            } else {
                break;
            }
            self.order.pop_front();
        }
    }

    fn insert(&mut self, key: Arc<str>, expiry: u64, stored: bool) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, key.clone()));
        self.slots.insert(key, Slot { seq, expiry, stored });
    }
}

/// The delivery ids seen within the window, with their expiry.
pub(crate) struct Dedup {
    seen: Mutex<Seen>,
    window: Duration,
    capacity: usize,
    /// The store keeps ids on disk and says when ([`Dedup::stored`]); otherwise ids are forgotten past
    /// `capacity`.
    on_disk: bool,
}

impl Dedup {
    /// Ids remembered in memory only: past `capacity`, the oldest are forgotten.
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self { seen: Mutex::default(), window, capacity: capacity.max(1), on_disk: false }
    }

    /// Ids that the store also writes to disk: memory drops only those it has stored, and a miss is
    /// looked up on disk while dropped ids may still be within their window.
    pub(crate) fn with_disk(window: Duration, capacity: usize) -> Self {
        Self { on_disk: true, ..Self::new(window, capacity) }
    }

    /// The ids memory holds once the store has written the older ones to disk.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long an id is remembered.
    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `key`; `None` when it was seen within the window. Atomic: of two concurrent copies of one
    /// delivery, exactly one reserves it. `on_disk(key)` says whether the store holds it within its
    /// window; it is asked, without the lock held, only when memory may have dropped it. Returns the
    /// expiry to persist with the event.
    pub(crate) fn reserve(&self, key: &str, on_disk: impl FnOnce(&str) -> bool) -> Option<u64> {
        let now = now_secs();
        let mut seen = self.lock();
        if seen.slots.get(key).is_some_and(|s| s.expiry > now) {
            return None;
        }
        if self.on_disk && seen.forgot_until > now {
            drop(seen);
            if on_disk(key) {
                return None;
            }
            seen = self.lock();
            if seen.slots.get(key).is_some_and(|s| s.expiry > now) {
                return None;
            }
        }
        let expiry = now + self.window.as_secs();
        seen.insert(key.into(), expiry, !self.on_disk);
        seen.trim(now, self.capacity);
        Some(expiry)
    }

    /// Releases a reservation whose event could not be queued, so a retry by the sender is accepted.
    pub(crate) fn release(&self, key: &str) {
        self.lock().slots.remove(key);
    }

    /// The store has written these ids to disk: memory may drop them.
    pub(crate) fn stored<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut seen = self.lock();
        for key in keys {
            if let Some(slot) = seen.slots.get_mut(key) {
                slot.stored = true;
            }
        }
        seen.trim(now_secs(), self.capacity);
    }

    /// Restores reservations read from disk (all stored): memory keeps the `capacity` latest to expire,
    /// selected as they stream by, so that a window of millions of ids never sits in memory at once.
    pub(crate) fn restore(&self, entries: impl IntoIterator<Item = (String, u64)>) {
        let now = now_secs();
        let mut latest = BinaryHeap::new();
        let mut forgot_until = 0;
        for (key, expiry) in entries.into_iter().filter(|(_, exp)| *exp > now) {
            latest.push(Reverse((expiry, key)));
            if latest.len() > self.capacity
                && let Some(Reverse((dropped, _))) = latest.pop()
            {
                forgot_until = forgot_until.max(dropped);
            }
        }
        let mut seen = self.lock();
        seen.forgot_until = seen.forgot_until.max(forgot_until);
        for Reverse((expiry, key)) in latest.into_sorted_vec().into_iter().rev() {
            seen.insert(key.into(), expiry, true);
        }
        seen.trim(now, self.capacity);
    }

    /// Ids held in memory.
    pub(crate) fn len(&self) -> usize {
        self.lock().slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn memory_only_forgets_the_oldest_past_capacity() {
        let d = Dedup::new(HOUR, 3);
        for k in ["a", "b", "c", "d"] {
            assert!(d.reserve(k, |_| unreachable!("no disk")).is_some());
        }
        assert_eq!(d.len(), 3);
        assert!(d.reserve("d", |_| false).is_none(), "recent ids are remembered");
        assert!(d.reserve("a", |_| false).is_some(), "the oldest was forgotten");
    }

    #[test]
    fn durable_ids_stay_in_memory_until_stored_then_are_looked_up_on_disk() {
        let d = Dedup::with_disk(HOUR, 2);
        for k in ["a", "b", "c", "d"] {
            assert!(d.reserve(k, |_| panic!("nothing was dropped, memory answers")).is_some());
        }
        assert_eq!(d.len(), 4, "none stored yet: none dropped");
        d.stored(["a", "b", "c", "d"]);
        assert_eq!(d.len(), 2);
        let mut asked = Vec::new();
        assert!(
            d.reserve("a", |k| {
                asked.push(k.to_owned());
                true
            })
            .is_none()
        );
        assert!(
            d.reserve("e", |k| {
                asked.push(k.to_owned());
                false
            })
            .is_some()
        );
        assert!(d.reserve("d", |_| panic!("held in memory")).is_none());
        assert_eq!(asked, ["a", "e"]);
    }

    #[test]
    fn a_released_id_can_be_reserved_again_and_its_old_place_is_skipped() {
        let d = Dedup::new(HOUR, 2);
        assert!(d.reserve("a", |_| false).is_some());
        d.release("a");
        assert!(d.reserve("a", |_| false).is_some());
        assert!(d.reserve("b", |_| false).is_some());
        assert!(d.reserve("a", |_| false).is_none(), "the stale first place did not drop the new one");
    }

    #[test]
    fn restore_keeps_the_latest_to_expire() {
        let d = Dedup::with_disk(HOUR, 2);
        let now = now_secs();
        d.restore([
            ("old".to_owned(), now + 10),
            ("gone".to_owned(), now - 1),
            ("new".to_owned(), now + 20),
            ("mid".to_owned(), now + 15),
        ]);
        assert_eq!(d.len(), 2);
        assert!(d.reserve("new", |_| panic!("in memory")).is_none());
        assert!(d.reserve("old", |_| true).is_none(), "dropped from memory, found on disk");
    }
}
