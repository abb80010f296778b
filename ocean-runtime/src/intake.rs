//! Intake: verify before acknowledging. The event is answered 202 only once it is in the queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;
use tracing::{debug, warn};

use crate::error::AuthError;
use crate::event::{Headers, WebhookEvent};
use crate::mapping::Program;
use crate::metrics::Metrics;
use crate::payload::Payload;
use crate::queue::{Pushed, Queue, QueueError, QueuedEvent};
use crate::runtime::Lifecycle;
use crate::wiring::{Processors, Running};

/// What the intake of every processor path uses.
pub(crate) struct Intake {
    pub(crate) processors: Arc<Processors>,
    pub(crate) queue: Arc<Queue>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) max_body_bytes: usize,
    pub(crate) body_timeout: std::time::Duration,
}

/// The processor path a route serves (index into `Processors::paths`).
pub(crate) struct PathIndex(pub(crate) usize);

fn reply(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// Counts a refusal and gives the body of its answer.
fn refusal(m: &Metrics, reason: &'static str, message: String) -> serde_json::Value {
    m.rejected(reason).increment(1);
    json!({"status": "error", "reason": reason, "message": message})
}

pub(crate) fn reject(m: &Metrics, reason: &'static str, status: StatusCode, message: String) -> HttpResponse {
    reply(status, refusal(m, reason, message))
}

/// Why a body was not read to its end.
pub(crate) struct Unread {
    reason: &'static str,
    status: StatusCode,
    message: String,
}

/// The answer's body, holding the request's unread body until the answer is written. actix-web drains
/// (reads and discards) a chunked body whose reader is gone, to keep the connection alive; with the reader
/// alive when the answer ends, it closes the connection instead: a client sending too much or too slowly
/// is not read any further.
struct ClosingBody<P> {
    json: Option<Bytes>,
    _unread: P,
}

impl<P: Unpin> actix_web::body::MessageBody for ClosingBody<P> {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.json.as_ref().map_or(0, |b| b.len() as u64))
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        std::task::Poll::Ready(self.json.take().map(Ok))
    }
}

/// The answer to a body not read to its end; the connection is closed after it.
pub(crate) fn refuse_and_close<P: Unpin + 'static>(m: &Metrics, why: Unread, unread: P) -> HttpResponse {
    let json = refusal(m, why.reason, why.message).to_string();
    HttpResponse::build(why.status)
        .content_type("application/json")
        .force_close()
        .body(ClosingBody { json: Some(Bytes::from(json)), _unread: unread })
}

