//! The catalog replicas share in PostgreSQL, used instead of the embedded one when the queue is in
//! PostgreSQL and no Port credentials are set: every replica writes and reads the same entities.

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_postgres::Client;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::merge;
use super::{CatalogRead, Sink, SinkError};
use crate::mapping::{Changes, Entity};
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
        let r = match Plan::of(changes) {
            Some(plan) => plan.run(&client, changes.merge).await,
            None => in_transaction(&mut client, changes).await,
        };
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

/// Upserts (without merge) and deletes in one statement, each list locked in sorted order; the `= ANY`
/// conditions keep the delete on the primary key whatever join the planner picks.
const UPSERT_DELETE: &str = "
WITH up AS (
    INSERT INTO ocean_entities (blueprint, identifier, doc)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS u(b, i, d) ORDER BY b, i
    ON CONFLICT (blueprint, identifier) DO UPDATE SET doc = EXCLUDED.doc
    RETURNING 1
), gone AS (
    DELETE FROM ocean_entities e USING unnest($4::text[], $5::text[]) AS g(b, i)
    WHERE e.blueprint = g.b AND e.identifier = g.i AND e.blueprint = ANY($4) AND e.identifier = ANY($5)
    RETURNING 1
)
SELECT (SELECT count(*) FROM up)";

/// Times a merge is read and written again when another write changed one of its entities meanwhile.
const MERGE_ATTEMPTS: usize = 8;

/// One event's changes as lists for one statement: each entity once (its last upsert), and the deletes.
struct Plan<'a> {
    upserts: Vec<(&'a str, &'a str, &'a Entity)>,
    gone: (Vec<&'a str>, Vec<&'a str>),
}

impl<'a> Plan<'a> {
    /// `None` when an entity is both upserted and deleted: one statement sees one snapshot, so the order
    /// of the two would be lost (those changes take a transaction).
    fn of(changes: &'a Changes) -> Option<Self> {
        let mut last: BTreeMap<(&str, &str), &Entity> = BTreeMap::new();
        for e in &changes.upserts {
            match e.id_str() {
                Some(id) => {
                    last.insert((e.blueprint.as_str(), id), e);
                }
                None => skipped(e),
            }
        }
        let gone: (Vec<&str>, Vec<&str>) =
            changes.deletes.iter().map(|d| (d.blueprint.as_str(), d.identifier.as_str())).unzip();
        if gone.0.iter().zip(&gone.1).any(|(b, i)| last.contains_key(&(*b, *i))) {
            return None;
        }
        Some(Self { upserts: last.into_iter().map(|((b, i), e)| (b, i, e)).collect(), gone })
    }

    /// Without merge, one statement; with it, each entity read and compare-and-set on its primary key,
    /// then the deletes.
    async fn run(&self, client: &Client, merge: bool) -> Result<(), String> {
        let written: &[(&str, &str, &Entity)] = if merge { &[] } else { &self.upserts };
        if merge {
            for (bp, id, e) in &self.upserts {
                merge_one(client, bp, id, e).await?;
            }
            if self.gone.0.is_empty() {
                return Ok(());
            }
        }
        let bps: Vec<&str> = written.iter().map(|u| u.0).collect();
        let ids: Vec<&str> = written.iter().map(|u| u.1).collect();
        let docs = written.iter().map(|(_, id, e)| merge::text(e, id, None)).collect::<Result<Vec<String>, _>>()?;
        let stmt = client.prepare_cached(UPSERT_DELETE).await.map_err(|e| describe(&e))?;
        let params: [&(dyn ToSql + Sync); 5] = [&bps, &ids, &docs, &self.gone.0, &self.gone.1];
        client.execute(&stmt, &params).await.map(|_| ()).map_err(|e| describe(&e))
    }
}

/// One entity merged: read, then written only if it is still what was read (retried otherwise), with
/// statements on its primary key alone, whose plans PostgreSQL keeps (statements on lists were planned
/// at each execution, which cost more than running them).
async fn merge_one(client: &Client, bp: &str, id: &str, e: &Entity) -> Result<(), String> {
    let err = |e: tokio_postgres::Error| describe(&e);
    let read = client.prepare_cached("SELECT doc FROM ocean_entities WHERE blueprint = $1 AND identifier = $2");
    let read = read.await.map_err(err)?;
    let update = "UPDATE ocean_entities SET doc = $3 WHERE blueprint = $1 AND identifier = $2 AND doc = $4";
    let update = client.prepare_cached(update).await.map_err(err)?;
    let insert = "INSERT INTO ocean_entities (blueprint, identifier, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    let insert = client.prepare_cached(insert).await.map_err(err)?;
    for _ in 0..MERGE_ATTEMPTS {
        let old: Option<String> = client.query_opt(&read, &[&bp, &id]).await.map_err(err)?.map(|r| r.get(0));
        let doc = merge::text(e, id, old.as_deref())?;
        let written = match &old {
            Some(old) => client.execute(&update, &[&bp, &id, &doc, old]).await,
            None => client.execute(&insert, &[&bp, &id, &doc]).await,
        };
        if written.map_err(err)? == 1 {
            return Ok(());
        }
    }
    Err(format!("entity {bp}/{id} changed by other writes {MERGE_ATTEMPTS} times while merging; the event is retried"))
}

/// Changes that upsert and delete one entity, in order, in a transaction.
async fn in_transaction(client: &mut Client, changes: &Changes) -> Result<(), String> {
    let db = |e: tokio_postgres::Error| describe(&e);
    let txn = client.transaction().await.map_err(db)?;
    for e in &changes.upserts {
        let Some(id) = e.id_str() else {
            skipped(e);
            continue;
        };
        let existing: Option<String> = if changes.merge {
            txn.query_opt(
                "SELECT doc FROM ocean_entities WHERE blueprint = $1 AND identifier = $2 FOR UPDATE",
                &[&e.blueprint, &id],
            )
            .await
            .map_err(db)?
            .map(|r| r.get(0))
        } else {
            None
        };
        let doc = merge::text(e, id, existing.as_deref())?;
        txn.execute(
            "INSERT INTO ocean_entities (blueprint, identifier, doc) VALUES ($1, $2, $3)
             ON CONFLICT (blueprint, identifier) DO UPDATE SET doc = EXCLUDED.doc",
            &[&e.blueprint, &id, &doc],
        )
        .await
        .map_err(db)?;
    }
    for d in &changes.deletes {
        txn.execute(
            "DELETE FROM ocean_entities WHERE blueprint = $1 AND identifier = $2",
            &[&d.blueprint, &d.identifier],
        )
        .await
        .map_err(db)?;
    }
    txn.commit().await.map_err(db)
}

fn skipped(e: &Entity) {
    tracing::warn!(blueprint = %e.blueprint, "search-query identifiers need Port; entity skipped in the local catalog");
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
