//! The legacy direct handler, as Ocean's `ocean.router` routes: a plain actix-web handler run inside the
//! request, which calls `ocean::register_raw` or `ocean::unregister_raw`. The runtime verifies the Gitea
//! signature over the raw body before the handler runs (`auth = ...`, fail-closed as for processors).
//! Prefer processors: they verify before acknowledging, queue, order and retry.
//!
//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=... cargo run -p example-direct-route`.

use ocean::actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

/// `POST /integration/gitea`: a Gitea repository event, verified, then applied before the answer.
#[ocean::route(post, "/gitea", auth = hmac(header = "x-gitea-signature", secret = "webhook_secret"))]
async fn gitea(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(json!({"status": "error", "message": "body is not JSON"}));
    };
    let repository = payload["repository"].clone();
    let deleted =
        req.headers().get("x-gitea-event").is_some_and(|e| e == "repository") && payload["action"] == "deleted";
    let outcome = if deleted {
        ocean::unregister_raw("repository", vec![repository]).await
    } else {
        ocean::register_raw("repository", vec![repository]).await
    };
    match outcome {
        Ok(n) => HttpResponse::Ok().json(json!({"status": "ok", "entities": n})),
        Err(e) => HttpResponse::InternalServerError().json(json!({"status": "error", "message": e.to_string()})),
    }
}

/// The integration: the route above, its spec and its default mapping.
pub fn integration() -> ocean::Integration {
    ocean::integration!()
}
