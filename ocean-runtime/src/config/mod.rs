//! Settings, read as the reference framework reads them: `OCEAN__*` environment variables with `__`
//! nesting, over an optional `config.yaml`, over defaults. Errors name the key and where it was read.

mod check;
mod spec;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Serialized};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use spec::IntegrationSpec;

use crate::error::{Error, Result};

/// Where to listen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Listen address (`OCEAN__HTTP__HOST`, default `127.0.0.1`).
    pub host: String,
    /// Listen port (`OCEAN__HTTP__PORT`, default 8000; 0 picks a free port).
    pub port: u16,
    /// Largest accepted body in bytes (`OCEAN__HTTP__MAX_BODY_BYTES`, default 10 MiB).
    pub max_body_bytes: usize,
    /// HTTP worker threads (`OCEAN__HTTP__WORKERS`; default: the number of cores).
    pub workers: Option<usize>,
    /// Seconds a request may take to send its body (`OCEAN__HTTP__BODY_TIMEOUT_SECONDS`, default 30);
    /// a slower one is answered 408 and its connection closed.
    pub body_timeout_seconds: u64,
    /// Open connections per HTTP worker before new ones wait in the listen backlog
    /// (`OCEAN__HTTP__MAX_CONNECTIONS`; default: the open-file limit shared by the workers, at most 25,000).
    pub max_connections: Option<usize>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            max_body_bytes: 10 * 1024 * 1024,
            workers: None,
            body_timeout_seconds: 30,
            max_connections: None,
        }
    }
}

/// Port's API credentials; the Port sink is used when both are set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PortSettings {
    /// `OCEAN__PORT__CLIENT_ID`.
    #[serde(deserialize_with = "lenient_string")]
    pub client_id: Option<String>,
    /// `OCEAN__PORT__CLIENT_SECRET`. Never logged.
    #[serde(deserialize_with = "lenient_string")]
    pub client_secret: Option<String>,
    /// `OCEAN__PORT__BASE_URL` (default `https://api.getport.io`).
    pub base_url: String,
    /// Seconds between refreshes of the mapping from Port (`OCEAN__PORT__APP_CONFIG_CACHE_TTL`, 60).
    pub app_config_cache_ttl: u64,
    /// Seconds before a call to Port is abandoned and retried (`OCEAN__PORT__REQUEST_TIMEOUT`, 30).
    pub request_timeout: u64,
}

impl Default for PortSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            base_url: "https://api.getport.io".into(),
            app_config_cache_ttl: 60,
            request_timeout: 30,
        }
    }
}

/// Where queued events are kept (`OCEAN__QUEUE__BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum QueueBackend {
    /// Persisted (fsync) in `{state_dir}/queue.redb` before the event is acknowledged (the default).
    #[default]
    Durable,
    /// In memory: lost with the process.
    Memory,
    /// In PostgreSQL at `OCEAN__POSTGRES__URL`, shared by every replica of the integration: committed
    /// before the event is acknowledged, ordered per entity across replicas, claimed with leases.
    Postgres,
}

