//! Claims: a replica leases groups with events, delivers their events one at a time in commit order,
//! renews its leases while it holds them, and gives a group up once it is empty (or when it stops).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_postgres::Row;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::super::dead::DeadLetter;
use super::super::item::QueuedEvent;
use super::super::record::Record;
use super::Shared;
use crate::postgres::describe;

/// The fallback poll: claims expired leases and anything a lost notification did not announce.
const POLL: Duration = Duration::from_millis(500);

/// Leases groups while this replica has room, waking on notifications, given-up groups and the poll.
/// Failures are logged once per outage by the database's health, not at each attempt.
pub(super) async fn claimer(q: Weak<Shared>, stop: CancellationToken) {
    loop {
        let Some(shared) = q.upgrade() else { return };
        let wake = shared.wake.clone();
        let waiting = wake.notified();
        if !shared.draining.load(Ordering::Acquire) {
            let room = shared.target.saturating_sub(shared.lock().groups.len());
            if room > 0
                && let Err(e) = claim(&shared, room).await
            {
                debug!(error = %e, "cannot claim queued events; trying again");
            }
        }
        drop(shared);
        tokio::select! {
            _ = waiting => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Leases up to `room` groups whose lease is free or expired, oldest first, and delivers the first
/// event of each.
async fn claim(q: &Arc<Shared>, room: usize) -> Result<(), String> {
    let client = q.db.client().await?;
    let r = async {
        let stmt = client
            .prepare_cached(
                // The free groups are chosen once (an init plan), then updated through the primary key.
                "UPDATE ocean_groups SET owner = $2, lease_until = now() + make_interval(secs => $3)
                 WHERE group_key = ANY(ARRAY(
                    SELECT group_key FROM ocean_groups
                    WHERE pending > 0 AND (lease_until IS NULL OR lease_until < now())
                    ORDER BY turn LIMIT $1 FOR UPDATE SKIP LOCKED))
                 RETURNING group_key",
            )
            .await?;
        let rows = client.query(&stmt, &[&(room as i64), &q.me, &q.lease.as_secs_f64()]).await?;
        let groups: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        if groups.is_empty() {
            return Ok((groups, Vec::new()));
        }
        let stmt = client
            .prepare_cached(
                "SELECT DISTINCT ON (group_key) seq, group_key, record FROM ocean_events
                 WHERE group_key = ANY($1) ORDER BY group_key, seq",
            )
            .await?;
        let heads = client.query(&stmt, &[&groups]).await?;
        Ok::<_, tokio_postgres::Error>((groups, heads))
    }
    .await
    .map_err(|e| describe(&e));
    q.db.note(&r);
    let (groups, heads) = r?;
    {
        let mut held = q.lock();
        held.groups.extend(groups.iter().cloned());
    }
    let mut empty: Vec<String> = groups;
    for row in heads {
        let group: String = row.get(1);
        empty.retain(|g| *g != group);
        if let Some(dead) = deliver_row(q, &row).await {
            finish(q, dead).await;
        }
    }
    // Counted but without events (a count left by an interrupted transaction): nothing to deliver.
    for group in empty {
        forget(q, &group).await;
    }
    Ok(())
}

/// Delivers a claimed event, or dead-letters it when no processor of this build accepts it: that one is
/// returned, to be finished.
async fn deliver_row(q: &Arc<Shared>, row: &Row) -> Option<QueuedEvent> {
    let seq: i64 = row.get(0);
    let group: String = row.get(1);
    let bytes: &[u8] = row.get(2);
    match Record::decode(bytes) {
        Ok(record) => {
            let known: Vec<usize> =
                record.processors.iter().filter_map(|n| q.names.iter().position(|m| m == n)).collect();
            let delivery = record.delivery.clone();
            let missing: Vec<String> = record.processors.iter().filter(|n| !q.names.contains(n)).cloned().collect();
            let item = QueuedEvent {
                seq: seq as u64,
                event: Arc::new(record.into_event()),
                processors: known,
                delivery,
                held: None,
            };
            if item.processors.is_empty() {
                warn!(trace_id = %item.event.trace_id, ?missing, "queued event names processors that no longer exist");
                let d = DeadLetter::of(&item, missing, "no such processor in this build".into(), 0);
                super::dead::add(&q.db, d).await;
                Some(item)
            } else {
                q.deliver(item);
                None
            }
        }
        Err(e) => {
            error!(seq, group = %group, error = %e, "unreadable queued event; it stays in the database and its group waits");
            None
        }
    }
}

/// The event is done: deletes it, then delivers the group's next event, or gives the group up when it
/// has none (or when the replica is stopping). Retried until it commits or the queue closes: a group
/// whose acknowledgement is not committed delivers nothing more here.
pub(super) async fn finish(q: &Arc<Shared>, item: QueuedEvent) {
    let group = item.group().to_owned();
    let mut seq = item.seq as i64;
    let mut wait = Duration::from_millis(50);
    loop {
        let r = finish_once(q, seq, &group).await;
        q.db.note(&r);
        match r {
            Ok(Some(next)) => match deliver_row(q, &next).await {
                // Dead-lettered at once: finish it too.
                Some(dead) => seq = dead.seq as i64,
                None => return,
            },
            Ok(None) => return q.give_up(&group),
            Err(e) if q.stop.is_cancelled() => {
                warn!(error = %e, group = %group, "shutdown: acknowledgement not committed; the event will be processed again");
                return q.give_up(&group);
            }
            Err(e) => {
                debug!(error = %e, group = %group, "cannot acknowledge an event; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// One statement of [`finish`]: deletes the event, counts it off its group, and either keeps the
/// group (renewing the lease, returning its next event) or gives it up when it has no events left or the
/// replica is stopping. A group emptied here stays as a row without owner until the janitor removes it.
async fn finish_once(q: &Arc<Shared>, seq: i64, group: &str) -> Result<Option<Row>, String> {
    let client = q.db.client().await?;
    let keep = !q.draining.load(Ordering::Acquire);
    let run = async {
        let stmt = client
            .prepare_cached(
                "WITH d AS (DELETE FROM ocean_events WHERE seq = $1 RETURNING 1),
                 n AS (SELECT count(*)::int AS n FROM d),
                 u AS (
                    UPDATE ocean_groups g SET
                        pending = g.pending - n.n,
                        owner = CASE WHEN g.owner = $3 AND (g.pending - n.n <= 0 OR NOT $4) THEN NULL ELSE g.owner END,
                        lease_until = CASE
                            WHEN g.owner = $3 AND (g.pending - n.n <= 0 OR NOT $4) THEN NULL
                            WHEN g.owner = $3 THEN now() + make_interval(secs => $5)
                            ELSE g.lease_until END
                    FROM n WHERE g.group_key = $2
                    RETURNING g.owner IS NOT DISTINCT FROM $3 AS mine)
                 SELECT e.seq, e.group_key, e.record FROM u
                 LEFT JOIN LATERAL (
                    SELECT seq, group_key, record FROM ocean_events
                    WHERE group_key = $2 AND seq > $1 ORDER BY seq LIMIT 1) e ON true
                 WHERE u.mine",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&seq, &group, &q.me, &keep, &q.lease.as_secs_f64()]).await?;
        match row {
            Some(r) if r.get::<_, Option<i64>>(0).is_some() => Ok(Some(r)),
            // Kept, but its next event was committed after this statement's snapshot (an intake that held
            // the group's row): read it with a new one.
            Some(_) => {
                let next = client
                    .query_opt(
                        "SELECT seq, group_key, record FROM ocean_events WHERE group_key = $1 ORDER BY seq LIMIT 1",
                        &[&group],
                    )
                    .await?;
                if next.is_none() {
                    // Counted but empty: given up, for the claim that finds it to reset its count.
                    client
                        .execute(
                            "UPDATE ocean_groups SET owner = NULL, lease_until = NULL WHERE group_key = $1 AND owner = $2",
                            &[&group, &q.me],
                        )
                        .await?;
                }
                Ok(next)
            }
            None => Ok(None),
        }
    };
    run.await.map_err(|e| describe(&e))
}

/// Gives a group up now, so that another replica claims it without waiting for the lease to expire.
pub(super) async fn release(q: &Shared, group: &str) {
    let r = match q.db.client().await {
        Ok(c) => c
            .execute(
                "UPDATE ocean_groups SET owner = NULL, lease_until = NULL WHERE group_key = $1 AND owner = $2",
                &[&group, &q.me],
            )
            .await
            .map(|_| ())
            .map_err(|e| describe(&e)),
        Err(e) => Err(e),
    };
    if let Err(e) = &r {
        warn!(error = %e, group, "cannot give a group up; another replica takes it when its lease expires");
    }
    q.give_up(group);
}

/// A group counted without events (its count was left by an interrupted transaction): reset and given up.
async fn forget(q: &Arc<Shared>, group: &str) {
    if let Ok(c) = q.db.client().await {
        let _ = c
            .execute(
                "UPDATE ocean_groups g SET pending = 0 WHERE group_key = $1 AND owner = $2
                 AND NOT EXISTS (SELECT 1 FROM ocean_events e WHERE e.group_key = g.group_key)",
                &[&group, &q.me],
            )
            .await;
    }
    release(q, group).await;
}

/// Renews this replica's leases every third of their length; drops the groups it lost (its events in
/// flight finish, at least once).
pub(super) async fn renewer(q: Weak<Shared>, stop: CancellationToken) {
    loop {
        let Some(shared) = q.upgrade() else { return };
        let every = shared.lease / 3;
        let groups: Vec<String> = {
            let mut g: Vec<String> = shared.lock().groups.iter().cloned().collect();
            g.sort();
            g
        };
        if !groups.is_empty() {
            let r = renew(&shared, &groups).await;
            shared.db.note(&r);
            match r {
                Ok(kept) if kept.len() < groups.len() => {
                    let mut held = shared.lock();
                    let lost: Vec<&String> = groups.iter().filter(|g| !kept.contains(g)).collect();
                    warn!(
                        lost = lost.len(),
                        "leases expired before renewal; other replicas may process those entities"
                    );
                    held.ready.retain(|i| !lost.iter().any(|g| *g == i.group()));
                }
                Ok(_) => {}
                Err(e) => debug!(error = %e, "cannot renew leases; trying again"),
            }
        }
        drop(shared);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn renew(q: &Shared, groups: &[String]) -> Result<Vec<String>, String> {
    let client = q.db.client().await?;
    let rows = client
        .query(
            "WITH mine AS (
                SELECT group_key FROM ocean_groups WHERE group_key = ANY($1) AND owner = $2
                ORDER BY group_key FOR UPDATE)
             UPDATE ocean_groups g SET lease_until = now() + make_interval(secs => $3)
             FROM mine WHERE g.group_key = mine.group_key RETURNING g.group_key",
            &[&groups, &q.me, &q.lease.as_secs_f64()],
        )
        .await
        .map_err(|e| describe(&e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Every few seconds: counts the queue's events by path (depth metrics and the capacity check), and
/// every minute removes delivery ids past their window.
pub(super) async fn janitor(q: Weak<Shared>, stop: CancellationToken) {
    let mut round = 0u64;
    loop {
        let Some(shared) = q.upgrade() else { return };
        if let Ok(c) = shared.db.client().await {
            let counted = c.query("SELECT path, count(*) FROM ocean_events GROUP BY path ORDER BY path", &[]).await;
            if let Ok(rows) = counted {
                let counted: Vec<(String, usize)> =
                    rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as usize)).collect();
                shared.total.store(counted.iter().map(|d| d.1).sum(), Ordering::Release);
                let mut depth = shared.depth.lock().unwrap_or_else(|p| p.into_inner());
                // A path whose events are all done shows 0 rather than its last count.
                for (path, n) in depth.iter_mut() {
                    *n = counted.iter().find(|c| c.0 == *path).map_or(0, |c| c.1);
                }
                let new: Vec<(String, usize)> =
                    counted.into_iter().filter(|c| !depth.iter().any(|d| d.0 == c.0)).collect();
                depth.extend(new);
                depth.sort();
            }
            // Entities without events and without owner: their rows go (an intake adding an event to one
            // holds its row, and this delete then skips it).
            let _ = c
                .execute(
                    "DELETE FROM ocean_groups WHERE pending <= 0 AND (lease_until IS NULL OR lease_until < now())",
                    &[],
                )
                .await;
            if round.is_multiple_of(30) {
                let _ = c.execute("DELETE FROM ocean_deliveries WHERE expires_at < now()", &[]).await;
            }
        }
        round += 1;
        drop(shared);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
