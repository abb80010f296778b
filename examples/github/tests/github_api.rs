//! With a token and an API URL, the example registers its organisation webhook at start-up and refetches
//! resources from the API; an HTTP server inside the test plays GitHub.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use ocean::testing::TestIntegration;
use serde_json::{Value, json};

#[derive(Default)]
struct Github {
    calls: Mutex<Vec<(String, String, Value)>>,
    hooks: Mutex<Vec<Value>>,
}

async fn handle(req: HttpRequest, body: web::Bytes, gh: web::Data<Arc<Github>>) -> HttpResponse {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if auth != "Bearer gh-token" {
        return HttpResponse::Unauthorized().finish();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (method, path) = (req.method().to_string(), req.path().to_owned());
    gh.calls.lock().unwrap().push((method.clone(), path.clone(), body));
    match (method.as_str(), path.as_str()) {
        ("GET", "/orgs/octo-org/hooks") => HttpResponse::Ok().json(gh.hooks.lock().unwrap().clone()),
        ("POST", "/orgs/octo-org/hooks") => HttpResponse::Created().json(json!({"id": 1})),
        ("PATCH", p) if p.starts_with("/orgs/octo-org/hooks/") => HttpResponse::Ok().json(json!({"id": 1})),
        ("GET", p) if p.starts_with("/repos/Codertocat/Hello-World/issues/") => {
            let payload: Value =
                serde_json::from_slice(&ocean_tests::payload("github/issues/opened.payload.json")).unwrap();
            let mut issue = payload["issue"].clone();
            issue["title"] = "fresh from the API".into();
            HttpResponse::Ok().json(issue)
        }
        _ => HttpResponse::NotFound().json(json!({"message": "Not Found"})),
    }
}

async fn start(api: &str) -> TestIntegration {
    let api = api.to_owned();
    TestIntegration::start_with(example_github::integration(), move |s| {
        let c = &mut s.integration.config;
        c.insert("webhook_secret".into(), Value::String("hook-secret".into()));
        c.insert("github_token".into(), Value::String("gh-token".into()));
        c.insert("github_api_url".into(), Value::String(api));
        c.insert("github_organization".into(), Value::String("octo-org".into()));
        s.base_url = Some("https://ocean.example".into());
    })
    .await
    .unwrap()
}

async fn wait_for(gh: &Github, method: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let found = gh.calls.lock().unwrap().iter().find(|(m, p, _)| m == method && p.starts_with("/orgs/")).cloned();
        if let Some((_, _, body)) = found {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {method} to the hooks API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_the_webhook_and_refetches_issues() {
    let gh = Arc::new(Github::default());
    let (api, server) = ocean_tests::serve(gh.clone(), handle).await;
    let it = start(&api).await;
    let hook = wait_for(&gh, "POST").await;
    assert_eq!(hook["config"]["url"], "https://ocean.example/integration/webhook");
    assert_eq!(hook["config"]["secret"], "hook-secret");
    assert_eq!(hook["config"]["content_type"], "json");
    assert!(hook["events"].as_array().unwrap().contains(&json!("issues")));

    let body = ocean_tests::payload("github/issues/opened.payload.json");
    assert_eq!(it.send_github("/webhook", "issues", &body, "hook-secret").await.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    let e = it.entity("githubIssue", "Hello-World444500041").unwrap();
    assert_eq!(e["title"], "fresh from the API");
    it.shutdown().await;

    // An existing hook for the same URL is updated, not duplicated.
    gh.hooks.lock().unwrap().push(json!({"id": 1, "config": {"url": "https://ocean.example/integration/webhook"}}));
    gh.calls.lock().unwrap().clear();
    let it = start(&api).await;
    let patched = wait_for(&gh, "PATCH").await;
    assert_eq!(patched["config"]["url"], "https://ocean.example/integration/webhook");
    assert!(!gh.calls.lock().unwrap().iter().any(|(m, _, _)| m == "POST"));
    it.shutdown().await;
    server.stop(true).await;
}
