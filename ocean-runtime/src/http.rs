//! The HTTP server: processor paths, health, metrics, the local catalog's read API, the dead-letter
//! API and legacy routes, each handler with the state it uses.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpResponse, web};

use crate::admin::Health;
use crate::config::Settings;
use crate::dlq::DeadLetters;
use crate::error::{Error, Result};
use crate::intake::{Intake, PathIndex};
use crate::legacy::RouteGuard;
use crate::raw::RawApi;
use crate::registry::Route;
use crate::runtime::Runtime;

/// The listening server.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) handle: actix_web::dev::ServerHandle,
    pub(crate) task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds and starts serving.
pub(crate) fn serve(
    settings: &Settings,
    rt: &Arc<Runtime>,
    raw: &Arc<RawApi>,
    catalog: Option<Arc<dyn crate::sink::CatalogRead>>,
    routes: Vec<(Route, Arc<RouteGuard>)>,
    resyncer: Arc<crate::resync::Resyncer>,
) -> Result<Server> {
    let prefix = settings.path_prefix.trim_end_matches('/').to_owned();
    let workers = settings.http.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let intake = web::Data::new(Intake {
        processors: rt.processors.clone(),
        queue: rt.queue.clone(),
        lifecycle: rt.lifecycle.clone(),
        metrics: rt.metrics.clone(),
        max_body_bytes: settings.http.max_body_bytes,
        body_timeout: std::time::Duration::from_secs(settings.http.body_timeout_seconds),
    });
    let health = web::Data::new(Health {
        queue: rt.queue.clone(),
        sink: rt.sink.clone(),
        lifecycle: rt.lifecycle.clone(),
        metrics: rt.metrics.clone(),
        pool: rt.pool.clone(),
    });
    let (token, queue, processors) = (settings.admin.token.clone(), rt.queue.clone(), rt.processors.clone());
    let raw = web::Data::new(raw.clone());
    let access = crate::admin::CatalogAccess::for_host(
        &settings.http.host,
        settings.admin.token.as_deref(),
        settings.admin.catalog_requires_token,
    );
    if catalog.is_some() {
        match &access {
            crate::admin::CatalogAccess::Open => {}
            crate::admin::CatalogAccess::Token(_) => tracing::info!(
                host = %settings.http.host,
                "the catalog read API requires OCEAN__ADMIN__TOKEN as a bearer token"
            ),
            crate::admin::CatalogAccess::Off => tracing::warn!(
                host = %settings.http.host,
                "the catalog read API is off: it needs OCEAN__ADMIN__TOKEN beyond loopback (OCEAN__HTTP__HOST)"
            ),
        }
    }
    let routes = Arc::new(routes);
    let server = actix_web::HttpServer::new(move || {
        let dead = DeadLetters { token: token.clone(), queue: queue.clone(), processors: processors.clone() };
        let (prefix, intake, health, raw, routes) =
            (prefix.clone(), intake.clone(), health.clone(), raw.clone(), routes.clone());
        let (catalog, access, resyncer) = (catalog.clone(), access.clone(), resyncer.clone());
        let admin_token = dead.token.clone();
        App::new()
            .configure(move |cfg| {
                for (i, p) in intake.processors.paths.iter().enumerate() {
                    cfg.service(
                        web::resource(format!("{prefix}/integration{}", p.path))
                            .app_data(intake.clone())
                            .app_data(web::Data::new(PathIndex(i)))
                            .route(web::post().to(crate::intake::handle)),
                    );
                }
                crate::admin::configure(cfg, &prefix, &health, catalog.as_ref(), &access);
                crate::dlq::configure(cfg, &prefix, dead);
                crate::resync::api::configure(cfg, &prefix, admin_token, resyncer);
                if !routes.is_empty() {
                    cfg.service(
                        web::scope(&format!("{prefix}/integration"))
                            .app_data(raw)
                            .wrap(actix_web::middleware::from_fn(crate::raw::scope_middleware))
                            .configure(|c| {
                                for (r, guard) in routes.iter() {
                                    c.service(
                                        web::resource(&r.path)
                                            .guard(actix_web::guard::Method(r.method.clone()))
                                            .app_data(web::Data::from(guard.clone()))
                                            .wrap(actix_web::middleware::from_fn(crate::legacy::verify))
                                            .route((r.handler)()),
                                    );
                                }
                            }),
                    );
                }
            })
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(serde_json::json!({"status": "error", "message": "unknown path"}))
            }))
    })
    .disable_signals()
    .shutdown_timeout(1)
    // After an answer that closes the connection (a body too large or too slow), actix-web would go on
    // reading the rest of the request for up to this long, without looking at the clock while data keeps
    // coming: a client sending fast is read to its end. Zero closes at once, after the answer is written.
    .client_disconnect_timeout(std::time::Duration::ZERO)
    .workers(workers)
    .max_connections(settings.http.max_connections.unwrap_or_else(|| default_max_connections(workers)))
    .bind((settings.http.host.as_str(), settings.http.port))
    .map_err(|e| {
        Error::Config(format!(
            "cannot listen on {}:{} (OCEAN__HTTP__HOST, OCEAN__HTTP__PORT): {e}",
            settings.http.host, settings.http.port
        ))
    })?;
    let addr = server.addrs().first().copied().ok_or_else(|| Error::other("no listening address"))?;
    let mut server = server.run();
    let handle = server.handle();
    // Polled once here, where actix starts its threads: they inherit the priority of the caller, not the
    // lowered one of the runtime's workers (see `priority.rs`) that would poll it first once spawned.
    let task = match futures_util::FutureExt::now_or_never(&mut server) {
        Some(ended) => tokio::spawn(async move { ended }),
        None => tokio::spawn(server),
    };
    Ok(Server { addr, handle, task })
}

/// Connections per worker when `OCEAN__HTTP__MAX_CONNECTIONS` is unset: the open-file limit shared by the
/// workers, less what the queue, the catalog and outgoing calls need. Past it, new connections wait in the
/// listen backlog instead of failing `accept` with "too many open files" while health checks go unanswered.
fn default_max_connections(workers: usize) -> usize {
    const RESERVED: u64 = 128;
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let per_worker = soft.saturating_sub(RESERVED) / workers.max(1) as u64;
    per_worker.clamp(16, 25_000) as usize
}
