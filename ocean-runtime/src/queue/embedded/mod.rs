//! The embedded durable storage: every event is persisted (fsync) before it is acknowledged, with group
//! commit so that throughput holds under load.
//!
//! Events live in an append-only log (`queue-log/`, [`super::journal`]): one sequential write per
//! batch and one `fdatasync` shared by its events. Delivery ids and dead letters live in redb (pure
//! Rust, ACID, one file: `queue.redb`), which the events of earlier versions are moved out of at
//! start-up. One writer thread takes every pending insert, removal and dead letter of the moment.
//!
//! Order of a batch, so that a crash loses nothing acknowledged: dead letters are committed first (an
//! event's tombstone may follow in the same batch); then the log is written and synced, and its events
//! acknowledged. Delivery ids are kept in memory and written to redb in bulk, durably before a log
//! segment holding their events is deleted: until then the log holds them, and a start-up reads back
//! the delivery ids of every event still in the log, so a crash forgets none.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;
use tracing::error;

use super::dead::DeadLetter;
use super::dedup::Dedup;
use super::item::{Pushed, QueueError};
use super::journal::{self, Journal};
use super::record::Record;
use super::storage::{OnDurable, Storage};
use crate::error::{Error, Result};
use crate::event::WebhookEvent;
use crate::processor::BoxFuture;
use crate::writer::Writer;

mod batch;
use batch::{Op, WriterState, write_batch};

const EVENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("events");
pub(super) const DEDUP: TableDefinition<'_, &str, u64> = TableDefinition::new("dedup");
const DEAD: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("dead_letters");

/// redb's page cache for the queue (its default is 1 GiB, which a long queue would fill with bodies that
/// are read once, when their event is processed). Reads past it come from the operating system's cache.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The durable store in `{state_dir}/queue.redb`. Dropping it waits for its writer, so that the file
/// can be opened again at once.
pub(crate) struct Embedded {
    db: Arc<Database>,
    writer: Option<Writer<Op>>,
    log: Arc<journal::Shared>,
    dedup: Arc<Dedup>,
    path: PathBuf,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        // The writer finishes its batches; then the delivery ids written without waiting are made durable
        // (those still in memory are in the log, which a start-up reads them back from).
        drop(self.writer.take());
        let durable = || -> std::result::Result<(), String> {
            self.db.begin_write().map_err(|e| e.to_string())?.commit().map_err(|e| e.to_string())
        };
        if let Err(e) = durable() {
            error!(file = %self.path.display(), error = %e, "cannot make the last delivery ids durable");
        }
    }
}

fn storage(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("{}: {e}", path.display()))
}

