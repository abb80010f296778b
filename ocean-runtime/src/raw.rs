//! `register_raw` and `unregister_raw`: raw objects through the same mapping and sink as processors,
//! for legacy routes.
//!
//! The integration they apply to is the one running the current task: a legacy route, a start hook or a
//! processor. No process-wide state is kept, so two integrations in one process never mix.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::runtime::SharedMapping;
use crate::sink::Sink;

/// What `register_raw` needs of the running integration.
pub(crate) struct RawApi {
    pub(crate) context: crate::Context,
    pub(crate) mapping: Arc<SharedMapping>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) evaluator: Arc<crate::mapping::evaluator::Evaluator>,
    /// What live writes a resync must leave alone.
    pub(crate) marks: Arc<crate::resync::LiveMarks>,
}

tokio::task_local! {
    static CURRENT: Arc<RawApi>;
}

/// Runs `fut` with `api` as the integration of `register_raw`, `unregister_raw` and `context`.
pub(crate) async fn scope<F: std::future::Future>(api: Arc<RawApi>, fut: F) -> F::Output {
    CURRENT.scope(api, fut).await
}

fn current() -> Result<Arc<RawApi>> {
    CURRENT.try_with(Arc::clone).map_err(|_| {
        Error::other(
            "no running integration in this task: call it from a legacy route, a start hook or a processor (a task spawned from them does not inherit it)",
        )
    })
}

pub(crate) async fn scope_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> std::result::Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let api = req.app_data::<actix_web::web::Data<Arc<RawApi>>>().map(|d| d.get_ref().clone());
    match api {
        Some(api) => CURRENT.scope(api, next.call(req)).await,
        None => next.call(req).await,
    }
}

async fn apply(kind: &str, updated: Vec<Value>, deleted: Vec<Value>) -> Result<(usize, usize)> {
    let api = current()?;
    let mapping = api.mapping.get();
    if mapping.resources_of(kind).next().is_none() {
        let known: Vec<&str> = mapping.config().resources.iter().map(|r| r.kind.as_str()).collect();
        return Err(Error::Mapping(format!("kind `{kind}` is not in the mapping (its kinds: {})", known.join(", "))));
    }
    let owned_kind = kind.to_owned();
    let changes = api
        .evaluator
        .run(move || mapping.map_items(&owned_kind, &updated, &deleted))
        .await
        .map_err(|panic| Error::Mapping(format!("mapping panicked: {panic}")))?;
    if !changes.failures.is_empty() {
        let shown: Vec<String> = changes.failures.iter().take(5).map(ToString::to_string).collect();
        tracing::warn!(kind, failures = changes.failures.len(), "items not mapped: {}", shown.join("; "));
    }
    if !changes.is_empty() {
        api.marks.note_live(&changes).await;
        api.sink.apply(&changes).await.map_err(|e| Error::Storage(e.to_string()))?;
    }
    Ok((changes.upserts.len(), changes.deletes.len()))
}

/// The context of the running integration (its config and base URL), from a legacy route, a start hook
/// or a processor.
pub fn context() -> Result<crate::Context> {
    current().map(|api| api.context.clone())
}

/// Maps raw objects of `kind` with every resource of that kind and upserts the entities that pass the
/// selector (deleting those that fail it, as the reference does). Returns the number of upserts.
///
/// Call it from a legacy route (`#[ocean::route]`), a start hook or a processor. A kind that the mapping
/// does not have is an error naming the kinds it has.
pub async fn register_raw(kind: &str, items: Vec<Value>) -> Result<usize> {
    apply(kind, items, Vec::new()).await.map(|(u, _)| u)
}

/// Maps raw objects of `kind` and deletes their entities. Returns the number of deletes; a kind that the
/// mapping does not have is an error.
pub async fn unregister_raw(kind: &str, items: Vec<Value>) -> Result<usize> {
    apply(kind, Vec::new(), items).await.map(|(_, d)| d)
}
