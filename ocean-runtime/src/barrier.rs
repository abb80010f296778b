//! Removals from the durable queue that wait for the local catalog's disk.
//!
//! With the embedded queue and the local catalog, the catalog commits each batch of entity writes
//! without waiting for the disk, and makes them durable together at most every few tens of
//! milliseconds, in one fsync. An event whose changes are in a commit not yet durable stays in the
//! queue's log until that commit is: its removal is held here and released after the durable commit.
//! A crash then replays from the queue, in order, every event whose changes the catalog could have
//! lost; processing an event again gives the same entities.
//!
//! Why this holds: the catalog marks itself dirty after a commit and before answering the worker, and
//! clears the mark only after a durable commit. A removal that arrives while the catalog is clean
//! follows a durable commit of its changes and is released at once; one that arrives while it is dirty
//! waits for the next durable commit, which comes after its changes' commit (the catalog's commits are
//! made by one thread, in order).

use std::sync::{Mutex, Weak};

/// Where released removals go: the queue's storage.
pub(crate) trait Release: Send + Sync {
    /// The events are done and their changes durable: they leave the queue.
    fn release(&self, seqs: &[u64]);
}

#[derive(Default)]
struct State {
    /// The catalog holds commits not yet durable.
    dirty: bool,
    /// Removals waiting for the next durable commit.
    held: Vec<u64>,
}

/// What the local catalog and the durable queue share. Created before both; the queue installs where
/// removals go.
#[derive(Default)]
pub(crate) struct Barrier {
    state: Mutex<State>,
    to: std::sync::OnceLock<Weak<dyn Release>>,
}

impl Barrier {
    /// The queue's storage, held weakly: a queue dropped first forgets the removals still held, and a
    /// start-up processes those events again.
    pub(crate) fn release_to(&self, to: Weak<dyn Release>) {
        let _ = self.to.set(to);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, seqs: &[u64]) {
        if let Some(to) = self.to.get().and_then(Weak::upgrade) {
            to.release(seqs);
        }
    }

    /// The queue is done with an event: it leaves the queue now if the catalog is clean, else after the
    /// next durable commit.
    pub(crate) fn remove(&self, seq: u64) {
        let mut st = self.lock();
        if st.dirty {
            st.held.push(seq);
        } else {
            drop(st);
            self.send(&[seq]);
        }
    }

    /// The catalog committed without waiting for the disk; called before the writes are answered.
    pub(crate) fn dirty(&self) {
        self.lock().dirty = true;
    }

    /// The catalog made every commit durable: the held removals are released.
    pub(crate) fn durable(&self) {
        let held = {
            let mut st = self.lock();
            st.dirty = false;
            std::mem::take(&mut st.held)
        };
        if !held.is_empty() {
            self.send(&held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Default)]
    struct Seen(Mutex<Vec<u64>>);

    impl Release for Seen {
        fn release(&self, seqs: &[u64]) {
            self.0.lock().unwrap().extend_from_slice(seqs);
        }
    }

    #[test]
    fn removals_wait_while_the_catalog_is_dirty_and_pass_while_it_is_clean() {
        let seen = Arc::new(Seen::default());
        let b = Barrier::default();
        let to: Arc<dyn Release> = seen.clone();
        b.release_to(Arc::downgrade(&to));
        b.remove(1);
        assert_eq!(*seen.0.lock().unwrap(), [1], "clean: released at once");
        b.dirty();
        b.remove(2);
        b.remove(3);
        assert_eq!(*seen.0.lock().unwrap(), [1], "dirty: held");
        b.durable();
        assert_eq!(*seen.0.lock().unwrap(), [1, 2, 3]);
        b.remove(4);
        assert_eq!(*seen.0.lock().unwrap(), [1, 2, 3, 4]);
    }
}
