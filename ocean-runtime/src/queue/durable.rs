//! The durable queue: every event is persisted (fsync) before it is acknowledged, with group commit so
//! throughput holds under load, and resumes in group order after a restart or a crash.
//!
//! Built on redb: pure Rust (no C build step), ACID with an fsync per commit, crash-safe by design, one
//! file. One writer thread batches every pending insert, delete and dead letter of the moment into one
//! transaction: one fsync (about 46 µs here) is shared by all the events of the batch.
//!
//! Memory holds a skeleton of each queued event (what orders it), and, within a budget, the event as the
//! intake parsed it: while the queue is short, a worker takes the event without reading it back from
//! disk and parsing it a second time; a long queue waits on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use actix_web::web::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::memory::MemoryQueue;
use super::{DeadLetter, Delivery, Pushed, Queue, QueueError, QueuedEvent, now_ms};
use crate::error::{Error, Result};
use crate::event::{Headers, WebhookEvent};
use crate::processor::BoxFuture;

const EVENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("events");
const DEDUP: TableDefinition<'_, &str, u64> = TableDefinition::new("dedup");
const DEAD: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("dead_letters");

/// An event as stored on disk: `O1`, the length of the metadata (u32, little endian), the metadata as
/// JSON, then the body as received (not re-escaped into a JSON string). Processors are named
/// (`path#name`), so that a new build maps them anew.
#[derive(Serialize, Deserialize)]
struct Stored {
    trace_id: String,
    path: String,
    #[serde(skip)]
    body: Bytes,
    headers: Vec<(String, String)>,
    received_at_ms: u64,
    group_key: Option<String>,
    #[serde(default)]
    path_params: BTreeMap<String, String>,
    processors: Vec<String>,
}

const MAGIC: &[u8; 2] = b"O1";

/// redb's page cache for the queue (its default is 1 GiB, which a long queue would fill with bodies that
/// are read once, when their event is processed). Reads past it come from the operating system's cache.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

fn encode(s: &Stored) -> std::result::Result<Vec<u8>, String> {
    let meta = serde_json::to_vec(s).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(6 + meta.len() + s.body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&u32::try_from(meta.len()).map_err(|e| e.to_string())?.to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&s.body);
    Ok(out)
}

fn decode(bytes: &[u8]) -> std::result::Result<Stored, String> {
    let rest = bytes.strip_prefix(MAGIC).ok_or("not a queue record (bad magic)")?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or("truncated record")?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err("truncated record".into());
    }
    let (meta, body) = rest.split_at(len);
    let mut s: Stored = serde_json::from_slice(meta).map_err(|e| e.to_string())?;
    s.body = Bytes::copy_from_slice(body);
    Ok(s)
}

/// The budget of events kept whole in memory (body and parsed payload), by estimated size.
struct Hot {
    limit: usize,
    used: AtomicUsize,
}

impl Hot {
    /// Estimated memory of an event kept whole: its body and the parsed payload, which takes a few times
    /// the body's size.
    fn cost(e: &WebhookEvent) -> usize {
        e.body.len().saturating_mul(5)
    }

    fn try_reserve(&self, cost: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(cost).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, cost: usize) {
        let _ = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(cost)));
    }
}

/// Memory kept by default for whole events, in MiB (`OCEAN__QUEUE__HOT_MEMORY_MIB`).
pub(crate) const DEFAULT_HOT_MEMORY_MIB: usize = 32;

struct Names {
    processors: Vec<String>,
}

fn event_of(s: Stored) -> WebhookEvent {
    let payload = serde_json::from_slice(&s.body).unwrap_or(serde_json::Value::Null);
    let mut event = WebhookEvent::new(&s.path, s.body, payload, Headers::from_pairs(s.headers));
    event.trace_id = s.trace_id;
    event.received_at = UNIX_EPOCH + Duration::from_millis(s.received_at_ms);
    event.group_key = s.group_key;
    event.path_params = s.path_params;
    event
}

/// What memory keeps of a persisted event: enough to order it, not its body, headers or payload.
fn skeleton(e: &WebhookEvent) -> WebhookEvent {
    WebhookEvent {
        trace_id: e.trace_id.clone(),
        body: Default::default(),
        payload: serde_json::Value::Null,
        headers: Headers::default(),
        received_at: e.received_at,
        group_key: e.group_key.clone(),
        path: e.path.clone(),
        path_params: Default::default(),
    }
}

