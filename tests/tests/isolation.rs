//! Two integrations in one process share nothing: each has its own mapping, catalog, queue, metrics and
//! legacy-route context.

use std::time::Duration;

use ocean::actix_web::{HttpResponse, http::Method, web};
use ocean::testing::TestIntegration;
use serde_json::json;

fn mapping(blueprint: &str) -> String {
    format!(
        r#"
resources:
  - kind: item
    selector: {{ query: 'true' }}
    port:
      entity:
        mappings: {{ identifier: .id | tostring, title: .title, blueprint: '"{blueprint}"' }}
"#
    )
}

/// A legacy route that registers its body through whichever integration serves it.
async fn raw(body: web::Json<serde_json::Value>) -> HttpResponse {
    match ocean::register_raw("item", vec![body.into_inner()]).await {
        Ok(n) => HttpResponse::Ok().json(json!({"upserted": n})),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn start(blueprint: &str) -> TestIntegration {
    let integration = ocean::Integration::new(blueprint)
        .processor(ocean_tests::echo("/items", "item"))
        .route(ocean::Route::new(Method::POST, "/raw", raw))
        .default_mapping(&mapping(blueprint));
    TestIntegration::start(integration).await.unwrap()
}

async fn metrics(it: &TestIntegration) -> String {
    it.client.get(format!("{}/metrics", it.base_url)).send().await.unwrap().text().await.unwrap()
}

fn count(text: &str, name: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[tokio::test]
async fn two_integrations_in_one_process_see_only_their_own_entities_and_counters() {
    let (a, b) = (start("alpha").await, start("beta").await);
    for i in 0..3 {
        let body = json!({"id": i, "title": format!("a{i}")}).to_string();
        assert_eq!(a.post("/items", body.as_bytes(), &[]).await.status(), 202);
    }
    let body = json!({"id": 7, "title": "b7"}).to_string();
    assert_eq!(b.post("/items", body.as_bytes(), &[]).await.status(), 202);
    assert!(a.wait_idle(Duration::from_secs(10)).await && b.wait_idle(Duration::from_secs(10)).await);

    // Each mapping wrote its own blueprint into its own catalog.
    assert_eq!(a.entities("alpha").len(), 3);
    assert!(a.entities("beta").is_empty());
    assert_eq!(b.entities("beta").len(), 1);
    assert!(b.entities("alpha").is_empty());

    // Each counts its own events.
    let (ma, mb) = (metrics(&a).await, metrics(&b).await);
    assert_eq!(count(&ma, "ocean_events_queued_total"), 3.0, "{ma}");
    assert_eq!(count(&mb, "ocean_events_queued_total"), 1.0, "{mb}");
    assert_eq!(count(&ma, "ocean_entities_upserted_total"), 3.0);
    assert_eq!(count(&mb, "ocean_entities_upserted_total"), 1.0);

    // A legacy route's `register_raw` applies to the integration that serves it, whichever started last.
    let url = format!("{}/integration/raw", a.base_url);
    let r = a.client.post(url).json(&json!({"id": 40, "title": "from a route"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(a.entity("alpha", "40").unwrap()["title"], "from a route");
    assert!(b.entity("beta", "40").is_none());
    a.shutdown().await;
    b.shutdown().await;
}
