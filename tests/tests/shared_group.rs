//! Two processors that name one ordering space (`group = "issue"`) keep the events of one issue in order
//! across them: a comment on an issue waits for the issue's event, handled by the other processor, to
//! finish. Real GitHub payloads over real HTTP.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ocean::testing::TestIntegration;
use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

/// (processor, issue id, started, finished).
static RUNS: Mutex<Vec<(&'static str, u64, Instant, Instant)>> = Mutex::new(Vec::new());

const MAPPING: &str = r#"
resources:
  - kind: issue
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"issue"' }
"#;

fn issue_id(event: &WebhookEvent) -> u64 {
    event.payload["issue"]["id"].as_u64().unwrap_or_default()
}

#[derive(Default)]
struct Issues;

#[ocean::webhook_processor(path = "/ordered", kinds = ["issue"], auth = github(secret = "webhook_secret"), group_by = ".issue.id", group = "issue")]
impl Issues {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event.header("x-github-event") == Some("issues")
    }

    async fn handle_event(
        &self,
        event: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let started = Instant::now();
        // Slow enough that the comment, sent right after this event's 202, arrives while it runs.
        tokio::time::sleep(Duration::from_millis(400)).await;
        RUNS.lock().unwrap().push(("issues", issue_id(event), started, Instant::now()));
        Ok(WebhookEventRawResults::upsert([event.payload["issue"].clone()]))
    }
}

#[derive(Default)]
struct Comments;

#[ocean::webhook_processor(path = "/ordered", kinds = ["issue"], auth = github(secret = "webhook_secret"), group_by = ".issue.id", group = "issue")]
impl Comments {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event.header("x-github-event") == Some("issue_comment")
    }

    async fn handle_event(
        &self,
        event: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let started = Instant::now();
        RUNS.lock().unwrap().push(("comments", issue_id(event), started, Instant::now()));
        Ok(WebhookEventRawResults::upsert([event.payload["issue"].clone()]))
    }
}

#[tokio::test]
async fn processors_sharing_a_group_run_one_issue_s_events_in_order() {
    let it = TestIntegration::builder(ocean::Integration::new("ordered").discovered().default_mapping(MAPPING))
        .config("webhook_secret", "s3cret")
        .start()
        .await
        .unwrap();
    // An issue event and a comment on the same issue (the corpus payloads name one issue id).
    let mut issue: serde_json::Value =
        serde_json::from_slice(&ocean_tests::payload("github/issues/opened.payload.json")).unwrap();
    let mut comment: serde_json::Value =
        serde_json::from_slice(&ocean_tests::payload("github/issue_comment/created.payload.json")).unwrap();
    issue["issue"]["id"] = 4242.into();
    comment["issue"]["id"] = 4242.into();
    let r = it.send_github("/ordered", "issues", issue.to_string().as_bytes(), "s3cret").await;
    assert_eq!(r.status(), 202);
    let r = it.send_github("/ordered", "issue_comment", comment.to_string().as_bytes(), "s3cret").await;
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while RUNS.lock().unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let runs = RUNS.lock().unwrap().clone();
    let issues = runs.iter().find(|r| r.0 == "issues").expect("the issue event ran");
    let comments = runs.iter().find(|r| r.0 == "comments").expect("the comment ran");
    assert_eq!((issues.1, comments.1), (4242, 4242));
    assert!(
        comments.2 >= issues.3,
        "the comment started before the issue's event finished: the two processors did not share a group"
    );
    it.shutdown().await;
}