/// Reads the body within the size limit and the time limit. A body that passes the size limit or does not
/// arrive in time is answered at once, and its connection closed, so that a client cannot keep the server
/// reading (an endless chunked body) or keep a connection open by trickling bytes.
pub(crate) async fn read_body<P>(
    headers: &actix_web::http::header::HeaderMap,
    payload: &mut P,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, Unread>
where
    P: futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let too_large = || Unread {
        reason: "too_large",
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("body larger than {limit} bytes"),
    };
    let declared = headers
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let read = async {
        let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| Unread {
                reason: "read",
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(body) => body,
        Err(_) => Err(Unread {
            reason: "body_timeout",
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!("body not received within {} s (OCEAN__HTTP__BODY_TIMEOUT_SECONDS)", timeout.as_secs()),
        }),
    }
}

/// The outcome of a processor's verifiers, computed once per verifier set and request.
fn verify(
    outcomes: &mut [Option<Result<(), AuthError>>],
    p: &Running,
    body: &[u8],
    headers: &Headers,
    now: SystemTime,
) -> Result<(), AuthError> {
    outcomes[p.verifier_set]
        .get_or_insert_with(|| p.verifiers.iter().try_for_each(|v| v.verify(body, headers, now)))
        .clone()
}

/// The value a `group_by` program gives for the event: a simple path is read without parsing the body
/// unless a processor parsed it already.
fn group_value(prog: &Program, event: &WebhookEvent) -> Option<serde_json::Value> {
    match prog.simple_path() {
        Some(path) => event.payload.at_path(path),
        None => prog.first(&event.payload).ok().flatten(),
    }
}

pub(crate) async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    intake: web::Data<Intake>,
    index: web::Data<PathIndex>,
) -> HttpResponse {
    let rt = intake.get_ref();
    let m = &*rt.metrics;
    m.received.increment(1);
    // Held until the request is answered: shutdown waits for what it acknowledges.
    let Some(_admitted) = rt.lifecycle.admit() else {
        let mut r = reject(m, "shutting_down", StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
        r.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("5"));
        return r;
    };
    let Some(served) = rt.processors.paths.get(index.0) else {
        return reply(StatusCode::NOT_FOUND, json!({"status": "error", "message": "unknown path"}));
    };
    let mut payload = payload;
    let body = match read_body(req.headers(), &mut payload, rt.max_body_bytes, rt.body_timeout).await {
        Ok(b) => b,
        Err(why) => return refuse_and_close(m, why, payload),
    };
    let (path, processors) = (&served.path, &served.processors);
    let headers = Headers::from_http(req.headers());
    let now = SystemTime::now();
    // Each set of verifiers runs at most once per request, however many processors share it.
    let mut outcomes: Vec<Option<Result<(), AuthError>>> = vec![None; rt.processors.verifier_sets];
    // Verified over the raw bytes before anything else: when every processor of the path verifies with
    // built-in verifiers, a request none of them accepts is refused without its body being parsed, so
    // that an unauthenticated request costs little more than its own size.
    if served.verify_first {
        let mut first_error = None;
        let passed =
            processors.iter().any(|&pi| match verify(&mut outcomes, &rt.processors.list[pi], &body, &headers, now) {
                Ok(()) => true,
                Err(e) => {
                    first_error.get_or_insert(e);
                    false
                }
            });
        if !passed {
            let e = first_error.map_or_else(|| "no verifier accepted the request".to_owned(), |e| e.to_string());
            warn!(path = %path, error = %e, "authentication failed");
            return reject(m, "unauthenticated", StatusCode::UNAUTHORIZED, e);
        }
    }
    let mut event = WebhookEvent::new(path, body.clone(), Payload::lazy(body), headers);
    event.path_params = req.match_info().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<BTreeMap<_, _>>();

    let mut accepted = Vec::new();
    for &pi in processors {
        if rt.processors.list[pi].processor.should_process_event(&event).await {
            accepted.push(pi);
        }
    }
    // The body is checked without building the document (it is parsed only if a processor reads it),
    // in the pass that reads the group key when the first grouping processor groups by a simple path.
    let first_group = accepted.iter().find_map(|&pi| rt.processors.list[pi].group_by.as_ref().map(|g| (pi, g)));
    let mut scanned = None;
    let checked = match first_group.and_then(|(pi, g)| Some((pi, g.simple_path()?))) {
        Some((pi, path)) if !event.payload.is_parsed() => crate::scan::at_path(&event.body, path).map(|v| {
            scanned = Some((pi, v));
        }),
        _ => crate::scan::validate(&event.body),
    };
    if let Err(e) = checked {
        return reject(m, "invalid_json", StatusCode::BAD_REQUEST, format!("body is not JSON: {e}"));
    }
    event.payload.set_text_checked();
    if accepted.is_empty() {
        m.ignored.increment(1);
        let reason = "no processor of this path accepts the event (its `should_process_event` answered false)";
        return reply(StatusCode::ACCEPTED, json!({"status": "ignored", "reason": reason, "trace_id": event.trace_id}));
    }
    for &pi in &accepted {
        let p = &rt.processors.list[pi];
        if let Err(e) = verify(&mut outcomes, p, &event.body, &event.headers, now) {
            warn!(processor = %p.name, trace_id = %event.trace_id, error = %e, "authentication failed");
            return reject(m, "unauthenticated", StatusCode::UNAUTHORIZED, e.to_string());
        }
        if p.custom_auth {
            if let Err(e) = p.processor.authenticate(&event).await {
                warn!(processor = %p.name, trace_id = %event.trace_id, error = %e, "authentication failed");
                return reject(m, "unauthenticated", StatusCode::UNAUTHORIZED, e.to_string());
            }
        } else if p.verifiers.is_empty() && !p.unauthenticated {
            return reject(m, "unauthenticated", StatusCode::UNAUTHORIZED, "no authentication configured".into());
        }
        if !p.processor.validate_payload(&event).await {
            return reject(m, "invalid_payload", StatusCode::BAD_REQUEST, format!("payload rejected by {}", p.name));
        }
    }
    event.group_key = accepted.iter().find_map(|&pi| {
        let p = &rt.processors.list[pi];
        match &p.group_by {
            Some(prog) => match scanned.take_if(|(i, _)| *i == pi) {
                Some((_, v)) => v,
                None => group_value(prog, &event),
            }
            .filter(|v| !v.is_null())
            .map(|v| match v {
                serde_json::Value::String(s) => format!("{}:{s}", p.group_space),
                other => format!("{}:{other}", p.group_space),
            }),
            None => p.processor.group_key(&event),
        }
    });
    let delivery =
        accepted.iter().find_map(|&pi| rt.processors.list[pi].dedup.extract(&event)).map(|id| format!("{path}:{id}"));
    let trace_id = event.trace_id.clone();
    // The queue decides whether the parsed payload stays in memory until a worker takes the event.
    match rt.queue.push(QueuedEvent::new(event, accepted), delivery).await {
        Ok(Pushed::Duplicate) => {
            m.duplicates.increment(1);
            debug!(trace_id = %trace_id, path = %path, "duplicate delivery; not processed again");
            reply(StatusCode::ACCEPTED, json!({"status": "duplicate", "trace_id": trace_id}))
        }
        Ok(Pushed::Queued) => {
            m.queued.increment(1);
            debug!(trace_id = %trace_id, path = %path, "queued");
            reply(StatusCode::ACCEPTED, json!({"status": "accepted", "trace_id": trace_id}))
        }
        Err(e) => {
            let mut r = match e {
                QueueError::Full => reject(m, "queue_full", StatusCode::SERVICE_UNAVAILABLE, "queue full".into()),
                e => {
                    // Said once per outage by the queue's backend; counted in `ocean_events_rejected_total`.
                    debug!(trace_id = %trace_id, error = %e, "event not queued; the sender is asked to retry");
                    reject(m, "queue", StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                }
            };
            // The sender retries: the event was not acknowledged.
            r.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("1"));
            r
        }
    }
}
