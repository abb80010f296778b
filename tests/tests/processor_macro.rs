//! Processors written with the macros, served by a real server: each is offered every event on its path
//! and runs according to its `should_process_event`.

use std::sync::Mutex;
use std::time::Duration;

use ocean::testing::TestIntegration;
use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};
use serde_json::{Value, json};

static SEEN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

const MAPPING: &str = r#"
resources:
  - kind: issue
    selector: { query: 'true' }
    port:
      entity:
        mappings:
          identifier: .id | tostring
          title: .title
          blueprint: '"issue"'
  - kind: project
    selector: { query: 'true' }
    port:
      entity:
        mappings:
          identifier: .key
          title: .name
          blueprint: '"project"'
"#;

#[derive(Default)]
struct IssueProcessor;

#[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = token(header = "x-token", secret = "webhook_token"))]
impl IssueProcessor {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event.payload["event_type"].as_str().is_some_and(|t| t.starts_with("issue_"))
    }

    async fn handle_event(
        &self,
        event: &WebhookEvent,
        _resource: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        SEEN.lock().unwrap().push(("issue".into(), event.trace_id.clone()));
        Ok(WebhookEventRawResults::upsert([event.payload["issue"].clone()]))
    }
}

fn is_project(event: &WebhookEvent) -> bool {
    event.payload["event_type"] == "project_updated"
}

#[ocean::webhook_processor(path = "/webhook", kinds = ["project"], auth = token(header = "x-token", secret = "webhook_token"), filter = is_project)]
async fn projects(event: &WebhookEvent, _resource: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
    SEEN.lock().unwrap().push(("project".into(), event.trace_id.clone()));
    Ok(WebhookEventRawResults::upsert([event.payload["project"].clone()]))
}

async fn start() -> TestIntegration {
    let integration = ocean::Integration::new("test").discovered().default_mapping(MAPPING);
    TestIntegration::start_with(integration, |s| {
        s.integration.config.insert("webhook_token".into(), Value::String("s3cret".into()));
    })
    .await
    .expect("start")
}

#[tokio::test]
async fn two_processors_on_one_path_each_run_on_their_events() {
    let it = start().await;
    let issue = json!({"event_type": "issue_created", "issue": {"id": 7, "title": "Broken"}});
    let project = json!({"event_type": "project_updated", "project": {"key": "OPS", "name": "Operations"}});
    let other = json!({"event_type": "comment_added"});
    let h = [("x-token", "s3cret".to_owned())];

    let r = it.post("/webhook", issue.to_string().as_bytes(), &h).await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    let issue_trace = body["trace_id"].as_str().unwrap().to_owned();

    let r = it.post("/webhook", project.to_string().as_bytes(), &h).await;
    assert_eq!(r.status(), 202);
    let project_trace = r.json::<Value>().await.unwrap()["trace_id"].as_str().unwrap().to_owned();

    let r = it.post("/webhook", other.to_string().as_bytes(), &h).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");

    assert!(it.wait_idle(Duration::from_secs(10)).await);
    let seen = SEEN.lock().unwrap().clone();
    assert!(seen.contains(&("issue".into(), issue_trace.clone())));
    assert!(seen.contains(&("project".into(), project_trace.clone())));
    assert!(!seen.contains(&("project".into(), issue_trace)));
    assert!(!seen.contains(&("issue".into(), project_trace)));

    assert_eq!(it.entity("issue", "7").unwrap()["title"], "Broken");
    assert_eq!(it.entity("project", "OPS").unwrap()["title"], "Operations");
    let listed = it.client.get(format!("{}/catalog/blueprints/issue/entities/7", it.base_url)).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.json::<Value>().await.unwrap()["identifier"], "7");
    it.shutdown().await;
}

#[tokio::test]
async fn a_wrong_token_is_401_and_nothing_runs() {
    let it = start().await;
    let issue = json!({"event_type": "issue_created", "issue": {"id": 99, "title": "Forged"}});
    let r = it.post("/webhook", issue.to_string().as_bytes(), &[("x-token", "wrong".to_owned())]).await;
    assert_eq!(r.status(), 401);
    let r = it.post("/webhook", issue.to_string().as_bytes(), &[]).await;
    assert_eq!(r.status(), 401);
    assert!(it.wait_idle(Duration::from_secs(5)).await);
    assert!(it.entity("issue", "99").is_none());
    let r = it.post("/nowhere", b"{}", &[]).await;
    assert_eq!(r.status(), 404);
    let r = it.post("/webhook", b"not json", &[("x-token", "s3cret".to_owned())]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "invalid_json");
    it.shutdown().await;
}
