//! Sinks: where mapped entities land. The embedded local catalog by default, Port's API in production.

mod local;
mod port;

pub use local::LocalCatalog;
pub use port::PortSink;

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
