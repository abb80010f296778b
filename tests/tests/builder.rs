//! The same integration as `processor_macro.rs`, written with the builder API alone, behaves the same.

use std::time::Duration;

use ocean::testing::TestIntegration;
use ocean::{Processor, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults, WebhookProcessor};
use serde_json::{Value, json};

const MAPPING: &str = r#"
resources:
  - kind: issue
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"issue"' }
  - kind: project
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .key, title: .name, blueprint: '"project"' }
"#;

#[derive(Default)]
struct Issues;

impl WebhookProcessor for Issues {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event.payload["event_type"].as_str().is_some_and(|t| t.starts_with("issue_"))
    }
    async fn get_matching_kinds(&self, _event: &WebhookEvent) -> Vec<String> {
        vec!["issue".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        Ok(WebhookEventRawResults::upsert([e.payload["issue"].clone()]))
    }
}

#[derive(Default)]
struct Projects;

impl WebhookProcessor for Projects {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event.payload["event_type"] == "project_updated"
    }
    async fn get_matching_kinds(&self, _event: &WebhookEvent) -> Vec<String> {
        vec!["project".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        Ok(WebhookEventRawResults::upsert([e.payload["project"].clone()]))
    }
}

#[tokio::test]
async fn builder_integration_routes_authenticates_and_applies() {
    let token = || ocean::auth::token().header("x-token").secret("webhook_token");
    let integration = ocean::Integration::new("test")
        .processor(Processor::of::<Issues>("/webhook").auth(token()))
        .processor(Processor::of::<Projects>("/webhook").auth(token()))
        .default_mapping(MAPPING);
    let it = TestIntegration::start_with(integration, |s| {
        s.integration.config.insert("webhook_token".into(), Value::String("s3cret".into()));
    })
    .await
    .unwrap();
    let h = [("x-token", "s3cret".to_owned())];
    let issue = json!({"event_type": "issue_created", "issue": {"id": 7, "title": "Broken"}});
    let project = json!({"event_type": "project_updated", "project": {"key": "OPS", "name": "Operations"}});
    assert_eq!(it.post("/webhook", issue.to_string().as_bytes(), &h).await.status(), 202);
    assert_eq!(it.post("/webhook", project.to_string().as_bytes(), &h).await.status(), 202);
    let ignored = it.post("/webhook", br#"{"event_type":"other"}"#, &h).await;
    assert_eq!(ignored.json::<Value>().await.unwrap()["status"], "ignored");
    let forged = it.post("/webhook", issue.to_string().as_bytes(), &[("x-token", "nope".to_owned())]).await;
    assert_eq!(forged.status(), 401);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(it.entity("issue", "7").unwrap()["title"], "Broken");
    assert_eq!(it.entity("project", "OPS").unwrap()["title"], "Operations");
    assert_eq!(it.entities("issue").len(), 1);
    it.shutdown().await;
}

#[tokio::test]
async fn a_processor_without_authentication_rejects_everything() {
    // The trait's default `authenticate` rejects: a builder processor that neither names a verifier nor
    // implements `authenticate` accepts nothing.
    let integration =
        ocean::Integration::new("test").processor(Processor::of::<Issues>("/webhook")).default_mapping(MAPPING);
    let it = TestIntegration::start(integration).await.unwrap();
    let issue = json!({"event_type": "issue_created", "issue": {"id": 1, "title": "x"}});
    assert_eq!(it.post("/webhook", issue.to_string().as_bytes(), &[]).await.status(), 401);
    it.shutdown().await;
}

#[tokio::test]
async fn a_verifier_without_its_secret_stops_start_up() {
    let integration = ocean::Integration::new("test")
        .processor(Processor::of::<Issues>("/webhook").auth(ocean::auth::github().secret("webhook_secret")))
        .default_mapping(MAPPING);
    let err = TestIntegration::start(integration).await.err().expect("start-up must fail");
    let msg = err.to_string();
    assert!(msg.contains("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET"), "{msg}");

    // Marked insecure, it starts and warns.
    let integration = ocean::Integration::new("test")
        .processor(Processor::of::<Issues>("/webhook").auth(ocean::auth::github().secret("webhook_secret")).insecure())
        .default_mapping(MAPPING);
    let it = TestIntegration::start(integration).await.unwrap();
    it.shutdown().await;
}

#[tokio::test]
async fn an_option_the_verifier_does_not_take_stops_start_up() {
    for (auth, wanted) in [
        (
            ocean::auth::github().header("x-sig"),
            "the `github` verifier takes no `header` option (it takes: legacy_sha1)",
        ),
        (
            ocean::auth::basic().tolerance_secs(5),
            "the `basic` verifier takes no `tolerance_secs` option (it takes: only its secret)",
        ),
    ] {
        let integration = ocean::Integration::new("test")
            .processor(Processor::of::<Issues>("/webhook").auth(auth.secret_value("s")))
            .default_mapping(MAPPING);
        let err = TestIntegration::start(integration).await.err().expect("start-up must fail");
        assert!(err.to_string().contains(wanted), "{err}");
    }
}

#[tokio::test]
async fn a_malformed_mapping_stops_start_up_naming_file_resource_and_field() {
    let bad = r#"
resources:
  - kind: issue
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | nosuchfn, title: .title, blueprint: '"issue"' }
"#;
    let integration =
        ocean::Integration::new("test").processor(Processor::of::<Issues>("/webhook").no_auth()).default_mapping(bad);
    let msg = TestIntegration::start(integration).await.err().expect("start-up must fail").to_string();
    assert!(msg.contains("port-app-config.yml"), "{msg}");
    assert!(msg.contains("resources[0]"), "{msg}");
    assert!(msg.contains("mappings.identifier"), "{msg}");
    assert!(msg.contains("nosuchfn"), "{msg}");
    assert!(msg.contains("position 6"), "{msg}");

    let yaml_error = "resources:\n  - kind: [unclosed\n";
    let integration = ocean::Integration::new("test").default_mapping(yaml_error);
    let msg = TestIntegration::start(integration).await.err().expect("start-up must fail").to_string();
    assert!(msg.contains("port-app-config.yml") && msg.contains("line"), "{msg}");
}
