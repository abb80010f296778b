//! The state the workers share, and the life cycle of one running integration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::mapping::Mapping;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::sink::Sink;
use crate::wiring::Processors;

/// Draining (intake answers 503) and the hard stop (in-flight work is abandoned).
#[derive(Default)]
pub(crate) struct Lifecycle {
    draining: AtomicBool,
    /// Cancelled when in-flight work must be abandoned.
    pub(crate) hard_stop: CancellationToken,
}

impl Lifecycle {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

/// The current mapping, replaced when Port's copy changes; readers keep the version they took.
pub(crate) struct SharedMapping(RwLock<Arc<Mapping>>);

impl SharedMapping {
    pub(crate) fn new(m: Mapping) -> Self {
        Self(RwLock::new(Arc::new(m)))
    }

    pub(crate) fn get(&self) -> Arc<Mapping> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set(&self, m: Mapping) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(m);
    }
}

/// Everything a worker uses.
pub(crate) struct Runtime {
    pub(crate) processors: Arc<Processors>,
    pub(crate) queue: Arc<Queue>,
    pub(crate) mapping: Arc<SharedMapping>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    /// Time allowed per (processor, resource), retries included.
    pub(crate) processing_timeout: Duration,
    /// Which workers are busy since when.
    pub(crate) pool: Arc<crate::pool::Pool>,
}

impl Runtime {
    pub(crate) fn mapping(&self) -> Arc<Mapping> {
        self.mapping.get()
    }
}
