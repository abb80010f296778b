//! The embedded local catalog: entities with Port's semantics in a redb file under the state directory.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde_json::Value;

use super::{Sink, SinkError};
use crate::barrier::Barrier;
use crate::error::{Error, Result};
use crate::mapping::Changes;
use crate::processor::BoxFuture;
use crate::writer::{Batches, Writer};

const ENTITIES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("entities");
const SEP: char = '\u{1f}';

/// The local catalog. Cheap to clone; survives restarts.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let catalog = ocean::sink::LocalCatalog::open(&dir.path().join("catalog.redb")).unwrap();
/// assert!(catalog.list("githubIssue").unwrap().is_empty());
/// ```
#[derive(Clone)]
pub struct LocalCatalog {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    writer: Writer<Job>,
}

/// What the writer thread is asked.
enum Job {
    /// An event's changes; answered once committed, and once durable when `durable` (or without a
    /// barrier).
    Write { changes: Changes, durable: bool, reply: tokio::sync::oneshot::Sender<Result<()>> },
    /// Make every commit durable now; answered once done.
    Settle(tokio::sync::oneshot::Sender<()>),
}

/// With a barrier, how long commits may wait for the disk: they are made durable together at most
/// this long after the first of them.
const SETTLE_EVERY: Duration = Duration::from_millis(50);

impl std::fmt::Debug for LocalCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalCatalog")
    }
}

fn storage(e: impl std::fmt::Display) -> Error {
    Error::Storage(e.to_string())
}

impl LocalCatalog {
    /// Opens (or creates) the catalog file. One handle per file: clone it to share it; a file still held
    /// by a handle being dropped elsewhere is waited for briefly.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, 0, None)
    }

    /// [`LocalCatalog::open`], with its writer thread `niceness` below the caller's priority. With a
    /// barrier, commits do not wait for the disk: they are made durable together within
    /// [`SETTLE_EVERY`], and the barrier holds the queue's removals of their events until then.
    pub(crate) fn open_with(path: &Path, niceness: i32, barrier: Option<Arc<Barrier>>) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut attempt = 0;
        let db = loop {
            // redb's default cache is 1 GiB; entities are small and the OS caches the file as well.
            match Database::builder().set_cache_size(64 * 1024 * 1024).create(path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if attempt < 50 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(Error::Storage(format!("{}: {e}", path.display()))),
            }
        };
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(ENTITIES).map_err(storage)?;
        txn.commit().map_err(storage)?;
        let db = Arc::new(db);
        let state = CatalogWriter { db: db.clone(), barrier, dirty_since: None, failing: false };
        let writer = Writer::spawn_with("ocean-catalog-writer", 1024, niceness, state)?;
        Ok(Self { inner: Arc::new(Inner { db, writer }) })
    }

    /// Makes every commit durable and releases the removals waiting for it (at shutdown, once the
    /// workers have stopped).
    pub(crate) async fn settle(&self) {
        let (reply, done) = tokio::sync::oneshot::channel();
        if self.inner.writer.send(Job::Settle(reply)) {
            let _ = done.await;
        }
    }

    /// Every entity of a blueprint, ordered by identifier.
    pub fn list(&self, blueprint: &str) -> Result<Vec<Value>> {
        self.scan(blueprint, |_, doc| serde_json::from_slice(doc).map_err(storage))
    }

    /// The identifiers of every entity of a blueprint, in order.
    pub fn identifiers(&self, blueprint: &str) -> Result<Vec<String>> {
        self.scan(blueprint, |id, _| Ok(id.to_owned()))
    }

    /// `f(identifier, stored document)` for every entity of a blueprint, in order of identifier.
    fn scan<T>(&self, blueprint: &str, mut f: impl FnMut(&str, &[u8]) -> Result<T>) -> Result<Vec<T>> {
        let txn = self.inner.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTITIES).map_err(storage)?;
        let start = format!("{blueprint}{SEP}");
        let end = format!("{blueprint}{}", char::from_u32(SEP as u32 + 1).unwrap_or(SEP));
        let mut out = Vec::new();
        for row in table.range(start.as_str()..end.as_str()).map_err(storage)? {
            let (k, v) = row.map_err(storage)?;
            out.push(f(&k.value()[start.len()..], v.value())?);
        }
        Ok(out)
    }

    /// One entity, as Port shows it.
    pub fn get(&self, blueprint: &str, identifier: &str) -> Result<Option<Value>> {
        let txn = self.inner.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTITIES).map_err(storage)?;
        let key = format!("{blueprint}{SEP}{identifier}");
        match table.get(key.as_str()).map_err(storage)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(storage)?)),
            None => Ok(None),
        }
    }

    /// Number of entities of every blueprint.
    pub fn count(&self) -> Result<u64> {
        let txn = self.inner.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTITIES).map_err(storage)?;
        table.len().map_err(storage)
    }

    /// Applies changes in one durable transaction.
    pub fn apply_blocking(&self, changes: &Changes) -> Result<()> {
        let txn = self.inner.db.begin_write().map_err(storage)?;
        {
            let mut table = txn.open_table(ENTITIES).map_err(storage)?;
            write(&mut table, changes)?;
        }
        txn.commit().map_err(storage)
    }
}

