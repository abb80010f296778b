//! The Port sink against an HTTP server inside the test that implements Port's documented endpoints:
//! every call's method, path, query and body, token refresh on 401, 429 with `Retry-After`, the 413
//! fallback to single upserts, the ownership check before deletes, and the integration created with its
//! default mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use ocean::testing::TestIntegration;
use serde_json::{Value, json};

/// A call: method, path, query, body, when.
type Call = (String, String, String, Value, Instant);

#[derive(Default)]
struct Port {
    calls: Mutex<Vec<Call>>,
    integration: Mutex<Option<Value>>,
    entities: Mutex<BTreeMap<String, Value>>,
    owned: Mutex<BTreeSet<String>>,
    tokens: Mutex<u32>,
    revoke_next: Mutex<bool>,
    busy_once: Mutex<bool>,
    /// Token calls still to answer 503 with `Retry-After: 0`.
    token_busy: Mutex<u32>,
}

async fn port(req: HttpRequest, body: web::Bytes, p: web::Data<Arc<Port>>) -> HttpResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (method, path, query) = (req.method().to_string(), req.path().to_owned(), req.query_string().to_owned());
    p.calls.lock().unwrap().push((method.clone(), path.clone(), query, body.clone(), Instant::now()));
    if path == "/v1/auth/access_token" {
        let mut busy = p.token_busy.lock().unwrap();
        if *busy > 0 {
            *busy -= 1;
            return HttpResponse::ServiceUnavailable().insert_header(("retry-after", "0")).finish();
        }
        drop(busy);
        if body != json!({"clientId": "id", "clientSecret": "secret"}) {
            return HttpResponse::Unauthorized().finish();
        }
        let mut n = p.tokens.lock().unwrap();
        *n += 1;
        return HttpResponse::Ok()
            .json(json!({"accessToken": format!("tok-{n}"), "expiresIn": 3600, "tokenType": "Bearer"}));
    }
    let expected = format!("Bearer tok-{}", p.tokens.lock().unwrap());
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut revoke = p.revoke_next.lock().unwrap();
    if auth != expected || *revoke {
        *revoke = false;
        return HttpResponse::Unauthorized().json(json!({"message": "token expired"}));
    }
    drop(revoke);
    match (method.as_str(), path.as_str()) {
        ("GET", "/v1/integration/test-port") => match &*p.integration.lock().unwrap() {
            Some(i) => HttpResponse::Ok().json(json!({"integration": i})),
            None => HttpResponse::NotFound().json(json!({"message": "not found"})),
        },
        ("POST", "/v1/integration") => {
            *p.integration.lock().unwrap() = Some(body.clone());
            HttpResponse::Ok().json(json!({"integration": body}))
        }
        ("POST", "/v1/blueprints/item/entities/bulk") => {
            let mut busy = p.busy_once.lock().unwrap();
            if *busy {
                *busy = false;
                return HttpResponse::TooManyRequests().insert_header(("Retry-After", "1")).finish();
            }
            let entities = body["entities"].as_array().cloned().unwrap_or_default();
            if entities.iter().any(|e| e["identifier"].as_str().is_some_and(|i| i.starts_with("big"))) {
                return HttpResponse::PayloadTooLarge().finish();
            }
            let mut out = Vec::new();
            let mut errors = Vec::new();
            for (i, e) in entities.iter().enumerate() {
                let id = e["identifier"].as_str().unwrap_or_default().to_owned();
                if id == "invalid" {
                    errors.push(json!({"index": i, "identifier": id, "message": "missing related entity"}));
                    continue;
                }
                p.entities.lock().unwrap().insert(id.clone(), e.clone());
                p.owned.lock().unwrap().insert(id.clone());
                out.push(json!({"index": i, "identifier": id, "created": true}));
            }
            HttpResponse::Ok().json(json!({"entities": out, "errors": errors}))
        }
        ("POST", "/v1/blueprints/item/entities") => {
            let id = body["identifier"].as_str().unwrap_or_default().to_owned();
            p.entities.lock().unwrap().insert(id.clone(), body.clone());
            p.owned.lock().unwrap().insert(id);
            HttpResponse::Ok().json(json!({"entity": body}))
        }
        ("POST", "/v1/entities/search") => {
            let ids: Vec<String> =
                body["rules"][0]["value"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            let owned = p.owned.lock().unwrap();
            let found: Vec<Value> =
                ids.iter().filter(|i| owned.contains(*i)).map(|i| json!({"identifier": i})).collect();
            HttpResponse::Ok().json(json!({"entities": found}))
        }
        ("POST", "/v1/blueprints/item/bulk/entities/delete") => {
            for id in body["entities"].as_array().unwrap() {
                p.entities.lock().unwrap().remove(id.as_str().unwrap());
            }
            HttpResponse::Ok().json(json!({"ok": true}))
        }
        _ => HttpResponse::NotFound().json(json!({"message": format!("unexpected {method} {path}")})),
    }
}

