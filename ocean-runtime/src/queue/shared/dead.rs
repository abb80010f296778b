//! Dead letters in the database: listed, replayed and deleted from any replica.

use tracing::error;

use super::super::dead::DeadLetter;
use crate::postgres::{Database, describe};

/// Records a dead letter and releases its delivery id (a redelivery is processed); retried a few
/// times, then logged whole so that it is not lost silently.
pub(super) async fn add(db: &Database, d: DeadLetter) {
    let letter = match serde_json::to_string(&d) {
        Ok(l) => l,
        Err(e) => return error!(trace_id = %d.trace_id, error = %e, "cannot encode a dead letter"),
    };
    for attempt in 1..=5 {
        let r = async {
            let mut client = db.durable_client().await?;
            let run = async {
                let txn = client.transaction().await?;
                txn.execute(
                    "INSERT INTO ocean_dead_letters (delivery, letter) VALUES ($1, $2)",
                    &[&d.delivery, &letter],
                )
                .await?;
                if let Some(key) = &d.delivery {
                    txn.execute("DELETE FROM ocean_deliveries WHERE key = $1", &[key]).await?;
                }
                txn.commit().await
            };
            run.await.map_err(|e| describe(&e))
        }
        .await;
        db.note(&r);
        match r {
            Ok(()) => return,
            Err(e) if attempt == 5 => {
                return error!(trace_id = %d.trace_id, error = %e, letter, "cannot record a dead letter");
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await,
        }
    }
}

fn decode(id: i64, superseded_by: Option<String>, letter: &str) -> Option<DeadLetter> {
    match serde_json::from_str::<DeadLetter>(letter) {
        Ok(d) => Some(DeadLetter { id: id as u64, superseded_by: superseded_by.or(d.superseded_by.clone()), ..d }),
        Err(e) => {
            error!(id, error = %e, "undecodable dead letter kept in the database");
            None
        }
    }
}

/// Every dead letter, oldest first.
pub(super) async fn list(db: &Database) -> Vec<DeadLetter> {
    let r = async {
        let client = db.client().await?;
        client
            .query("SELECT id, superseded_by, letter FROM ocean_dead_letters ORDER BY id", &[])
            .await
            .map_err(|e| describe(&e))
    }
    .await;
    db.note(&r);
    match r {
        Ok(rows) => rows.iter().filter_map(|r| decode(r.get(0), r.get(1), r.get(2))).collect(),
        Err(e) => {
            error!(error = %e, "cannot read dead letters");
            Vec::new()
        }
    }
}

/// Takes a dead letter out of the database.
pub(super) async fn take(db: &Database, id: u64) -> Option<DeadLetter> {
    let r = async {
        let client = db.client().await?;
        client
            .query_opt(
                "DELETE FROM ocean_dead_letters WHERE id = $1 RETURNING id, superseded_by, letter",
                &[&(id as i64)],
            )
            .await
            .map_err(|e| describe(&e))
    }
    .await;
    db.note(&r);
    r.ok().flatten().and_then(|r| decode(r.get(0), r.get(1), r.get(2)))
}