/// Queue settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueSettings {
    /// `OCEAN__QUEUE__BACKEND`: `durable` (default: persisted before acknowledgement), `memory`, or
    /// `postgres` (shared by replicas; see [`PostgresSettings`]).
    pub backend: QueueBackend,
    /// Most events held at once before intake answers 503 (`OCEAN__QUEUE__CAPACITY`).
    pub capacity: usize,
    /// With the `memory` backend, the MiB of event bodies held at once before intake answers 503
    /// (`OCEAN__QUEUE__MEMORY_MIB`, default 512): the bodies are the queue, and a burst of large ones
    /// would otherwise take the process's memory before `capacity` events are reached.
    pub memory_mib: usize,
    /// How long a delivery id is remembered (`OCEAN__QUEUE__DEDUP_WINDOW_SECONDS`, default 72 hours).
    pub dedup_window_seconds: u64,
    /// Delivery ids held in memory (`OCEAN__QUEUE__DEDUP_MEMORY_ENTRIES`, default 20,000, about 3 MiB).
    /// The durable queue also keeps every id of the window on disk and looks an id up there (a read of a
    /// few cached pages) once memory has dropped some; the memory queue forgets ids beyond this many.
    pub dedup_memory_entries: usize,
    /// Memory, in MiB, that the durable queue may spend keeping the parsed payloads of queued events, so
    /// that a worker does not read them back from disk and parse them again (`OCEAN__QUEUE__HOT_MEMORY_MIB`,
    /// default 32; 0 keeps none). Events beyond it wait on disk only.
    pub hot_memory_mib: usize,
    /// The size, in MiB, of the durable queue's log segments (`OCEAN__QUEUE__SEGMENT_MIB`, default 64).
    /// Two processed segments are kept as spares that new segments are written over, so the log uses up
    /// to twice this on disk beyond its queued events.
    pub segment_mib: u64,
    /// With the `postgres` backend, how long a replica's claim on an entity's events lasts without being
    /// renewed (`OCEAN__QUEUE__LEASE_SECONDS`, default 30). A replica renews its claims while it
    /// processes; when it dies, another replica takes its entities over once the lease expires.
    pub lease_seconds: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            backend: QueueBackend::Durable,
            capacity: 100_000,
            memory_mib: 512,
            dedup_window_seconds: 72 * 3600,
            dedup_memory_entries: 20_000,
            hot_memory_mib: 32,
            segment_mib: 64,
            lease_seconds: 30,
        }
    }
}

/// The PostgreSQL shared by replicas (`OCEAN__QUEUE__BACKEND=postgres`).
///
/// Its debug form masks the password:
///
/// ```
/// # use ocean::config::PostgresSettings;
/// let s = PostgresSettings { url: Some("postgres://ocean:s3cret@db:5432/ocean".into()), ..Default::default() };
/// let shown = format!("{s:?}");
/// assert!(shown.contains("postgres://ocean:***@db:5432/ocean") && !shown.contains("s3cret"), "{shown}");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PostgresSettings {
    /// `OCEAN__POSTGRES__URL`: `postgres://user:password@host:port/database`. Never logged whole: its
    /// password is masked wherever the runtime names it.
    pub url: Option<String>,
    /// Connections per replica (`OCEAN__POSTGRES__POOL_SIZE`, default 8), besides one that listens for
    /// wake-ups.
    pub pool_size: usize,
    /// `OCEAN__POSTGRES__CA_FILE`: PEM certificates trusted for the server's certificate besides the
    /// system's roots, with `sslmode=require` in the URL (which encrypts and verifies the server's
    /// certificate and name; without it, connections are plain).
    pub ca_file: Option<PathBuf>,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self { url: None, pool_size: 8, ca_file: None }
    }
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &self.url.as_deref().map(crate::postgres::redact))
            .field("pool_size", &self.pool_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Mapping evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MappingSettings {
    /// Time one mapping leaf (or selector, `itemsToParse`, `group_by`) may evaluate before it is an error,
    /// in milliseconds (`OCEAN__MAPPING__LEAF_BUDGET_MS`, default 1000).
    pub leaf_budget_ms: u64,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self { leaf_budget_ms: 1000 }
    }
}

/// The budget of calls to the third party, shared by live events and resync through
/// [`crate::Context::rate_limiter`], live events first.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Calls per second (`OCEAN__RATE_LIMIT__REQUESTS_PER_SECOND`; unset: no limit).
    pub requests_per_second: Option<f64>,
    /// Calls that may be made at once after a quiet period (`OCEAN__RATE_LIMIT__BURST`; default: one
    /// second's worth).
    pub burst: Option<u32>,
}

impl RateLimitSettings {
    /// The budget these settings describe.
    pub fn budget(&self) -> crate::RateBudget {
        let burst =
            self.burst.unwrap_or_else(|| self.requests_per_second.map_or(1, |r| r.ceil().clamp(1.0, 1e6) as u32));
        crate::RateBudget::new(self.requests_per_second, burst)
    }
}

/// The admin API (dead letters).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AdminSettings {
    /// Bearer token of `/admin/*` (`OCEAN__ADMIN__TOKEN`); the admin API is off without one. Never logged.
    #[serde(deserialize_with = "lenient_string")]
    pub token: Option<String>,
    /// Require the token for the local catalog's read API even on loopback, for example behind a proxy
    /// in the same pod (`OCEAN__ADMIN__CATALOG_REQUIRES_TOKEN`, default false). Beyond loopback
    /// (`OCEAN__HTTP__HOST`), it is always required, and the API is off without a token.
    pub catalog_requires_token: bool,
}

