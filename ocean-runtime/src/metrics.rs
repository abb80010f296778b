//! Prometheus metrics, served at `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder (installed once; every integration in the process shares it).
pub(crate) fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 90.0,
                ])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed by the host program; ours then only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub(crate) const RECEIVED: &str = "ocean_events_received_total";
pub(crate) const REJECTED: &str = "ocean_events_rejected_total";
pub(crate) const IGNORED: &str = "ocean_events_ignored_total";
pub(crate) const DUPLICATES: &str = "ocean_events_duplicates_total";
pub(crate) const DEAD_LETTERED: &str = "ocean_events_dead_lettered_total";
pub(crate) const QUEUED: &str = "ocean_events_queued_total";
pub(crate) const PROCESSED: &str = "ocean_events_processed_total";
pub(crate) const FAILED: &str = "ocean_events_failed_total";
pub(crate) const RETRIED: &str = "ocean_events_retried_total";
pub(crate) const UPSERTED: &str = "ocean_entities_upserted_total";
pub(crate) const DELETED: &str = "ocean_entities_deleted_total";
pub(crate) const QUEUE_DEPTH: &str = "ocean_queue_depth";
pub(crate) const LATENCY: &str = "ocean_event_processing_seconds";
pub(crate) const E2E: &str = "ocean_event_end_to_end_seconds";
pub(crate) const SINK_ERRORS: &str = "ocean_sink_errors_total";
