//! Workers: run the accepting processors on every matching resource, with retries, timeouts and
//! cancellation, then map all successful results and apply them to the sink in one call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::join_all;
use tracing::{Instrument, debug, error, info_span, warn};

use crate::error::ProcessorError;
use crate::event::{WebhookEvent, WebhookEventRawResults};
use crate::mapping::{Changes, ResourceConfig};
use crate::pool::panic_message;
use crate::queue::QueuedEvent;
use crate::retry::{self, Attempt, Backoff, Jitter};
use crate::runtime::Runtime;
use crate::wiring::Running;

enum Pair {
    /// The processor's results for one resource (its index in the mapping).
    Done {
        processor: String,
        resource: usize,
        results: WebhookEventRawResults,
    },
    Failed {
        processor: String,
        error: String,
        attempts: u32,
    },
    Abandoned,
}

/// What became of an event.
pub(crate) enum Outcome {
    /// Applied, or permanently failed and recorded: leaves the queue.
    Done,
    /// Abandoned at shutdown: stays queued.
    Requeue,
    /// A processor, the mapping or the sink panicked: the event goes to the dead letters with the message.
    Panicked(String),
}

/// One worker: takes events until the queue closes. A panic while processing an event (in a processor, the
/// mapping or the sink) fails that event into the dead letters; a panic anywhere else in the loop restarts
/// it, so that the pool keeps its size.
pub(crate) async fn run(rt: Arc<Runtime>, raw: Arc<crate::raw::RawApi>, slot: usize) {
    loop {
        match AssertUnwindSafe(serve(&rt, &raw, slot)).catch_unwind().await {
            Ok(()) => return,
            Err(panic) => {
                rt.pool.idle(slot);
                error!(worker = slot, panic = %panic_message(&*panic), "worker panicked; replaced");
            }
        }
    }
}

async fn serve(rt: &Arc<Runtime>, raw: &Arc<crate::raw::RawApi>, slot: usize) {
    while let Some(delivery) = rt.queue.next().await {
        let started = Instant::now();
        rt.pool.busy(slot);
        let processing = crate::raw::scope(raw.clone(), process(rt, &delivery.item));
        let outcome = AssertUnwindSafe(processing)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Outcome::Panicked(format!("panicked: {}", panic_message(&*panic))));
        rt.pool.idle(slot);
        rt.metrics.latency.record(started.elapsed().as_secs_f64());
        match outcome {
            Outcome::Done => rt.queue.ack(delivery),
            Outcome::Panicked(error) => {
                error!(trace_id = %delivery.item.event.trace_id, error, "event processing panicked; dead-lettered");
                let names =
                    delivery.item.processors.iter().filter_map(|&i| rt.processors.get(i)).map(|p| p.id.to_string());
                rt.queue.dead_letter(&delivery.item, names.collect(), error, 1).await;
                rt.metrics.dead_lettered.increment(1);
                rt.metrics.failed.increment(1);
                rt.queue.ack(delivery);
            }
            Outcome::Requeue => {
                rt.queue.nack(delivery);
                if rt.lifecycle.hard_stop.is_cancelled() {
                    break;
                }
            }
        }
    }
}

/// An event's results are mapped on its worker, without the hop to a mapping thread, when its
/// resources' programs are plain (see `mapping/plain.rs`) and the results are at most this many objects,
/// from a body of at most [`MAP_HERE_BODY`] bytes: their time is bounded by that size, and short.
const MAP_HERE_OBJECTS: usize = 16;
const MAP_HERE_BODY: usize = 256 * 1024;

