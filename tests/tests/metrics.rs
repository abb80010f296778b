//! Rejections are visible in the metrics and never reach the queue.

use std::time::Duration;

use ocean::testing::TestIntegration;
use serde_json::Value;

const MAPPING: &str = ocean_tests::ITEM_MAPPING;

async fn metric(it: &TestIntegration, name: &str) -> f64 {
    let text = it.client.get(format!("{}/metrics", it.base_url)).send().await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[tokio::test]
async fn a_forged_signature_is_401_never_queued_and_counted() {
    let secret = "It's a Secret to Everybody";
    let p = ocean_tests::echo("/items", "item").auth(ocean::auth::github().secret("webhook_secret"));
    let integration = ocean::Integration::new("test").processor(p).default_mapping(MAPPING);
    let it = TestIntegration::start_with(integration, |s| {
        s.integration.config.insert("webhook_secret".into(), Value::String(secret.into()));
    })
    .await
    .unwrap();
    let rejected = metric(&it, "ocean_events_rejected_total{reason=\"unauthenticated\"}").await;
    let queued = metric(&it, "ocean_events_queued_total").await;
    let body = br#"{"id": 5, "title": "five"}"#;
    let forged = it.send_github("/items", "issues", body, "not the secret").await;
    assert_eq!(forged.status(), 401);
    assert_eq!(metric(&it, "ocean_events_rejected_total{reason=\"unauthenticated\"}").await, rejected + 1.0);
    assert_eq!(metric(&it, "ocean_events_queued_total").await, queued);
    let genuine = it.send_github("/items", "issues", body, secret).await;
    assert_eq!(genuine.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(it.entity("item", "5").unwrap()["title"], "five");
    assert!(metric(&it, "ocean_events_queued_total").await >= queued + 1.0);
    it.shutdown().await;
}
