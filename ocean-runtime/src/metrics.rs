//! Prometheus metrics of one integration, served at `/metrics`.
//!
//! Each integration owns its recorder: two integrations in one process count apart, and the host
//! program's global recorder, if any, is left alone.

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

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
pub(crate) const DATABASE_UP: &str = "ocean_queue_database_up";
pub(crate) const LEASED: &str = "ocean_queue_leased_entities";
pub(crate) const IDS_IN_MEMORY: &str = "ocean_queue_delivery_ids_in_memory";
pub(crate) const LATENCY: &str = "ocean_event_processing_seconds";
pub(crate) const E2E: &str = "ocean_event_end_to_end_seconds";
pub(crate) const PERSIST: &str = "ocean_queue_persist_seconds";
pub(crate) const SINK_ERRORS: &str = "ocean_sink_errors_total";
pub(crate) const MAPPING_FAILURES: &str = "ocean_mapping_failures_total";
pub(crate) const BROKEN_LEAVES: &str = "ocean_mapping_broken_expressions";
pub(crate) const RESYNC_ITEMS: &str = "ocean_resync_items_fetched_total";
pub(crate) const RESYNC_UPSERTED: &str = "ocean_resync_entities_upserted_total";
pub(crate) const RESYNC_DELETED: &str = "ocean_resync_entities_deleted_total";
pub(crate) const RESYNC_FAILURES: &str = "ocean_resync_failures_total";
pub(crate) const RESYNC_DURATION: &str = "ocean_resync_duration_seconds";
pub(crate) const RESYNC_LAST_SUCCESS: &str = "ocean_resync_last_success_timestamp_seconds";

const BUCKETS: [f64; 15] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 90.0];

/// A batch is made durable in a fraction of a millisecond on a local disk: finer buckets than the
/// events' latencies, up to what a stalled disk or database takes.
const PERSIST_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0];

/// End to end, finer around the tens of milliseconds where a latency objective sits (25 ms at half of
/// saturation in the bench): a p99 read as a bucket's bound is then within a few milliseconds of the truth.
const E2E_BUCKETS: [f64; 20] = [
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 90.0,
];

static METADATA: Metadata<'static> = Metadata::new("ocean", Level::INFO, Some(module_path!()));

/// The recorder of one integration, with handles to the counters of the hot path.
pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    pub(crate) received: Counter,
    pub(crate) ignored: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) queued: Counter,
    pub(crate) processed: Counter,
    pub(crate) failed: Counter,
    pub(crate) retried: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) upserted: Counter,
    pub(crate) deleted: Counter,
    pub(crate) sink_errors: Counter,
    pub(crate) latency: Histogram,
    pub(crate) end_to_end: Histogram,
    /// How long each batch of pushed events took to become durable (the durable queue's log write and
    /// `fdatasync`, or the `postgres` queue's commit): what intake's acknowledgement waits for.
    pub(crate) persist: Histogram,
    /// Expressions of the mapping held by Port that do not compile here (each maps to null).
    pub(crate) broken_expressions: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(PERSIST.into()), &PERSIST_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(E2E.into()), &E2E_BUCKETS))
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let counter = |name: &'static str| recorder.register_counter(&Key::from_name(name), &METADATA);
        let histogram = |name: &'static str| recorder.register_histogram(&Key::from_name(name), &METADATA);
        Self {
            received: counter(RECEIVED),
            ignored: counter(IGNORED),
            duplicates: counter(DUPLICATES),
            queued: counter(QUEUED),
            processed: counter(PROCESSED),
            failed: counter(FAILED),
            retried: counter(RETRIED),
            dead_lettered: counter(DEAD_LETTERED),
            upserted: counter(UPSERTED),
            deleted: counter(DELETED),
            sink_errors: counter(SINK_ERRORS),
            latency: histogram(LATENCY),
            end_to_end: histogram(E2E),
            persist: histogram(PERSIST),
            broken_expressions: recorder.register_gauge(&Key::from_name(BROKEN_LEAVES), &METADATA),
            recorder,
            handle,
        }
    }

    /// Requests rejected at intake, by reason (registered on first use, shared afterwards).
    pub(crate) fn rejected(&self, reason: &'static str) -> Counter {
        self.recorder.register_counter(&Key::from_parts(REJECTED, vec![Label::new("reason", reason)]), &METADATA)
    }

    /// Items the mapping could not turn into entities, by kind and reason.
    pub(crate) fn mapping_failure(&self, kind: &str, reason: &'static str) -> Counter {
        let labels = vec![Label::new("kind", kind.to_owned()), Label::new("reason", reason)];
        self.recorder.register_counter(&Key::from_parts(MAPPING_FAILURES, labels), &METADATA)
    }

    /// A counter with one label (registered on first use, shared afterwards).
    pub(crate) fn labelled_counter(&self, name: &'static str, label: &'static str, value: &str) -> Counter {
        self.recorder.register_counter(&Key::from_parts(name, vec![Label::new(label, value.to_owned())]), &METADATA)
    }

    /// A gauge with one label.
    pub(crate) fn labelled_gauge(&self, name: &'static str, label: &'static str, value: &str) -> Gauge {
        self.recorder.register_gauge(&Key::from_parts(name, vec![Label::new(label, value.to_owned())]), &METADATA)
    }

    /// Events held by the queue on one path.
    pub(crate) fn queue_depth(&self, path: String) -> Gauge {
        self.recorder.register_gauge(&Key::from_parts(QUEUE_DEPTH, vec![Label::new("path", path)]), &METADATA)
    }

    /// A gauge without labels.
    pub(crate) fn gauge(&self, name: &'static str) -> Gauge {
        self.recorder.register_gauge(&Key::from_name(name), &METADATA)
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        self.handle.render()
    }
}
