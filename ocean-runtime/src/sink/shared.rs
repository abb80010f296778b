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