const MAPPING: &str = r#"
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id, title: .title, blueprint: '"item"' }
"#;

fn calls(p: &Port, path: &str) -> Vec<(String, String, Value, Instant)> {
    p.calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.1 == path)
        .map(|c| (c.0.clone(), c.2.clone(), c.3.clone(), c.4))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_calls_follow_the_reference() {
    let state = Arc::new(Port::default());
    let (base, handle) = ocean_tests::serve(state.clone(), port).await;

    let integration =
        ocean::Integration::new("test").processor(ocean_tests::echo("/items", "item")).default_mapping(MAPPING);
    let it = TestIntegration::start_with(integration, move |s| {
        s.port.client_id = Some("id".into());
        s.port.client_secret = Some("secret".into());
        s.port.base_url = base;
        s.integration.identifier = Some("test-port".into());
        s.integration.kind = Some("custom".into());
    })
    .await
    .unwrap();

    // The integration was missing: created with its default mapping.
    let created = calls(&state, "/v1/integration");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].2["identifier"], "test-port");
    assert_eq!(created[0].2["installationAppType"], "custom");
    assert_eq!(created[0].2["config"]["resources"][0]["kind"], "item");

    // 45 entities: bulk batches of 20, 20 and 5; the first call is answered 429 with Retry-After: 1.
    *state.busy_once.lock().unwrap() = true;
    let items: Vec<Value> = (0..45).map(|i| json!({"id": format!("e{i}"), "title": format!("Entity {i}")})).collect();
    let mut with_invalid = items.clone();
    with_invalid.push(json!({"id": "invalid", "title": "x"}));
    let r = it.post("/items", json!({"upsert": with_invalid}).to_string().as_bytes(), &[]).await;
    assert_eq!(r.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(20)).await);
    let bulk = calls(&state, "/v1/blueprints/item/entities/bulk");
    assert_eq!(bulk.len(), 4, "one 429, then three batches");
    assert!(bulk[1].3 - bulk[0].3 >= Duration::from_millis(950), "Retry-After honoured");
    let sizes: Vec<usize> = bulk[1..].iter().map(|b| b.2["entities"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![20, 20, 6]);
    for (_, query, _, _) in &bulk {
        assert_eq!(query, "upsert=true&merge=true&create_missing_related_entities=true&validation_only=false");
    }
    assert_eq!(
        bulk[1].2["entities"][0],
        json!({"identifier": "e0", "title": "Entity 0", "blueprint": "item", "icon": null, "team": null, "properties": {}, "relations": {}})
    );
    assert_eq!(state.entities.lock().unwrap().len(), 45);

    // A 401 on an entity call refreshes the token and retries.
    let tokens_before = *state.tokens.lock().unwrap();
    *state.revoke_next.lock().unwrap() = true;
    // 413: single upserts instead.
    let r = it
        .post(
            "/items",
            json!({"upsert": [{"id": "big1", "title": "B1"}, {"id": "big2", "title": "B2"}]}).to_string().as_bytes(),
            &[],
        )
        .await;
    assert_eq!(r.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(20)).await);
    assert_eq!(*state.tokens.lock().unwrap(), tokens_before + 1);
    let single = calls(&state, "/v1/blueprints/item/entities");
    assert_eq!(single.len(), 2);
    assert_eq!(single[0].1, "upsert=true&merge=true&create_missing_related_entities=true");
    assert!(state.entities.lock().unwrap().contains_key("big2"));

    // Deletes: only what this integration owns, after the search.
    state.entities.lock().unwrap().insert("foreign".into(), json!({"identifier": "foreign"}));
    let r = it.post("/items", json!({"delete": [{"id": "e1"}, {"id": "foreign"}]}).to_string().as_bytes(), &[]).await;
    assert_eq!(r.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(20)).await);
    let search = calls(&state, "/v1/entities/search");
    assert_eq!(search.len(), 1);
    let rules = &search[0].2["rules"];
    assert_eq!(rules[0], json!({"property": "$identifier", "operator": "in", "value": ["e1", "foreign"]}));
    assert_eq!(rules[1], json!({"property": "$blueprint", "operator": "=", "value": "item"}));
    assert_eq!(rules[2]["property"], "$datasource");
    let deleted = calls(&state, "/v1/blueprints/item/bulk/entities/delete");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].1, "delete_dependents=true");
    assert_eq!(deleted[0].2, json!({"entities": ["e1"]}));
    assert!(state.entities.lock().unwrap().contains_key("foreign"));
    assert!(!state.entities.lock().unwrap().contains_key("e1"));

    it.shutdown().await;
    handle.stop(true).await;
}

