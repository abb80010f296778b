//! The durable queue keeps queued events whole in memory within its budget: a worker then takes the
//! payload the intake parsed; beyond the budget, and after a nack, the event is read back from disk and
//! parsed again. The payload pushed here differs from the body, so that each delivery shows which of the
//! two it came from.

use std::path::PathBuf;

use actix_web::web::Bytes;
use serde_json::{Value, json};

use super::QueuedEvent;
use super::local::Local as Queue;
use crate::config::{QueueBackend, QueueSettings};
use crate::{Headers, WebhookEvent};

fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("ocean-queue-{:x}", rand::random::<u64>()))
}

/// An event whose body says `"disk"` and whose parsed payload says `"memory"`.
fn event(id: u64) -> QueuedEvent {
    let body = Bytes::from(json!({"id": id, "from": "disk", "pad": "x".repeat(1000)}).to_string());
    let mut e = WebhookEvent::new("/items", body, json!({"id": id, "from": "memory"}), Headers::default());
    e.group_key = Some(format!("g{id}"));
    QueuedEvent::new(e, vec![0])
}

fn settings() -> QueueSettings {
    QueueSettings {
        backend: QueueBackend::Durable,
        capacity: 100,
        memory_mib: 512,
        dedup_window_seconds: 60,
        dedup_memory_entries: 1000,
        hot_memory_mib: 0,
        segment_mib: 64,
        lease_seconds: 30,
    }
}

fn open(dir: &std::path::Path, hot_bytes: usize) -> Queue {
    let settings = settings();
    let mut q = Queue::open(&settings, dir, vec!["/items#items".into()], None, metrics::Histogram::noop()).unwrap();
    q.hot.limit = hot_bytes;
    q
}

/// Pushes an event and takes it back: where its payload came from.
async fn round_trip(q: &Queue, id: u64) -> (u64, String) {
    q.push(event(id), None).await.unwrap();
    let d = q.next().await.unwrap();
    let out = from(&d.item.event.payload);
    q.ack(d);
    out
}

fn from(p: &Value) -> (u64, String) {
    (p["id"].as_u64().unwrap(), p["from"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn events_within_the_budget_are_taken_whole_and_the_budget_is_returned() {
    let path = state_dir();
    // Room for one event of this size (its body is about 1 KB; the estimate is five times the body).
    let q = open(&path, 6_000);
    q.push(event(1), None).await.unwrap();
    q.push(event(2), None).await.unwrap();
    let a = q.next().await.unwrap();
    let b = q.next().await.unwrap();
    assert_eq!(from(&a.item.event.payload), (1, "memory".into()));
    assert_eq!(from(&b.item.event.payload), (2, "disk".into()), "beyond the budget the event waits on disk only");
    q.ack(a);
    q.ack(b);

    // Taking a whole event returns its share of the budget, once.
    for id in 3..8 {
        assert_eq!(round_trip(&q, id).await, (id, "memory".into()));
    }

    // A nacked event is read back from disk next time, and the budget is not returned twice.
    q.push(event(8), None).await.unwrap();
    let d = q.next().await.unwrap();
    assert_eq!(from(&d.item.event.payload), (8, "memory".into()));
    q.nack(d);
    let d = q.next().await.unwrap();
    assert_eq!(from(&d.item.event.payload), (8, "disk".into()));
    q.ack(d);
    q.push(event(9), None).await.unwrap();
    q.push(event(10), None).await.unwrap();
    let (a, b) = (q.next().await.unwrap(), q.next().await.unwrap());
    assert_eq!((from(&a.item.event.payload).1, from(&b.item.event.payload).1), ("memory".into(), "disk".into()));
    q.ack(a);
    q.ack(b);
    drop(q);
    std::fs::remove_dir_all(&path).ok();
}

#[tokio::test]
async fn a_zero_budget_reads_every_event_back_from_disk_and_a_restart_loses_none() {
    let path = state_dir();
    let q = open(&path, 0);
    assert_eq!(round_trip(&q, 1).await, (1, "disk".into()));
    drop(q);

    // Whole in memory before the restart, on disk after it: nothing acknowledged is lost.
    let q = open(&path, 1 << 20);
    for id in 2..5 {
        q.push(event(id), None).await.unwrap();
    }
    drop(q);
    let q = open(&path, 1 << 20);
    assert_eq!(q.len(), 3);
    for id in 2..5 {
        let d = q.next().await.unwrap();
        assert_eq!(from(&d.item.event.payload), (id, "disk".into()));
        q.ack(d);
    }
    drop(q);
    std::fs::remove_dir_all(&path).ok();
}

/// redb drops the delivery ids past their window while the queue runs (in these tests at every write of
/// ids; hourly otherwise), not only at start-up.
#[tokio::test]
async fn expired_delivery_ids_are_dropped_from_disk_while_running() {
    let path = state_dir();
    // Ids are written to redb at every batch (half of two in memory) and live one second.
    let settings = QueueSettings { dedup_window_seconds: 1, dedup_memory_entries: 2, ..settings() };
    let q = Queue::open(&settings, &path, vec!["/items#items".into()], None, metrics::Histogram::noop()).unwrap();
    for id in 0..3 {
        q.push(event(id), Some(format!("/items:old-{id}"))).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    q.push(event(3), Some("/items:new".into())).await.unwrap();
    drop(q);
    let db = redb::Database::open(path.join("queue.redb")).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let table = txn.open_table(super::embedded::DEDUP).unwrap();
    let keys: Vec<String> =
        redb::ReadableTable::iter(&table).unwrap().map(|r| r.unwrap().0.value().to_owned()).collect();
    assert_eq!(keys, ["/items:new"]);
    drop((table, txn, db));
    std::fs::remove_dir_all(&path).ok();
}
