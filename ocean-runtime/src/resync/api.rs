//! The admin endpoints of resync, protected by `OCEAN__ADMIN__TOKEN`:
//!
//! - `POST /admin/resync` (optional `?kind=...`): starts a run, answered 202 with its id; while a run is in
//!   progress, answered 200 with the running one's id;
//! - `GET /admin/resync`: the current run and the last finished one, per kind.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::Resyncer;

struct State {
    token: Option<String>,
    resyncer: Arc<Resyncer>,
}

type Rt = web::Data<State>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig, prefix: &str, token: Option<String>, resyncer: Arc<Resyncer>) {
    cfg.service(
        web::resource(format!("{prefix}/admin/resync"))
            .app_data(web::Data::new(State { token, resyncer }))
            .route(web::get().to(show))
            .route(web::post().to(start)),
    );
}

#[derive(serde::Deserialize)]
struct Query {
    kind: Option<String>,
}

async fn start(req: HttpRequest, rt: Rt, query: web::Query<Query>) -> HttpResponse {
    if let Some(r) = crate::dlq::refuse_admin(&req, rt.token.as_deref()) {
        return r;
    }
    match rt.resyncer.start("request", query.kind.as_deref().filter(|k| !k.is_empty())) {
        Ok((id, true)) => HttpResponse::Accepted().json(json!({"status": "started", "id": id})),
        Ok((id, false)) => HttpResponse::Ok().json(json!({"status": "running", "id": id})),
        Err(message) => HttpResponse::BadRequest().json(json!({"status": "error", "message": message})),
    }
}

async fn show(req: HttpRequest, rt: Rt) -> HttpResponse {
    if let Some(r) = crate::dlq::refuse_admin(&req, rt.token.as_deref()) {
        return r;
    }
    let (current, last) = rt.resyncer.reports();
    HttpResponse::Ok().json(json!({"current": current, "last": last}))
}