/// The integration's identity and its typed config.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct IntegrationSettings {
    /// `OCEAN__INTEGRATION__IDENTIFIER` (default `my-<type>-integration`).
    pub identifier: Option<String>,
    /// `OCEAN__INTEGRATION__TYPE`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `OCEAN__INTEGRATION__CONFIG__<NAME>`, checked against `.port/spec.yaml`.
    pub config: Map<String, Value>,
}

/// Every setting of the runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Listening.
    pub http: HttpSettings,
    /// Public base URL of the integration (`OCEAN__BASE_URL`).
    pub base_url: Option<String>,
    /// Prefix of every path (`OCEAN__PATH_PREFIX`).
    pub path_prefix: String,
    /// Where state is kept (`OCEAN__STATE_DIR`, default `./.ocean`).
    pub state_dir: PathBuf,
    /// Event workers (`OCEAN__EVENT_WORKERS_COUNT`, default 16).
    pub event_workers_count: usize,
    /// Niceness added to the threads that process events, so that acknowledging takes precedence when
    /// the cores are saturated (`OCEAN__PROCESSING_NICENESS`, 0 to 19, default 0: off; Linux). It trades
    /// end-to-end throughput and latency for acknowledgements: see the README's Performance section.
    pub processing_niceness: i32,
    /// Threads of the runtime that `Integration::run` builds for the workers (`OCEAN__PROCESSING_THREADS`;
    /// default: one per core). Intake has its own threads (`OCEAN__HTTP__WORKERS`). Fewer threads than
    /// cores spare wake-ups across cores in bursts, at a cost to live events during a resync, which then
    /// share fewer threads with it: see the README's Performance section. An integration started with
    /// `Integration::start` on a runtime of its own uses that runtime's threads.
    pub processing_threads: Option<usize>,
    /// Time allowed per (processor, resource), retries included (`OCEAN__MAX_EVENT_PROCESSING_SECONDS`).
    pub max_event_processing_seconds: f64,
    /// Time allowed to finish in-flight events at shutdown (`OCEAN__MAX_WAIT_SECONDS_BEFORE_SHUTDOWN`).
    pub max_wait_seconds_before_shutdown: f64,
    /// A Port app config file that replaces the built-in default mapping (`OCEAN__MAPPING_FILE`).
    pub mapping_file: Option<PathBuf>,
    /// Let jq mappings read `env` and `$ENV` (`OCEAN__ALLOW_ENVIRONMENT_VARIABLES_JQ_ACCESS`).
    pub allow_environment_variables_jq_access: bool,
    /// Minutes between scheduled resyncs (`OCEAN__SCHEDULED_RESYNC_INTERVAL`; unset: none).
    pub scheduled_resync_interval: Option<f64>,
    /// Resync once the server listens (`OCEAN__RESYNC_ON_START`, default true).
    pub resync_on_start: bool,
    /// The budget of third-party calls.
    pub rate_limit: RateLimitSettings,
    /// Queue.
    pub queue: QueueSettings,
    /// PostgreSQL, for the `postgres` queue backend.
    pub postgres: PostgresSettings,
    /// Mapping evaluation.
    pub mapping: MappingSettings,
    /// Admin API.
    pub admin: AdminSettings,
    /// Port.
    pub port: PortSettings,
    /// Integration.
    pub integration: IntegrationSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::default(),
            base_url: None,
            path_prefix: String::new(),
            state_dir: PathBuf::from(".ocean"),
            event_workers_count: 16,
            processing_niceness: 0,
            processing_threads: None,
            max_event_processing_seconds: 90.0,
            max_wait_seconds_before_shutdown: 30.0,
            mapping_file: None,
            allow_environment_variables_jq_access: false,
            scheduled_resync_interval: None,
            resync_on_start: true,
            rate_limit: RateLimitSettings::default(),
            queue: QueueSettings::default(),
            postgres: PostgresSettings::default(),
            mapping: MappingSettings::default(),
            admin: AdminSettings::default(),
            port: PortSettings::default(),
            integration: IntegrationSettings::default(),
        }
    }
}

