//! The writer thread of the embedded store: each batch of the moment is written in the order that loses
//! nothing acknowledged (see the parent module).

use std::path::PathBuf;
use std::sync::Arc;

use redb::{Database, Durability};
use tokio::sync::oneshot;
use tracing::error;

use super::{DEAD, DEDUP};
use crate::queue::dead::DeadLetter;
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
    pub(super) last_durable: std::time::Instant,
    /// Delivery ids were committed without waiting since the last durable commit.
    pub(super) ids_pending: bool,
}

/// One batch of the writer thread: dead letters, then the log (one write, one fsync), then delivery
/// ids. Inserts are answered in log order.
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
    }
    write_events(st, batch);
}

/// The log part of a batch, then its delivery ids.
fn write_events(st: &mut WriterState, batch: Vec<Op>) {
    let bodies: Vec<&[u8]> = batch
        .iter()
        .filter_map(|op| if let Op::Insert { bytes, .. } = op { Some(bytes.as_slice()) } else { None })
        .collect();
    let removals: Vec<u64> =
        batch.iter().filter_map(|op| if let Op::Delete(s) = op { Some(*s) } else { None }).collect();
    let result = st.log.append(&bodies, &removals).map_err(|e| e.to_string());
    if let Err(e) = &result {
        error!(dir = %st.path.with_file_name("queue-log").display(), error = %e, "queue write failed; the events of this batch were not acknowledged");
    }
    let keys: Vec<(&str, u64)> = batch
        .iter()
        .filter_map(
            |op| if let Op::Insert { dedup: Some((k, exp)), .. } = op { Some((k.as_str(), *exp)) } else { None },
        )
        .collect();
    // A processed segment is deleted only once the delivery ids of its events are durable in redb.
    let reclaim = result.is_ok() && st.log.reclaimable();
    if result.is_ok() && (!keys.is_empty() || (reclaim && st.ids_pending)) {
        // Durable at the latest with the first commit a second from now, or before a segment goes.
        let durability = if reclaim || st.last_durable.elapsed() >= std::time::Duration::from_secs(1) {
            st.last_durable = std::time::Instant::now();
            st.ids_pending = false;
            Durability::Immediate
        } else {
            st.ids_pending = true;
            Durability::None
        };
        let stored = commit(&st.db, durability, |txn| {
            let mut table = txn.open_table(DEDUP).map_err(|e| e.to_string())?;
            for (k, exp) in &keys {
                table.insert(*k, *exp).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        if let Err(e) = stored {
            // The events are durable; only a redelivery after a restart would be processed again.
            error!(file = %st.path.display(), error = %e, "delivery ids not stored");
        } else if reclaim {
            st.log.reclaim();
        }
    } else if reclaim {
        st.log.reclaim();
    }
    let mut seqs = result.as_ref().map(|s| s.iter().copied()).ok().into_iter().flatten();
    for op in batch {
        if let Op::Insert { on_durable, reply, .. } = op {
            let r = match &result {
                Ok(_) => {
                    on_durable(seqs.next().unwrap_or_default());
                    Ok(())
                }
                Err(e) => Err(e.clone()),
            };
            let _ = reply.send(r);
        }
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