pub(crate) fn dead_letter_of(
    id: u64,
    item: &QueuedEvent,
    processors: Vec<String>,
    error: String,
    attempts: u32,
    failed_at_ms: u64,
) -> DeadLetter {
    let e = &item.event;
    DeadLetter {
        id,
        trace_id: e.trace_id.clone(),
        path: e.path.clone(),
        processors,
        error,
        attempts,
        received_at_ms: e.received_at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
        failed_at_ms,
        group_key: e.group_key.clone(),
        payload: e.payload.clone(),
        headers: e.headers.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        path_params: e.path_params.clone(),
    }
}

enum Op {
    Insert {
        bytes: Vec<u8>,
        dedup: Option<(String, u64)>,
        item: QueuedEvent,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Delete(u64),
    Dead(DeadLetter),
}

/// The durable, ordered, deduplicating queue in `{state_dir}/queue.redb`.
pub struct DurableQueue {
    mem: Arc<MemoryQueue>,
    db: Arc<Database>,
    tx: std::sync::Mutex<Option<std::sync::mpsc::Sender<Op>>>,
    names: Vec<String>,
    pending: AtomicUsize,
    path: PathBuf,
    hot: Hot,
    writer: Option<std::thread::JoinHandle<()>>,
}

fn storage(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("{}: {e}", path.display()))
}

impl DurableQueue {
    /// Opens (or creates) the queue, restoring unfinished events in order. `names` identifies the
    /// processors by index (`path#name`); events of processors that no longer exist are dead-lettered.
    pub fn open(path: &Path, capacity: usize, window: Duration, names: Vec<String>) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| {
            storage(path, format!("cannot open the queue store ({e}); the file is kept as it is for inspection"))
        })?;
        let txn = db.begin_write().map_err(|e| storage(path, e))?;
        let mut restored = Vec::new();
        let mut unreadable = 0usize;
        let mut next_dead = 1;
        {
            let events = txn.open_table(EVENTS).map_err(|e| storage(path, e))?;
            let mut dedup = txn.open_table(DEDUP).map_err(|e| storage(path, e))?;
            let dead = txn.open_table(DEAD).map_err(|e| storage(path, e))?;
            for row in events.iter().map_err(|e| storage(path, e))? {
                let row = match row {
                    Ok(r) => r,
                    Err(e) => {
                        unreadable += 1;
                        error!(file = %path.display(), error = %e, "unreadable queue entry kept on disk");
                        continue;
                    }
                };
                let seq = row.0.value();
                match decode(row.1.value()) {
                    Ok(s) => restored.push((seq, s)),
                    Err(e) => {
                        unreadable += 1;
                        error!(file = %path.display(), seq, error = %e, "undecodable queue entry kept on disk");
                    }
                }
            }
            let now = super::now_secs();
            dedup.retain(|_, exp| exp > now).map_err(|e| storage(path, e))?;
            if let Some(last) = dead.last().map_err(|e| storage(path, e))? {
                next_dead = last.0.value() + 1;
            }
        }
        txn.commit().map_err(|e| storage(path, e))?;
        let mem = Arc::new(MemoryQueue::with_window(capacity.max(restored.len() + 1), window));
        {
            let read = db.begin_read().map_err(|e| storage(path, e))?;
            let dedup = read.open_table(DEDUP).map_err(|e| storage(path, e))?;
            let mut keys = Vec::new();
            for row in dedup.iter().map_err(|e| storage(path, e))?.flatten() {
                keys.push((row.0.value().to_owned(), row.1.value()));
            }
            mem.dedup().restore(keys);
        }
        let next_seq = restored.last().map_or(1, |(s, _)| s + 1);
        let db = Arc::new(db);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut q = Self {
            mem: mem.clone(),
            db: db.clone(),
            tx: std::sync::Mutex::new(Some(tx)),
            names,
            pending: AtomicUsize::new(0),
            path: path.to_owned(),
            hot: Hot { limit: DEFAULT_HOT_MEMORY_MIB * 1024 * 1024, used: AtomicUsize::new(0) },
            writer: None,
        };
        let n = restored.len();
        for (seq, s) in restored {
            q.restore(seq, s);
        }
        if n > 0 || unreadable > 0 {
            info!(file = %path.display(), resumed = n, unreadable, "queue restored");
        }
        let writer_path = path.to_owned();
        let handle = std::thread::Builder::new()
            .name("ocean-queue-writer".into())
            .spawn(move || writer(&db, &mem, &rx, next_seq, next_dead, &writer_path))
            .map_err(Error::Io)?;
        q.writer = Some(handle);
        Ok(q)
    }

    /// Sets the memory, in bytes, spent keeping queued events whole (default 32 MiB; 0 keeps none), so
    /// that a worker takes them without reading them back from disk and parsing them again.
    ///
    /// ```no_run
    /// # fn main() -> ocean::Result<()> {
    /// let q = ocean::queue::DurableQueue::open("state/queue.redb".as_ref(), 100_000, std::time::Duration::from_secs(3600), vec![])?
    ///     .hot_memory(64 * 1024 * 1024);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn hot_memory(mut self, bytes: usize) -> Self {
        self.hot.limit = bytes;
        self
    }

    fn restore(&self, seq: u64, s: Stored) {
        let names = s.processors.clone();
        let event = event_of(s);
        let s = Names { processors: names };
        let known: Vec<usize> = s.processors.iter().filter_map(|n| self.names.iter().position(|m| m == n)).collect();
        let mut item = QueuedEvent::new(skeleton(&event), known.clone());
        item.seq = seq;
        if known.len() < s.processors.len() {
            let missing: Vec<String> = s.processors.iter().filter(|n| !self.names.contains(n)).cloned().collect();
            warn!(trace_id = %item.event.trace_id, ?missing, "queued event names processors that no longer exist");
            if known.is_empty() {
                self.dead_letter(&item, missing, "no such processor in this build".into(), 0);
                self.send(Op::Delete(seq));
                return;
            }
        }
        if let Err(e) = self.mem.push_held(item) {
            error!(error = %e, "could not restore a queued event");
        }
    }

    /// Reads a queued event back from disk (memory holds only its skeleton).
    fn hydrate(&self, seq: u64) -> std::result::Result<WebhookEvent, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
        let row = t.get(seq).map_err(|e| e.to_string())?.ok_or("missing from the store")?;
        Ok(event_of(decode(row.value())?))
    }

    fn send(&self, op: Op) -> bool {
        match &*self.tx.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(tx) => tx.send(op).is_ok(),
            None => false,
        }
    }

    fn stored(&self, item: &QueuedEvent) -> Stored {
        let e = &item.event;
        Stored {
            trace_id: e.trace_id.clone(),
            path: e.path.clone(),
            // A cheap clone: the intake's buffer is shared, not copied.
            body: e.body.clone(),
            headers: e.headers.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            received_at_ms: e.received_at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            group_key: e.group_key.clone(),
            path_params: e.path_params.clone(),
            processors: item.processors.iter().filter_map(|i| self.names.get(*i).cloned()).collect(),
        }
    }
}

