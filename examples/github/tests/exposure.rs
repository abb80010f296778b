//! What is readable without credentials. The local catalog's read API is open on loopback; beyond it
//! (`OCEAN__HTTP__HOST`), or with `OCEAN__ADMIN__CATALOG_REQUIRES_TOKEN`, it needs the admin token and is
//! off without one. The dead-letter API checks its token before anything else.

mod support;

const SECRET: (&str, &str) = ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "exposure-secret");

async fn status(client: &reqwest::Client, url: String, token: Option<&str>) -> (u16, String) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_catalog_requires_the_admin_token_when_asked_and_is_off_without_one() {
    let client = ocean::testing::client();
    let dir = ocean_tests::temp_state_dir("exposure-token");
    let binary = support::spawn(
        &dir,
        &[SECRET, ("OCEAN__ADMIN__TOKEN", "t0ken"), ("OCEAN__ADMIN__CATALOG_REQUIRES_TOKEN", "true")],
    );
    support::wait_ready(&client, &binary.base).await;
    let url = format!("{}/catalog/blueprints/githubIssue/entities", binary.base);
    assert_eq!(status(&client, url.clone(), None).await.0, 401);
    assert_eq!(status(&client, url.clone(), Some("wrong")).await.0, 401);
    assert_eq!(status(&client, url.clone(), Some("t0ken")).await.0, 200);
    // The dead-letter API refuses a bad token before it looks at the id.
    assert_eq!(status(&client, format!("{}/admin/dlq/abc", binary.base), None).await.0, 401);
    drop(binary);

    let dir = ocean_tests::temp_state_dir("exposure-off");
    let binary = support::spawn(&dir, &[SECRET, ("OCEAN__ADMIN__CATALOG_REQUIRES_TOKEN", "true")]);
    support::wait_ready(&client, &binary.base).await;
    let (code, text) = status(&client, format!("{}/catalog/blueprints/githubIssue/entities", binary.base), None).await;
    assert_eq!(code, 404);
    assert!(text.contains("OCEAN__ADMIN__TOKEN"), "{text}");
}

#[tokio::test]
async fn the_catalog_is_open_on_loopback_by_default() {
    let client = ocean::testing::client();
    let dir = ocean_tests::temp_state_dir("exposure-open");
    let binary = support::spawn(&dir, &[SECRET]);
    support::wait_ready(&client, &binary.base).await;
    let url = format!("{}/catalog/blueprints/githubIssue/entities", binary.base);
    assert_eq!(status(&client, url, None).await.0, 200);
}
