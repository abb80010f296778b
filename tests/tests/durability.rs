//! Nothing lost: events persisted before their 202 resume after a restart in group order, redelivered
//! deliveries are answered "duplicate" and processed once, failures go to the dead-letter store and can be
//! replayed, corrupt state stops start-up with a clear message.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ocean::testing::TestIntegration;
use ocean::{Processor, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults, WebhookProcessor};
use serde_json::{Value, json};

const MAPPING: &str = r#"
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"item"', properties: { seq: .seq } }
"#;

fn state_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ocean-durability-{:x}", rand::random::<u64>()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Blocks forever (first life) or records the order of events (second life).
#[derive(Clone, Default)]
struct Items {
    block: bool,
    seen: Arc<Mutex<Vec<(u64, u64)>>>,
    fail_first: Arc<AtomicU32>,
}

impl WebhookProcessor for Items {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        if self.block {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if self.fail_first.load(Ordering::SeqCst) > 0 {
            self.fail_first.fetch_sub(1, Ordering::SeqCst);
            return Err(ProcessorError::fatal("the third party refused it"));
        }
        let id = e.payload["id"].as_u64().unwrap_or_default();
        let seq = e.payload["seq"].as_u64().unwrap_or_default();
        self.seen.lock().unwrap().push((id, seq));
        Ok(WebhookEventRawResults::upsert([e.payload.clone()]))
    }
}

fn integration(p: Items) -> ocean::Integration {
    let proc = Processor::new("/items", move |_| Ok(p.clone()))
        .name("items")
        .auth(ocean::auth::token().header("x-token").secret_value("t"))
        .dedup(ocean::delivery::DeliveryId::Headers(vec!["x-delivery"]))
        .group_by(".id");
    ocean::Integration::new("test").processor(proc).default_mapping(MAPPING)
}