/// The writer thread: one transaction, one fsync, per batch of pending operations.
fn writer(
    db: &Database,
    mem: &MemoryQueue,
    rx: &std::sync::mpsc::Receiver<Op>,
    mut next_seq: u64,
    mut next_dead: u64,
    path: &Path,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut inserted = Vec::new();
        let result = (|| -> std::result::Result<(), String> {
            let txn = db.begin_write().map_err(|e| e.to_string())?;
            {
                let mut events = txn.open_table(EVENTS).map_err(|e| e.to_string())?;
                let mut dedup = txn.open_table(DEDUP).map_err(|e| e.to_string())?;
                let mut dead = txn.open_table(DEAD).map_err(|e| e.to_string())?;
                for op in &batch {
                    match op {
                        Op::Insert { bytes, dedup: key, .. } => {
                            events.insert(next_seq, bytes.as_slice()).map_err(|e| e.to_string())?;
                            if let Some((k, exp)) = key {
                                dedup.insert(k.as_str(), *exp).map_err(|e| e.to_string())?;
                            }
                            inserted.push(next_seq);
                            next_seq += 1;
                        }
                        Op::Delete(seq) => {
                            events.remove(*seq).map_err(|e| e.to_string())?;
                        }
                        Op::Dead(d) => {
                            let mut d = d.clone();
                            d.id = next_dead;
                            next_dead += 1;
                            let bytes = serde_json::to_vec(&d).map_err(|e| e.to_string())?;
                            dead.insert(d.id, bytes.as_slice()).map_err(|e| e.to_string())?;
                        }
                    }
                }
            }
            txn.commit().map_err(|e| e.to_string())
        })();
        if let Err(e) = &result {
            error!(file = %path.display(), error = %e, "queue write failed; the events of this batch were not acknowledged");
        }
        let mut seqs = inserted.into_iter();
        for op in batch {
            if let Op::Insert { mut item, reply, .. } = op {
                let r = match &result {
                    Ok(()) => {
                        item.seq = seqs.next().unwrap_or_default();
                        mem.push_held(item).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.clone()),
                };
                let _ = reply.send(r);
            }
        }
    }
}

