//! The `ocean` command on real inputs: `map` over a corpus config and payload, `send` and `dlq` against a
//! running integration.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ocean::testing::TestIntegration;
use ocean::{Processor, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults, WebhookProcessor};
use serde_json::Value;

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus").join(rel)
}

fn ocean(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ocean")).args(args).env("RUST_LOG", "error").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn map_prints_entities_in_ports_shape_then_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let payload: Value =
        serde_json::from_slice(&std::fs::read(corpus("payloads/github/pull_request/opened.payload.json")).unwrap())
            .unwrap();
    let mut pr = payload["pull_request"].clone();
    pr["__repository"] = "Hello-World".into();
    let mut closed = pr.clone();
    closed["id"] = 1.into();
    let items = dir.path().join("prs.json");
    std::fs::write(&items, serde_json::to_vec(&vec![pr.clone()]).unwrap()).unwrap();
    let config = corpus("port-app-configs/github.yml");
    let (ok, out, err) =
        ocean(&["map", "--config", config.to_str().unwrap(), "--kind", "pull-request", items.to_str().unwrap()]);
    assert!(ok, "{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    let e = &lines[0];
    assert_eq!(e["blueprint"], "githubPullRequest");
    assert_eq!(e["identifier"], format!("{}{}", pr["head"]["repo"]["name"].as_str().unwrap(), pr["id"]));
    assert_eq!(e["title"], pr["title"]);
    assert_eq!(e["relations"]["repository"], "Hello-World");
    for key in ["identifier", "title", "blueprint", "icon", "team", "properties", "relations"] {
        assert!(e.get(key).is_some(), "missing {key}");
    }

    let (ok, out, _) = ocean(&[
        "map",
        "--config",
        config.to_str().unwrap(),
        "--kind",
        "pull-request",
        "--deleted",
        items.to_str().unwrap(),
    ]);
    assert!(ok);
    let d: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(d["delete"]["blueprint"], "githubPullRequest");

    let (ok, _, err) = ocean(&["map", "--config", config.to_str().unwrap(), "--kind", "nope", items.to_str().unwrap()]);
    assert!(!ok && err.contains("no resource of kind `nope`") && err.contains("pull-request"), "{err}");
}

#[derive(Default)]
struct Issues;

impl WebhookProcessor for Issues {
    async fn should_process_event(&self, e: &WebhookEvent) -> bool {
        e.header("x-github-event") == Some("issues")
    }
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["issue".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        if e.payload["action"] == "deleted" {
            return Err(ProcessorError::fatal("deletes are refused here"));
        }
        Ok(WebhookEventRawResults::upsert([e.payload["issue"].clone()]))
    }
}

const MAPPING: &str = r#"
resources:
  - kind: issue
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"issue"' }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_a_corpus_folder_and_dlq_manages_failures() {
    let integration = ocean::Integration::new("cli")
        .processor(Processor::of::<Issues>("/webhook").auth(ocean::auth::github().secret_value("demo")))
        .default_mapping(MAPPING);
    let it = TestIntegration::start_with(integration, |s| s.admin.token = Some("adm".into())).await.unwrap();
    let url = format!("{}/integration/webhook", it.base_url);
    let folder = corpus("payloads/github/issues");
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        ocean(&["send", "--url", &url, "--secret", "demo", folder.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(err.contains("sent 28") && err.contains("rejected 0"), "{err}");
    assert!(it.wait_idle(Duration::from_secs(20)).await);
    assert!(!it.entities("issue").is_empty());

    let url = format!("{}/integration/webhook", it.base_url);
    let folder = corpus("payloads/github/issues");
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        ocean(&["send", "--url", &url, "--secret", "wrong", folder.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("rejected 28"), "{err}");

    let base = it.base_url.clone();
    let mut listed = String::new();
    for _ in 0..50 {
        let b = base.clone();
        let (ok, out, err) =
            tokio::task::spawn_blocking(move || ocean(&["dlq", "--url", &b, "--token", "adm", "list"])).await.unwrap();
        assert!(ok, "{err}");
        listed = out;
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listed.contains("deletes are refused here"), "{listed}");
    let id = listed.split('\t').next().unwrap().to_owned();
    let b = base.clone();
    let (ok, out, _) =
        tokio::task::spawn_blocking(move || ocean(&["dlq", "--url", &b, "--token", "adm", "delete", &id]))
            .await
            .unwrap();
    assert!(ok && out.contains("deleted"));
    let (ok, _, err) =
        tokio::task::spawn_blocking(move || ocean(&["dlq", "--url", &base, "--token", "nope", "list"])).await.unwrap();
    assert!(!ok && err.contains("401"), "{err}");
    it.shutdown().await;
}

/// Accepts GitLab issue events only (as a real GitLab processor does, by `X-Gitlab-Event`), sent with the
/// `Idempotency-Key` GitLab puts on every delivery.
#[derive(Default)]
struct GitlabIssues;

impl WebhookProcessor for GitlabIssues {
    async fn should_process_event(&self, e: &WebhookEvent) -> bool {
        e.header("x-gitlab-event") == Some("Issue Hook") && e.header("idempotency-key").is_some()
    }
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["issue".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        Ok(WebhookEventRawResults::upsert([e.payload["object_attributes"].clone()]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_gives_gitlab_its_event_header_and_an_idempotency_key_and_explains_ignored_events() {
    let integration = ocean::Integration::new("cli-gitlab")
        .processor(Processor::of::<GitlabIssues>("/gitlab").auth(ocean::auth::gitlab().secret_value("gl")))
        .default_mapping(MAPPING);
    let it = TestIntegration::start(integration).await.unwrap();
    let url = format!("{}/integration/gitlab", it.base_url);
    let run = |file: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let path = corpus(&format!("payloads/go-playground/gitlab/{file}"));
            ocean(&["send", "--provider", "gitlab", "--url", &url, "--secret", "gl", path.to_str().unwrap()])
        })
    };
    // `object_kind: issue` becomes `X-Gitlab-Event: Issue Hook`; each send has its own `Idempotency-Key`.
    for _ in 0..2 {
        let (ok, _, err) = run("issue-event.json").await.unwrap();
        assert!(ok && err.contains("accepted 1") && err.contains("duplicates 0"), "{err}");
    }
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(it.entities("issue").len(), 1);
    // A push is ignored by this path, and the summary says why.
    let (ok, _, err) = run("push-event.json").await.unwrap();
    assert!(ok && err.contains("ignored 1") && err.contains("ignored: no processor of this path accepts"), "{err}");
    it.shutdown().await;
}

#[test]
fn map_check_lists_every_expression_that_does_not_compile() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.yml");
    std::fs::write(
        &config,
        r#"resources:
  - kind: issue
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title | nosuchfn, blueprint: '"issue"' }
  - kind: pr
    selector: { query: '.state ==' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"pr"', properties: { a: '.x | also_missing(1)' } }
"#,
    )
    .unwrap();
    let (ok, out, err) = ocean(&["map", "--config", config.to_str().unwrap(), "--check"]);
    assert!(!ok);
    assert!(err.contains("3 expressions do not compile"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines.iter().any(|l| l.contains("resources[0] (kind `issue`).port.entity.mappings.title")
            && l.contains("nosuchfn")
            && l.contains("at position")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.contains("resources[1] (kind `pr`).selector.query")), "{out}");
    assert!(lines.iter().any(|l| l.contains("resources[1] (kind `pr`).port.entity.mappings.properties.a")), "{out}");
    // The example's config compiles as a whole.
    let good =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/github/.port/resources/port-app-config.yml");
    let (ok, out, err) = ocean(&["map", "--config", good.to_str().unwrap(), "--check"]);
    assert!(ok, "{err}");
    assert!(out.contains("every expression compiles"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_runs_and_reports_each_kind() {
    let listing =
        ocean::OnResync::new("item", |_ctx: ocean::Context, _r: ResourceConfig, out: ocean::Batches| async move {
            for page in 0..3 {
                out.send(vec![serde_json::json!({"id": page, "title": "listed"})]).await?;
            }
            Ok::<(), ProcessorError>(())
        });
    let mapping = "resources:\n  - kind: item\n    selector: {query: 'true'}\n    port: {entity: {mappings: {identifier: .id | tostring, title: .title, blueprint: '\"item\"'}}}\n  - kind: other\n    selector: {query: 'true'}\n    port: {entity: {mappings: {identifier: .id | tostring, blueprint: '\"other\"'}}}\n";
    let it = TestIntegration::builder(ocean::Integration::new("cli").on_resync(listing))
        .mapping(mapping)
        .admin_token("admin")
        .resync_on_start(false)
        .start()
        .await
        .unwrap();
    let url = it.base_url.clone();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || ocean(&["resync", "--url", &url, "--token", "admin"])).await.unwrap();
    assert!(ok, "{err}");
    assert!(err.contains("started"), "{err}");
    let item = out.lines().find(|l| l.starts_with("item ")).unwrap_or_else(|| panic!("{out}"));
    assert!(item.contains("completed") && item.contains("items 3") && item.contains("upserted 3"), "{item}");
    let other = out.lines().find(|l| l.starts_with("other ")).unwrap();
    assert!(other.contains("skipped") && other.contains("no resync function"), "{other}");
    assert_eq!(it.entities("item").len(), 3);

    let url = it.base_url.clone();
    let (ok, _, err) =
        tokio::task::spawn_blocking(move || ocean(&["resync", "--url", &url, "--token", "admin", "--kind", "missing"]))
            .await
            .unwrap();
    assert!(!ok);
    assert!(err.contains("kind `missing` is not in the mapping"), "{err}");
    it.shutdown().await;
}