impl Embedded {
    /// Opens (or creates) the store; returns it with the events left by a previous run, in order.
    /// `dedup` is told which delivery ids are on disk, and memory drops only those; `persist` times each
    /// batch's log write and `fdatasync`.
    pub(crate) fn open(
        path: &Path,
        dedup: Dedup,
        segment_bytes: u64,
        persist: metrics::Histogram,
    ) -> Result<(Self, Vec<(u64, Record)>)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(storage(
                path,
                "the queue store is empty (0 bytes), not a queue; it is kept as it is for inspection: move it away to start with an empty queue",
            ));
        }
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| {
            storage(path, format!("cannot open the queue store ({e}); the file is kept as it is for inspection"))
        })?;
        let window = dedup.window();
        let dedup = Arc::new(dedup);
        let log_dir = path.with_file_name("queue-log");
        // Delivery ids of processed events still in the log: their commit to redb may not have become
        // durable before a crash (a segment is recycled or deleted only after it has).
        let mut processed_ids = Vec::new();
        let (mut log, stored) = Journal::open(&log_dir, segment_bytes, |bytes| {
            if let Ok(Record { delivery: Some(key), received_at_ms, .. }) = Record::decode(bytes) {
                processed_ids.push((key, received_at_ms / 1000 + window.as_secs()));
            }
        })
        .map_err(|e| storage(&log_dir, e))?;
        let txn = db.begin_write().map_err(|e| storage(path, e))?;
        let mut restored = Vec::new();
        let mut next_dead = 1;
        let mut keep = Vec::new();
        for (seq, bytes) in stored {
            match Record::decode(&bytes) {
                Ok(r) => restored.push((seq, r)),
                Err(e) => error!(dir = %log_dir.display(), seq, error = %e, "unreadable queue entry kept on disk"),
            }
        }
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| storage(path, e))?;
            let mut keys = txn.open_table(DEDUP).map_err(|e| storage(path, e))?;
            let dead = txn.open_table(DEAD).map_err(|e| storage(path, e))?;
            // Events of an earlier version, kept in redb: moved to the log (synced) before redb lets
            // them go in this transaction.
            let mut moved = Vec::new();
            for row in events.iter().map_err(|e| storage(path, e))? {
                let row = row.map_err(|e| storage(path, e))?;
                match Record::decode(row.1.value()) {
                    Ok(r) => moved.push((row.1.value().to_vec(), r)),
                    Err(e) => {
                        error!(file = %path.display(), error = %e, "unreadable queue entry kept on disk");
                        keep.push(row.0.value());
                    }
                }
            }
            if !moved.is_empty() {
                let bodies: Vec<&[u8]> = moved.iter().map(|(b, _)| b.as_slice()).collect();
                let seqs = log.append(&bodies, &[]).map_err(|e| storage(&log_dir, e))?;
                restored.extend(seqs.into_iter().zip(moved.into_iter().map(|(_, r)| r)));
                events.retain(|k, _| keep.contains(&k)).map_err(|e| storage(path, e))?;
            }
            // The delivery ids read back from the log (processed events, and those still queued) are
            // written here, so that they outlive the segments deleted below.
            let expiry = |r: &Record| r.received_at_ms / 1000 + window.as_secs();
            processed_ids.extend(restored.iter().filter_map(|(_, r)| Some((r.delivery.clone()?, expiry(r)))));
            // A dead letter released its id (a redelivery is processed) until it is superseded.
            let mut released = std::collections::HashSet::new();
            for row in dead.iter().map_err(|e| storage(path, e))?.flatten() {
                if let Ok(DeadLetter { delivery: Some(key), superseded_by: None, .. }) =
                    serde_json::from_slice(row.1.value())
                {
                    released.insert(key);
                }
            }
            let now = super::dedup::now_secs();
            for (key, exp) in processed_ids.iter().filter(|(k, exp)| *exp > now && !released.contains(k)) {
                keys.insert(key.as_str(), *exp).map_err(|e| storage(path, e))?;
            }
            keys.retain(|_, exp| exp > now).map_err(|e| storage(path, e))?;
            let live = keys.iter().map_err(|e| storage(path, e))?.flatten();
            dedup.restore(live.map(|row| (row.0.value().to_owned(), row.1.value())));
            if let Some(last) = dead.last().map_err(|e| storage(path, e))? {
                next_dead = last.0.value() + 1;
            }
        }
        txn.commit().map_err(|e| storage(path, e))?;
        // redb's state is durable here (the transaction above): processed segments can go.
        log.reclaim();
        let db = Arc::new(db);
        let shared = log.shared();
        let mut state = WriterState {
            db: db.clone(),
            log,
            next_dead,
            path: path.to_owned(),
            ids: std::collections::HashMap::new(),
            ids_unsynced: false,
            ids_failing: false,
            dedup: dedup.clone(),
            pruned_at: std::time::Instant::now(),
            persist,
        };
        // Intake waits for this thread: it keeps the priority of the process.
        let writer = Writer::spawn("ocean-queue-writer", 4096, 0, move |batch| write_batch(&mut state, batch))?;
        let store = Self { db, writer: Some(writer), log: shared, dedup, path: path.to_owned() };
        Ok((store, restored))
    }

    fn send(&self, op: Op) -> bool {
        self.writer.as_ref().is_some_and(|w| w.send(op))
    }

    /// Whether redb holds `key` within its window: asked for an id that memory may have dropped. A read
    /// of a few pages, on the request's thread. If redb cannot answer, the event is taken (a possible
    /// duplicate rather than a lost event).
    fn on_disk(&self, key: &str) -> bool {
        let now = super::dedup::now_secs();
        let found = || -> std::result::Result<bool, String> {
            let txn = self.db.begin_read().map_err(|e| e.to_string())?;
            let table = txn.open_table(DEDUP).map_err(|e| e.to_string())?;
            Ok(table.get(key).map_err(|e| e.to_string())?.is_some_and(|exp| exp.value() > now))
        };
        found().unwrap_or_else(|e| {
            error!(file = %self.path.display(), error = %e, "cannot look a delivery id up; the event is taken");
            false
        })
    }

    fn with_write<T>(&self, f: impl FnOnce(&redb::WriteTransaction) -> std::result::Result<T, String>) -> Option<T> {
        let run = || -> std::result::Result<T, String> {
            let txn = self.db.begin_write().map_err(|e| e.to_string())?;
            let out = f(&txn)?;
            txn.commit().map_err(|e| e.to_string())?;
            Ok(out)
        };
        run().map_err(|e| error!(file = %self.path.display(), error = %e, "dead-letter store failed")).ok()
    }
}

