//! Helpers shared by the end-to-end tests: the corpus, and processors that record what they see.

use std::path::PathBuf;

/// The corpus folder (`tests/corpus`): real payloads and Port app configs.
pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// A corpus payload as compact JSON bytes, as the provider sends it.
pub fn payload(rel: &str) -> Vec<u8> {
    let text = std::fs::read(corpus().join("payloads").join(rel)).expect("corpus payload");
    let v: serde_json::Value = serde_json::from_slice(&text).expect("corpus payload is JSON");
    serde_json::to_vec(&v).expect("serialise")
}

/// Every `*.json` file of a corpus payload folder, sorted.
pub fn payload_files(rel: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus().join("payloads").join(rel))
        .expect("corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

pub mod postgres;

/// A mapping of the kind `item` that [`Echo`] feeds: identifier `.id | tostring`, title `.title`,
/// blueprint `item`.
pub const ITEM_MAPPING: &str = r#"
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"item"' }
"#;

/// A processor for tests: for its kind, upserts what the payload lists under `upsert` and deletes what it
/// lists under `delete`, or upserts the payload itself when it lists neither.
#[derive(Clone, Copy, Debug)]
pub struct Echo {
    /// The kind of the mapping it feeds.
    pub kind: &'static str,
}

impl Default for Echo {
    /// An `item` processor.
    fn default() -> Self {
        Self { kind: "item" }
    }
}

impl ocean::WebhookProcessor for Echo {
    async fn get_matching_kinds(&self, _e: &ocean::WebhookEvent) -> Vec<String> {
        vec![self.kind.to_owned()]
    }

    async fn handle_event(
        &self,
        e: &ocean::WebhookEvent,
        _r: &ocean::ResourceConfig,
    ) -> Result<ocean::WebhookEventRawResults, ocean::ProcessorError> {
        let list = |k: &str| e.payload[k].as_array().cloned();
        Ok(match (list("upsert"), list("delete")) {
            (None, None) => ocean::WebhookEventRawResults::upsert([e.payload.clone()]),
            (u, d) => ocean::WebhookEventRawResults {
                updated_raw_results: u.into_iter().flatten().map(ocean::Payload::from).collect(),
                deleted_raw_results: d.into_iter().flatten().map(ocean::Payload::from).collect(),
            },
        })
    }
}

/// An unauthenticated [`Echo`] processor on `path`.
pub fn echo(path: &str, kind: &'static str) -> ocean::Processor {
    let p = Echo { kind };
    ocean::Processor::new(path, move |_| Ok(p)).name(kind).no_auth()
}

/// A fresh state directory under the system's temporary folder (removed by the caller).
pub fn temp_state_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ocean-{tag}-{:x}", random_u64()));
    std::fs::create_dir_all(&d).expect("create a state directory");
    d
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// Serves `state` with `handler` on loopback (a third party's API inside the test): its base URL and handle.
pub async fn serve<S, H, Args>(state: std::sync::Arc<S>, handler: H) -> (String, ocean::actix_web::dev::ServerHandle)
where
    S: Send + Sync + 'static,
    H: ocean::actix_web::Handler<Args> + Clone + Send + Sync + 'static,
    Args: ocean::actix_web::FromRequest + 'static,
    H::Output: ocean::actix_web::Responder + 'static,
{
    use ocean::actix_web::{App, HttpServer, web};
    let server = HttpServer::new(move || {
        App::new().app_data(web::Data::new(state.clone())).default_service(web::to(handler.clone()))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("bind on loopback");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}"), handle)
}

/// Whether two JSON values are equal, numbers within a relative tolerance of `tol` (floating-point
/// formatting differs between engines), objects whatever the order of their keys.
pub fn same_json(a: &serde_json::Value, b: &serde_json::Value, tol: f64) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || ((x - y).abs() <= tol * x.abs().max(y.abs()))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b, tol)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w, tol)))
        }
        _ => a == b,
    }
}

/// The Python of `.venv-jq`, which runs the jq reference (`tests/jq_reference.py`).
pub fn jq_reference_python() -> PathBuf {
    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-jq/bin/python");
    assert!(py.exists(), "the jq reference is not installed: run ./.ci/test (it creates .venv-jq with PyPI's `jq`)");
    py
}
