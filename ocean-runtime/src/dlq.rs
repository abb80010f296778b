//! The admin API of dead letters, under `{prefix}/admin/dlq`, protected by `OCEAN__ADMIN__TOKEN`.
//!
//! - `GET /admin/dlq`: every dead letter;
//! - `GET /admin/dlq/{id}`: one;
//! - `POST /admin/dlq/{id}/replay`: re-enqueue it at the tail of its group, for the processors that failed;
//! - `DELETE /admin/dlq/{id}`: drop it.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::event::{Headers, WebhookEvent};
use crate::queue::{DeadLetter, Queue, QueuedEvent};
use crate::wiring::Processors;

/// What the dead-letter API uses.
pub(crate) struct DeadLetters {
    pub(crate) token: Option<String>,
    pub(crate) queue: Arc<Queue>,
    pub(crate) processors: Arc<Processors>,
}

type Rt = web::Data<DeadLetters>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig, prefix: &str, state: DeadLetters) {
    cfg.service(
        web::scope(&format!("{prefix}/admin/dlq"))
            .app_data(web::Data::new(state))
            .route("", web::get().to(list))
            .route("/{id}", web::get().to(show))
            .route("/{id}", web::delete().to(delete))
            .route("/{id}/replay", web::post().to(replay)),
    );
}

/// `None` when authorised; the refusal otherwise. Fails closed: no token configured, no admin API.
fn refuse(req: &HttpRequest, rt: &DeadLetters) -> Option<HttpResponse> {
    refuse_admin(req, rt.token.as_deref())
}

/// `None` when the request carries the admin token; fails closed: no token configured, no admin API.
pub(crate) fn refuse_admin(req: &HttpRequest, token: Option<&str>) -> Option<HttpResponse> {
    let Some(expected) = token.filter(|t| !t.is_empty()) else {
        return Some(
            HttpResponse::NotFound()
                .json(json!({"status": "error", "message": "admin API disabled: set OCEAN__ADMIN__TOKEN"})),
        );
    };
    refuse_without(req, expected)
}

/// `None` when the request carries `Authorization: Bearer <expected>` (compared in constant time).
pub(crate) fn refuse_without(req: &HttpRequest, expected: &str) -> Option<HttpResponse> {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if crate::auth::token_matches(expected.as_bytes(), given.as_bytes()) {
        None
    } else {
        Some(HttpResponse::Unauthorized().json(json!({"status": "error", "message": "invalid admin token"})))
    }
}

async fn list(req: HttpRequest, rt: Rt) -> HttpResponse {
    if let Some(r) = refuse(&req, &rt) {
        return r;
    }
    HttpResponse::Ok().json(rt.queue.dead_letters().await)
}

async fn show(req: HttpRequest, rt: Rt, id: web::Path<String>) -> HttpResponse {
    if let Some(r) = refuse(&req, &rt) {
        return r;
    }
    let Ok(id) = id.parse::<u64>() else { return no_such() };
    match rt.queue.dead_letters().await.into_iter().find(|d| d.id == id) {
        Some(d) => HttpResponse::Ok().json(d),
        None => no_such(),
    }
}

async fn delete(req: HttpRequest, rt: Rt, id: web::Path<String>) -> HttpResponse {
    if let Some(r) = refuse(&req, &rt) {
        return r;
    }
    let Ok(id) = id.parse::<u64>() else { return no_such() };
    if rt.queue.take_dead_letter(id).await.is_some() {
        HttpResponse::Ok().json(json!({"status": "deleted", "id": id}))
    } else {
        no_such()
    }
}

fn no_such() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"status": "error", "message": "no such dead letter"}))
}

fn to_queued(rt: &DeadLetters, d: &DeadLetter) -> QueuedEvent {
    let body = serde_json::to_vec(&d.payload).unwrap_or_default();
    let mut e = WebhookEvent::new(&d.path, body.into(), d.payload.clone(), Headers::from_pairs(d.headers.clone()));
    e.trace_id = d.trace_id.clone();
    e.received_at = UNIX_EPOCH + Duration::from_millis(d.received_at_ms);
    e.group_key = d.group_key.clone();
    e.path_params = d.path_params.clone();
    let processors = d.processors.iter().filter_map(|n| rt.processors.position(n)).collect();
    QueuedEvent { delivery: d.delivery.clone(), ..QueuedEvent::new(e, processors) }
}

async fn replay(req: HttpRequest, rt: Rt, id: web::Path<String>) -> HttpResponse {
    if let Some(r) = refuse(&req, &rt) {
        return r;
    }
    let Ok(id) = id.parse::<u64>() else { return no_such() };
    let Some(d) = rt.queue.take_dead_letter(id).await else {
        return no_such();
    };
    let item = to_queued(&rt, &d);
    if item.processors.is_empty() {
        rt.queue.dead_letter(&item, d.processors.clone(), d.error.clone(), d.attempts).await;
        return HttpResponse::Conflict().json(json!({"status": "error", "message": "its processors no longer exist"}));
    }
    match rt.queue.push(item.clone(), None).await {
        Ok(_) => HttpResponse::Accepted().json(json!({"status": "replayed", "trace_id": d.trace_id})),
        Err(e) => {
            rt.queue.dead_letter(&item, d.processors.clone(), d.error.clone(), d.attempts).await;
            HttpResponse::ServiceUnavailable().json(json!({"status": "error", "message": e.to_string()}))
        }
    }
}
