//! Intake's side: pushes of the moment share one transaction (group commit). Each batch records its
//! delivery ids (a unique key: of two replicas pushing one id at once, exactly one commits it), inserts
//! its events, counts them per group, marks the dead letters its redeliveries supersede, and notifies
//! the replicas, then answers every push.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::super::item::{Pushed, QueueError};
use crate::postgres::{Database, describe, retryable};

/// Batches being committed at once: one fills while the other commits.
const CONCURRENT: usize = 2;
/// Pushes in one batch at most.
const BATCH: usize = 512;

/// One event to commit.
pub(super) struct Push {
    pub(super) group: String,
    pub(super) path: String,
    pub(super) trace_id: String,
    pub(super) bytes: Vec<u8>,
    pub(super) delivery: Option<String>,
    pub(super) window: Duration,
}

type Job = (Push, oneshot::Sender<Result<Pushed, QueueError>>);

/// The sending side of intake's batching task.
pub(super) struct Appender {
    tx: mpsc::Sender<Job>,
}

impl Appender {
    pub(super) fn spawn(db: Arc<Database>, stop: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(8 * BATCH);
        tokio::spawn(run(db, rx, stop));
        Self { tx }
    }

    /// Commits `push`; answers once it is committed (or refused as a duplicate).
    pub(super) async fn push(&self, push: Push) -> Result<Pushed, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((push, reply)).await.map_err(|_| QueueError::Closed)?;
        answer.await.unwrap_or(Err(QueueError::Closed))
    }
}

async fn run(db: Arc<Database>, mut rx: mpsc::Receiver<Job>, stop: CancellationToken) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut batch = Vec::new();
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
            _ = stop.cancelled() => return,
        }
        let db = db.clone();
        tokio::spawn(async move {
            let outcome = commit_retrying(&db, &batch).await;
            for ((_, reply), answer) in batch.into_iter().zip(outcome) {
                let _ = reply.send(answer);
            }
            drop(slot);
        });
    }
}

/// Commits a batch, again after a deadlock; one answer per push, in order.
async fn commit_retrying(db: &Database, batch: &[Job]) -> Vec<Result<Pushed, QueueError>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = commit(db, batch).await;
        match result {
            Err(Failure::Retry(e)) if attempt < 5 => {
                warn!(error = %e, attempt, "queue commit conflicted with another replica's; committing again");
            }
            Err(Failure::Retry(e) | Failure::Down(e)) => {
                let e = format!("PostgreSQL ({}): {e}", db.name);
                return batch.iter().map(|_| Err(QueueError::Backend(e.clone()))).collect();
            }
            Ok(answers) => return answers,
        }
    }
}

enum Failure {
    Retry(String),
    Down(String),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        if retryable(&e) { Failure::Retry(describe(&e)) } else { Failure::Down(describe(&e)) }
    }
}

async fn commit(db: &Database, batch: &[Job]) -> Result<Vec<Result<Pushed, QueueError>>, Failure> {
    let mut client = db.client().await.map_err(Failure::Down)?;
    let r = commit_on(&mut client, batch).await;
    db.note(&r.as_ref().map(|_| ()).map_err(|e| match e {
        Failure::Retry(e) | Failure::Down(e) => e.clone(),
    }));
    r
}

async fn commit_on(
    client: &mut deadpool_postgres::Object,
    batch: &[Job],
) -> Result<Vec<Result<Pushed, QueueError>>, Failure> {
    // Duplicates within the batch: the first copy stands for the others.
    let mut seen = HashSet::new();
    let first: Vec<bool> = batch.iter().map(|(p, _)| p.delivery.as_ref().is_none_or(|k| seen.insert(k))).collect();
    // Sorted: concurrent batches lock keys in one order and cannot deadlock.
    let mut keys: Vec<(&str, f64)> = batch
        .iter()
        .zip(&first)
        .filter(|(_, f)| **f)
        .filter_map(|((p, _), _)| p.delivery.as_deref().map(|k| (k, p.window.as_secs_f64())))
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let txn = client.transaction().await?;
    // Acknowledged means durable: this commit waits for its flush (the session's default does not).
    txn.batch_execute("SET LOCAL synchronous_commit = on").await?;
    let fresh: HashSet<String> = if keys.is_empty() {
        HashSet::new()
    } else {
        let names: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let windows: Vec<f64> = keys.iter().map(|k| k.1).collect();
        let stmt = txn
            .prepare_cached(
                "INSERT INTO ocean_deliveries (key, expires_at)
                 SELECT k, now() + make_interval(secs => w) FROM unnest($1::text[], $2::float8[]) AS u(k, w)
                 ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE ocean_deliveries.expires_at <= now()
                 RETURNING key",
            )
            .await?;
        txn.query(&stmt, &[&names, &windows]).await?.iter().map(|r| r.get(0)).collect()
    };
    let accepted: Vec<bool> = batch
        .iter()
        .zip(&first)
        .map(|((p, _), f)| *f && p.delivery.as_ref().is_none_or(|k| fresh.contains(k)))
        .collect();
    let chosen = || batch.iter().zip(&accepted).filter(|(_, a)| **a).map(|((p, _), _)| p);
    if chosen().next().is_some() {
        let groups: Vec<&str> = chosen().map(|p| p.group.as_str()).collect();
        let paths: Vec<&str> = chosen().map(|p| p.path.as_str()).collect();
        let records: Vec<&[u8]> = chosen().map(|p| p.bytes.as_slice()).collect();
        let stmt = txn
            .prepare_cached(
                "INSERT INTO ocean_events (group_key, path, record)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])",
            )
            .await?;
        txn.execute(&stmt, &[&groups, &paths, &records]).await?;
        let mut counts: BTreeMap<&str, i32> = BTreeMap::new();
        for g in &groups {
            *counts.entry(g).or_default() += 1;
        }
        let (names, ns): (Vec<&str>, Vec<i32>) = counts.into_iter().unzip();
        let stmt = txn
            .prepare_cached(
                "INSERT INTO ocean_groups (group_key, pending)
                 SELECT * FROM unnest($1::text[], $2::int4[])
                 ON CONFLICT (group_key) DO UPDATE SET pending = ocean_groups.pending + EXCLUDED.pending",
            )
            .await?;
        txn.execute(&stmt, &[&names, &ns]).await?;
        let (redelivered, by): (Vec<&str>, Vec<&str>) =
            chosen().filter_map(|p| p.delivery.as_deref().map(|k| (k, p.trace_id.as_str()))).unzip();
        if !redelivered.is_empty() {
            let stmt = txn
                .prepare_cached(
                    "UPDATE ocean_dead_letters d SET superseded_by = u.by
                     FROM unnest($1::text[], $2::text[]) AS u(key, by)
                     WHERE d.delivery = u.key AND d.superseded_by IS NULL",
                )
                .await?;
            txn.execute(&stmt, &[&redelivered, &by]).await?;
        }
        txn.execute("SELECT pg_notify($1, '')", &[&crate::postgres::CHANNEL]).await?;
    }
    txn.commit().await?;
    Ok(accepted.into_iter().map(|a| Ok(if a { Pushed::Queued } else { Pushed::Duplicate })).collect())
}
