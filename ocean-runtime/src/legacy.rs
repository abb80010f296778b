//! Legacy routes: a route that names a verifier is verified over its raw body before its handler runs,
//! with the body limits of processor paths, and its handler then reads the same bytes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use tracing::warn;

use crate::auth::Verifier;
use crate::context::Context;
use crate::error::Result;
use crate::event::Headers;
use crate::metrics::Metrics;
use crate::registry::Route;

/// What checks the requests of one route before its handler.
pub(crate) struct RouteGuard {
    name: String,
    /// `None`: the handler authenticates (or the route is `insecure` without a secret).
    verifier: Option<Verifier>,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    body_timeout: Duration,
}

/// Builds the guard of each route with the integration's secrets; a verifier without a secret stops
/// start-up unless the route is `insecure`, as for processors.
pub(crate) fn guards(
    routes: &[Route],
    ctx: &Context,
    metrics: &Arc<Metrics>,
    max_body_bytes: usize,
    body_timeout: Duration,
) -> Result<Vec<Arc<RouteGuard>>> {
    routes
        .iter()
        .map(|r| {
            let verifier = match &r.auth {
                None => {
                    warn!(route = %r.name, "route has no `auth`: its handler must authenticate requests itself");
                    None
                }
                Some(a) => crate::wiring::verifier("route", &r.name, a, r.insecure, ctx)?,
            };
            Ok(Arc::new(RouteGuard {
                name: r.name.clone(),
                verifier,
                metrics: metrics.clone(),
                max_body_bytes,
                body_timeout,
            }))
        })
        .collect()
}

/// A payload that yields `body` once: what the handler reads after verification.
fn replay(body: Bytes) -> actix_web::dev::Payload {
    type Stream =
        std::pin::Pin<Box<dyn futures_util::Stream<Item = std::result::Result<Bytes, actix_web::error::PayloadError>>>>;
    let stream: Stream = Box::pin(futures_util::stream::once(async move { Ok(body) }));
    actix_web::dev::Payload::from(stream)
}

/// Middleware of a route: reads the body within the limits, verifies it, and hands the same bytes to
/// the handler; a request the verifier does not accept is answered 401 and never reaches the handler.
pub(crate) async fn verify(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> std::result::Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let guard = req.app_data::<actix_web::web::Data<RouteGuard>>().map(|g| g.clone().into_inner());
    let Some((guard, verifier)) = guard.and_then(|g| g.verifier.clone().map(|v| (g, v))) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let mut payload = req.take_payload();
    let body =
        match crate::intake::read_body(req.headers(), &mut payload, guard.max_body_bytes, guard.body_timeout).await {
            Ok(body) => body,
            Err(why) => {
                let answer = crate::intake::refuse_and_close(&guard.metrics, why, payload);
                return Ok(req.into_response(answer));
            }
        };
    if let Err(e) = verifier.verify(&body, &Headers::from_http(req.headers()), SystemTime::now()) {
        warn!(route = %guard.name, error = %e, "authentication failed");
        let answer = crate::intake::reject(&guard.metrics, "unauthenticated", StatusCode::UNAUTHORIZED, e.to_string());
        return Ok(req.into_response(answer));
    }
    req.set_payload(replay(body));
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}
