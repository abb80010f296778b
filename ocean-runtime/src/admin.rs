//! Health, metrics and the local catalog's read API.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::runtime::Lifecycle;
use crate::sink::{LocalCatalog, Sink};

/// What health and metrics read.
pub(crate) struct Health {
    pub(crate) queue: Arc<Queue>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
}

type State = web::Data<Health>;
type Catalog = web::Data<LocalCatalog>;

pub(crate) fn configure(
    cfg: &mut web::ServiceConfig,
    prefix: &str,
    health: &web::Data<Health>,
    catalog: Option<&LocalCatalog>,
) {
    cfg.service(web::resource(format!("{prefix}/health/live")).route(web::get().to(live)))
        .service(web::resource(format!("{prefix}/health/ready")).app_data(health.clone()).route(web::get().to(ready)))
        .service(
            web::resource(format!("{prefix}/metrics")).app_data(health.clone()).route(web::get().to(metrics_text)),
        );
    if let Some(c) = catalog {
        cfg.service(
            web::scope(&format!("{prefix}/catalog/blueprints/{{blueprint}}"))
                .app_data(web::Data::new(c.clone()))
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
    let body = json!({"status": if queue && sink { "healthy" } else { "unhealthy" }, "check": "ready", "queue": queue, "sink": sink});
    if queue && sink { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics_text(rt: State) -> HttpResponse {
    for (path, depth) in rt.queue.depth_by_path() {
        rt.metrics.queue_depth(path).set(depth as f64);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(rt.metrics.render())
}

async fn list(c: Catalog, path: web::Path<String>) -> HttpResponse {
    match c.list(&path) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => HttpResponse::InternalServerError().json(json!({"status": "error", "message": e.to_string()})),
    }
}

async fn get(c: Catalog, path: web::Path<(String, String)>) -> HttpResponse {
    let (bp, id) = path.into_inner();
    match c.get(&bp, &id) {
        Ok(Some(v)) => HttpResponse::Ok().json(v),
        Ok(None) => HttpResponse::NotFound()
            .json(json!({"status": "error", "message": format!("no entity `{id}` of blueprint `{bp}`")})),
        Err(e) => HttpResponse::InternalServerError().json(json!({"status": "error", "message": e.to_string()})),
    }
}