impl Settings {
    /// Reads defaults, then `config.yaml` in the working directory if present, then `OCEAN__*` variables.
    pub fn load() -> Result<Self> {
        Self::load_from(Path::new("config.yaml"))
    }

    /// Reads defaults, then `yaml` if the file exists, then the `OCEAN__*` environment variables.
    ///
    /// Every problem is reported, one line each, naming the key, where it was read (the variable, or the
    /// file with line and column) and what was expected; a misspelt key under a section this runtime reads
    /// is an error naming the closest valid key.
    pub fn load_from(yaml: &Path) -> Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let text = if yaml.exists() { Some(std::fs::read_to_string(yaml)?) } else { None };
        let source = text.as_deref().map(|text| check::YamlSource { path: yaml, text });
        let mut problems = Vec::new();
        let mut note = |u: check::Unknown| match u {
            check::Unknown::Error(e) => problems.push(e),
            check::Unknown::Warning(w) => tracing::warn!("{w}"),
        };
        if let Some(source) = &source {
            let value: Value =
                serde_norway::from_str(source.text).map_err(|e| Error::Config(format!("{}: {e}", yaml.display())))?;
            let value = decamelize_keys(value);
            check::unknown_yaml(source, &value).into_iter().for_each(&mut note);
            fig = fig.merge(Serialized::defaults(value));
        }
        check::unknown_env(std::env::vars()).into_iter().for_each(&mut note);
        // Integration config values stay strings here: their types come from the spec, not from guessing.
        let env = Env::prefixed("OCEAN__")
            .filter(|k| !k.as_str().to_ascii_lowercase().starts_with("integration__config__"))
            .split("__")
            .lowercase(true);
        let extracted: std::result::Result<Settings, _> = fig.merge(env).extract();
        let settings = match extracted {
            Ok(s) => Some(s),
            Err(e) => {
                for err in e {
                    let key = err.path.join(".");
                    let from = match &err.metadata {
                        Some(m) if m.name.contains("environment") => {
                            format!("environment variable OCEAN__{}", err.path.join("__").to_ascii_uppercase())
                        }
                        Some(m) if m.name == std::any::type_name::<Value>() => {
                            source.as_ref().map_or_else(|| yaml.display().to_string(), |s| s.describe(&err.path))
                        }
                        _ => "the defaults".to_owned(),
                    };
                    problems.push(format!("invalid setting `{key}` (from {from}): {}", err.kind));
                }
                None
            }
        };
        if let Some(s) = &settings
            && let Err(Error::Config(e)) = s.validate()
        {
            problems.push(e);
        }
        let mut settings = match settings {
            Some(s) if problems.is_empty() => s,
            _ => return Err(Error::Config(problems.join("\n"))),
        };
        for (k, v) in std::env::vars() {
            if let Some(name) = k.strip_prefix("OCEAN__INTEGRATION__CONFIG__") {
                settings.integration.config.insert(name.to_ascii_lowercase(), Value::String(v));
            }
        }
        Ok(settings)
    }

    /// Whether Port credentials are configured.
    pub fn has_port_credentials(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        set(&self.port.client_id) && set(&self.port.client_secret)
    }
}

/// A string setting that the environment layer may have read as a number or a boolean (`12345`).
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(other) => return Err(serde::de::Error::custom(format!("expected a string, got {other}"))),
    })
}

/// `webhookSecret` → `webhook_secret`; snake_case stays as it is.
///
/// ```
/// assert_eq!(ocean::config::snake_case("webhookSecret"), "webhook_secret");
/// assert_eq!(ocean::config::snake_case("WEBHOOK_SECRET"), "webhook_secret");
/// ```
pub fn snake_case(name: &str) -> String {
    if name.chars().any(|c| c.is_ascii_lowercase()) {
        let mut out = String::with_capacity(name.len() + 4);
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    } else {
        name.to_ascii_lowercase()
    }
}

fn decamelize_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (snake_case(&k), decamelize_keys(v))).collect()),
        other => other,
    }
}
