//! The catalog replicas share in PostgreSQL, used instead of the embedded one when the queue is in
//! PostgreSQL and no Port credentials are set: every replica writes and reads the same entities.

use std::sync::Arc;

use serde_json::Value;

use super::local::to_doc;
use super::{CatalogRead, Sink, SinkError};
use crate::mapping::Changes;
use crate::postgres::{Database, describe};
use crate::processor::BoxFuture;

/// Entities in the `ocean_entities` table, with the local catalog's semantics.
#[derive(Clone)]
pub(crate) struct SharedCatalog {
    db: Arc<Database>,
}

impl SharedCatalog {
    pub(crate) fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    async fn write(&self, changes: &Changes) -> Result<(), String> {
        let mut client = self.db.client().await?;
        if let Some((ids, docs, gone)) = flat(changes) {
            // One statement (one round trip) for the common case.
            let run = async {
                let stmt = client.prepare_cached(UPSERT_DELETE).await?;
                let (bps, ids): (Vec<&str>, Vec<&str>) = ids.into_iter().unzip();
                let (gone_bps, gone_ids): (Vec<&str>, Vec<&str>) = gone.into_iter().unzip();
                client.execute(&stmt, &[&bps, &ids, &docs, &gone_bps, &gone_ids]).await
            };
            let r = run.await.map(|_| ()).map_err(|e| describe(&e));
            self.db.note(&r);
            return r;
        }
        let run = async {
            let txn = client.transaction().await?;
            for e in &changes.upserts {
                let Some(id) = e.id_str() else {
                    tracing::warn!(blueprint = %e.blueprint, "search-query identifiers need Port; entity skipped in the local catalog");
                    continue;
                };
                let existing = if changes.merge {
                    txn.query_opt(
                        "SELECT doc FROM ocean_entities WHERE blueprint = $1 AND identifier = $2 FOR UPDATE",
                        &[&e.blueprint, &id],
                    )
                    .await?
                    .and_then(|r| serde_json::from_str::<Value>(r.get(0)).ok())
                } else {
                    None
                };
                let doc = to_doc(e, id, existing).to_string();
                txn.execute(
                    "INSERT INTO ocean_entities (blueprint, identifier, doc) VALUES ($1, $2, $3)
                     ON CONFLICT (blueprint, identifier) DO UPDATE SET doc = EXCLUDED.doc",
                    &[&e.blueprint, &id, &doc],
                )
                .await?;
            }
            for d in &changes.deletes {
                txn.execute(
                    "DELETE FROM ocean_entities WHERE blueprint = $1 AND identifier = $2",
                    &[&d.blueprint, &d.identifier],
                )
                .await?;
            }
            txn.commit().await
        };
        let r = run.await.map_err(|e| describe(&e));
        self.db.note(&r);
        r
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<String>, SinkError> {
        let client = self.db.client().await.map_err(SinkError)?;
        let r = client.query(sql, params).await.map_err(|e| describe(&e));
        self.db.note(&r);
        Ok(r.map_err(SinkError)?.iter().map(|r| r.get(0)).collect())
    }
}

/// Upserts (without merge) and deletes in one statement, each list locked in sorted order.
const UPSERT_DELETE: &str = "
WITH up AS (
    INSERT INTO ocean_entities (blueprint, identifier, doc)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS u(b, i, d) ORDER BY b, i
    ON CONFLICT (blueprint, identifier) DO UPDATE SET doc = EXCLUDED.doc
    RETURNING 1
), gone AS (
    DELETE FROM ocean_entities e USING unnest($4::text[], $5::text[]) AS g(b, i)
    WHERE e.blueprint = g.b AND e.identifier = g.i
    RETURNING 1
)
SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM gone)";

type Key<'a> = (&'a str, &'a str);

/// The changes as one statement's lists, when they fit one: no merge, and no entity both upserted and
/// deleted (one statement sees one snapshot, so the order of the two would be lost). An entity upserted
/// twice keeps its last document.
fn flat(changes: &Changes) -> Option<(Vec<Key<'_>>, Vec<String>, Vec<Key<'_>>)> {
    if changes.merge {
        return None;
    }
    let mut last: std::collections::BTreeMap<Key<'_>, String> = std::collections::BTreeMap::new();
    for e in &changes.upserts {
        match e.id_str() {
            Some(id) => {
                last.insert((e.blueprint.as_str(), id), to_doc(e, id, None).to_string());
            }
            None => {
                tracing::warn!(blueprint = %e.blueprint, "search-query identifiers need Port; entity skipped in the local catalog")
            }
        }
    }
    let gone: Vec<Key<'_>> = changes.deletes.iter().map(|d| (d.blueprint.as_str(), d.identifier.as_str())).collect();
    if gone.iter().any(|k| last.contains_key(k)) {
        return None;
    }
    let (ids, docs) = last.into_iter().unzip();
    Some((ids, docs, gone))
}

fn parse(doc: &str) -> Result<Value, SinkError> {
    serde_json::from_str(doc).map_err(|e| SinkError(format!("stored entity is not JSON: {e}")))
}

impl Sink for SharedCatalog {
    fn apply<'a>(&'a self, changes: &'a Changes) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.write(changes).await.map_err(|e| SinkError(format!("PostgreSQL ({}): {e}", self.db.name)))
        })
    }

    /// Every entity of the shared catalog is this integration's.
    fn owned<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, Result<Vec<String>, SinkError>> {
        Box::pin(async move {
            self.query("SELECT identifier FROM ocean_entities WHERE blueprint = $1 ORDER BY identifier", &[&blueprint])
                .await
        })
    }

    fn ready(&self) -> bool {
        self.db.healthy()
    }
}

impl CatalogRead for SharedCatalog {
    fn list<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, Result<Vec<Value>, SinkError>> {
        Box::pin(async move {
            let docs = self
                .query("SELECT doc FROM ocean_entities WHERE blueprint = $1 ORDER BY identifier", &[&blueprint])
                .await?;
            docs.iter().map(|d| parse(d)).collect()
        })
    }

    fn get<'a>(&'a self, blueprint: &'a str, identifier: &'a str) -> BoxFuture<'a, Result<Option<Value>, SinkError>> {
        Box::pin(async move {
            let docs = self
                .query(
                    "SELECT doc FROM ocean_entities WHERE blueprint = $1 AND identifier = $2",
                    &[&blueprint, &identifier],
                )
                .await?;
            docs.first().map(|d| parse(d)).transpose()
        })
    }
}