pub(crate) async fn process(rt: &Runtime, item: &QueuedEvent) -> Outcome {
    // The payload is parsed when a processor first reads it, once.
    let ev: &WebhookEvent = &item.event;
    let span = info_span!("event", trace_id = %ev.trace_id, path = %ev.path);
    async move {
        debug!("started");
        let mapping = rt.mapping();
        let mut tasks = Vec::new();
        let mut failed: Vec<(String, String, u32)> = Vec::new();
        for &pi in &item.processors {
            let Some(p) = rt.processors.get(pi) else { continue };
            let kinds = p.processor.get_matching_kinds(ev).await;
            for kind in kinds {
                let indices: Vec<usize> = mapping.resources_of(&kind).map(|(ri, _)| ri).collect();
                if indices.is_empty() {
                    // A kind the mapping does not have would be dropped without a trace: it is a failure of
                    // the event, replayable once the mapping has the kind.
                    let known: Vec<&str> = mapping.config().resources.iter().map(|r| r.kind.as_str()).collect();
                    rt.metrics.mapping_failure(&kind, "unknown_kind").increment(1);
                    let error = format!("kind `{kind}` is not in the mapping (its kinds: {})", known.join(", "));
                    warn!(processor = %p.name, "{error}");
                    failed.push((p.id.to_string(), error, 1));
                }
                for ri in indices {
                    let resource = &mapping.config().resources[ri];
                    tasks.push(run_pair(rt, p, ev, resource, ri, kind.clone()));
                }
            }
        }
        let outcomes = join_all(tasks).await;
        if outcomes.iter().any(|o| matches!(o, Pair::Abandoned)) {
            return Outcome::Requeue;
        }
        let mut done: Vec<(String, usize, WebhookEventRawResults)> = Vec::new();
        for o in outcomes {
            match o {
                Pair::Done { processor, resource, results } => done.push((processor, resource, results)),
                Pair::Failed { processor, error, attempts } => failed.push((processor, error, attempts)),
                Pair::Abandoned => {}
            }
        }
        let objects: usize =
            done.iter().map(|(_, _, r)| r.updated_raw_results.len() + r.deleted_raw_results.len()).sum();
        let here = objects <= MAP_HERE_OBJECTS
            && ev.body.len() <= MAP_HERE_BODY
            && mapping.is_plain(done.iter().map(|(_, i, _)| *i));
        let map = move || {
            let inputs: Vec<(usize, &[crate::Payload], &[crate::Payload])> = done
                .iter()
                .map(|(_, i, r)| (*i, r.updated_raw_results.as_slice(), r.deleted_raw_results.as_slice()))
                .collect();
            let changes = if here { mapping.map_results_here(&inputs) } else { mapping.map_results(&inputs) };
            (changes, done)
        };
        // A few objects mapped by plain programs (no loop, no recursion) are mapped here, which spares the
        // hop to a mapping thread; any other mapping runs on the mapping threads: jq evaluation recurses,
        // and may need more stack than this thread has, or take long.
        let mapped = if here {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(map)).map_err(|p| crate::pool::panic_message(&*p))
        } else {
            rt.evaluator.run(map).await
        };
        let (changes, done) = match mapped {
            Ok(m) => m,
            Err(panic) => return Outcome::Panicked(format!("mapping panicked: {panic}")),
        };
        for f in &changes.overruns {
            rt.metrics.mapping_failure(&f.kind, f.reason).increment(1);
        }
        for f in &changes.failures {
            rt.metrics.mapping_failure(&f.kind, f.reason).increment(1);
            failed.push((done[f.input].0.clone(), format!("mapping: {f}"), 1));
        }
        if !changes.is_empty() {
            rt.marks.note_live(&changes).await;
            if !apply(rt, &changes).await {
                return Outcome::Requeue;
            }
        }
        if !failed.is_empty() {
            let mut names: Vec<String> = failed.iter().map(|f| f.0.clone()).collect();
            names.sort();
            names.dedup();
            let attempts = failed.iter().map(|f| f.2).max().unwrap_or(1);
            let mut error = failed.iter().take(10).map(|f| format!("{}: {}", f.0, f.1)).collect::<Vec<_>>().join("; ");
            if failed.len() > 10 {
                error.push_str(&format!("; and {} more", failed.len() - 10));
            }
            rt.queue.dead_letter(item, names, error, attempts).await;
            rt.metrics.dead_lettered.increment(1);
            warn!(failures = failed.len(), "dead-lettered; replay it from the admin API or `ocean dlq`");
        }
        rt.metrics.processed.increment(1);
        if let Ok(age) = ev.received_at.elapsed() {
            rt.metrics.end_to_end.record(age.as_secs_f64());
        }
        rt.metrics.upserted.increment(changes.upserts.len() as u64);
        rt.metrics.deleted.increment(changes.deletes.len() as u64);
        debug!(upserted = changes.upserts.len(), deleted = changes.deletes.len(), "applied");
        Outcome::Done
    }
    .instrument(span)
    .await
}

