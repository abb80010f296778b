//! How live events win their races with a resync.
//!
//! The rule: while a resync runs, an entity that a live event writes or deletes belongs to live events
//! until the run ends. The resync neither overwrites it with the snapshot it listed nor deletes it as stale.
//! A resync write and a live write of one entity never interleave: the resync claims the entities of a
//! batch before applying it, skipping those live events touched, and a live event touching a claimed entity
//! waits for that one batch to be applied, then lands on top of it.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::mapping::Changes;

/// An entity: blueprint and identifier.
pub(crate) type Key = (String, String);

/// The entities live events touched during the current run, and those a resync is writing.
#[derive(Default)]
pub(crate) struct LiveMarks {
    /// Runs in progress (0 or 1); nothing is noted without one.
    active: AtomicUsize,
    state: Mutex<State>,
    /// Signalled when a resync write ends.
    written: Notify,
}

#[derive(Default)]
struct State {
    touched: HashSet<Key>,
    writing: HashSet<Key>,
}

/// The keys of what changes write or delete (identifiers given as search queries have none).
pub(crate) fn keys(changes: &Changes) -> Vec<Key> {
    let up = changes.upserts.iter().filter_map(|e| e.id_str().map(|id| (e.blueprint.clone(), id.to_owned())));
    let del = changes.deletes.iter().map(|d| (d.blueprint.clone(), d.identifier.clone()));
    up.chain(del).collect()
}

impl LiveMarks {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run begins: live writes are noted from now on.
    pub(crate) fn begin_run(&self) {
        self.active.fetch_add(1, Ordering::AcqRel);
    }

    /// The run ended: what was noted is forgotten.
    pub(crate) fn end_run(&self) {
        if self.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.lock().touched.clear();
        }
    }

    /// A live event is about to apply `changes`: waits while a resync is writing any of its entities, then
    /// notes them. Free when no run is in progress.
    pub(crate) async fn note_live(&self, changes: &Changes) {
        if self.active.load(Ordering::Acquire) == 0 {
            return;
        }
        let keys = keys(changes);
        loop {
            let written = self.written.notified();
            {
                let mut st = self.lock();
                if !keys.iter().any(|k| st.writing.contains(k)) {
                    st.touched.extend(keys);
                    return;
                }
            }
            written.await;
        }
    }

    /// Claims `keys` for a resync write: returns which of them no live event touched (in order); those are
    /// held until the claim is dropped.
    pub(crate) fn claim<'a>(&'a self, keys: &[Key]) -> (Vec<bool>, Claim<'a>) {
        let mut st = self.lock();
        let mut held = Vec::new();
        let free: Vec<bool> = keys
            .iter()
            .map(|k| {
                let free = !st.touched.contains(k);
                if free && st.writing.insert(k.clone()) {
                    held.push(k.clone());
                }
                free
            })
            .collect();
        (free, Claim { marks: self, held })
    }

    /// Whether a live event touched the entity during this run.
    pub(crate) fn touched(&self, key: &Key) -> bool {
        self.lock().touched.contains(key)
    }
}

/// Entities a resync is writing; live events touching them wait until it is dropped.
pub(crate) struct Claim<'a> {
    marks: &'a LiveMarks,
    held: Vec<Key>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        {
            let mut st = self.marks.lock();
            for k in &self.held {
                st.writing.remove(k);
            }
        }
        self.marks.written.notify_waiters();
    }
}
