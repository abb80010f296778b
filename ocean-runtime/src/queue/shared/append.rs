//! Intake's side: pushes of the moment share one transaction (group commit). Each batch records its
//! delivery ids (a unique key: of two replicas pushing one id at once, exactly one commits it), inserts
//! its events, counts them per group, marks the dead letters its redeliveries supersede, and answers
//! every push once it commits; then it wakes this replica's claimer and, through `NOTIFY`, the others'.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::super::item::{Pushed, QueueError};
use crate::postgres::{Database, describe, retryable};

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
    /// Starts the batching task; `wake` is this replica's claimer; `persist` times each batch's commit.
    pub(super) fn spawn(
        db: Arc<Database>,
        stop: CancellationToken,
        wake: Arc<Notify>,
        persist: metrics::Histogram,
    ) -> Self {
        let (tx, rx) = mpsc::channel(8 * BATCH);
        let others = Arc::new(Notify::new());
        tokio::spawn(notifier(db.clone(), others.clone(), stop.clone()));
        tokio::spawn(run(db, rx, stop, Woken { here: wake, others }, persist));
        Self { tx }
    }

    /// Commits `push`; answers once it is committed (or refused as a duplicate).
    pub(super) async fn push(&self, push: Push) -> Result<Pushed, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((push, reply)).await.map_err(|_| QueueError::Closed)?;
        answer.await.unwrap_or(Err(QueueError::Closed))
    }
}

/// Whom a committed batch wakes.
struct Woken {
    /// This replica's claimer.
    here: Arc<Notify>,
    /// The [`notifier`], for the other replicas.
    others: Arc<Notify>,
}

/// Sends `NOTIFY` for the batches committed since the last one, in a transaction of its own: a
/// notifying transaction holds a lock on the notification queue until it ends, so a `NOTIFY` inside
/// intake's transactions would make their commits (and their flushes) wait for one another. Batches
/// committed while one is sent share the next.
async fn notifier(db: Arc<Database>, due: Arc<Notify>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = due.notified() => {}
            _ = stop.cancelled() => return,
        }
        if let Ok(c) = db.client().await {
            let _ = c.batch_execute("NOTIFY ocean_events").await;
        }
    }
}

/// Commits one batch at a time: while it commits, the next fills in the channel (larger batches cost
/// the database less than concurrent ones, which measured no faster).
async fn run(
    db: Arc<Database>,
    mut rx: mpsc::Receiver<Job>,
    stop: CancellationToken,
    woken: Woken,
    persist: metrics::Histogram,
) {
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
            _ = stop.cancelled() => return,
        }
        let started = std::time::Instant::now();
        let outcome = commit_retrying(&db, &batch).await;
        if outcome.iter().any(|o| matches!(o, Ok(Pushed::Queued))) {
            persist.record(started.elapsed());
            woken.here.notify_one();
            woken.others.notify_one();
        }
        for ((_, reply), answer) in batch.into_iter().zip(outcome) {
            let _ = reply.send(answer);
        }
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
    let client = db.durable_client().await.map_err(Failure::Down)?;
    let r = commit_on(&client, batch).await;
    db.note(&r.as_ref().map(|_| ()).map_err(|e| match e {
        Failure::Retry(e) | Failure::Down(e) => e.clone(),
    }));
    r
}

/// The batch in one statement (its own transaction, one round trip): the delivery ids are recorded (those
/// seen within their window are not, and their events are not inserted), the events are inserted in
/// arrival order, counted per group, the dead letters their redeliveries supersede are marked, and the
/// replicas are woken (after the commit, see [`notifier`]). Keys and groups are locked in sorted order, so that concurrent batches of
/// several replicas cannot deadlock.
const APPEND: &str = "
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::float8[], $6::text[])
        WITH ORDINALITY AS i(group_key, path, record, delivery, window_secs, trace_id, ord)
), fresh AS (
    INSERT INTO ocean_deliveries (key, expires_at)
    SELECT delivery, now() + make_interval(secs => window_secs) FROM input
    WHERE delivery IS NOT NULL ORDER BY delivery
    ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE ocean_deliveries.expires_at <= now()
    RETURNING key
), chosen AS (
    SELECT * FROM input WHERE delivery IS NULL OR delivery IN (SELECT key FROM fresh)
), events AS (
    INSERT INTO ocean_events (group_key, path, record)
    SELECT group_key, path, record FROM chosen ORDER BY ord
    RETURNING 1
), groups AS (
    INSERT INTO ocean_groups (group_key, pending)
    SELECT group_key, count(*)::int FROM chosen GROUP BY group_key ORDER BY group_key
    ON CONFLICT (group_key) DO UPDATE SET pending = ocean_groups.pending + EXCLUDED.pending
    RETURNING 1
), superseded AS (
    UPDATE ocean_dead_letters d SET superseded_by = c.trace_id FROM chosen c
    WHERE d.delivery = c.delivery AND d.superseded_by IS NULL AND d.delivery = ANY($4)
    RETURNING 1
)
SELECT array(SELECT key FROM fresh), (SELECT count(*) FROM chosen)";

async fn commit_on(
    client: &deadpool_postgres::Object,
    batch: &[Job],
) -> Result<Vec<Result<Pushed, QueueError>>, Failure> {
    // Duplicates within the batch: the first copy stands for the others.
    let mut seen = HashSet::new();
    let first: Vec<bool> = batch.iter().map(|(p, _)| p.delivery.as_ref().is_none_or(|k| seen.insert(k))).collect();
    let sent = || batch.iter().zip(&first).filter(|(_, f)| **f).map(|((p, _), _)| p);
    let groups: Vec<&str> = sent().map(|p| p.group.as_str()).collect();
    let paths: Vec<&str> = sent().map(|p| p.path.as_str()).collect();
    let records: Vec<&[u8]> = sent().map(|p| p.bytes.as_slice()).collect();
    let deliveries: Vec<Option<&str>> = sent().map(|p| p.delivery.as_deref()).collect();
    let windows: Vec<f64> = sent().map(|p| p.window.as_secs_f64()).collect();
    let traces: Vec<&str> = sent().map(|p| p.trace_id.as_str()).collect();
    let stmt = client.prepare_cached(APPEND).await?;
    let row = client.query_one(&stmt, &[&groups, &paths, &records, &deliveries, &windows, &traces]).await?;
    let fresh: HashSet<String> = row.get::<_, Vec<String>>(0).into_iter().collect();
    let answers = batch
        .iter()
        .zip(&first)
        .map(|((p, _), f)| {
            let accepted = *f && p.delivery.as_ref().is_none_or(|k| fresh.contains(k));
            Ok(if accepted { Pushed::Queued } else { Pushed::Duplicate })
        })
        .collect();
    Ok(answers)
}
