//! The authors' testing kit: start an integration in-process on the local catalog, send signed events,
//! wait until they are processed, read the entities.
//!
//! ```no_run
//! # async fn f(integration: ocean::Integration) -> ocean::Result<()> {
//! use std::time::Duration;
//! use ocean::testing::TestIntegration;
//!
//! let it = TestIntegration::builder(integration)
//!     .config("webhook_secret", "test-secret") // as OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET
//!     .start()
//!     .await?;
//! let body = br#"{"action": "opened", "issue": {"id": 7, "title": "Bug"}}"#;
//! let r = it.send_signed("/webhook", &ocean::auth::github(), "test-secret", body, &[("x-github-event", "issues".into())]).await;
//! assert_eq!(r.status(), 202);
//! let issue = it.wait_for_entity("githubIssue", "7", Duration::from_secs(5)).await;
//! assert!(issue.is_some());
//! it.shutdown().await;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::Settings;
use crate::{Integration, RunningIntegration};

/// An integration running on loopback with its own state directory.
pub struct TestIntegration {
    running: Option<RunningIntegration>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The HTTP client used to talk to it.
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// `OCEAN__ADMIN__TOKEN`, when set: the admin calls of the kit use it.
    pub admin_token: Option<String>,
}

/// An HTTP client for tests (installs the TLS crypto provider first).
pub fn client() -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::new()
}

/// Settings for a test: loopback, a free port, a fresh state directory, few workers.
pub fn test_settings(state_dir: &std::path::Path) -> Settings {
    let mut s = Settings::default();
    s.http.port = 0;
    s.http.workers = Some(1);
    s.state_dir = state_dir.to_owned();
    s.event_workers_count = 8;
    s.max_wait_seconds_before_shutdown = 5.0;
    s
}

/// The settings of a test integration, given by name: what `OCEAN__*` variables or `config.yaml` give a
/// deployed one. Made by [`TestIntegration::builder`].
pub struct TestBuilder {
    integration: Integration,
    config: Vec<(String, Value)>,
    mapping: Option<String>,
    adjust: Vec<Adjust>,
}

/// A change to the settings, applied before the start.
type Adjust = Box<dyn FnOnce(&mut Settings) + Send>;

impl TestBuilder {
    /// An integration config value, as `OCEAN__INTEGRATION__CONFIG__<KEY>` gives it (`webhook_secret` or
    /// `webhookSecret`). A list of strings is several secrets, for rotation.
    #[must_use]
    pub fn config(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.config.push((crate::config::snake_case(key), value.into()));
        self
    }

    /// The Port app config to map with, as YAML (default: the integration's own), as
    /// `OCEAN__MAPPING_FILE` would point to it.
    #[must_use]
    pub fn mapping(mut self, yaml: &str) -> Self {
        self.mapping = Some(yaml.to_owned());
        self
    }

    /// `OCEAN__ADMIN__TOKEN`: turns on the dead-letter API.
    #[must_use]
    pub fn admin_token(self, token: &str) -> Self {
        let token = token.to_owned();
        self.settings(move |s| s.admin.token = Some(token))
    }

    /// `OCEAN__RESYNC_ON_START` (true by default, as deployed).
    #[must_use]
    pub fn resync_on_start(self, on: bool) -> Self {
        self.settings(move |s| s.resync_on_start = on)
    }

    /// `OCEAN__RATE_LIMIT__REQUESTS_PER_SECOND` and `OCEAN__RATE_LIMIT__BURST`.
    #[must_use]
    pub fn rate_limit(self, per_second: f64, burst: u32) -> Self {
        self.settings(move |s| {
            s.rate_limit.requests_per_second = Some(per_second);
            s.rate_limit.burst = Some(burst);
        })
    }

    /// `OCEAN__QUEUE__BACKEND=memory` instead of the durable queue.
    #[must_use]
    pub fn memory_queue(self) -> Self {
        self.settings(|s| s.queue.backend = crate::config::QueueBackend::Memory)
    }

    /// `OCEAN__EVENT_WORKERS_COUNT` (8 in tests).
    #[must_use]
    pub fn event_workers(self, count: usize) -> Self {
        self.settings(move |s| s.event_workers_count = count)
    }

    /// `OCEAN__MAX_EVENT_PROCESSING_SECONDS`: past it, a processor is cancelled.
    #[must_use]
    pub fn max_event_processing(self, limit: Duration) -> Self {
        self.settings(move |s| s.max_event_processing_seconds = limit.as_secs_f64())
    }

    /// `OCEAN__MAPPING__LEAF_BUDGET_MS`: the time a mapping leaf may take.
    #[must_use]
    pub fn leaf_budget(self, budget: Duration) -> Self {
        self.settings(move |s| s.mapping.leaf_budget_ms = budget.as_millis().max(1) as u64)
    }

    /// Any other setting, on the [`Settings`] value itself.
    #[must_use]
    pub fn settings(mut self, adjust: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.adjust.push(Box::new(adjust));
        self
    }

    /// Starts the integration on loopback with its own state directory.
    pub async fn start(self) -> crate::Result<TestIntegration> {
        let Self { integration, config, mapping, adjust } = self;
        TestIntegration::start_with(integration, move |s| {
            for (k, v) in config {
                s.integration.config.insert(k, v);
            }
            if let Some(yaml) = mapping {
                let file = s.state_dir.join("port-app-config.yml");
                std::fs::write(&file, yaml).expect("write the test mapping into the state directory");
                s.mapping_file = Some(file);
            }
            for f in adjust {
                f(s);
            }
        })
        .await
    }
}

