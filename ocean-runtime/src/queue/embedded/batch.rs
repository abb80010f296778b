//! The writer thread of the embedded store: each batch of the moment is written in the order that loses
//! nothing acknowledged (see the parent module).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, Durability};
use tokio::sync::oneshot;
use tracing::error;

use super::{DEAD, DEDUP};
use crate::queue::dead::DeadLetter;
use crate::queue::dedup::{Dedup, now_secs};
use crate::queue::journal::Journal;
use crate::queue::storage::OnDurable;

/// What the store asks of its writer thread.
pub(super) enum Op {
    Insert {
        bytes: Vec<u8>,
        dedup: Option<(String, u64)>,
        on_durable: OnDurable,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Delete(u64),
    // Boxed: a dead letter (error, headers, payload) is much larger than the other operations.
    Dead(Box<DeadLetter>),
}

/// What the writer thread owns.
pub(super) struct WriterState {
    pub(super) db: Arc<Database>,
    pub(super) log: Journal,
    pub(super) next_dead: u64,
    pub(super) path: PathBuf,
    /// Delivery ids of events in the log not yet written to redb (the log holds them durably).
    pub(super) ids: HashMap<String, u64>,
    /// Delivery ids were committed to redb without waiting since its last durable commit.
    pub(super) ids_unsynced: bool,
    /// The last write of delivery ids to redb failed (said once per outage).
    pub(super) ids_failing: bool,
    /// Told which delivery ids are on disk, so that memory may drop them.
    pub(super) dedup: Arc<Dedup>,
    /// When redb last dropped the delivery ids past their window.
    pub(super) pruned_at: Instant,
    /// How long each batch of events took to be written and synced.
    pub(super) persist: metrics::Histogram,
}

/// Delivery ids waiting in memory are written to redb (without waiting for the disk) past this count, or
/// past half of the ids the deduplication may hold in memory if that is fewer.
const IDS_IN_MEMORY: usize = 4096;

/// How often redb drops the delivery ids past their window (a scan of the table); at every write of ids
/// in unit tests.
const PRUNE_EVERY: Duration = Duration::from_secs(if cfg!(test) { 0 } else { 3600 });

/// One batch of the writer thread: dead letters, then the log (one write, one fsync); inserts are
/// answered in log order as soon as the log is on disk. Delivery ids reach redb afterwards, in bulk.
pub(super) fn write_batch(st: &mut WriterState, batch: Vec<Op>) {
    let dead: Vec<&DeadLetter> =
        batch.iter().filter_map(|op| if let Op::Dead(d) = op { Some(&**d) } else { None }).collect();
    if !dead.is_empty() {
        let next_dead = &mut st.next_dead;
        let result = commit(&st.db, Durability::Immediate, |txn| {
            let mut table = txn.open_table(DEAD).map_err(|e| e.to_string())?;
            let mut keys = txn.open_table(DEDUP).map_err(|e| e.to_string())?;
            for d in &dead {
                // A dead-lettered event's delivery id may be processed again (a redelivery).
                if let Some(key) = &d.delivery {
                    keys.remove(key.as_str()).map_err(|e| e.to_string())?;
                }
                let d = DeadLetter { id: *next_dead, ..(*d).clone() };
                *next_dead += 1;
                let bytes = serde_json::to_vec(&d).map_err(|e| e.to_string())?;
                table.insert(d.id, bytes.as_slice()).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        if let Err(e) = result {
            // The events stay in the log (their removal follows in this batch only if this succeeded).
            error!(file = %st.path.display(), error = %e, "dead letters not stored; their events stay queued until a restart");
            let batch: Vec<Op> = batch.into_iter().filter(|op| !matches!(op, Op::Delete(_))).collect();
            return write_events(st, batch);
        }
        for key in dead.iter().filter_map(|d| d.delivery.as_deref()) {
            st.ids.remove(key);
        }
    }
    write_events(st, batch);
}

/// The log part of a batch; its inserts are answered once it is synced, then delivery ids are stored.
fn write_events(st: &mut WriterState, batch: Vec<Op>) {
    let bodies: Vec<&[u8]> = batch
        .iter()
        .filter_map(|op| if let Op::Insert { bytes, .. } = op { Some(bytes.as_slice()) } else { None })
        .collect();
    let removals: Vec<u64> =
        batch.iter().filter_map(|op| if let Op::Delete(s) = op { Some(*s) } else { None }).collect();
    let started = Instant::now();
    let result = st.log.append(&bodies, &removals).map_err(|e| e.to_string());
    if result.is_ok() && !bodies.is_empty() {
        st.persist.record(started.elapsed());
    }
    if let Err(e) = &result {
        error!(dir = %st.path.with_file_name("queue-log").display(), error = %e, "queue write failed; the events of this batch were not acknowledged");
    }
    let mut seqs = result.as_ref().map(|s| s.iter().copied()).ok().into_iter().flatten();
    for op in batch {
        if let Op::Insert { on_durable, reply, dedup, .. } = op {
            let r = match &result {
                Ok(_) => {
                    on_durable(seqs.next().unwrap_or_default());
                    st.ids.extend(dedup);
                    Ok(())
                }
                Err(e) => Err(e.clone()),
            };
            let _ = reply.send(r);
        }
    }
    if result.is_ok() {
        store_ids(st);
    }
}

/// Writes the delivery ids held in memory to redb: without waiting for the disk once they are many,
/// durably before a log segment is recycled or deleted (the log holds the ids of its events until then; a start-up
/// reads them back from it).
fn store_ids(st: &mut WriterState) {
    let reclaim = st.log.reclaimable();
    if !reclaim && st.ids.len() < IDS_IN_MEMORY.min(st.dedup.capacity() / 2) {
        return;
    }
    if !st.ids.is_empty() || reclaim && st.ids_unsynced {
        let durability = if reclaim { Durability::Immediate } else { Durability::None };
        let prune = st.pruned_at.elapsed() >= PRUNE_EVERY;
        let stored = commit(&st.db, durability, |txn| {
            let mut table = txn.open_table(DEDUP).map_err(|e| e.to_string())?;
            for (k, exp) in &st.ids {
                table.insert(k.as_str(), *exp).map_err(|e| e.to_string())?;
            }
            if prune {
                let now = now_secs();
                table.retain(|_, exp| exp > now).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        if let Err(e) = stored {
            // The ids stay in memory and in the log, which keeps its segments; a later batch tries again.
            if !st.ids_failing {
                error!(file = %st.path.display(), error = %e, "delivery ids not stored; processed log segments are kept until they are");
                st.ids_failing = true;
            }
            return;
        }
        st.ids_failing = false;
        if prune {
            st.pruned_at = Instant::now();
        }
        // Committed, durably or not: a crash before it is durable leaves them in the log, read back at start.
        st.dedup.stored(st.ids.keys().map(String::as_str));
        st.ids.clear();
        st.ids_unsynced = !reclaim;
    }
    if reclaim {
        st.log.reclaim();
    }
}

/// One redb transaction with the given durability.
fn commit(
    db: &Database,
    durability: Durability,
    f: impl FnOnce(&redb::WriteTransaction) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    let mut txn = db.begin_write().map_err(|e| e.to_string())?;
    txn.set_durability(durability).map_err(|e| e.to_string())?;
    f(&txn)?;
    txn.commit().map_err(|e| e.to_string())
}