#[tokio::test]
async fn an_unreachable_port_keeps_events_queued() {
    // Port answers nothing (a closed port) once started: the sink fails, the event stays queued.
    let state = Arc::new(Port::default());
    *state.integration.lock().unwrap() = Some(json!({"config": serde_norway::from_str::<Value>(MAPPING).unwrap()}));
    let (base, handle) = ocean_tests::serve(state.clone(), port).await;
    let integration =
        ocean::Integration::new("test").processor(ocean_tests::echo("/items", "item")).default_mapping(MAPPING);
    let it = TestIntegration::start_with(integration, move |s| {
        s.port.client_id = Some("id".into());
        s.port.client_secret = Some("secret".into());
        s.port.base_url = base;
        s.integration.identifier = Some("test-port".into());
        s.max_wait_seconds_before_shutdown = 0.5;
    })
    .await
    .unwrap();
    assert!(calls(&state, "/v1/integration").is_empty(), "the mapping Port holds is used, nothing created");
    handle.stop(true).await;
    let r = it.post("/items", json!({"upsert": [{"id": "a", "title": "A"}]}).to_string().as_bytes(), &[]).await;
    assert_eq!(r.status(), 202);
    assert!(!it.wait_idle(Duration::from_secs(2)).await, "the event must stay queued while Port is down");
    assert_eq!(it.shutdown().await, 1);
}

#[tokio::test]
async fn a_busy_token_endpoint_is_retried_and_refused_credentials_stop_start_up() {
    let state = Arc::new(Port::default());
    *state.token_busy.lock().unwrap() = 2;
    let (base, handle) = ocean_tests::serve(state.clone(), port).await;
    let integration =
        ocean::Integration::new("test").processor(ocean_tests::echo("/items", "item")).default_mapping(MAPPING);
    let settings = {
        let base = base.clone();
        move |s: &mut ocean::config::Settings| {
            s.port.client_id = Some("id".into());
            s.port.client_secret = Some("secret".into());
            s.port.base_url = base;
            s.integration.identifier = Some("test-port".into());
        }
    };
    let it = TestIntegration::start_with(integration.clone(), settings).await.unwrap();
    let tokens = calls(&state, "/v1/auth/access_token");
    assert_eq!(tokens.len(), 3, "two 503 answers, then a token");
    let r = it.post("/items", json!({"upsert": [{"id": "a", "title": "A"}]}).to_string().as_bytes(), &[]).await;
    assert_eq!(r.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert!(state.entities.lock().unwrap().contains_key("a"));
    it.shutdown().await;

    let started = Instant::now();
    let refused = TestIntegration::start_with(integration, move |s| {
        s.port.client_id = Some("id".into());
        s.port.client_secret = Some("wrong".into());
        s.port.base_url = base;
        s.integration.identifier = Some("test-port".into());
    })
    .await;
    let e = refused.err().expect("start-up fails with refused credentials").to_string();
    assert!(e.contains("refused the credentials") && e.contains("OCEAN__PORT__BASE_URL"), "{e}");
    assert!(!e.contains("wrong"), "the secret is not in the message: {e}");
    assert!(started.elapsed() < Duration::from_secs(5), "refused credentials are not retried");
    handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_mapping_with_an_expression_this_engine_lacks_keeps_its_other_leaves() {
    let state = Arc::new(Port::default());
    // Port holds a mapping that libjq accepts and this engine does not compile (`input_line_number`,
    // which reads libjq's input stream): that leaf is null, the rest maps, and a gauge counts it.
    *state.integration.lock().unwrap() = Some(json!({
        "identifier": "test-port",
        "config": {"resources": [{
            "kind": "item",
            "selector": {"query": "true"},
            "port": {"entity": {"mappings": {
                "identifier": ".id",
                "title": ".title",
                "blueprint": "\"item\"",
                "properties": {"first": ".labels[input_line_number]", "size": ".labels | length"}
            }}}
        }]}
    }));
    let (base, handle) = ocean_tests::serve(state.clone(), port).await;
    let integration =
        ocean::Integration::new("test").processor(ocean_tests::echo("/items", "item")).default_mapping(MAPPING);
    let it = TestIntegration::builder(integration)
        .settings(move |s| {
            s.port.client_id = Some("id".into());
            s.port.client_secret = Some("secret".into());
            s.port.base_url = base;
            s.integration.identifier = Some("test-port".into());
        })
        .start()
        .await
        .expect("a mapping Port accepted starts even with an expression this engine lacks");
    let item = json!({"id": "x1", "title": "One", "labels": ["bug", "ui"]});
    let r = it.post("/items", json!({"upsert": [item]}).to_string().as_bytes(), &[]).await;
    assert_eq!(r.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(20)).await);
    let entity = state.entities.lock().unwrap().get("x1").cloned().expect("the entity reached Port");
    assert_eq!(entity["title"], "One");
    assert_eq!(entity["properties"], json!({"first": null, "size": 2}));
    let metrics = it.client.get(format!("{}/metrics", it.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "ocean_mapping_broken_expressions 1"), "{metrics}");
    it.shutdown().await;
    handle.stop(true).await;
}
