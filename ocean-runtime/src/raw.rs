//! `register_raw` and `unregister_raw`: raw objects through the same mapping and sink as processors,
//! for legacy routes.

use std::sync::{Arc, Mutex, Weak};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::runtime::Runtime;

tokio::task_local! {
    static CURRENT: Arc<Runtime>;
}

static LAST: Mutex<Option<Weak<Runtime>>> = Mutex::new(None);

pub(crate) fn set_current(rt: &Arc<Runtime>) {
    *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(rt));
}

fn current() -> Result<Arc<Runtime>> {
    if let Ok(rt) = CURRENT.try_with(Arc::clone) {
        return Ok(rt);
    }
    LAST.lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(Weak::upgrade)
        .ok_or_else(|| Error::other("no running integration"))
}

pub(crate) async fn scope_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> std::result::Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let rt = req.app_data::<actix_web::web::Data<Arc<Runtime>>>().map(|d| d.get_ref().clone());
    match rt {
        Some(rt) => CURRENT.scope(rt, next.call(req)).await,
        None => next.call(req).await,
    }
}

async fn apply(kind: &str, updated: &[Value], deleted: &[Value]) -> Result<(usize, usize)> {
    let rt = current()?;
    let changes = rt.mapping().map_items(kind, updated, deleted);
    if !changes.is_empty() {
        rt.sink.apply(&changes).await.map_err(|e| Error::Storage(e.to_string()))?;
    }
    Ok((changes.upserts.len(), changes.deletes.len()))
}

/// The context of the running integration (its config and base URL), from a legacy route or anywhere
/// inside a running integration.
pub fn context() -> Result<crate::Context> {
    current().map(|rt| rt.context.clone())
}

/// Maps raw objects of `kind` with every resource of that kind and upserts the entities that pass the
/// selector (deleting those that fail it, as the reference does). Returns the number of upserts.
///
/// Call it from a legacy route (`#[ocean::route]`) or anywhere inside a running integration.
pub async fn register_raw(kind: &str, items: Vec<Value>) -> Result<usize> {
    apply(kind, &items, &[]).await.map(|(u, _)| u)
}

/// Maps raw objects of `kind` and deletes their entities. Returns the number of deletes.
pub async fn unregister_raw(kind: &str, items: Vec<Value>) -> Result<usize> {
    apply(kind, &[], &items).await.map(|(_, d)| d)
}
