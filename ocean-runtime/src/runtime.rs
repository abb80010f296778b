//! The shared state of a running integration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::Verifier;
use crate::config::Settings;
use crate::mapping::{Mapping, Program};
use crate::processor::DynProcessor;
use crate::queue::Queue;
use crate::sink::{LocalCatalog, Sink};

/// A processor as the runtime runs it.
pub(crate) struct Running {
    /// `path#name`: the processor's identity in the durable queue and the dead letters.
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) processor: Arc<dyn DynProcessor>,
    pub(crate) verifiers: Vec<Verifier>,
    pub(crate) custom_auth: bool,
    pub(crate) unauthenticated: bool,
    pub(crate) group_by: Option<Program>,
    pub(crate) dedup: crate::delivery::DeliveryId,
}

/// Everything the intake, the workers and the admin endpoints share.
pub(crate) struct Runtime {
    pub(crate) settings: Settings,
    pub(crate) context: crate::Context,
    pub(crate) processors: Vec<Running>,
    /// Processor indices per registered path, in registration order.
    pub(crate) paths: Vec<(String, Vec<usize>)>,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) mapping: RwLock<Arc<Mapping>>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) catalog: Option<LocalCatalog>,
    pub(crate) draining: AtomicBool,
    /// Cancelled when in-flight work must be abandoned.
    pub(crate) hard_stop: CancellationToken,
    pub(crate) metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl Runtime {
    pub(crate) fn mapping(&self) -> Arc<Mapping> {
        self.mapping.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub(crate) fn processing_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.settings.max_event_processing_seconds.max(0.001))
    }
}
