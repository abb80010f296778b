//! Port's REST API as the sink, called the way the reference framework calls it.
//!
//! - Access token from `POST /v1/auth/access_token`, refreshed a minute before expiry and on a 401.
//! - Upserts per blueprint through `POST /v1/blueprints/{bp}/entities/bulk` in batches of at most 20
//!   entities or 1 MiB, falling back to single upserts on 413; per-entity errors are reported with the
//!   identifier.
//! - Deletes after the reference's ownership check (an entities search limited to this integration's data
//!   source), through `POST /v1/blueprints/{bp}/bulk/entities/delete`.
//! - 429 and 5xx are retried with backoff, honouring `Retry-After`; when Port stays unreachable the apply
//!   fails and the event stays queued.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::{Sink, SinkError};
use crate::error::{Error, Result};
use crate::mapping::{Changes, Entity};
use crate::processor::BoxFuture;
use crate::retry::{self, Attempt, Backoff, Jitter, Outcome};

const BATCH_ENTITIES: usize = 20;
const BATCH_BYTES: usize = 1024 * 1024;
/// Port calls: six attempts, 300 ms doubling, ±10 %, `Retry-After` as a floor.
const PORT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(300),
    base: 2.0,
    cap: Duration::from_secs(20),
    jitter: Jitter::Spread(0.1),
    attempts: Some(6),
};

/// Reading the mapping at start-up: nothing can be done before it, so a throttled or failing Port is
/// waited for longer (about half a minute) than during processing, where the event stays queued.
const STARTUP_BACKOFF: Backoff = Backoff { cap: Duration::from_secs(5), attempts: Some(10), ..PORT_BACKOFF };

/// Port's API client and sink.
pub struct PortSink {
    client: reqwest::Client,
    base: String,
    client_id: String,
    client_secret: String,
    integration_type: String,
    identifier: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for PortSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortSink").field("base", &self.base).field("identifier", &self.identifier).finish()
    }
}

/// A client whose `User-Agent` names the integration as the reference framework's does: Port records it as
/// the data source of the entities written, which the ownership search of deletes and resync reads.
fn client(timeout: Duration, integration_type: &str, identifier: &str) -> reqwest::Client {
    crate::install_crypto_provider();
    let agent = format!("port-ocean/{integration_type}/{}/{identifier}/exporter", env!("CARGO_PKG_VERSION"));
    let builder = reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(50).user_agent(agent);
    builder.build().unwrap_or_default()
}

/// Why no access token was obtained: refused credentials end the call, the rest is retried.
enum TokenError {
    Refused(String),
    Transient(String, Option<Duration>),
}

/// The `Retry-After` of an answer, in seconds (capped at five minutes).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 300.0)))
}

fn err(e: impl std::fmt::Display) -> SinkError {
    SinkError(e.to_string())
}

impl PortSink {
    /// A client for Port at `base_url` with the integration's credentials and identity.
    pub fn new(base_url: &str, client_id: &str, client_secret: &str, integration_type: &str, identifier: &str) -> Self {
        Self {
            client: client(Duration::from_secs(30), integration_type, identifier),
            base: base_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            integration_type: integration_type.to_owned(),
            identifier: identifier.to_owned(),
            token: Mutex::new(None),
        }
    }

