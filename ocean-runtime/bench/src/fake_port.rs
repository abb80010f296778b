//! A Port API on loopback, for the fault harness and the queued-memory benchmark: access token,
//! integration (created with its default mapping), bulk upsert, single upsert, entity search and bulk
//! delete, with faults injected on demand.
//!
//! - `Healthy`: every call answered;
//! - `Faulty`: 30 % of calls answered 429 or 503 with `Retry-After: 1`, 5 % applied and then held past the
//!   client's timeout (the answer is lost, as when a connection drops after Port did the work);
//! - `Down`: every call answered 503 with `Retry-After: 1`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ocean::actix_web::dev::ServerHandle;
use ocean::actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// How the fake answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Healthy = 0,
    Faulty = 1,
    Down = 2,
}

/// Counters of what was injected.
#[derive(Default)]
pub(crate) struct Injected {
    pub(crate) calls: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) unavailable: AtomicU64,
    pub(crate) held: AtomicU64,
}

struct State {
    mode: AtomicU8,
    hold: Duration,
    integration: Mutex<Option<Value>>,
    /// `blueprint/identifier` of every entity present.
    entities: Mutex<BTreeSet<String>>,
    injected: Injected,
}

/// The running fake.
pub(crate) struct FakePort {
    pub(crate) base: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl FakePort {
    /// Starts on a free loopback port; `hold` is how long held calls wait before answering.
    pub(crate) async fn start(mode: Mode, hold: Duration) -> Result<Self, String> {
        let state = Arc::new(State {
            mode: AtomicU8::new(mode as u8),
            hold,
            integration: Mutex::new(None),
            entities: Mutex::new(BTreeSet::new()),
            injected: Injected::default(),
        });
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .app_data(web::JsonConfig::default().limit(16 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .map_err(|e| e.to_string())?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { base: format!("http://{addr}"), state, handle })
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::Relaxed);
    }

    /// Whether entity `identifier` of `blueprint` is present.
    pub(crate) fn has(&self, blueprint: &str, identifier: &str) -> bool {
        self.state.entities.lock().map(|e| e.contains(&format!("{blueprint}/{identifier}"))).unwrap_or(false)
    }

    pub(crate) fn injected(&self) -> &Injected {
        &self.state.injected
    }

    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn busy(status: u16) -> HttpResponse {
    let status = ocean::actix_web::http::StatusCode::from_u16(status).unwrap_or_default();
    HttpResponse::build(status).insert_header(("retry-after", "1")).json(json!({"message": "try again later"}))
}

async fn handle(req: HttpRequest, body: web::Bytes, s: web::Data<Arc<State>>) -> HttpResponse {
    let inj = &s.injected;
    inj.calls.fetch_add(1, Ordering::Relaxed);
    let mut hold = false;
    match s.mode.load(Ordering::Relaxed) {
        2 => {
            inj.unavailable.fetch_add(1, Ordering::Relaxed);
            return busy(503);
        }
        1 => {
            let roll = rand::random::<f64>();
            if roll < 0.15 {
                inj.throttled.fetch_add(1, Ordering::Relaxed);
                return busy(429);
            }
            if roll < 0.30 {
                inj.unavailable.fetch_add(1, Ordering::Relaxed);
                return busy(503);
            }
            hold = roll < 0.35;
        }
        _ => {}
    }
    let answer = answer(&req, &body, &s);
    if hold {
        inj.held.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(s.hold).await;
    }
    answer
}

fn answer(req: &HttpRequest, body: &[u8], s: &State) -> HttpResponse {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let post = req.method() == ocean::actix_web::http::Method::POST;
    match segments.as_slice() {
        ["v1", "auth", "access_token"] if post => {
            HttpResponse::Ok().json(json!({"accessToken": "fake-token", "expiresIn": 3600, "tokenType": "Bearer"}))
        }
        ["v1", "integration", _] if !post => match &*s.integration.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(i) => HttpResponse::Ok().json(json!({"integration": i})),
            None => HttpResponse::NotFound().json(json!({"message": "integration not found"})),
        },
        ["v1", "integration"] if post => {
            *s.integration.lock().unwrap_or_else(|p| p.into_inner()) = Some(body.clone());
            HttpResponse::Ok().json(json!({"integration": body}))
        }
        ["v1", "blueprints", bp, "entities", "bulk"] if post => {
            let mut present = s.entities.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for (i, e) in body["entities"].as_array().into_iter().flatten().enumerate() {
                let id = e["identifier"].as_str().unwrap_or_default();
                present.insert(format!("{bp}/{id}"));
                out.push(json!({"index": i, "identifier": id, "created": true}));
            }
            HttpResponse::Ok().json(json!({"entities": out, "errors": []}))
        }
        ["v1", "blueprints", bp, "entities"] if post => {
            let id = body["identifier"].as_str().unwrap_or_default();
            s.entities.lock().unwrap_or_else(|p| p.into_inner()).insert(format!("{bp}/{id}"));
            HttpResponse::Ok().json(json!({"entity": body}))
        }
        ["v1", "entities", "search"] if post => {
            let rules = &body["rules"];
            let bp = rules[1]["value"].as_str().unwrap_or_default();
            let present = s.entities.lock().unwrap_or_else(|p| p.into_inner());
            let found: Vec<Value> = rules[0]["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|id| present.contains(&format!("{bp}/{id}")))
                .map(|id| json!({"identifier": id}))
                .collect();
            HttpResponse::Ok().json(json!({"entities": found}))
        }
        ["v1", "blueprints", bp, "bulk", "entities", "delete"] if post => {
            let mut present = s.entities.lock().unwrap_or_else(|p| p.into_inner());
            for id in body["entities"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                present.remove(&format!("{bp}/{id}"));
            }
            HttpResponse::Ok().json(json!({"ok": true}))
        }
        _ => HttpResponse::NotFound().json(json!({"message": format!("no route for {} {path}", req.method())})),
    }
}
