//! The legacy route on real Gitea payloads: verified by the runtime before its handler runs, applied
//! inside the request.

use ocean::auth::{Algorithm, sign};
use ocean::testing::TestIntegration;
use serde_json::Value;

#[tokio::test]
async fn a_signed_gitea_push_registers_its_repository_before_the_answer() {
    let it = TestIntegration::builder(example_direct_route::integration())
        .config("webhook_secret", "gitea-secret")
        .start()
        .await
        .unwrap();
    let body = ocean_tests::payload("go-playground/gitea/push-event.json");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    let full_name = payload["repository"]["full_name"].as_str().unwrap();

    // Refused before the handler: nothing is registered.
    let forged =
        it.post("/gitea", &body, &[("x-gitea-event", "push".into()), ("x-gitea-signature", "00".repeat(32))]).await;
    assert_eq!(forged.status(), 401);
    let answer: Value = forged.json().await.unwrap();
    assert_eq!(answer["message"], "`X-Gitea-Signature` does not match", "{answer}");
    let sig = hex::encode(sign(Algorithm::Sha256, b"gitea-secret", &[&body]));
    let twice = it
        .post(
            "/gitea",
            &body,
            &[("x-gitea-event", "push".into()), ("x-gitea-signature", sig.clone()), ("x-gitea-signature", sig.clone())],
        )
        .await;
    assert_eq!(twice.status(), 401, "a signature header sent twice is refused");
    let unsigned = it.post("/gitea", &body, &[("x-gitea-event", "push".into())]).await;
    assert_eq!(unsigned.status(), 401);
    assert!(it.entity("giteaRepository", full_name).is_none(), "the handler ran for a refused request");

    let r = it.post("/gitea", &body, &[("x-gitea-event", "push".into()), ("x-gitea-signature", sig)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["entities"], 1);
    // Applied inside the request: no waiting. The handler read the same bytes that were verified.
    let e = it.entity("giteaRepository", full_name).expect("registered");
    assert_eq!(e["title"], payload["repository"]["name"]);
    assert_eq!(e["properties"]["url"], payload["repository"]["html_url"]);

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

#[tokio::test]
async fn a_route_whose_secret_is_not_configured_stops_start_up() {
    let route = ocean::Route::new(ocean::actix_web::http::Method::POST, "/closed", || async { "reached" })
        .auth(ocean::auth::hmac().header("x-gitea-signature").secret("routeSecret"));
    let integration = ocean::Integration::new("closed").default_mapping("resources: []").route(route);
    let Err(e) = TestIntegration::start(integration).await else {
        panic!("started without the route's secret");
    };
    let e = e.to_string();
    assert!(e.contains("route `POST /closed`"), "{e}");
    assert!(e.contains("OCEAN__INTEGRATION__CONFIG__ROUTE_SECRET"), "{e}");
}

#[tokio::test]
async fn an_insecure_route_starts_without_its_secret_and_skips_verification() {
    let route = ocean::Route::new(ocean::actix_web::http::Method::POST, "/open", || async { "reached" })
        .auth(ocean::auth::hmac().header("x-gitea-signature").secret("webhook_secret"))
        .insecure();
    let it = TestIntegration::start(ocean::Integration::new("insecure").default_mapping("resources: []").route(route))
        .await
        .unwrap();
    let r = it.post("/open", b"{}", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "reached");
    it.shutdown().await;
}