/// The writer thread's state.
struct CatalogWriter {
    db: Arc<Database>,
    barrier: Option<Arc<Barrier>>,
    /// When the first commit not yet durable was made.
    dirty_since: Option<Instant>,
    /// The last durable commit failed.
    failing: bool,
}

impl CatalogWriter {
    /// Makes the commits durable (one empty durable commit carries every earlier one), then releases
    /// the removals held for them.
    fn settle(&mut self) {
        let Some(barrier) = &self.barrier else { return };
        if self.dirty_since.is_some() {
            let durable = (|| -> Result<()> { self.db.begin_write().map_err(storage)?.commit().map_err(storage) })();
            if let Err(e) = durable {
                // The removals stay held, and their events in the queue; tried again after the interval,
                // and said once per outage.
                if !self.failing {
                    tracing::error!(error = %e, "local catalog: cannot make its last commits durable; processed events stay queued until it can");
                    self.failing = true;
                }
                self.dirty_since = Some(Instant::now());
                return;
            }
            if std::mem::take(&mut self.failing) {
                tracing::info!("local catalog: commits durable again");
            }
        }
        self.dirty_since = None;
        barrier.durable();
    }
}

impl Batches<Job> for CatalogWriter {
    /// The changes of every event pending at the moment share one transaction (group commit): durable
    /// before each event is answered without a barrier, made durable within [`SETTLE_EVERY`] with one.
    fn write(&mut self, batch: Vec<Job>) {
        // A write that must be durable when answered, or a settle request, makes the batch's commit
        // durable, which carries every earlier commit to the disk with it.
        let settle = batch.iter().any(|j| !matches!(j, Job::Write { durable: false, .. }));
        let durable = self.barrier.is_none() || settle;
        let writes = batch.iter().any(|j| matches!(j, Job::Write { .. }));
        let result = if writes {
            (|| -> Result<()> {
                let mut txn = self.db.begin_write().map_err(storage)?;
                if !durable {
                    txn.set_durability(redb::Durability::None).map_err(storage)?;
                }
                {
                    let mut table = txn.open_table(ENTITIES).map_err(storage)?;
                    for job in &batch {
                        if let Job::Write { changes, .. } = job {
                            write(&mut table, changes)?;
                        }
                    }
                }
                txn.commit().map_err(storage)
            })()
        } else {
            Ok(())
        };
        if let (true, Ok(()), Some(barrier)) = (writes, &result, &self.barrier) {
            if durable {
                // Nothing is left for the settle below to commit.
                self.dirty_since = None;
            } else {
                // Before the answers: a removal after one of them waits for the durable commit.
                barrier.dirty();
                self.dirty_since.get_or_insert_with(Instant::now);
            }
        }
        let answer = || result.as_ref().map(|_| ()).map_err(|e| Error::Storage(e.to_string()));
        // Writes that must be durable when answered, and settle requests, are answered after the settle.
        let mut after = Vec::new();
        for job in batch {
            match job {
                Job::Write { durable: false, reply, .. } => {
                    let _ = reply.send(answer());
                }
                job => after.push(job),
            }
        }
        if settle || self.dirty_since.is_some_and(|t| t.elapsed() >= SETTLE_EVERY) {
            self.settle();
        }
        for job in after {
            match job {
                Job::Write { reply, .. } => {
                    let _ = reply.send(answer());
                }
                Job::Settle(reply) => {
                    let _ = reply.send(());
                }
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.dirty_since.map(|t| t + SETTLE_EVERY)
    }

    fn wake(&mut self) {
        self.settle();
    }

    fn end(&mut self) {
        self.settle();
    }
}

fn write(table: &mut redb::Table<'_, &str, &[u8]>, changes: &Changes) -> Result<()> {
    for e in &changes.upserts {
        let Some(id) = e.id_str() else {
            tracing::warn!(blueprint = %e.blueprint, "search-query identifiers need Port; entity skipped in the local catalog");
            continue;
        };
        let key = format!("{}{SEP}{id}", e.blueprint);
        // The stored entity is read only when it is merged into (a replacement does not need it), and its
        // values are copied as text, not parsed.
        let stored = if changes.merge { table.get(key.as_str()).map_err(storage)? } else { None };
        let bytes = super::merge::doc(e, id, stored.as_ref().map(|v| v.value())).map_err(storage)?;
        drop(stored);
        table.insert(key.as_str(), bytes.as_slice()).map_err(storage)?;
    }
    for d in &changes.deletes {
        let key = format!("{}{SEP}{}", d.blueprint, d.identifier);
        table.remove(key.as_str()).map_err(storage)?;
    }
    Ok(())
}

impl LocalCatalog {
    fn write<'a>(&'a self, changes: &'a Changes, durable: bool) -> BoxFuture<'a, Result<(), SinkError>> {
        let (reply, done) = tokio::sync::oneshot::channel();
        let sent = self.inner.writer.send(Job::Write { changes: changes.clone(), durable, reply });
        Box::pin(async move {
            if !sent {
                return Err(SinkError("the catalog writer stopped".into()));
            }
            done.await.map_err(|e| SinkError(e.to_string()))?.map_err(|e| SinkError(e.to_string()))
        })
    }
}

/// Changes are durable when `apply` returns.
impl Sink for LocalCatalog {
    fn apply<'a>(&'a self, changes: &'a Changes) -> BoxFuture<'a, Result<(), SinkError>> {
        self.write(changes, true)
    }

    /// Every entity of the local catalog is this integration's.
    fn owned<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, Result<Vec<String>, SinkError>> {
        Box::pin(async move { self.identifiers(blueprint).map_err(|e| SinkError(e.to_string())) })
    }
}

/// The local catalog as the workers of the durable queue write to it: `apply` returns once the changes
/// are committed, before they are durable; the catalog's barrier keeps the event in the queue until
/// they are.
pub(crate) struct Queued(pub(crate) LocalCatalog);

impl Sink for Queued {
    fn apply<'a>(&'a self, changes: &'a Changes) -> BoxFuture<'a, Result<(), SinkError>> {
        self.0.write(changes, false)
    }
}

impl super::CatalogRead for LocalCatalog {
    fn list<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, Result<Vec<Value>, SinkError>> {
        Box::pin(async move { LocalCatalog::list(self, blueprint).map_err(|e| SinkError(e.to_string())) })
    }

    fn get<'a>(&'a self, blueprint: &'a str, identifier: &'a str) -> BoxFuture<'a, Result<Option<Value>, SinkError>> {
        Box::pin(async move { LocalCatalog::get(self, blueprint, identifier).map_err(|e| SinkError(e.to_string())) })
    }
}