    /// Sets how long a call may take before it is abandoned and retried (default 30 seconds).
    ///
    /// ```
    /// let sink = ocean::sink::PortSink::new("http://127.0.0.1:9", "id", "secret", "github", "my-github")
    ///     .request_timeout(std::time::Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.client = client(timeout, &self.integration_type, &self.identifier);
        self
    }

    /// The access token, fetched when missing, within a minute of expiry, or when `refresh` is set.
    async fn token(&self, refresh: bool) -> std::result::Result<String, TokenError> {
        let mut slot = self.token.lock().await;
        if !refresh
            && let Some((t, exp)) = &*slot
            && Instant::now() + Duration::from_secs(60) < *exp
        {
            return Ok(t.clone());
        }
        let resp = self
            .client
            .post(format!("{}/v1/auth/access_token", self.base))
            .json(&json!({"clientId": self.client_id, "clientSecret": self.client_secret}))
            .send()
            .await
            .map_err(|e| TokenError::Transient(format!("Port unreachable: {e}"), None))?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(TokenError::Transient(format!("{status} from Port on the access token"), retry_after(&resp)));
        }
        if !status.is_success() {
            return Err(TokenError::Refused(format!("Port refused the credentials: {status}")));
        }
        let body: Value =
            resp.json().await.map_err(|e| TokenError::Transient(format!("Port's token answer: {e}"), None))?;
        let token = body["accessToken"]
            .as_str()
            .ok_or_else(|| TokenError::Refused("no accessToken in Port's answer".into()))?
            .to_owned();
        let expires = body["expiresIn"].as_u64().unwrap_or(3600);
        *slot = Some((token.clone(), Instant::now() + Duration::from_secs(expires)));
        Ok(token)
    }

    /// One call with the token, retried on 401 (new token), 429 and 5xx (backoff, `Retry-After`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<(StatusCode, Value), SinkError> {
        self.call_with(&PORT_BACKOFF, method, path, body).await
    }

    /// [`PortSink::call`] with its own schedule of retries.
    async fn call_with(
        &self,
        backoff: &Backoff,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<(StatusCode, Value), SinkError> {
        let refresh = std::sync::atomic::AtomicBool::new(false);
        let attempt = |_| {
            let (method, refresh) = (method.clone(), &refresh);
            async move {
                let token = match self.token(refresh.swap(false, Ordering::AcqRel)).await {
                    Ok(t) => t,
                    Err(TokenError::Refused(e)) => return Attempt::Fail(e),
                    Err(TokenError::Transient(e, after)) => return Attempt::Retry { error: e, after },
                };
                let mut req = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token);
                if let Some(b) = body {
                    req = req.json(b);
                }
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let after = retry_after(&resp);
                        let value: Value = resp.json().await.unwrap_or(Value::Null);
                        if status == StatusCode::UNAUTHORIZED {
                            refresh.store(true, Ordering::Release);
                            return Attempt::Again("401 from Port".to_owned());
                        }
                        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                            return Attempt::Retry { error: format!("{status} from Port on {path}"), after };
                        }
                        Attempt::Done((status, value))
                    }
                    Err(e) => Attempt::Retry { error: format!("Port unreachable: {e}"), after: None },
                }
            }
        };
        let log = |e: &String, attempt, delay| warn!(error = %e, path, attempt, ?delay, "Port call failed; retrying");
        match retry::run(backoff, None, attempt, log).await {
            Outcome::Done(r) => Ok(r),
            Outcome::Failed { error, .. } => Err(SinkError(error)),
            Outcome::Cancelled => Err(SinkError("cancelled".into())),
        }
    }

    /// The integration's mapping as Port holds it; the integration is created with `default` when missing.
    pub async fn fetch_mapping(&self, default: &Value) -> Result<Value> {
        let path = format!("/v1/integration/{}", self.identifier);
        let (status, body) =
            self.call_with(&STARTUP_BACKOFF, Method::GET, &path, None).await.map_err(|e| Error::Other(e.0))?;
        if status.is_success() {
            return Ok(body["integration"]["config"].clone());
        }
        if status != StatusCode::NOT_FOUND {
            return Err(Error::Other(format!("Port answered {status} for {path}")));
        }
        info!(identifier = %self.identifier, "creating the integration in Port with its default mapping");
        let create = json!({
            "identifier": self.identifier,
            "installationAppType": self.integration_type,
            "installationId": self.identifier,
            "config": default,
        });
        let (status, body) = self
            .call_with(&STARTUP_BACKOFF, Method::POST, "/v1/integration", Some(&create))
            .await
            .map_err(|e| Error::Other(e.0))?;
        if !status.is_success() {
            return Err(Error::Other(format!("Port answered {status} when creating the integration: {body}")));
        }
        Ok(default.clone())
    }

    async fn upsert(
        &self,
        blueprint: &str,
        entities: &[&Entity],
        changes: &Changes,
    ) -> std::result::Result<(), SinkError> {
        let query = format!(
            "upsert=true&merge={}&create_missing_related_entities={}",
            changes.merge, changes.create_missing_related
        );
        let mut batch: Vec<Value> = Vec::new();
        let mut size = 0;
        let mut batches = Vec::new();
        for e in entities {
            let v = serde_json::to_value(e).map_err(err)?;
            let len = v.to_string().len();
            if !batch.is_empty() && (batch.len() == BATCH_ENTITIES || size + len > BATCH_BYTES) {
                batches.push(std::mem::take(&mut batch));
                size = 0;
            }
            size += len;
            batch.push(v);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        for batch in batches {
            let path = format!("/v1/blueprints/{blueprint}/entities/bulk?{query}&validation_only=false");
            let (status, body) = self.call(Method::POST, &path, Some(&json!({"entities": batch}))).await?;
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                for e in &batch {
                    let path = format!("/v1/blueprints/{blueprint}/entities?{query}");
                    let (status, body) = self.call(Method::POST, &path, Some(e)).await?;
                    if !status.is_success() {
                        warn!(blueprint, identifier = %e["identifier"], %status, error = %body["message"], "Port rejected an entity");
                    }
                }
                continue;
            }
            if !status.is_success() && status != StatusCode::MULTI_STATUS {
                return Err(SinkError(format!("Port answered {status} to a bulk upsert of {blueprint}: {body}")));
            }
            for e in body["errors"].as_array().into_iter().flatten() {
                warn!(blueprint, identifier = %e["identifier"], error = %e["message"], "Port rejected an entity");
            }
        }
        Ok(())
    }

    /// The rules that limit an entities search to this integration's data source.
    fn ownership_rules(&self) -> [Value; 2] {
        [
            json!({"property": "$datasource", "operator": "contains", "value": format!("port-ocean/{}/", self.integration_type)}),
            json!({"property": "$datasource", "operator": "contains", "value": format!("/{}/", self.identifier)}),
        ]
    }

    async fn delete(&self, blueprint: &str, ids: &[String], dependents: bool) -> std::result::Result<(), SinkError> {
        // Ownership: only entities of this integration's data source are deleted.
        let [source, instance] = self.ownership_rules();
        let search = json!({
            "combinator": "and",
            "rules": [
                {"property": "$identifier", "operator": "in", "value": ids},
                {"property": "$blueprint", "operator": "=", "value": blueprint},
                source,
                instance,
            ]
        });
        let (status, body) = self.call(Method::POST, "/v1/entities/search", Some(&search)).await?;
        if !status.is_success() {
            return Err(SinkError(format!("Port answered {status} to the ownership search: {body}")));
        }
        let owned: Vec<&str> =
            body["entities"].as_array().into_iter().flatten().filter_map(|e| e["identifier"].as_str()).collect();
        if owned.len() < ids.len() {
            info!(blueprint, skipped = ids.len() - owned.len(), "not deleting entities this integration does not own");
        }
        for chunk in owned.chunks(100) {
            let path = format!("/v1/blueprints/{blueprint}/bulk/entities/delete?delete_dependents={dependents}");
            let (status, body) = self.call(Method::POST, &path, Some(&json!({"entities": chunk}))).await?;
            if !status.is_success() {
                return Err(SinkError(format!("Port answered {status} to a bulk delete of {blueprint}: {body}")));
            }
        }
        Ok(())
    }
}

