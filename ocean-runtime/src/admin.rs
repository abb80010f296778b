//! Health, metrics and the local catalog's read API.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::runtime::Lifecycle;
use crate::sink::{CatalogRead, Sink};

/// What health and metrics read.
pub(crate) struct Health {
    pub(crate) queue: Arc<Queue>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) pool: Arc<crate::pool::Pool>,
}

type State = web::Data<Health>;

/// Who may read the local catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CatalogAccess {
    /// Listening on loopback only: anyone who can connect is on this machine.
    Open,
    /// Listening beyond loopback: `Authorization: Bearer <OCEAN__ADMIN__TOKEN>`.
    Token(String),
    /// Listening beyond loopback without an admin token: the read API is off.
    Off,
}

impl CatalogAccess {
    /// The access for a listen host (`OCEAN__HTTP__HOST`) and admin token (`OCEAN__ADMIN__TOKEN`);
    /// `always` requires the token on loopback too.
    pub(crate) fn for_host(host: &str, token: Option<&str>, always: bool) -> Self {
        let ip = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok();
        let loopback = host.eq_ignore_ascii_case("localhost") || ip.is_some_and(|ip| ip.to_canonical().is_loopback());
        match token.filter(|t| !t.is_empty()) {
            _ if loopback && !always => Self::Open,
            Some(t) => Self::Token(t.to_owned()),
            None => Self::Off,
        }
    }
}

struct CatalogState {
    catalog: Arc<dyn CatalogRead>,
    access: CatalogAccess,
}

type Catalog = web::Data<CatalogState>;

fn refuse(req: &actix_web::HttpRequest, c: &CatalogState) -> Option<HttpResponse> {
    match &c.access {
        CatalogAccess::Open => None,
        CatalogAccess::Token(t) => crate::dlq::refuse_without(req, t),
        CatalogAccess::Off => Some(HttpResponse::NotFound().json(json!({
            "status": "error",
            "message": "the catalog read API is off: it needs OCEAN__ADMIN__TOKEN (the server listens beyond loopback, OCEAN__HTTP__HOST, or OCEAN__ADMIN__CATALOG_REQUIRES_TOKEN is set)",
        }))),
    }
}

pub(crate) fn configure(
    cfg: &mut web::ServiceConfig,
    prefix: &str,
    health: &web::Data<Health>,
    catalog: Option<&Arc<dyn CatalogRead>>,
    access: &CatalogAccess,
) {
    cfg.service(web::resource(format!("{prefix}/health/live")).route(web::get().to(live)))
        .service(web::resource(format!("{prefix}/health/ready")).app_data(health.clone()).route(web::get().to(ready)))
        .service(
            web::resource(format!("{prefix}/metrics")).app_data(health.clone()).route(web::get().to(metrics_text)),
        );
    if let Some(c) = catalog {
        cfg.service(
            web::scope(&format!("{prefix}/catalog/blueprints/{{blueprint}}"))
                .app_data(web::Data::new(CatalogState { catalog: c.clone(), access: access.clone() }))
                .route("/entities", web::get().to(list))
                .route("/entities/{identifier}", web::get().to(get)),
        );
    }
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "healthy", "check": "live"}))
}

async fn ready(rt: State) -> HttpResponse {
    let queue = rt.queue.can_accept() && !rt.lifecycle.is_draining();
    let sink = rt.sink.ready();
    // Every worker busy on one event for longer than any event may take: nothing makes progress.
    let workers = rt.pool.can_progress();
    let ok = queue && sink && workers;
    let body = json!({
        "status": if ok { "healthy" } else { "unhealthy" },
        "check": "ready",
        "queue": queue,
        "sink": sink,
        "workers": {"ok": workers, "size": rt.pool.size(), "stuck": rt.pool.stuck()},
    });
    if ok { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics_text(rt: State) -> HttpResponse {
    for (path, depth) in rt.queue.depth_by_path() {
        rt.metrics.queue_depth(path).set(depth as f64);
    }
    if let Some(ids) = rt.queue.delivery_ids_in_memory() {
        rt.metrics.gauge(crate::metrics::IDS_IN_MEMORY).set(ids as f64);
    }
    if let Some((up, leased)) = rt.queue.replica() {
        rt.metrics.gauge(crate::metrics::DATABASE_UP).set(if up { 1.0 } else { 0.0 });
        rt.metrics.gauge(crate::metrics::LEASED).set(leased as f64);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(rt.metrics.render())
}

async fn list(req: actix_web::HttpRequest, c: Catalog, path: web::Path<String>) -> HttpResponse {
    if let Some(r) = refuse(&req, &c) {
        return r;
    }
    match c.catalog.list(&path).await {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => HttpResponse::InternalServerError().json(json!({"status": "error", "message": e.to_string()})),
    }
}

async fn get(req: actix_web::HttpRequest, c: Catalog, path: web::Path<(String, String)>) -> HttpResponse {
    if let Some(r) = refuse(&req, &c) {
        return r;
    }
    let (bp, id) = path.into_inner();
    match c.catalog.get(&bp, &id).await {
        Ok(Some(v)) => HttpResponse::Ok().json(v),
        Ok(None) => HttpResponse::NotFound()
            .json(json!({"status": "error", "message": format!("no entity `{id}` of blueprint `{bp}`")})),
        Err(e) => HttpResponse::InternalServerError().json(json!({"status": "error", "message": e.to_string()})),
    }
}

#[cfg(test)]
mod tests {
    use super::CatalogAccess;

    #[test]
    fn the_catalog_is_open_on_loopback_only() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2", "::ffff:127.0.0.1"] {
            assert_eq!(CatalogAccess::for_host(host, None, false), CatalogAccess::Open, "{host}");
        }
        assert_eq!(CatalogAccess::for_host("0.0.0.0", None, false), CatalogAccess::Off);
        assert_eq!(CatalogAccess::for_host("10.0.0.5", Some("t"), false), CatalogAccess::Token("t".into()));
        assert_eq!(CatalogAccess::for_host("::", Some(""), false), CatalogAccess::Off);
        assert_eq!(CatalogAccess::for_host("127.0.0.1", Some("t"), true), CatalogAccess::Token("t".into()));
    }
}