/// The sink's schedule: retried until it succeeds or the integration stops.
const SINK_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(100),
    base: 2.0,
    cap: Duration::from_secs(30),
    jitter: Jitter::AtLeast(0.5),
    attempts: None,
};

/// Applies changes, retrying while the sink fails; `false` when abandoned at shutdown.
async fn apply(rt: &Runtime, changes: &Changes) -> bool {
    let retrying = "sink failed; the event stays queued and is retried";
    let outcome = rt.apply_retrying(&*rt.event_sink, changes, &SINK_BACKOFF, &rt.lifecycle.hard_stop, retrying).await;
    matches!(outcome, retry::Outcome::Done(()))
}

async fn run_pair(
    rt: &Runtime,
    p: &Running,
    ev: &WebhookEvent,
    resource: &ResourceConfig,
    index: usize,
    kind: String,
) -> Pair {
    let span = info_span!("processor", processor = %p.name, kind = %kind, resource = index);
    async move {
        let proc = &p.processor;
        proc.before_processing(ev).await;
        let backoff = proc.retry_policy().backoff();
        // Cancellation at shutdown is handled around the loop, so that `cancel()` is called.
        let attempts = retry::run(
            &backoff,
            None,
            move |_| async move {
                // A panicking processor fails this pair, as a fatal error naming the panic.
                let handled = AssertUnwindSafe(proc.handle_event(ev, resource)).catch_unwind().await;
                let handled = handled.unwrap_or_else(|panic| {
                    Err(ProcessorError::fatal(format!("panicked: {}", panic_message(&*panic))))
                });
                match handled {
                    Ok(r) => Attempt::Done(r),
                    Err(e) => {
                        proc.on_error(ev, &e).await;
                        if proc.should_retry(&e) {
                            let after = e.retry_after_hint();
                            Attempt::Retry { error: e, after }
                        } else {
                            Attempt::Fail(e)
                        }
                    }
                }
            },
            |e, attempt, delay| {
                rt.metrics.retried.increment(1);
                warn!(attempt, error = %e, ?delay, "retrying");
            },
        );
        let outcome = tokio::select! {
            r = tokio::time::timeout(rt.processing_timeout, attempts) => r,
            _ = rt.lifecycle.hard_stop.cancelled() => {
                proc.cancel(ev).await;
                warn!("abandoned at shutdown; cancel() called");
                return Pair::Abandoned;
            }
        };
        match outcome {
            Ok(retry::Outcome::Done(results)) => {
                proc.after_processing(ev).await;
                Pair::Done { processor: p.id.to_string(), resource: index, results }
            }
            Ok(retry::Outcome::Cancelled) => Pair::Abandoned,
            Ok(retry::Outcome::Failed { error: e, attempts }) => {
                rt.metrics.failed.increment(1);
                error!(error = %e, attempts, "failed permanently");
                Pair::Failed { processor: p.id.to_string(), error: e.to_string(), attempts }
            }
            Err(_) => {
                proc.cancel(ev).await;
                let e = ProcessorError::fatal(format!("timed out after {:?}", rt.processing_timeout));
                proc.on_error(ev, &e).await;
                rt.metrics.failed.increment(1);
                error!(error = %e, "failed permanently; cancel() called");
                Pair::Failed { processor: p.id.to_string(), error: e.to_string(), attempts: 1 }
            }
        }
    }
    .instrument(span)
    .await
}