impl Sink for PortSink {
    fn apply<'a>(&'a self, changes: &'a Changes) -> BoxFuture<'a, std::result::Result<(), SinkError>> {
        Box::pin(async move {
            let mut upserts: BTreeMap<&str, Vec<&Entity>> = BTreeMap::new();
            for e in &changes.upserts {
                upserts.entry(e.blueprint.as_str()).or_default().push(e);
            }
            for (bp, entities) in upserts {
                self.upsert(bp, &entities, changes).await?;
            }
            let mut deletes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for d in &changes.deletes {
                deletes.entry(d.blueprint.as_str()).or_default().push(d.identifier.clone());
            }
            for (bp, ids) in deletes {
                self.delete(bp, &ids, changes.delete_dependents).await?;
            }
            Ok(())
        })
    }

    /// The entities of `blueprint` in this integration's data source, by the same search as deletes.
    fn owned<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, std::result::Result<Vec<String>, SinkError>> {
        Box::pin(async move {
            let [source, instance] = self.ownership_rules();
            let search = json!({
                "combinator": "and",
                "rules": [{"property": "$blueprint", "operator": "=", "value": blueprint}, source, instance]
            });
            let (status, body) = self.call(Method::POST, "/v1/entities/search", Some(&search)).await?;
            if !status.is_success() {
                return Err(SinkError(format!("Port answered {status} to the search of {blueprint}: {body}")));
            }
            let ids = body["entities"].as_array().into_iter().flatten();
            Ok(ids.filter_map(|e| e["identifier"].as_str().map(str::to_owned)).collect())
        })
    }
}
