//! What processors and hooks see of the running integration: its config and its public address.

use std::sync::Arc;

use serde_json::{Map, Value};

/// The integration's context: typed integration config (from `.port/spec.yaml` and
/// `OCEAN__INTEGRATION__CONFIG__*`), its identifier and its public base URL.
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    identifier: String,
    config: Map<String, Value>,
    base_url: Option<String>,
    path_prefix: String,
    rate: crate::rate::RateBudget,
}

impl Context {
    /// A context; keys of `config` are snake_case (`webhook_secret`).
    ///
    /// ```
    /// let ctx = ocean::Context::new("my-github", serde_json::Map::new(), Some("https://x.example".into()), "");
    /// assert_eq!(ctx.webhook_url("/webhook").as_deref(), Some("https://x.example/integration/webhook"));
    /// ```
    pub fn new(identifier: &str, config: Map<String, Value>, base_url: Option<String>, path_prefix: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                identifier: identifier.to_owned(),
                config,
                base_url: base_url.map(|u| u.trim_end_matches('/').to_owned()),
                path_prefix: path_prefix.trim_end_matches('/').to_owned(),
                rate: crate::rate::RateBudget::unlimited(),
            }),
        }
    }

    /// The same context with `budget` as its rate budget.
    #[must_use]
    pub fn with_rate_budget(self, budget: crate::rate::RateBudget) -> Self {
        let inner = Arc::unwrap_or_clone(self.inner);
        Self { inner: Arc::new(Inner { rate: budget, ..inner }) }
    }

    /// The budget of calls to the third party, shared by live events and resync, live events first
    /// (`OCEAN__RATE_LIMIT__REQUESTS_PER_SECOND`): await [`crate::RateBudget::acquire`] before each call.
    ///
    /// ```
    /// # async fn fetch(ctx: ocean::Context) {
    /// ctx.rate_limiter().acquire().await;
    /// // ... the call to the third party's API
    /// # }
    /// ```
    pub fn rate_limiter(&self) -> &crate::rate::RateBudget {
        &self.inner.rate
    }

    /// The integration identifier (`OCEAN__INTEGRATION__IDENTIFIER`).
    pub fn identifier(&self) -> &str {
        &self.inner.identifier
    }

    /// The whole integration config.
    pub fn config(&self) -> &Map<String, Value> {
        &self.inner.config
    }

    /// A config value by name, snake_case or camelCase (`webhook_secret` or `webhookSecret`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        let key = crate::config::snake_case(name);
        self.inner.config.get(&key).filter(|v| !v.is_null())
    }

    /// A config value as a non-empty string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// The public base URL (`OCEAN__BASE_URL`), if set.
    pub fn base_url(&self) -> Option<&str> {
        self.inner.base_url.as_deref()
    }

    /// The public URL of a processor path: `{base_url}{path_prefix}/integration{path}`.
    pub fn webhook_url(&self, path: &str) -> Option<String> {
        self.base_url().map(|b| format!("{b}{}/integration{path}", self.inner.path_prefix))
    }
}
