//! The embedded local catalog: entities with Port's semantics in a redb file under the state directory.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde_json::Value;

use super::{Sink, SinkError};
use crate::error::{Error, Result};
use crate::mapping::Changes;
use crate::processor::BoxFuture;
use crate::writer::Writer;

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

type Job = (Changes, tokio::sync::oneshot::Sender<Result<()>>);

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
        Self::open_niced(path, 0)
    }

    /// [`LocalCatalog::open`], with its writer thread `niceness` below the caller's priority.
    pub(crate) fn open_niced(path: &Path, niceness: i32) -> Result<Self> {
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
        let writer_db = db.clone();
        let writer =
            Writer::spawn("ocean-catalog-writer", 1024, niceness, move |batch| write_batch(&writer_db, batch))?;
        Ok(Self { inner: Arc::new(Inner { db, writer }) })
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

/// One batch of the writer thread: the changes of every event pending at the moment share one
/// transaction and one fsync (group commit); each event is answered once its changes are durable.
fn write_batch(db: &Database, batch: Vec<Job>) {
    let result = (|| -> Result<()> {
        let txn = db.begin_write().map_err(storage)?;
        {
            let mut table = txn.open_table(ENTITIES).map_err(storage)?;
            for (changes, _) in &batch {
                write(&mut table, changes)?;
            }
        }
        txn.commit().map_err(storage)
    })();
    for (_, reply) in batch {
        let _ = reply.send(match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(Error::Storage(e.to_string())),
        });
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

impl Sink for LocalCatalog {
    fn apply<'a>(&'a self, changes: &'a Changes) -> BoxFuture<'a, Result<(), SinkError>> {
        let (reply, done) = tokio::sync::oneshot::channel();
        let sent = self.inner.writer.send((changes.clone(), reply));
        Box::pin(async move {
            if !sent {
                return Err(SinkError("the catalog writer stopped".into()));
            }
            done.await.map_err(|e| SinkError(e.to_string()))?.map_err(|e| SinkError(e.to_string()))
        })
    }

    /// Every entity of the local catalog is this integration's.
    fn owned<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, Result<Vec<String>, SinkError>> {
        Box::pin(async move { self.identifiers(blueprint).map_err(|e| SinkError(e.to_string())) })
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
