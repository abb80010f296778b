//! Resync: the integration lists what the third party holds, kind by kind, and the catalog is made to
//! match it: every object is mapped and upserted, and the entities no longer listed are deleted.
//!
//! - [`OnResync`] (what `#[ocean::on_resync(kind = "...")]` registers): a function that pushes batches of
//!   raw objects into [`Batches`], as an async generator yields them;
//! - `run`: one run at a time, started at start-up, every `OCEAN__SCHEDULED_RESYNC_INTERVAL` minutes and
//!   on request (`POST /admin/resync`, `ocean resync`);
//! - `kind`: one kind's functions, their batches mapped and applied while the next batch is fetched;
//! - `prune`: the entities not listed, deleted once every kind writing their blueprint completed, unless
//!   their share exceeds the config's `entityDeletionThreshold`;
//! - `marks`: how live events win their races with a resync;
//! - `api`: the admin endpoints.

pub(crate) mod api;
mod kind;
mod marks;
mod prune;
mod run;

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, ProcessorError, Result};
use crate::mapping::ResourceConfig;
use crate::processor::BoxFuture;

pub(crate) use marks::LiveMarks;
pub(crate) use run::Resyncer;

type ResyncFn = Arc<dyn for<'a> Fn(Context, &'a ResourceConfig, Batches) -> BoxFuture<'a, Result<()>> + Send + Sync>;

/// A resync function of one kind: it lists the third party's objects of that kind and pushes them, batch by
/// batch, into [`Batches`]. Several may serve one kind; each runs once per resource of that kind in the
/// mapping, with the resource's config (its selector holds the integration's own keys).
///
/// This is what `#[ocean::on_resync(kind = "...")]` registers; it can be used directly:
///
/// ```
/// use ocean::{Batches, Context, OnResync, ResourceConfig};
///
/// let repositories = OnResync::new("repository", |_ctx: Context, _resource: ResourceConfig, out: Batches| async move {
///     for page in 1..=2 {
///         out.send(vec![serde_json::json!({"name": format!("repo-{page}")})]).await?;
///     }
///     Ok::<(), ocean::ProcessorError>(())
/// });
/// let integration = ocean::Integration::new("example").on_resync(repositories);
/// ```
#[derive(Clone)]
pub struct OnResync {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) run: ResyncFn,
}

impl std::fmt::Debug for OnResync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnResync").field("kind", &self.kind).field("name", &self.name).finish()
    }
}

impl OnResync {
    /// A resync function of `kind` from an async closure that receives the context, the resource's
    /// config and the batch sender. Returning an error fails the kind: nothing of it is deleted.
    pub fn new<F, Fut, E>(kind: &str, f: F) -> Self
    where
        F: Fn(Context, ResourceConfig, Batches) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let run: ResyncFn = Arc::new(move |ctx, resource, out| {
            let fut = f(ctx, resource.clone(), out);
            Box::pin(async move { fut.await.map_err(Error::other) })
        });
        Self { kind: kind.to_owned(), name: format!("resync {kind}"), run }
    }

    /// What the macro registers: a function that borrows the resource's config.
    #[doc(hidden)]
    pub fn from_fn(
        kind: &str,
        name: &str,
        f: for<'a> fn(Context, &'a ResourceConfig, Batches) -> BoxFuture<'a, Result<()>>,
    ) -> Self {
        Self { kind: kind.to_owned(), name: name.to_owned(), run: Arc::new(f) }
    }

    /// The function's name in logs (default: `resync <kind>`).
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The kind it lists.
    pub fn kind(&self) -> &str {
        &self.kind
    }
}

/// Where a resync function pushes its batches of raw objects. Each batch is mapped and applied while the
/// function fetches the next one; [`Batches::send`] waits while two batches are pending, so a fast
/// lister never runs ahead of the catalog.
#[derive(Clone, Debug)]
pub struct Batches {
    tx: tokio::sync::mpsc::Sender<Vec<Value>>,
    skipped: Arc<Mutex<Option<String>>>,
}

/// The run that a resync function feeds was cancelled (shutdown) or failed (the catalog could not take
/// its entities): stop listing. It converts into [`ProcessorError`], so `?` returns it.
#[derive(Debug, thiserror::Error)]
#[error("the resync was stopped: shutting down, or its entities could not be applied")]
pub struct ResyncStopped;

impl From<ResyncStopped> for ProcessorError {
    fn from(e: ResyncStopped) -> Self {
        ProcessorError::fatal(e)
    }
}

impl Batches {
    fn new(capacity: usize) -> (Self, tokio::sync::mpsc::Receiver<Vec<Value>>) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        (Self { tx, skipped: Arc::new(Mutex::new(None)) }, rx)
    }

    /// Hands over one batch of raw objects (an empty batch is allowed and ignored).
    pub async fn send(&self, items: Vec<Value>) -> std::result::Result<(), ResyncStopped> {
        self.tx.send(items).await.map_err(|_| ResyncStopped)
    }

    /// Says that this function cannot list its kind now (for example, no API token is configured): the
    /// kind is reported as skipped and nothing of it is deleted, whatever was sent before.
    pub fn skip(&self, reason: impl Into<String>) {
        *self.skipped.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.into());
    }
}