impl TestIntegration {
    /// Settings given by name before the start: `TestIntegration::builder(it).config("webhook_secret", "s").start()`.
    pub fn builder(integration: Integration) -> TestBuilder {
        TestBuilder { integration, config: Vec::new(), mapping: None, adjust: Vec::new() }
    }

    /// Starts `integration` with [`test_settings`] adjusted by `adjust`.
    pub async fn start_with(integration: Integration, adjust: impl FnOnce(&mut Settings)) -> crate::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut settings = test_settings(dir.path());
        adjust(&mut settings);
        let state_dir = settings.state_dir.clone();
        let admin_token = settings.admin.token.clone();
        let running = integration.start(settings).await?;
        Ok(Self {
            base_url: format!("http://{}", running.addr()),
            running: Some(running),
            client: client(),
            _dir: Some(dir),
            state_dir,
            admin_token,
        })
    }

    /// Starts `integration` with [`test_settings`].
    pub async fn start(integration: Integration) -> crate::Result<Self> {
        Self::start_with(integration, |_| {}).await
    }

    /// The running integration.
    pub fn running(&self) -> &RunningIntegration {
        self.running.as_ref().expect("running until shut down")
    }

    /// Asks for a resync of every kind, or of `kind`, as `POST /admin/resync` (needs
    /// [`TestBuilder::admin_token`]): the answer's JSON, with the run's `id`.
    pub async fn resync(&self, kind: Option<&str>) -> Value {
        let mut req = self.client.post(format!("{}/admin/resync", self.base_url));
        if let Some(k) = kind {
            req = req.query(&[("kind", k)]);
        }
        let resp = req.bearer_auth(self.admin_token.as_deref().unwrap_or_default()).send().await;
        match resp {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => serde_json::json!({"status": "error", "message": e.to_string()}),
        }
    }

    /// `GET /admin/resync`: the current run and the last finished one.
    pub async fn resync_status(&self) -> Value {
        let url = format!("{}/admin/resync", self.base_url);
        match self.client.get(url).bearer_auth(self.admin_token.as_deref().unwrap_or_default()).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// Waits until the run `id` has finished and returns its report (`None` on timeout).
    pub async fn wait_resync(&self, id: &str, timeout: Duration) -> Option<Value> {
        self.wait_last_resync(timeout, |last| last["id"] == id).await
    }

    /// Waits for the first run that finishes (the start-up one) and returns its report.
    pub async fn wait_first_resync(&self, timeout: Duration) -> Option<Value> {
        self.wait_last_resync(timeout, Value::is_object).await
    }

    /// Polls `GET /admin/resync` until its last run satisfies `done`.
    async fn wait_last_resync(&self, timeout: Duration, done: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let status = self.resync_status().await;
            if done(&status["last"]) {
                return Some(status["last"].clone());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// POSTs a JSON body with headers to `/integration{path}`.
    pub async fn post(&self, path: &str, body: &[u8], headers: &[(&str, String)]) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/integration{path}", self.base_url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.expect("request to the test integration")
    }

    /// POSTs a GitHub event signed with `secret`.
    pub async fn send_github(&self, path: &str, event: &str, body: &[u8], secret: &str) -> reqwest::Response {
        let delivery = uuid::Uuid::new_v4().to_string();
        let extra = [("x-github-event", event.to_owned()), ("x-github-delivery", delivery)];
        self.send_signed(path, &crate::auth::github(), secret, body, &extra).await
    }

    /// POSTs `body` to `/integration{path}` signed with `secret` the way `auth`'s provider signs it (every
    /// built-in verifier, as configured), plus `extra` headers (the event name, a delivery id).
    ///
    /// ```no_run
    /// # async fn f(it: &ocean::testing::TestIntegration) {
    /// let r = it
    ///     .send_signed("/webhook", &ocean::auth::gitlab(), "t0ken", br#"{"object_kind":"issue"}"#, &[("x-gitlab-event", "Issue Hook".into())])
    ///     .await;
    /// assert_eq!(r.status(), 202);
    /// # }
    /// ```
    pub async fn send_signed(
        &self,
        path: &str,
        auth: &crate::auth::Auth,
        secret: &str,
        body: &[u8],
        extra: &[(&str, String)],
    ) -> reqwest::Response {
        let signed = auth.sign_request(secret, body, std::time::SystemTime::now()).expect("a signable verifier");
        let mut headers: Vec<(&str, String)> = signed.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        headers.extend(extra.iter().cloned());
        self.post(path, body, &headers).await
    }

    /// Waits until the local catalog has the entity, for at most `timeout`.
    pub async fn wait_for_entity(&self, blueprint: &str, identifier: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.entity(blueprint, identifier) {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until there are at least `count` dead letters, for at most `timeout`; returns them all.
    pub async fn wait_for_dead_letters(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let dead = self.running().dead_letters().await;
            if dead.len() >= count || Instant::now() >= deadline {
                return dead;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the queue is empty (every accepted event processed or failed).
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.running().queued() == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// One entity from the local catalog.
    pub fn entity(&self, blueprint: &str, identifier: &str) -> Option<Value> {
        self.running().catalog()?.get(blueprint, identifier).ok().flatten()
    }

    /// Every entity of a blueprint from the local catalog.
    pub fn entities(&self, blueprint: &str) -> Vec<Value> {
        self.running().catalog().and_then(|c| c.list(blueprint).ok()).unwrap_or_default()
    }

    /// Shuts down gracefully; returns the number of events left unprocessed.
    pub async fn shutdown(mut self) -> usize {
        match self.running.take() {
            Some(r) => r.shutdown().await,
            None => 0,
        }
    }
}