impl Queue for DurableQueue {
    fn push(&self, item: QueuedEvent, delivery: Option<String>) -> BoxFuture<'_, Result<Pushed, QueueError>> {
        Box::pin(async move {
            let pending = self.pending.fetch_add(1, Ordering::AcqRel);
            let _guard = PendingGuard(&self.pending);
            if !self.mem.has_room(pending) {
                return Err(if self.mem.is_closed() { QueueError::Closed } else { QueueError::Full });
            }
            let dedup = match &delivery {
                Some(key) => match self.mem.dedup().reserve(key) {
                    Some(exp) => Some((key.clone(), exp)),
                    None => return Ok(Pushed::Duplicate),
                },
                None => None,
            };
            let bytes = encode(&self.stored(&item)).map_err(QueueError::Backend)?;
            let (reply, wait) = oneshot::channel();
            // Whole events are told from skeletons by their body, which skeletons do not keep.
            let cost = Hot::cost(&item.event);
            let whole = !item.event.body.is_empty() && self.hot.try_reserve(cost);
            let item = if whole { item } else { QueuedEvent { event: Arc::new(skeleton(&item.event)), ..item } };
            let sent = self.send(Op::Insert { bytes, dedup, item, reply });
            let outcome = if sent {
                wait.await.unwrap_or_else(|_| Err("queue writer stopped".into()))
            } else {
                Err("queue closed".into())
            };
            match outcome {
                Ok(()) => Ok(Pushed::Queued),
                Err(e) => {
                    if whole {
                        self.hot.release(cost);
                    }
                    if let Some(key) = &delivery {
                        self.mem.dedup().release(key);
                    }
                    Err(QueueError::Backend(format!("{}: {e}", self.path.display())))
                }
            }
        })
    }

    fn next(&self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            let mut d = self.mem.next().await?;
            if !d.item.event.body.is_empty() {
                self.hot.release(Hot::cost(&d.item.event));
                return Some(d);
            }
            match self.hydrate(d.item.seq) {
                Ok(event) => d.item.event = Arc::new(event),
                Err(e) => {
                    error!(seq = d.item.seq, error = %e, "cannot read a queued event back; processing what is known")
                }
            }
            Some(d)
        })
    }

    fn ack(&self, delivery: Delivery) {
        let seq = delivery.item.seq;
        self.mem.ack(delivery);
        self.send(Op::Delete(seq));
    }

    fn nack(&self, mut delivery: Delivery) {
        // Back to a skeleton: the next delivery reads the event from disk, and the budget stays exact.
        delivery.item.event = Arc::new(skeleton(&delivery.item.event));
        self.mem.nack(delivery);
    }

    fn dead_letter(&self, item: &QueuedEvent, processors: Vec<String>, error: String, attempts: u32) {
        self.send(Op::Dead(dead_letter_of(0, item, processors, error, attempts, now_ms())));
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

    fn delete_dead_letter(&self, id: u64) -> bool {
        self.take_dead_letter(id).is_some()
    }

    fn take_dead_letter(&self, id: u64) -> Option<DeadLetter> {
        let take = || -> std::result::Result<Option<DeadLetter>, String> {
            let txn = self.db.begin_write().map_err(|e| e.to_string())?;
            let out = {
                let mut t = txn.open_table(DEAD).map_err(|e| e.to_string())?;
                let removed = t.remove(id).map_err(|e| e.to_string())?;
                removed.and_then(|v| serde_json::from_slice(v.value()).ok())
            };
            txn.commit().map_err(|e| e.to_string())?;
            Ok(out)
        };
        take().unwrap_or_else(|e| {
            error!(file = %self.path.display(), error = %e, "cannot take a dead letter");
            None
        })
    }

    fn len(&self) -> usize {
        self.mem.len()
    }

    fn depth_by_path(&self) -> Vec<(String, usize)> {
        self.mem.depth_by_path()
    }

    fn can_accept(&self) -> bool {
        self.mem.can_accept()
    }

    fn close(&self) {
        self.mem.close();
    }
}

impl Drop for DurableQueue {
    fn drop(&mut self) {
        // Dropping the sender ends the writer thread once it has written what is pending; waiting for it
        // closes the file, which a new queue may then open.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

struct PendingGuard<'a>(&'a AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
