//! The PostgreSQL shared by the replicas of an integration: its pool, its health, its schema and the
//! wake-ups it sends. The queue's `postgres` backend and the shared catalog are built on it.

mod listen;
mod schema;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub(crate) use listen::listen;

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

/// Connections whose commits wait for their flush: intake's batch being committed, and dead letters.
const DURABLE_CONNECTIONS: usize = 2;

/// The shared database: pools of connections and whether the last operations reached it.
pub(crate) struct Database {
    /// Commits that need not wait for their flush (`synchronous_commit=off`).
    pub(crate) pool: Pool,
    /// Commits that wait for their flush: intake and dead letters.
    durable: Pool,
    config: tokio_postgres::Config,
    /// The TLS connector when the URL says `sslmode=require`.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
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
        // Intake and dead letters commit with the server's `synchronous_commit` (on by default): a 202
        // promises the event is durable. Everything else (claims, acknowledgements of processed events,
        // the catalog's writes) commits without waiting for its flush: a crash of the database loses at
        // most the last of them, together with everything after them in the WAL, so an event is
        // processed again (at least once), never lost.
        let mut relaxed = config.clone();
        relaxed.options(match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c synchronous_commit=off"),
            _ => "-c synchronous_commit=off".to_owned(),
        });
        let tls = tls::connector(&config, settings.ca_file.as_deref()).map_err(&bad)?;
        let build = |config: &tokio_postgres::Config, size: usize| {
            let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
            let manager = match &tls {
                Some(tls) => Manager::from_config(config.clone(), tls.clone(), recycling),
                None => Manager::from_config(config.clone(), NoTls, recycling),
            };
            Pool::builder(manager)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(10)))
                .create_timeout(Some(Duration::from_secs(5)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()
                .map_err(|e| bad(e.to_string()))
        };
        let pool = build(&relaxed, settings.pool_size.max(1))?;
        let durable = build(&config, DURABLE_CONNECTIONS)?;
        let db = Arc::new(Self { pool, durable, config, tls, healthy: AtomicBool::new(true), name: name.clone() });
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
        self.get_from(&self.pool).await
    }

    /// A connection whose commits wait for their flush (intake, dead letters).
    pub(crate) async fn durable_client(&self) -> std::result::Result<deadpool_postgres::Object, String> {
        self.get_from(&self.durable).await
    }

    /// A connection of `pool`; a failure to get one is noted in the database's health.
    async fn get_from(&self, pool: &Pool) -> std::result::Result<deadpool_postgres::Object, String> {
        let r = pool.get().await.map_err(|e| describe_pool(&e));
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

    /// A connection of its own, outside the pools (the listener's, a resync's lock), with the stream of
    /// its server messages: polling the stream drives the connection.
    pub(crate) async fn connect_one(&self) -> std::result::Result<(tokio_postgres::Client, Messages), String> {
        fn messages<S, T>(mut c: tokio_postgres::Connection<S, T>) -> Messages
        where
            S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
            T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        {
            Box::pin(futures_util::stream::poll_fn(move |cx| c.poll_message(cx)))
        }
        let r = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()).await.map(|(c, conn)| (c, messages(conn))),
            None => self.config.connect(NoTls).await.map(|(c, conn)| (c, messages(conn))),
        };
        r.map_err(|e| describe(&e))
    }
}

/// The messages of a connection of its own (notifications, notices); polling them drives it.
pub(crate) type Messages = std::pin::Pin<
    Box<
        dyn futures_util::Stream<Item = std::result::Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>>
            + Send,
    >,
>;

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

/// A session advisory lock held on a connection of its own: released when dropped (the connection
/// closes), or when the replica holding it dies. One resync at a time across replicas takes one.
pub(crate) struct RunLock {
    _client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl RunLock {
    /// Takes the lock `key` if no other session holds it.
    pub(crate) async fn try_take(db: &Database, key: i64) -> std::result::Result<Option<Self>, String> {
        let (client, mut messages) = db.connect_one().await?;
        let driver = tokio::spawn(async move { while futures_util::StreamExt::next(&mut messages).await.is_some() {} });
        let got = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await;
        match got.map(|r| r.get::<_, bool>(0)) {
            Ok(true) => Ok(Some(Self { _client: client, driver })),
            Ok(false) => {
                driver.abort();
                Ok(None)
            }
            Err(e) => {
                driver.abort();
                Err(describe(&e))
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
