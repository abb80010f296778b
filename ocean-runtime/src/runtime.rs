//! The state the workers share, and the life cycle of one running integration.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// Intake requests admitted before draining began and not answered yet.
    admitted: AtomicUsize,
    /// Cancelled when in-flight work must be abandoned.
    pub(crate) hard_stop: CancellationToken,
    /// Cancelled when shutdown begins: background work (resync) stops at once.
    pub(crate) stopping: CancellationToken,
}

/// An intake request admitted by [`Lifecycle::admit`], counted until it is dropped (answered).
pub(crate) struct Admitted<'a>(&'a Lifecycle);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Lifecycle {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Admits an intake request, unless draining has begun. Shutdown waits for every admitted request to
    /// be answered before it decides that the queue is empty, so that an event acknowledged while it
    /// drains is processed before the process exits.
    pub(crate) fn admit(&self) -> Option<Admitted<'_>> {
        // Counted before the check (both sequentially consistent, as in `drain`): either this request sees
        // draining, or shutdown sees it counted.
        self.admitted.fetch_add(1, Ordering::SeqCst);
        let guard = Admitted(self);
        (!self.draining.load(Ordering::SeqCst)).then_some(guard)
    }

    /// Intake requests admitted and not answered yet.
    pub(crate) fn admitted(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.stopping.cancel();
    }
}

/// The current mapping, replaced when Port's copy changes; readers keep the version they took. Every
/// version is evaluated within the same limits.
pub(crate) struct SharedMapping {
    current: RwLock<Arc<Mapping>>,
    limits: crate::mapping::Limits,
}

impl SharedMapping {
    pub(crate) fn new(m: Mapping, limits: crate::mapping::Limits) -> Self {
        Self { current: RwLock::new(Arc::new(m.with_limits(limits))), limits }
    }

    pub(crate) fn get(&self) -> Arc<Mapping> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set(&self, m: Mapping) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(m.with_limits(self.limits));
    }
}

/// Everything a worker uses.
pub(crate) struct Runtime {
    pub(crate) processors: Arc<Processors>,
    pub(crate) queue: Arc<Queue>,
    pub(crate) mapping: Arc<SharedMapping>,
    pub(crate) sink: Arc<dyn Sink>,
    /// The sink as the queue's workers write to it: the same sink, or with the local catalog and the
    /// durable queue, its commits that do not wait for the disk (the queue keeps each event until they
    /// are durable).
    pub(crate) event_sink: Arc<dyn Sink>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    /// Time allowed per (processor, resource), retries included.
    pub(crate) processing_timeout: Duration,
    /// Which workers are busy since when.
    pub(crate) pool: Arc<crate::pool::Pool>,
    /// The threads that evaluate mappings.
    pub(crate) evaluator: Arc<crate::mapping::evaluator::Evaluator>,
    /// What live events wrote while a resync runs.
    pub(crate) marks: Arc<crate::resync::LiveMarks>,
}

impl Runtime {
    pub(crate) fn mapping(&self) -> Arc<Mapping> {
        self.mapping.get()
    }

    /// Applies changes to `sink` on `backoff`'s schedule until it succeeds, the schedule ends or `cancel`
    /// fires; each refusal is counted and logged with `retrying` as its message.
    pub(crate) async fn apply_retrying(
        &self,
        sink: &dyn Sink,
        changes: &crate::mapping::Changes,
        backoff: &crate::retry::Backoff,
        cancel: &CancellationToken,
        retrying: &'static str,
    ) -> crate::retry::Outcome<(), crate::sink::SinkError> {
        use crate::retry::Attempt;
        crate::retry::run(
            backoff,
            Some(cancel),
            move |_| async move {
                match sink.apply(changes).await {
                    Ok(()) => Attempt::Done(()),
                    Err(error) => {
                        self.metrics.sink_errors.increment(1);
                        Attempt::Retry { error, after: None }
                    }
                }
            },
            |e, attempt, delay| tracing::warn!(error = %e, attempt, ?delay, "{retrying}"),
        )
        .await
    }
}
