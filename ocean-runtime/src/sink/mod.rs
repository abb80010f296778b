//! Sinks: where mapped entities land. The embedded local catalog by default, Port's API in production.

mod local;
mod merge;
mod port;
mod shared;

pub use local::LocalCatalog;
pub(crate) use local::Queued;
pub use port::PortSink;
pub(crate) use shared::SharedCatalog;

use crate::mapping::Changes;
use crate::processor::BoxFuture;

/// Why applying changes failed. The event stays queued and is retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Applies one event's upserts and deletes.
pub trait Sink: Send + Sync + 'static {
    /// Applies the changes atomically where the sink allows it.
    fn apply<'a>(&'a self, changes: &'a Changes) -> BoxFuture<'a, Result<(), SinkError>>;
    /// The identifiers of the entities of `blueprint` that this integration owns, for the prune step of a
    /// resync. A sink that cannot list them keeps every entity (the default).
    fn owned<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, Result<Vec<String>, SinkError>> {
        let _ = blueprint;
        Box::pin(async { Err(SinkError("this sink cannot list its entities".into())) })
    }
    /// Whether the sink can take writes now.
    fn ready(&self) -> bool {
        true
    }
}

/// The catalog read API's source (`/catalog/...`): the embedded local catalog, or the one replicas share
/// in PostgreSQL.
pub(crate) trait CatalogRead: Send + Sync + 'static {
    /// Every entity of a blueprint, ordered by identifier.
    fn list<'a>(&'a self, blueprint: &'a str) -> BoxFuture<'a, Result<Vec<serde_json::Value>, SinkError>>;
    /// One entity, as Port shows it.
    fn get<'a>(
        &'a self,
        blueprint: &'a str,
        identifier: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, SinkError>>;
}
