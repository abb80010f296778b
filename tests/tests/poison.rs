//! Events that poison their processing: a processor that panics, a processor returning a kind the
//! mapping does not have, a legacy route registering an unknown kind. The process stays up, other events
//! keep flowing, the poisoned event is dead-lettered once (not re-run after a restart), readiness stays
//! truthful.

use std::time::Duration;

use ocean::actix_web::{HttpResponse, http::Method, web};
use ocean::testing::TestIntegration;
use serde_json::{Value, json};

const TOKEN: &str = "poison-admin";

const MAPPING: &str = ocean_tests::ITEM_MAPPING;

/// Upserts its payload as an `item`, panics on `{"panic": true}`, and answers the kind `ghost` on
/// `{"ghost": true}`.
#[derive(Clone, Copy)]
struct Poisonable;

impl ocean::WebhookProcessor for Poisonable {
    async fn get_matching_kinds(&self, e: &ocean::WebhookEvent) -> Vec<String> {
        vec![if e.payload["ghost"] == true { "ghost" } else { "item" }.to_owned()]
    }

    async fn handle_event(
        &self,
        e: &ocean::WebhookEvent,
        _r: &ocean::ResourceConfig,
    ) -> Result<ocean::WebhookEventRawResults, ocean::ProcessorError> {
        if e.payload["panic"] == true {
            panic!("boom in the processor");
        }
        Ok(ocean::WebhookEventRawResults::upsert([e.payload.clone()]))
    }
}

async fn raw(body: web::Json<Value>) -> HttpResponse {
    match ocean::register_raw("ghost", vec![body.into_inner()]).await {
        Ok(n) => HttpResponse::Ok().json(json!({"upserted": n})),
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

async fn start(state: &std::path::Path) -> TestIntegration {
    let p = ocean::Processor::new("/items", |_| Ok(Poisonable)).name("poisonable").no_auth();
    let integration = ocean::Integration::new("poison")
        .processor(p)
        .route(ocean::Route::new(Method::POST, "/raw", raw))
        .default_mapping(MAPPING);
    let state = state.to_owned();
    TestIntegration::start_with(integration, move |s| {
        s.state_dir = state;
        s.admin.token = Some(TOKEN.into());
    })
    .await
    .unwrap()
}

async fn dead_letters(it: &TestIntegration) -> Vec<Value> {
    let r = it.client.get(format!("{}/admin/dlq", it.base_url)).bearer_auth(TOKEN).send().await.unwrap();
    r.json::<Value>().await.unwrap().as_array().cloned().unwrap_or_default()
}

async fn send(it: &TestIntegration, body: Value) -> u16 {
    it.post("/items", body.to_string().as_bytes(), &[]).await.status().as_u16()
}

#[tokio::test]
async fn a_panicking_processor_fails_its_event_only_once() {
    let state = ocean_tests::temp_state_dir("poison");
    let it = start(&state).await;
    assert_eq!(send(&it, json!({"id": 1, "panic": true})).await, 202);
    assert_eq!(send(&it, json!({"id": 2, "ghost": true})).await, 202);
    for i in 10..15 {
        assert_eq!(send(&it, json!({"id": i, "title": format!("fine {i}")})).await, 202);
    }
    assert!(it.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(it.entities("item").len(), 5, "other events flowed");

    let dead = dead_letters(&it).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    let errors: Vec<&str> = dead.iter().filter_map(|d| d["error"].as_str()).collect();
    assert!(errors.iter().any(|e| e.contains("panicked: boom in the processor")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("kind `ghost` is not in the mapping (its kinds: item)")), "{errors:?}");
    let ready = it.client.get(format!("{}/health/ready", it.base_url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["workers"]["stuck"], 0, "{body}");

    // A legacy route registering a kind the mapping does not have gets an error naming the kinds.
    let r = it.client.post(format!("{}/integration/raw", it.base_url)).json(&json!({"id": 3})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("kind `ghost` is not in the mapping (its kinds: item)"));

    // After a restart, the poisoned event is not run again: it waits in the dead letters.
    it.shutdown().await;
    let it = start(&state).await;
    assert_eq!(send(&it, json!({"id": 20, "title": "after restart"})).await, 202);
    assert!(it.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(it.entity("item", "20").unwrap()["title"], "after restart");
    assert_eq!(dead_letters(&it).await.len(), 2);
    it.shutdown().await;
    let _ = std::fs::remove_dir_all(state);
}

const RUNAWAY: &str = r#"
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings:
          identifier: .id | tostring
          blueprint: '"item"'
          properties:
            forever: last(range(1e12))
            recursion: 'def f: 1 + f; f'
            deep: reduce range(100000) as $_ ([]; [.]) | length
            fine: .title
"#;

#[tokio::test]
async fn runaway_leaves_become_null_and_are_counted_and_the_process_stays_up() {
    let state = ocean_tests::temp_state_dir("runaway");
    let start = |state: std::path::PathBuf| async move {
        let integration =
            ocean::Integration::new("runaway").processor(ocean_tests::echo("/items", "item")).default_mapping(RUNAWAY);
        TestIntegration::start_with(integration, move |s| {
            s.state_dir = state;
            s.mapping.leaf_budget_ms = 1500;
        })
        .await
        .unwrap()
    };
    let it = start(state.clone()).await;
    for i in 0..3 {
        let body = json!({"id": i, "title": format!("t{i}")}).to_string();
        assert_eq!(it.post("/items", body.as_bytes(), &[]).await.status(), 202);
    }
    assert!(it.wait_idle(Duration::from_secs(120)).await);
    for i in 0..3 {
        let e = it.entity("item", &i.to_string()).expect("the entity is applied");
        let p = &e["properties"];
        assert_eq!((&p["forever"], &p["recursion"], &p["fine"]), (&Value::Null, &Value::Null, &json!(format!("t{i}"))));
        assert_eq!(p["deep"], 1, "libjq's value for a value 100,000 levels deep");
    }
    let metrics = it.client.get(format!("{}/metrics", it.base_url)).send().await.unwrap().text().await.unwrap();
    let line =
        metrics.lines().find(|l| l.starts_with(r#"ocean_mapping_failures_total{kind="item",reason="leaf_budget"}"#));
    assert_eq!(line.and_then(|l| l.rsplit(' ').next()), Some("6"), "{metrics}");
    let ready = it.client.get(format!("{}/health/ready", it.base_url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // Nothing is left to run again after a restart.
    it.shutdown().await;
    let it = start(state.clone()).await;
    assert_eq!(it.running().queued(), 0);
    it.shutdown().await;
    let _ = std::fs::remove_dir_all(state);
}
