//! The integration written without macros ends with the same catalog as the GitHub example written with
//! them, on every corpus payload of `issues`, `pull_request` and `push`.

use std::time::Duration;

use ocean::testing::TestIntegration;
use serde_json::Value;

async fn run(integration: ocean::Integration) -> Vec<Vec<Value>> {
    let it = TestIntegration::start_with(integration, |s| {
        s.integration.config.insert("webhook_secret".into(), Value::String("same".into()));
    })
    .await
    .unwrap();
    for (event, folder) in
        [("issues", "github/issues"), ("pull_request", "github/pull_request"), ("push", "github/push")]
    {
        for f in ocean_tests::payload_files(folder) {
            let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            let body = serde_json::to_vec(&v).unwrap();
            assert_eq!(it.send_github("/webhook", event, &body, "same").await.status(), 202);
        }
    }
    assert!(it.wait_idle(Duration::from_secs(30)).await);
    let out = ["githubIssue", "githubPullRequest", "githubRepository"].iter().map(|b| it.entities(b)).collect();
    it.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_and_macros_give_the_same_catalog() {
    let with_macros = run(example_github::integration()).await;
    let without = run(example_macroless::integration()).await;
    assert!(with_macros.iter().all(|b| !b.is_empty()));
    assert_eq!(with_macros, without);
}

/// GitHub's repositories listing inside the test: two pages.
async fn repos(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    let page = if req.query_string().contains("page=2") { 2 } else { 1 };
    let names: &[&str] = if page == 1 { &["one", "two"] } else { &["three"] };
    let body: Vec<Value> = names.iter().map(|n| serde_json::json!({"name": n, "private": false})).collect();
    let mut resp = actix_web::HttpResponse::Ok();
    if page == 1 {
        let next = format!("<http://{}{}?per_page=100&page=2>; rel=\"next\"", req.connection_info().host(), req.path());
        resp.insert_header(("link", next));
    }
    resp.json(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_form_of_resync_lists_every_page() {
    let (api, server) = ocean_tests::serve(std::sync::Arc::new(()), repos).await;
    let it = TestIntegration::builder(example_macroless::integration())
        .config("webhook_secret", "same")
        .config("github_token", "t")
        .config("github_api_url", api.as_str())
        .config("github_organization", "octo")
        .admin_token("admin")
        .start()
        .await
        .unwrap();
    let report = it.wait_first_resync(Duration::from_secs(20)).await.expect("the start-up resync finishes");
    let kinds = report["kinds"].as_array().unwrap();
    let repo = kinds.iter().find(|k| k["kind"] == "repository").unwrap();
    assert_eq!(repo["status"], "completed", "{report}");
    assert_eq!(repo["items"], 3);
    // The kinds without a resync function are skipped, and say so.
    let issue = kinds.iter().find(|k| k["kind"] == "issue").unwrap();
    assert_eq!(issue["status"], "skipped");
    let mut names: Vec<Value> = it.entities("githubRepository").iter().map(|e| e["identifier"].clone()).collect();
    names.sort_by_key(|v| v.to_string());
    assert_eq!(names, ["one", "three", "two"]);
    it.shutdown().await;
    server.stop(true).await;
}
