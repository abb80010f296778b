//! Health, metrics and the local catalog's read API.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::metrics as m;
use crate::runtime::Runtime;

type Rt = web::Data<Arc<Runtime>>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig, prefix: &str, catalog: bool) {
    cfg.route(&format!("{prefix}/health/live"), web::get().to(live))
        .route(&format!("{prefix}/health/ready"), web::get().to(ready))
        .route(&format!("{prefix}/metrics"), web::get().to(metrics_text));
    if catalog {
        cfg.route(&format!("{prefix}/catalog/blueprints/{{blueprint}}/entities"), web::get().to(list))
            .route(&format!("{prefix}/catalog/blueprints/{{blueprint}}/entities/{{identifier}}"), web::get().to(get));
    }
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "healthy", "check": "live"}))
}

async fn ready(rt: Rt) -> HttpResponse {
    let queue = rt.queue.can_accept() && !rt.is_draining();
    let sink = rt.sink.ready();
    let body = json!({"status": if queue && sink { "healthy" } else { "unhealthy" }, "check": "ready", "queue": queue, "sink": sink});
    if queue && sink { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics_text(rt: Rt) -> HttpResponse {
    for (path, depth) in rt.queue.depth_by_path() {
        metrics::gauge!(m::QUEUE_DEPTH, "path" => path).set(depth as f64);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(rt.metrics.render())
}

async fn list(rt: Rt, path: web::Path<String>) -> HttpResponse {
    let Some(c) = &rt.catalog else { return HttpResponse::NotFound().finish() };
    match c.list(&path) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => HttpResponse::InternalServerError().json(json!({"status": "error", "message": e.to_string()})),
    }
}

async fn get(rt: Rt, path: web::Path<(String, String)>) -> HttpResponse {
    let Some(c) = &rt.catalog else { return HttpResponse::NotFound().finish() };
    let (bp, id) = path.into_inner();
    match c.get(&bp, &id) {
        Ok(Some(v)) => HttpResponse::Ok().json(v),
        Ok(None) => HttpResponse::NotFound()
            .json(json!({"status": "error", "message": format!("no entity `{id}` of blueprint `{bp}`")})),
        Err(e) => HttpResponse::InternalServerError().json(json!({"status": "error", "message": e.to_string()})),
    }
}
