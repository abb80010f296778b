//! The PostgreSQL shared by the replicas of an integration: its pool, its health, its schema and the
//! wake-ups it sends. The queue's `postgres` backend and the shared catalog are built on it.

mod listen;
mod schema;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub(crate) use listen::{CHANNEL, listen};

use crate::config::PostgresSettings;
use crate::error::{Error, Result};

/// The URL with its password masked, to name the database in messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "(not a postgres:// URL)".into() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    let host = match host.split_once('?') {
        // Parameters may carry a password too.
        Some((h, q)) if q.contains("password") => format!("{h}?***"),
        _ => host.to_owned(),
    };
    match auth.map(|a| a.split_once(':').map_or(a, |(user, _)| user)) {
        Some(user) if auth.is_some_and(|a| a.contains(':')) => format!("{scheme}://{user}:***@{host}"),
        Some(user) => format!("{scheme}://{user}@{host}"),
        None => format!("{scheme}://{host}"),
    }
}

/// The shared database: a pool of connections and whether the last operations reached it.
pub(crate) struct Database {
    pub(crate) pool: Pool,
    config: tokio_postgres::Config,
    healthy: AtomicBool,
    /// The URL with its password masked.
    pub(crate) name: String,
}

impl Database {
    /// Connects, checks the rights and migrates the schema; every failure names `OCEAN__POSTGRES__URL`
    /// without its password.
    pub(crate) async fn connect(settings: &PostgresSettings) -> Result<Arc<Self>> {
        let url = settings.url.as_deref().unwrap_or_default();
        let name = redact(url);
        let bad = |what: String| Error::Config(format!("OCEAN__POSTGRES__URL `{name}`: {what}"));
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| bad(format!("not a valid PostgreSQL URL ({e})")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("ocean");
        // Commits wait for their WAL flush only where the runtime asks (intake, dead letters): the
        // acknowledgement of a processed event and the catalog's writes may be lost with a crash of the
        // database, together with everything after them in the WAL, so the event is processed again
        // (at least once). Intake's commits, which a 202 promises, stay synchronous.
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c synchronous_commit=off"),
            _ => "-c synchronous_commit=off".to_owned(),
        };
        config.options(options);
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let db = Arc::new(Self { pool, config, healthy: AtomicBool::new(true), name: name.clone() });
        let mut client = db.pool.get().await.map_err(|e| bad(format!("cannot connect: {}", describe_pool(&e))))?;
        schema::migrate(&mut client).await.map_err(|e| {
            bad(format!(
                "cannot create or migrate the schema (does the user own the database, or have CREATE on it?): {}",
                describe(&e)
            ))
        })?;
        info!(database = %name, "PostgreSQL ready");
        Ok(db)
    }

    /// Whether the last operation reached the database.
    pub(crate) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Records whether an operation reached the database; says so once when that changes.
    pub(crate) fn note<T, E: std::fmt::Display>(&self, r: &std::result::Result<T, E>) {
        let ok = r.is_ok();
        if self.healthy.swap(ok, Ordering::AcqRel) != ok {
            match r {
                Ok(_) => info!(database = %self.name, "PostgreSQL reachable again"),
                Err(e) => warn!(database = %self.name, error = %e, "PostgreSQL unreachable"),
            }
        }
    }

    /// A connection from the pool, noting the database's health.
    pub(crate) async fn client(&self) -> std::result::Result<deadpool_postgres::Object, String> {
        let r = self.pool.get().await.map_err(|e| describe_pool(&e));
        if r.is_err() {
            self.note(&r);
        }
        r
    }

    /// Checks the database every two seconds while `stop` is not cancelled, so that readiness reflects
    /// it when nothing else runs.
    pub(crate) async fn watch(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.cancelled() => return,
            }
            let r = match self.pool.get().await {
                Ok(c) => c.simple_query("SELECT 1").await.map(|_| ()).map_err(|e| describe(&e)),
                Err(e) => Err(describe_pool(&e)),
            };
            self.note(&r);
        }
    }

    /// The connection settings, for a connection of its own (the listener's).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

/// A client error with the server's message when there is one.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

fn describe_pool(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    }
}

/// Whether a failed transaction may simply be run again (deadlock, serialization failure).
pub(crate) fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            || *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
    })
}