async fn send(it: &TestIntegration, body: &Value, delivery: &str) -> (u16, Value) {
    let r = it
        .post("/items", body.to_string().as_bytes(), &[("x-token", "t".into()), ("x-delivery", delivery.into())])
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A first life on `dir` whose processor never finishes: what it acknowledges stays queued.
async fn blocked(dir: &std::path::Path) -> TestIntegration {
    let d = dir.to_owned();
    TestIntegration::start_with(integration(Items { block: true, ..Default::default() }), move |s| {
        s.state_dir = d;
        s.max_wait_seconds_before_shutdown = 0.2;
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn acknowledged_events_resume_after_a_restart_in_group_order() {
    let dir = state_dir();
    let first = blocked(&dir).await;
    for id in 0..3u64 {
        for seq in 0..5u64 {
            let (status, _) =
                send(&first, &json!({"id": id, "seq": seq, "title": "t"}), &format!("d-{id}-{seq}")).await;
            assert_eq!(status, 202);
        }
    }
    assert_eq!(first.shutdown().await, 15, "every event left unprocessed is reported");

    let second = Items::default();
    let seen = second.seen.clone();
    let d = dir.clone();
    let it = TestIntegration::start_with(integration(second), move |s| s.state_dir = d).await.unwrap();
    assert!(it.wait_idle(Duration::from_secs(20)).await);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 15);
    for id in 0..3 {
        let order: Vec<u64> = seen.iter().filter(|(i, _)| *i == id).map(|(_, s)| *s).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4], "group {id}");
        assert_eq!(it.entity("item", &id.to_string()).unwrap()["properties"]["seq"], 4);
    }
    // The deliveries are remembered across the restart.
    let (status, body) = send(&it, &json!({"id": 0, "seq": 0, "title": "t"}), "d-0-0").await;
    assert_eq!((status, body["status"].as_str()), (202, Some("duplicate")));
    it.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_copies_of_one_delivery_are_processed_once() {
    let items = Items::default();
    let seen = items.seen.clone();
    let it = Arc::new(TestIntegration::start(integration(items)).await.unwrap());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let it = it.clone();
        tasks.push(tokio::spawn(async move {
            send(&it, &json!({"id": 7, "seq": 1, "title": "once"}), "same-delivery").await
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        assert_eq!(code, 202);
        statuses.push(body["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses.iter().filter(|s| *s == "accepted").count(), 1);
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 19);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(seen.lock().unwrap().len(), 1);
    Arc::into_inner(it).unwrap().shutdown().await;
}

#[tokio::test]
async fn failures_are_dead_lettered_listed_replayed_and_deleted() {
    let items = Items { fail_first: Arc::new(AtomicU32::new(2)), ..Default::default() };
    let it =
        TestIntegration::start_with(integration(items), |s| s.admin.token = Some("admin-token".into())).await.unwrap();
    send(&it, &json!({"id": 1, "title": "first"}), "a").await;
    send(&it, &json!({"id": 2, "title": "second"}), "b").await;
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert!(it.entity("item", "1").is_none());
    let admin = |method: reqwest::Method, path: &str, token: &str| {
        it.client.request(method, format!("{}/admin/dlq{path}", it.base_url)).bearer_auth(token.to_owned()).send()
    };
    assert_eq!(admin(reqwest::Method::GET, "", "wrong").await.unwrap().status(), 401);
    // Dead letters are written by the queue's writer; give it a moment.
    let mut list: Vec<Value> = Vec::new();
    for _ in 0..100 {
        list = admin(reqwest::Method::GET, "", "admin-token").await.unwrap().json().await.unwrap();
        if list.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(list.len(), 2);
    assert!(list[0]["error"].as_str().unwrap().contains("the third party refused it"));
    assert_eq!(list[0]["processors"], json!(["/items#items"]));
    assert_eq!(list[0]["attempts"], 1);
    let first = list.iter().find(|d| d["payload"]["id"] == 1).unwrap()["id"].as_u64().unwrap();
    let second = list.iter().find(|d| d["payload"]["id"] == 2).unwrap()["id"].as_u64().unwrap();
    let shown = admin(reqwest::Method::GET, &format!("/{first}"), "admin-token").await.unwrap();
    assert_eq!(shown.json::<Value>().await.unwrap()["payload"]["title"], "first");
    let replayed = admin(reqwest::Method::POST, &format!("/{first}/replay"), "admin-token").await.unwrap();
    assert_eq!(replayed.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(it.entity("item", "1").unwrap()["title"], "first");
    assert_eq!(admin(reqwest::Method::DELETE, &format!("/{second}"), "admin-token").await.unwrap().status(), 200);
    let left: Vec<Value> = admin(reqwest::Method::GET, "", "admin-token").await.unwrap().json().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    it.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_is_off_without_a_token() {
    let it = TestIntegration::start(integration(Items::default())).await.unwrap();
    let r = it.client.get(format!("{}/admin/dlq", it.base_url)).bearer_auth("").send().await.unwrap();
    assert_eq!(r.status(), 404);
    it.shutdown().await;
}

#[tokio::test]
async fn a_corrupt_queue_file_stops_start_up_naming_it() {
    let dir = state_dir();
    std::fs::write(dir.join("queue.redb"), b"this is not a database, it was truncated or overwritten").unwrap();
    let d = dir.clone();
    let err = TestIntegration::start_with(integration(Items::default()), move |s| s.state_dir = d).await.err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("queue.redb"), "{msg}");
    // The file is kept for inspection, not replaced.
    assert!(std::fs::read(dir.join("queue.redb")).unwrap().starts_with(b"this is not a database"));
    std::fs::remove_dir_all(dir).ok();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The queue log cut inside its last event (a write torn by a crash, before its fsync returned): every
/// complete event is processed after the restart, the cut one is not, and the log goes on.
#[tokio::test]
async fn a_queue_log_torn_inside_its_last_event_recovers_every_complete_event() {
    let dir = state_dir();
    let first = blocked(&dir).await;
    // Distinct groups, so that each is delivered (and blocks) on its own.
    for id in 0..4u64 {
        let (status, _) = send(&first, &json!({"id": id, "seq": 0, "title": "t"}), &format!("t-{id}")).await;
        assert_eq!(status, 202);
    }
    assert_eq!(first.shutdown().await, 4);
    let log = dir.join("queue-log");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&log).unwrap().flatten().map(|e| e.path()).collect();
    segments.sort();
    let newest = segments.iter().rev().find(|p| std::fs::metadata(p).unwrap().len() > 0).unwrap().clone();
    let bytes = std::fs::read(&newest).unwrap();
    // The last frame's length: a 17-byte header, then the record (its length is the frame's first field,
    // found by walking the frames).
    let mut at = 0;
    let mut last = 0;
    while at < bytes.len() {
        last = at;
        at += 17 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    let cuts = [last, last + 1, last + 4, last + 8, last + 16, last + 17, last + 60, bytes.len() - 1, bytes.len()];
    for cut in cuts {
        let copy = state_dir();
        copy_dir(&dir, &copy);
        let file = copy.join("queue-log").join(newest.file_name().unwrap());
        std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(cut as u64).unwrap();
        let second = Items::default();
        let seen = second.seen.clone();
        let d = copy.clone();
        let it = TestIntegration::start_with(integration(second), move |s| s.state_dir = d).await.unwrap();
        assert!(it.wait_idle(Duration::from_secs(20)).await);
        let mut ids: Vec<u64> = seen.lock().unwrap().iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        let want: Vec<u64> = if cut == bytes.len() { vec![0, 1, 2, 3] } else { vec![0, 1, 2] };
        assert_eq!(ids, want, "log cut at byte {cut} of {}", bytes.len());
        assert_eq!(it.entities("item").len(), want.len());
        // New events are accepted and processed after the cut.
        let (status, _) = send(&it, &json!({"id": 9, "seq": 0, "title": "t"}), "after-the-cut").await;
        assert_eq!(status, 202);
        assert!(it.wait_idle(Duration::from_secs(20)).await);
        assert!(it.entity("item", "9").is_some());
        it.shutdown().await;
        std::fs::remove_dir_all(copy).ok();
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Across a restart, a processed delivery is still a duplicate, and a dead-lettered one is still free for
/// the provider's redelivery (its id is read back from the queue log, and its release from the dead
/// letters).
#[tokio::test]
async fn delivery_ids_and_their_release_by_a_dead_letter_survive_a_restart() {
    let dir = state_dir();
    let d = dir.clone();
    let items = Items { fail_first: Arc::new(AtomicU32::new(1)), ..Default::default() };
    let first = TestIntegration::start_with(integration(items), move |s| {
        s.state_dir = d;
        s.admin.token = Some("admin-token".into());
    })
    .await
    .unwrap();
    assert_eq!(send(&first, &json!({"id": 1, "title": "failed"}), "dead").await.0, 202);
    assert!(first.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(send(&first, &json!({"id": 2, "title": "done"}), "done").await.0, 202);
    assert!(first.wait_idle(Duration::from_secs(10)).await);
    let mut listed = 0;
    for _ in 0..100 {
        let r = first.client.get(format!("{}/admin/dlq", first.base_url)).bearer_auth("admin-token").send().await;
        listed = r.unwrap().json::<Vec<Value>>().await.unwrap().len();
        if listed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(listed, 1);
    assert!(first.entity("item", "2").is_some() && first.entity("item", "1").is_none());
    first.shutdown().await;

    let d = dir.clone();
    let it = TestIntegration::start_with(integration(Items::default()), move |s| s.state_dir = d).await.unwrap();
    let (_, again) = send(&it, &json!({"id": 2, "title": "changed"}), "done").await;
    assert_eq!(again["status"], "duplicate");
    let (_, redelivered) = send(&it, &json!({"id": 1, "title": "redelivered"}), "dead").await;
    assert_eq!(redelivered["status"], "accepted");
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(it.entity("item", "1").unwrap()["title"], "redelivered");
    assert_eq!(it.entity("item", "2").unwrap()["title"], "done");
    it.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

/// The delivery ids memory holds, from `/metrics`.
async fn ids_in_memory(it: &TestIntegration) -> f64 {
    let text = it.client.get(format!("{}/metrics", it.base_url)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("ocean_queue_delivery_ids_in_memory "));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).expect("the gauge is served")
}

/// Memory holds a bounded number of delivery ids; older ones of the window are found on disk, before and
/// after a restart, so a late redelivery is still a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_ids_beyond_memory_are_found_on_disk_before_and_after_a_restart() {
    let dir = state_dir();
    let start = |dir: PathBuf| {
        TestIntegration::start_with(integration(Items::default()), move |s| {
            s.state_dir = dir;
            s.queue.dedup_memory_entries = 1000;
        })
    };
    let it = start(dir.clone()).await.unwrap();
    for chunk in 0..200u64 {
        let sends = (0..8).map(|i| chunk * 8 + i).map(|n| {
            let it = &it;
            async move { send(it, &json!({"id": n % 50, "seq": n, "title": "t"}), &format!("d-{n}")).await }
        });
        for (status, body) in futures_util::future::join_all(sends).await {
            assert_eq!((status, body["status"].as_str()), (202, Some("accepted")));
        }
    }
    assert!(it.wait_idle(Duration::from_secs(30)).await);
    let held = ids_in_memory(&it).await;
    assert!((1000.0..1500.0).contains(&held), "1,600 ids sent, memory holds 1,000 and those not yet stored: {held}");
    for old in ["d-0", "d-1", "d-599", "d-1599"] {
        let (_, body) = send(&it, &json!({"id": 1, "title": "again"}), old).await;
        assert_eq!(body["status"], "duplicate", "{old}");
    }
    assert_eq!(send(&it, &json!({"id": 1, "title": "new"}), "d-new").await.1["status"], "accepted");
    it.shutdown().await;

    let it = start(dir.clone()).await.unwrap();
    assert_eq!(ids_in_memory(&it).await, 1000.0, "a restart reads back the latest ids only");
    for old in ["d-0", "d-1599", "d-new"] {
        let (_, body) = send(&it, &json!({"id": 1, "title": "again"}), old).await;
        assert_eq!(body["status"], "duplicate", "{old} after the restart");
    }
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(it.entity("item", "1").unwrap()["title"], "new");
    it.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}
