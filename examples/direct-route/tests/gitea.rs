//! The legacy route on real Gitea payloads: verified by hand, applied inside the request.

use ocean::auth::{Algorithm, sign};
use ocean::testing::TestIntegration;
use serde_json::Value;

#[tokio::test]
async fn a_signed_gitea_push_registers_its_repository_before_the_answer() {
    let it = TestIntegration::start_with(example_direct_route::integration(), |s| {
        s.integration.config.insert("webhook_secret".into(), Value::String("gitea-secret".into()));
    })
    .await
    .unwrap();
    let body = ocean_tests::payload("go-playground/gitea/push-event.json");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    let sig = hex::encode(sign(Algorithm::Sha256, b"gitea-secret", &[&body]));
    let r = it.post("/gitea", &body, &[("x-gitea-event", "push".into()), ("x-gitea-signature", sig)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["entities"], 1);
    // Applied inside the request: no waiting.
    let full_name = payload["repository"]["full_name"].as_str().unwrap();
    let e = it.entity("giteaRepository", full_name).expect("registered");
    assert_eq!(e["title"], payload["repository"]["name"]);
    assert_eq!(e["properties"]["url"], payload["repository"]["html_url"]);

    let forged =
        it.post("/gitea", &body, &[("x-gitea-event", "push".into()), ("x-gitea-signature", "00".repeat(32))]).await;
    assert_eq!(forged.status(), 401);

    let mut deleted: Value =
        serde_json::from_slice(&ocean_tests::payload("go-playground/gitea/repository-event.json")).unwrap();
    deleted["action"] = "deleted".into();
    deleted["repository"] = payload["repository"].clone();
    let body = serde_json::to_vec(&deleted).unwrap();
    let sig = hex::encode(sign(Algorithm::Sha256, b"gitea-secret", &[&body]));
    let r = it.post("/gitea", &body, &[("x-gitea-event", "repository".into()), ("x-gitea-signature", sig)]).await;
    assert_eq!(r.status(), 200);
    assert!(it.entity("giteaRepository", full_name).is_none());
    it.shutdown().await;
}
