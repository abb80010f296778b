//! The legacy direct handler, as Ocean's `ocean.router` routes: a plain actix-web handler run inside the
//! request, which verifies the Gitea signature itself and calls `ocean::register_raw` or
//! `ocean::unregister_raw`. Prefer processors: they verify before acknowledging, queue, order and retry.
//!
//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=... cargo run -p example-direct-route`.

use ocean::actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

/// `POST /integration/gitea`: a Gitea repository event, applied before the answer.
#[ocean::route(post, "/gitea")]
async fn gitea(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let secret = ocean::context().ok().and_then(|c| c.get_str("webhook_secret").map(str::to_owned));
    let verified = secret.is_some_and(|s| {
        let headers = ocean::Headers::from_pairs(
            req.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?.to_owned()))),
        );
        ocean::auth::hmac()
            .header("x-gitea-signature")
            .secret_value(&s)
            .build_verifier(None)
            .ok()
            .flatten()
            .is_some_and(|v| v.verify(&body, &headers, std::time::SystemTime::now()).is_ok())
    });
    if !verified {
        return HttpResponse::Unauthorized().json(json!({"status": "error", "message": "invalid signature"}));
    }
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
