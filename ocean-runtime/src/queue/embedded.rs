//! The embedded durable storage: every event is persisted (fsync) before it is acknowledged, with group
//! commit so that throughput holds under load.
//!
//! Built on redb: pure Rust (no C build step), ACID with an fsync per commit, crash-safe by design, one
//! file. One writer thread batches every pending insert, delete and dead letter of the moment into one
//! transaction: one fsync is shared by all the events of the batch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;
use tracing::error;

use super::dead::DeadLetter;
use super::dedup::Dedup;
use super::item::{Pushed, QueueError};
use super::record::Record;
use super::storage::{OnDurable, Storage};
use crate::error::{Error, Result};
use crate::event::WebhookEvent;
use crate::processor::BoxFuture;
use crate::writer::Writer;

const EVENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("events");
const DEDUP: TableDefinition<'_, &str, u64> = TableDefinition::new("dedup");
const DEAD: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("dead_letters");

/// redb's page cache for the queue (its default is 1 GiB, which a long queue would fill with bodies that
/// are read once, when their event is processed). Reads past it come from the operating system's cache.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

enum Op {
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

/// The durable store in `{state_dir}/queue.redb`. Dropping it waits for its writer, so that the file
/// can be opened again at once.
pub(crate) struct Embedded {
    db: Arc<Database>,
    writer: Writer<Op>,
    dedup: Dedup,
    path: PathBuf,
}

fn storage(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("{}: {e}", path.display()))
}

impl Embedded {
    /// Opens (or creates) the store; returns it with the events left by a previous run, in order.
    pub(crate) fn open(path: &Path, window: std::time::Duration) -> Result<(Self, Vec<(u64, Record)>)> {
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
        let dedup = Dedup::new(window);
        let txn = db.begin_write().map_err(|e| storage(path, e))?;
        let mut restored = Vec::new();
        let mut next_dead = 1;
        {
            let events = txn.open_table(EVENTS).map_err(|e| storage(path, e))?;
            let mut keys = txn.open_table(DEDUP).map_err(|e| storage(path, e))?;
            let dead = txn.open_table(DEAD).map_err(|e| storage(path, e))?;
            for row in events.iter().map_err(|e| storage(path, e))? {
                match row.map_err(|e| e.to_string()).and_then(|r| Ok((r.0.value(), Record::decode(r.1.value())?))) {
                    Ok(entry) => restored.push(entry),
                    Err(e) => error!(file = %path.display(), error = %e, "unreadable queue entry kept on disk"),
                }
            }
            let now = super::dedup::now_secs();
            keys.retain(|_, exp| exp > now).map_err(|e| storage(path, e))?;
            let mut live = Vec::new();
            for row in keys.iter().map_err(|e| storage(path, e))?.flatten() {
                live.push((row.0.value().to_owned(), row.1.value()));
            }
            dedup.restore(live);
            if let Some(last) = dead.last().map_err(|e| storage(path, e))? {
                next_dead = last.0.value() + 1;
            }
        }
        txn.commit().map_err(|e| storage(path, e))?;
        let next_seq = restored.last().map_or(1, |(s, _)| s + 1);
        let db = Arc::new(db);
        let (writer_db, writer_path) = (db.clone(), path.to_owned());
        let (mut next_seq, mut next_dead) = (next_seq, next_dead);
        let writer = Writer::spawn("ocean-queue-writer", 4096, move |batch| {
            write_batch(&writer_db, batch, &mut next_seq, &mut next_dead, &writer_path)
        })?;
        let store = Self { db, writer, dedup, path: path.to_owned() };
        Ok((store, restored))
    }

    fn send(&self, op: Op) -> bool {
        self.writer.send(op)
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

/// One batch of the writer thread: one transaction, one fsync. Inserts are answered in commit order.
fn write_batch(db: &Database, batch: Vec<Op>, next_seq: &mut u64, next_dead: &mut u64, path: &Path) {
    let mut seqs = Vec::new();
    let result = (|| -> std::result::Result<(), String> {
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
            let mut dedup = txn.open_table(DEDUP).map_err(|e| e.to_string())?;
            let mut dead = txn.open_table(DEAD).map_err(|e| e.to_string())?;
            let mut seq = *next_seq;
            let mut dead_id = *next_dead;
            for op in &batch {
                match op {
                    Op::Insert { bytes, dedup: key, .. } => {
                        events.insert(seq, bytes.as_slice()).map_err(|e| e.to_string())?;
                        if let Some((k, exp)) = key {
                            dedup.insert(k.as_str(), *exp).map_err(|e| e.to_string())?;
                        }
                        seqs.push(seq);
                        seq += 1;
                    }
                    Op::Delete(s) => {
                        events.remove(*s).map_err(|e| e.to_string())?;
                    }
                    Op::Dead(d) => {
                        // A dead-lettered event's delivery id may be processed again (a redelivery).
                        if let Some(key) = &d.delivery {
                            dedup.remove(key.as_str()).map_err(|e| e.to_string())?;
                        }
                        let d = DeadLetter { id: dead_id, ..(**d).clone() };
                        dead_id += 1;
                        let bytes = serde_json::to_vec(&d).map_err(|e| e.to_string())?;
                        dead.insert(d.id, bytes.as_slice()).map_err(|e| e.to_string())?;
                    }
                }
            }
            *next_seq = seq;
            *next_dead = dead_id;
        }
        txn.commit().map_err(|e| e.to_string())
    })();
    if let Err(e) = &result {
        error!(file = %path.display(), error = %e, "queue write failed; the events of this batch were not acknowledged");
    }
    let mut seqs = seqs.into_iter();
    for op in batch {
        if let Op::Insert { on_durable, reply, .. } = op {
            let r = match &result {
                Ok(()) => {
                    on_durable(seqs.next().unwrap_or_default());
                    Ok(())
                }
                Err(e) => Err(e.clone()),
            };
            let _ = reply.send(r);
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
                Some(key) => match self.dedup.reserve(key) {
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
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
        let row = t.get(seq).map_err(|e| e.to_string())?.ok_or("missing from the store")?;
        Record::decode(row.value())
    }

    fn durable(&self) -> bool {
        true
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
