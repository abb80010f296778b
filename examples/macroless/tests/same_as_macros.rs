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
