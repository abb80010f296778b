//! Resync of the GitHub example against GitHub's API inside the test (pages of two, `Link` headers):
//! start-up fill, deletion of what is no longer listed, the deletion threshold, an API failure mid-kind,
//! the races with live events, and the same against Port inside the test.

mod fake_github;
mod fake_port;
#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fake_github::{Github, ORG, TOKEN};
use ocean::testing::TestIntegration;
use serde_json::Value;

const SECRET: &str = "hook-secret";
const WAIT: Duration = Duration::from_secs(20);

fn builder(api: &str) -> ocean::testing::TestBuilder {
    TestIntegration::builder(example_github::integration())
        .config("webhook_secret", SECRET)
        .config("github_token", TOKEN)
        .config("github_api_url", api)
        .config("github_organization", ORG)
        .admin_token("admin")
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

async fn resync(it: &TestIntegration, kind: Option<&str>) -> Value {
    let started = it.resync(kind).await;
    assert_eq!(started["status"], "started", "{started}");
    it.wait_resync(started["id"].as_str().unwrap(), WAIT).await.expect("the resync finishes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_resync_fills_the_catalog_with_the_live_events_identifiers() {
    let gh = Arc::new(Github::new());
    let (api, server) = fake_github::start(gh.clone()).await;
    let it = builder(&api).start().await.unwrap();
    let report = it.wait_first_resync(WAIT).await.expect("the start-up resync finishes");
    assert_eq!(report["trigger"], "start-up");
    assert_eq!(report["status"], "completed", "{report}");

    assert_eq!(ids(&it, "githubRepository"), ["Hello-World", "Spoon-Knife", "octo-app"]);
    // Three issues per repository, without the pull request the issues listing mixes in.
    let issues = ids(&it, "githubIssue");
    assert_eq!(issues.len(), 9, "{issues:?}");
    assert!(issues.contains(&"Hello-World444500041".to_owned()));
    assert_eq!(kind(&report, "issue")["items"], 9);
    // Open pull requests only: the selector's `states` is `[open]`.
    let pulls = it.entities("githubPullRequest");
    assert_eq!(pulls.len(), 3);
    assert!(pulls.iter().all(|p| p["properties"]["status"] == "open"));
    // Several pages were followed for every listing.
    let calls = gh.calls.lock().unwrap().clone();
    assert!(calls.iter().any(|c| c.contains("/orgs/Codertocat/repos?") && c.ends_with("page=2")), "{calls:?}");
    assert!(calls.iter().any(|c| c.contains("/repos/Codertocat/octo-app/issues?") && c.ends_with("page=2")));

    // A live event of a listed issue lands on the same entity.
    let body = ocean_tests::payload("github/issues/opened.payload.json");
    gh.set_issue_title("Hello-World", 1, "edited on GitHub");
    assert_eq!(it.send_github("/webhook", "issues", &body, SECRET).await.status(), 202);
    assert!(it.wait_idle(WAIT).await);
    assert_eq!(ids(&it, "githubIssue").len(), 9);
    assert_eq!(it.entity("githubIssue", "Hello-World444500041").unwrap()["title"], "edited on GitHub");

    // The per-kind metrics.
    let metrics = it.client.get(format!("{}/metrics", it.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ocean_resync_items_fetched_total{kind=\"issue\"} 9"), "{metrics}");
    assert!(metrics.contains("ocean_resync_entities_upserted_total{kind=\"repository\"} 3"));
    assert!(metrics.contains("ocean_resync_last_success_timestamp_seconds{kind=\"pull-request\"}"));
    it.shutdown().await;
    server.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_gone_from_the_api_are_deleted_within_the_threshold_and_never_after_a_failure() {
    let gh = Arc::new(Github::new());
    let (api, server) = fake_github::start(gh.clone()).await;
    let it = builder(&api).start().await.unwrap();
    it.wait_first_resync(WAIT).await.expect("the start-up resync finishes");
    assert_eq!(ids(&it, "githubIssue").len(), 9);

    // One issue closed for good on GitHub: it goes, and nothing else does.
    gh.issues.lock().unwrap().get_mut("Spoon-Knife").unwrap().retain(|i| i["number"] != 2);
    let report = resync(&it, None).await;
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(kind(&report, "issue")["deleted"], 1);
    assert_eq!(kind(&report, "repository")["deleted"], 0);
    assert_eq!(ids(&it, "githubIssue").len(), 8);
    assert_eq!(ids(&it, "githubRepository").len(), 3);
    assert_eq!(it.entities("githubPullRequest").len(), 3);

    // An API failure in the middle of the issues: the kind fails and deletes nothing.
    gh.issues.lock().unwrap().get_mut("Hello-World").unwrap().retain(|i| i["number"] != 3);
    *gh.fail_page_2.lock().unwrap() = Some(format!("/repos/{ORG}/octo-app/issues"));
    let report = resync(&it, Some("issue")).await;
    assert_eq!(report["status"], "failed", "{report}");
    assert_eq!(kind(&report, "issue")["status"], "failed");
    assert!(kind(&report, "issue")["note"].as_str().unwrap().contains("403"), "{report}");
    assert_eq!(ids(&it, "githubIssue").len(), 8);
    *gh.fail_page_2.lock().unwrap() = None;

    // Every issue gone from the API: above the default threshold (90 %), nothing is deleted, and the run
    // says why.
    for list in gh.issues.lock().unwrap().values_mut() {
        list.retain(|i| i.get("pull_request").is_some());
    }
    let report = resync(&it, Some("issue")).await;
    assert_eq!(report["status"], "completed", "{report}");
    let notes = report["notes"].to_string();
    assert!(notes.contains("entityDeletionThreshold") && notes.contains("githubIssue"), "{notes}");
    assert_eq!(ids(&it, "githubIssue").len(), 8);
    it.shutdown().await;
    server.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_win_their_races_with_a_resync() {
    let gh = Arc::new(Github::new());
    let (api, server) = fake_github::start(gh.clone()).await;
    let it = builder(&api).resync_on_start(false).start().await.unwrap();

    // The resync reads Hello-World's issues, then waits before handing them over.
    *gh.hold.lock().unwrap() = Some(format!("/repos/{ORG}/Hello-World/issues"));
    let started = it.resync(Some("issue")).await;
    let deadline = Instant::now() + WAIT;
    while gh.held.load(Ordering::Acquire) == 0 {
        assert!(Instant::now() < deadline, "the resync never listed Hello-World's issues");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Meanwhile the issue is edited on GitHub and its live event arrives; and a new issue is opened.
    gh.set_issue_title("Hello-World", 1, "edited during the resync");
    let body = ocean_tests::payload("github/issues/opened.payload.json");
    assert_eq!(it.send_github("/webhook", "issues", &body, SECRET).await.status(), 202);
    let new_issue = fake_github::issue("Hello-World", 7, "opened during the resync");
    gh.issues.lock().unwrap().get_mut("Hello-World").unwrap().push(new_issue.clone());
    let mut opened: Value = serde_json::from_slice(&body).unwrap();
    opened["issue"] = new_issue.clone();
    let opened = serde_json::to_vec(&opened).unwrap();
    assert_eq!(it.send_github("/webhook", "issues", &opened, SECRET).await.status(), 202);
    assert!(it.wait_idle(WAIT).await);
    let new_id = format!("Hello-World{}", new_issue["id"]);
    assert_eq!(it.entity("githubIssue", "Hello-World444500041").unwrap()["title"], "edited during the resync");

    // The resync's snapshot (the old title, without the new issue) is released.
    gh.release();
    let report = it.wait_resync(started["id"].as_str().unwrap(), WAIT).await.expect("the resync finishes");
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(kind(&report, "issue")["kept_for_live_events"], 1, "{report}");
    // The live event's write is not overwritten by the older snapshot...
    assert_eq!(it.entity("githubIssue", "Hello-World444500041").unwrap()["title"], "edited during the resync");
    // ...and the issue it created is not deleted as stale.
    assert!(it.entity("githubIssue", &new_id).is_some(), "{report}");
    assert_eq!(ids(&it, "githubIssue").len(), 10);

    // The next run lists both, and owns them again.
    *gh.hold.lock().unwrap() = None;
    let report = resync(&it, Some("issue")).await;
    assert_eq!(kind(&report, "issue")["kept_for_live_events"], 0);
    assert_eq!(ids(&it, "githubIssue").len(), 10);
    it.shutdown().await;
    server.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_at_a_time_and_unknown_kinds_are_refused() {
    let gh = Arc::new(Github::new());
    let (api, server) = fake_github::start(gh.clone()).await;
    let it = builder(&api).resync_on_start(false).start().await.unwrap();
    *gh.hold.lock().unwrap() = Some(format!("/orgs/{ORG}/repos"));
    let first = it.resync(None).await;
    assert_eq!(first["status"], "started");
    let second = it.resync(Some("issue")).await;
    assert_eq!(second["status"], "running");
    assert_eq!(second["id"], first["id"]);
    let status = it.resync_status().await;
    assert_eq!(status["current"]["id"], first["id"]);
    gh.release();
    it.wait_resync(first["id"].as_str().unwrap(), WAIT).await.expect("the resync finishes");

    let unknown = it.resync(Some("nope")).await;
    assert_eq!(unknown["status"], "error");
    assert!(unknown["message"].as_str().unwrap().contains("pull-request"), "{unknown}");
    let refused = it.client.post(format!("{}/admin/resync", it.base_url)).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    it.shutdown().await;
    server.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_kinds_are_skipped_and_nothing_is_deleted() {
    let it = TestIntegration::builder(example_github::integration())
        .config("webhook_secret", SECRET)
        .admin_token("admin")
        .start()
        .await
        .unwrap();
    let body = ocean_tests::payload("github/issues/opened.payload.json");
    assert_eq!(it.send_github("/webhook", "issues", &body, SECRET).await.status(), 202);
    assert!(it.wait_idle(WAIT).await);
    let report = resync(&it, None).await;
    assert_eq!(kind(&report, "issue")["status"], "skipped", "{report}");
    assert!(kind(&report, "issue")["note"].as_str().unwrap().contains("githubToken"));
    assert_eq!(it.entities("githubIssue").len(), 1);
    it.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_writes_to_port_and_deletes_only_what_it_owns() {
    let gh = Arc::new(Github::new());
    let (api, gh_server) = fake_github::start(gh.clone()).await;
    let port = Arc::new(fake_port::Port::default());
    // An entity of another integration on the same blueprint: never deleted by this one.
    port.put_foreign("githubRepository", "not-ours");
    let (port_url, port_server) = ocean_tests::serve(port.clone(), fake_port::handle).await;
    let it = builder(&api)
        .settings(move |s| {
            s.port.base_url = port_url;
            s.port.client_id = Some("id".into());
            s.port.client_secret = Some("secret".into());
            s.integration.identifier = Some("gh-resync".into());
            s.integration.kind = Some("github".into());
        })
        .start()
        .await
        .unwrap();
    let report = it.wait_first_resync(WAIT).await.expect("the start-up resync finishes");
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(port.ids("githubRepository"), ["Hello-World", "Spoon-Knife", "not-ours", "octo-app"]);
    assert_eq!(port.ids("githubIssue").len(), 9);
    // Port records the integration as the data source of what it wrote.
    assert!(port.datasource("githubIssue", "Hello-World444500041").contains("port-ocean/github/"));

    gh.repos.lock().unwrap().retain(|r| r["name"] != "octo-app");
    let report = resync(&it, Some("repository")).await;
    assert_eq!(kind(&report, "repository")["deleted"], 1, "{report}");
    assert_eq!(port.ids("githubRepository"), ["Hello-World", "Spoon-Knife", "not-ours"]);
    it.shutdown().await;
    gh_server.stop(true).await;
    port_server.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_resyncs_on_the_schedule_its_environment_sets() {
    let gh = Arc::new(Github::new());
    let (api, server) = fake_github::start(gh.clone()).await;
    let dir = ocean_tests::temp_state_dir("resync-schedule");
    let bin = support::spawn(
        &dir,
        &[
            ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", SECRET),
            ("OCEAN__INTEGRATION__CONFIG__GITHUB_TOKEN", TOKEN),
            ("OCEAN__INTEGRATION__CONFIG__GITHUB_API_URL", &api),
            ("OCEAN__INTEGRATION__CONFIG__GITHUB_ORGANIZATION", ORG),
            ("OCEAN__ADMIN__TOKEN", "admin"),
            ("OCEAN__RESYNC_ON_START", "false"),
            // 1.2 seconds.
            ("OCEAN__SCHEDULED_RESYNC_INTERVAL", "0.02"),
        ],
    );
    let client = reqwest::Client::new();
    support::wait_ready(&client, &bin.base).await;
    let status = |client: reqwest::Client, base: String| async move {
        let r = client.get(format!("{base}/admin/resync")).bearer_auth("admin").send().await.ok()?;
        r.json::<Value>().await.ok()
    };
    // No start-up run: the first one is the schedule's.
    let first = status(client.clone(), bin.base.clone()).await.unwrap();
    assert!(first["current"].is_null() && first["last"].is_null(), "{first}");
    let last = support::eventually("a scheduled resync", || {
        let (client, base) = (client.clone(), bin.base.clone());
        async move { status(client, base).await.map(|s| s["last"].clone()).filter(Value::is_object) }
    })
    .await;
    assert_eq!(last["trigger"], "schedule", "{last}");
    assert_eq!(last["status"], "completed", "{last}");
    let repos: Value = client
        .get(format!("{}/catalog/blueprints/githubRepository/entities", bin.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(repos.as_array().unwrap().len(), 3);
    drop(bin);
    server.stop(true).await;
}
