//! The testing kit signs a request for every built-in verifier as its provider does, and waits for what
//! processing produces: an entity, or a dead letter.

use std::time::Duration;

use ocean::Processor;
use ocean::auth::{self, Auth};
use ocean::testing::TestIntegration;
use serde_json::json;

const MAPPING: &str = ocean_tests::ITEM_MAPPING;

fn verifiers() -> Vec<(&'static str, Auth, &'static str)> {
    vec![
        ("/github", auth::github(), "gh-secret"),
        ("/gitlab-token", auth::gitlab(), "gl-token"),
        ("/gitlab-signing", auth::gitlab(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("/standard", auth::standard_webhooks(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("/jira", auth::jira(), "jira-secret"),
        ("/bitbucket", auth::bitbucket().algorithm("sha1"), "bb-secret"),
        ("/pagerduty", auth::pagerduty(), "pd-secret"),
        ("/stripe", auth::stripe(), "whsec_stripe"),
        ("/slack", auth::slack(), "slack-secret"),
        ("/hmac", auth::hmac().header("x-signature").algorithm("sha512").encoding("base64").prefix("v1="), "h"),
        ("/token", auth::token().header("x-api-key"), "api-key"),
        ("/basic", auth::basic(), "user:password"),
    ]
}

#[tokio::test]
async fn the_kit_signs_for_every_verifier() {
    let mut integration = ocean::Integration::new("kit").default_mapping(MAPPING);
    for (path, a, secret) in verifiers() {
        integration = integration.processor(
            Processor::of::<ocean_tests::Echo>(path).name(path.trim_start_matches('/')).auth(a.secret_value(secret)),
        );
    }
    let it = TestIntegration::start(integration).await.unwrap();
    for (i, (path, a, secret)) in verifiers().into_iter().enumerate() {
        let body = json!({"id": i}).to_string();
        let r = it.send_signed(path, &a, secret, body.as_bytes(), &[]).await;
        assert_eq!(r.status(), 202, "{path}: {}", r.text().await.unwrap());
        assert!(it.wait_for_entity("item", &i.to_string(), Duration::from_secs(10)).await.is_some(), "{path}");
        let wrong = if secret.starts_with("whsec_") { "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } else { "not-it" };
        let r = it.send_signed(path, &a, wrong, body.as_bytes(), &[]).await;
        assert_eq!(r.status(), 401, "{path}: another secret");
    }
    // An item without identifier: the kit waits for its dead letter.
    let r = it.send_signed("/token", &auth::token().header("x-api-key"), "api-key", br#"{"id": ""}"#, &[]).await;
    assert_eq!(r.status(), 202);
    let dead = it.wait_for_dead_letters(1, Duration::from_secs(10)).await;
    assert!(dead[0]["error"].as_str().unwrap().contains("no_identifier"), "{dead:?}");
    it.shutdown().await;
}
