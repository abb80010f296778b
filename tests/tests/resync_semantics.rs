//! Resync's rules through the builder API on the local catalog: several functions serve one kind, the
//! mapping's selector and `itemsToParse` apply to listed objects, a panicking function fails its kind
//! without touching the process or the catalog, and shutdown stops a run that never ends, deleting nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ocean::testing::TestIntegration;
use ocean::{Batches, Context, OnResync, ProcessorError, ResourceConfig};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// `team` objects carry their members; `itemsToParse` makes one `member` entity per member, and the
/// selector keeps active teams only.
const MAPPING: &str = r#"
entityDeletionThreshold: 1
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"item"' }
  - kind: team
    selector: { query: '.active' }
    port:
      itemsToParse: .members
      entity:
        mappings: { identifier: .item.login, title: .name, blueprint: '"member"' }
"#;

fn lister(kind: &str, items: Vec<Value>) -> OnResync {
    OnResync::new(kind, move |_ctx: Context, _r: ResourceConfig, out: Batches| {
        let items = items.clone();
        async move {
            for chunk in items.chunks(2) {
                out.send(chunk.to_vec()).await?;
            }
            Ok::<(), ProcessorError>(())
        }
    })
}

fn ids(it: &TestIntegration, blueprint: &str) -> Vec<String> {
    let mut v: Vec<String> =
        it.entities(blueprint).iter().map(|e| e["identifier"].as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

fn kind<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == kind).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_functions_one_kind_and_the_mapping_of_listed_objects() {
    let integration = ocean::Integration::new("semantics")
        .on_resync(lister("item", vec![json!({"id": 1, "title": "a"}), json!({"id": 2, "title": "b"})]))
        .on_resync(lister("item", vec![json!({"id": 3, "title": "c"})]))
        .on_resync(lister(
            "team",
            vec![
                json!({"name": "core", "active": true, "members": [{"login": "ana"}, {"login": "bo"}]}),
                json!({"name": "old", "active": false, "members": [{"login": "cy"}]}),
            ],
        ));
    let it = TestIntegration::builder(integration).mapping(MAPPING).admin_token("admin").start().await.unwrap();
    let report = it.wait_first_resync(WAIT).await.expect("the start-up resync finishes");
    assert_eq!(report["status"], "completed", "{report}");
    // Both functions of `item` listed, and neither's entities are stale for the other.
    assert_eq!(ids(&it, "item"), ["1", "2", "3"]);
    assert_eq!(kind(&report, "item")["deleted"], 0);
    // One entity per member of the active team; the inactive team's member is not listed.
    assert_eq!(ids(&it, "member"), ["ana", "bo"]);
    assert_eq!(it.entity("member", "ana").unwrap()["title"], "core");
    it.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_function_fails_its_kind_and_deletes_nothing() {
    let panics = Arc::new(AtomicBool::new(false));
    let flag = panics.clone();
    let flaky = OnResync::new("item", move |_ctx: Context, _r: ResourceConfig, out: Batches| {
        let flag = flag.clone();
        async move {
            // A run asked for over HTTP runs on the integration's runtime, not on an HTTP worker.
            let thread = std::thread::current().name().unwrap_or_default().to_owned();
            assert!(!thread.starts_with("actix"), "resync on {thread}");
            out.send(vec![json!({"id": 1, "title": "a"})]).await?;
            if flag.load(Ordering::Acquire) {
                panic!("the third party sent something unexpected");
            }
            out.send(vec![json!({"id": 2, "title": "b"})]).await?;
            Ok::<(), ProcessorError>(())
        }
    });
    let integration = ocean::Integration::new("panics").on_resync(flaky);
    let it = TestIntegration::builder(integration).mapping(MAPPING).admin_token("admin").start().await.unwrap();
    it.wait_first_resync(WAIT).await.expect("the start-up resync finishes");
    assert_eq!(ids(&it, "item"), ["1", "2"]);

    panics.store(true, Ordering::Release);
    let started = it.resync(Some("item")).await;
    let report = it.wait_resync(started["id"].as_str().unwrap(), WAIT).await.unwrap();
    assert_eq!(kind(&report, "item")["status"], "failed", "{report}");
    assert!(kind(&report, "item")["note"].as_str().unwrap().contains("the third party sent something unexpected"));
    // Item 2 was not listed, but the kind failed: nothing is deleted (the threshold would allow it).
    assert_eq!(ids(&it, "item"), ["1", "2"]);
    let health = it.client.get(format!("{}/health/ready", it.base_url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    it.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_a_run_that_never_ends() {
    let endless = OnResync::new("item", |_ctx: Context, _r: ResourceConfig, out: Batches| async move {
        out.send(vec![json!({"id": 1, "title": "a"})]).await?;
        std::future::pending::<()>().await;
        Ok::<(), ProcessorError>(())
    });
    let integration = ocean::Integration::new("endless").on_resync(endless);
    let dir = ocean_tests::temp_state_dir("resync-endless");
    let state = dir.clone();
    let it = TestIntegration::builder(integration)
        .mapping(MAPPING)
        .admin_token("admin")
        .settings(move |s| s.state_dir = state)
        .start()
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while it.entity("item", "1").is_none() {
        assert!(Instant::now() < deadline, "the resync wrote nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(it.resync_status().await["current"]["kinds"][0]["status"], "running");
    assert_eq!(it.shutdown().await, 0);
    // The run ended with the integration: nothing holds its catalog any more, which opens again at once.
    let catalog = ocean::sink::LocalCatalog::open(&dir.join("catalog.redb")).expect("the catalog is free");
    assert_eq!(catalog.list("item").unwrap().len(), 1);
    drop(catalog);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sink that panics on an entity titled `boom`.
struct Fragile;

impl ocean::sink::Sink for Fragile {
    fn apply<'a>(
        &'a self,
        changes: &'a ocean::mapping::Changes,
    ) -> ocean::BoxFuture<'a, Result<(), ocean::sink::SinkError>> {
        let boom = changes.upserts.iter().any(|e| e.title == "boom");
        Box::pin(async move {
            assert!(!boom, "the sink cannot take this entity");
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_panics_is_recorded_and_the_next_one_starts() {
    let integration = ocean::Integration::new("fragile")
        .sink(Arc::new(Fragile))
        .on_resync(lister("item", vec![json!({"id": 1, "title": "boom"})]));
    let it = TestIntegration::builder(integration)
        .mapping(MAPPING)
        .admin_token("admin")
        .resync_on_start(false)
        .start()
        .await
        .unwrap();
    let first = it.resync(None).await;
    let report = it.wait_resync(first["id"].as_str().unwrap(), WAIT).await.expect("the run is recorded");
    assert_eq!(report["status"], "failed", "{report}");
    assert!(kind(&report, "item")["note"].as_str().unwrap().contains("panic"), "{report}");
    let second = it.resync(None).await;
    assert_eq!(second["status"], "started", "{second}");
    assert_ne!(second["id"], first["id"]);
    it.shutdown().await;
}
