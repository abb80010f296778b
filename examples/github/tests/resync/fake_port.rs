//! Port's API inside the test: access tokens, the integration, bulk upserts that record the data source
//! from the caller's `User-Agent` as Port does, entity searches by blueprint, identifiers and data source,
//! and bulk deletes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

#[derive(Default)]
pub(crate) struct Port {
    integration: Mutex<Option<Value>>,
    /// (blueprint, identifier) → (entity, data source).
    entities: Mutex<BTreeMap<(String, String), (Value, String)>>,
}

impl Port {
    pub(crate) fn put_foreign(&self, blueprint: &str, id: &str) {
        let e = json!({"identifier": id, "blueprint": blueprint});
        let source = "port-ocean/github/0.1.0/someone-else/exporter".to_owned();
        self.entities.lock().unwrap().insert((blueprint.into(), id.into()), (e, source));
    }

    pub(crate) fn ids(&self, blueprint: &str) -> Vec<String> {
        self.entities.lock().unwrap().keys().filter(|(b, _)| b == blueprint).map(|(_, i)| i.clone()).collect()
    }

    pub(crate) fn datasource(&self, blueprint: &str, id: &str) -> String {
        self.entities.lock().unwrap()[&(blueprint.to_owned(), id.to_owned())].1.clone()
    }
}

/// Whether an entity passes one search rule.
fn passes(rule: &Value, blueprint: &str, id: &str, source: &str) -> bool {
    let value = &rule["value"];
    match (rule["property"].as_str(), rule["operator"].as_str()) {
        (Some("$blueprint"), Some("=")) => value == blueprint,
        (Some("$identifier"), Some("in")) => value.as_array().is_some_and(|a| a.iter().any(|v| v == id)),
        (Some("$datasource"), Some("contains")) => value.as_str().is_some_and(|v| source.contains(v)),
        _ => false,
    }
}

pub(crate) async fn handle(req: HttpRequest, body: web::Bytes, p: web::Data<std::sync::Arc<Port>>) -> HttpResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let agent = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let path = req.path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method().as_str(), parts.as_slice()) {
        ("POST", ["v1", "auth", "access_token"]) => {
            HttpResponse::Ok().json(json!({"accessToken": "tok", "expiresIn": 3600, "tokenType": "Bearer"}))
        }
        ("GET", ["v1", "integration", _]) => match &*p.integration.lock().unwrap() {
            Some(i) => HttpResponse::Ok().json(json!({"integration": i})),
            None => HttpResponse::NotFound().json(json!({"message": "not found"})),
        },
        ("POST", ["v1", "integration"]) => {
            *p.integration.lock().unwrap() = Some(body.clone());
            HttpResponse::Ok().json(json!({"integration": body}))
        }
        ("POST", ["v1", "blueprints", bp, "entities", "bulk"]) => {
            let mut out = Vec::new();
            for (i, e) in body["entities"].as_array().into_iter().flatten().enumerate() {
                let id = e["identifier"].as_str().unwrap_or_default().to_owned();
                p.entities.lock().unwrap().insert(((*bp).to_owned(), id.clone()), (e.clone(), agent.clone()));
                out.push(json!({"index": i, "identifier": id, "created": true}));
            }
            HttpResponse::Ok().json(json!({"entities": out, "errors": []}))
        }
        ("POST", ["v1", "entities", "search"]) => {
            let rules = body["rules"].as_array().cloned().unwrap_or_default();
            let found: Vec<Value> = p
                .entities
                .lock()
                .unwrap()
                .iter()
                .filter(|((bp, id), (_, source))| rules.iter().all(|r| passes(r, bp, id, source)))
                .map(|((_, id), _)| json!({"identifier": id}))
                .collect();
            HttpResponse::Ok().json(json!({"entities": found}))
        }
        ("POST", ["v1", "blueprints", bp, "bulk", "entities", "delete"]) => {
            for id in body["entities"].as_array().into_iter().flatten() {
                p.entities.lock().unwrap().remove(&((*bp).to_owned(), id.as_str().unwrap_or_default().to_owned()));
            }
            HttpResponse::Ok().json(json!({"ok": true}))
        }
        _ => HttpResponse::NotFound().json(json!({"message": format!("unexpected {} {path}", req.method())})),
    }
}