impl crate::barrier::Release for Embedded {
    fn release(&self, seqs: &[u64]) {
        for &seq in seqs {
            Storage::remove(self, seq);
        }
    }
}

impl Storage for Embedded {
    fn persist(
        &self,
        event: &WebhookEvent,
        processors: &[&str],
        delivery: Option<String>,
        on_durable: OnDurable,
    ) -> BoxFuture<'_, Result<Pushed, QueueError>> {
        let bytes = Record::of(event, processors, delivery.clone()).encode();
        Box::pin(async move {
            let bytes = bytes.map_err(QueueError::Backend)?;
            let dedup = match &delivery {
                Some(key) => match self.dedup.reserve(key, |k| self.on_disk(k)) {
                    Some(exp) => Some((key.clone(), exp)),
                    None => return Ok(Pushed::Duplicate),
                },
                None => None,
            };
            let (reply, wait) = oneshot::channel();
            let outcome = if self.send(Op::Insert { bytes, dedup, on_durable, reply }) {
                wait.await.unwrap_or_else(|_| Err("queue writer stopped".into()))
            } else {
                Err("queue closed".into())
            };
            outcome.map(|()| Pushed::Queued).map_err(|e| {
                if let Some(key) = &delivery {
                    self.dedup.release(key);
                }
                QueueError::Backend(format!("{}: {e}", self.path.display()))
            })
        })
    }

    fn remove(&self, seq: u64) {
        self.send(Op::Delete(seq));
    }

    fn read(&self, seq: u64) -> std::result::Result<Record, String> {
        Record::decode(&self.log.read(seq)?)
    }

    fn durable(&self) -> bool {
        true
    }

    fn delivery_ids_in_memory(&self) -> usize {
        self.dedup.len()
    }

    fn dead_letter(&self, d: DeadLetter) {
        if let Some(key) = &d.delivery {
            self.dedup.release(key);
        }
        self.send(Op::Dead(Box::new(d)));
    }

    fn supersede(&self, delivery: &str, by: &str) {
        self.with_write(|txn| {
            let mut t = txn.open_table(DEAD).map_err(|e| e.to_string())?;
            let mut changed = Vec::new();
            for row in t.iter().map_err(|e| e.to_string())? {
                let row = row.map_err(|e| e.to_string())?;
                if let Ok(mut d) = serde_json::from_slice::<DeadLetter>(row.1.value())
                    && d.delivery.as_deref() == Some(delivery)
                    && d.superseded_by.is_none()
                    && d.trace_id != by
                {
                    d.superseded_by = Some(by.to_owned());
                    changed.push(d);
                }
            }
            for d in changed {
                let bytes = serde_json::to_vec(&d).map_err(|e| e.to_string())?;
                t.insert(d.id, bytes.as_slice()).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
    }

    fn dead_letters(&self) -> Vec<DeadLetter> {
        let read = || -> std::result::Result<Vec<DeadLetter>, String> {
            let txn = self.db.begin_read().map_err(|e| e.to_string())?;
            let t = txn.open_table(DEAD).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for row in t.iter().map_err(|e| e.to_string())? {
                let row = row.map_err(|e| e.to_string())?;
                match serde_json::from_slice(row.1.value()) {
                    Ok(d) => out.push(d),
                    Err(e) => error!(id = row.0.value(), error = %e, "undecodable dead letter kept on disk"),
                }
            }
            Ok(out)
        };
        read().unwrap_or_else(|e| {
            error!(file = %self.path.display(), error = %e, "cannot read dead letters");
            Vec::new()
        })
    }

    fn take_dead_letter(&self, id: u64) -> Option<DeadLetter> {
        self.with_write(|txn| {
            let mut t = txn.open_table(DEAD).map_err(|e| e.to_string())?;
            let removed = t.remove(id).map_err(|e| e.to_string())?;
            Ok(removed.and_then(|v| serde_json::from_slice(v.value()).ok()))
        })
        .flatten()
    }
}
