//! Workers: run the accepting processors on every matching resource, with retries, timeouts and
//! cancellation, then map all successful results and apply them to the sink in one call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tracing::{Instrument, error, info, info_span, warn};

use crate::error::ProcessorError;
use crate::event::{WebhookEvent, WebhookEventRawResults};
use crate::mapping::{Changes, ResourceConfig};
use crate::metrics as m;
use crate::queue::QueuedEvent;
use crate::runtime::{Running, Runtime};

enum Pair {
    Done(usize, WebhookEventRawResults),
    Failed { processor: String, error: String, attempts: u32 },
    Abandoned,
}

/// What became of an event.
pub(crate) enum Outcome {
    /// Applied, or permanently failed and recorded: leaves the queue.
    Done,
    /// Abandoned at shutdown: stays queued.
    Requeue,
}

pub(crate) async fn run(rt: Arc<Runtime>) {
    while let Some(delivery) = rt.queue.next().await {
        let started = Instant::now();
        let outcome = process(&rt, &delivery.item).await;
        metrics::histogram!(m::LATENCY).record(started.elapsed().as_secs_f64());
        match outcome {
            Outcome::Done => rt.queue.ack(delivery),
            Outcome::Requeue => {
                rt.queue.nack(delivery);
                if rt.hard_stop.is_cancelled() {
                    break;
                }
            }
        }
    }
}

pub(crate) async fn process(rt: &Runtime, item: &QueuedEvent) -> Outcome {
    // Queued events do not keep their parsed payload (it costs several times the body in memory).
    let parsed;
    let ev: &WebhookEvent = if item.event.payload.is_null() && !item.event.body.is_empty() {
        let mut e = (*item.event).clone();
        e.payload = serde_json::from_slice(&e.body).unwrap_or(serde_json::Value::Null);
        parsed = e;
        &parsed
    } else {
        &item.event
    };
    let span = info_span!("event", trace_id = %ev.trace_id, path = %ev.path);
    async move {
        info!("started");
        let mapping = rt.mapping();
        let mut tasks = Vec::new();
        for &pi in &item.processors {
            let Some(p) = rt.processors.get(pi) else { continue };
            let kinds = p.processor.get_matching_kinds(ev).await;
            for kind in kinds {
                let indices: Vec<usize> = mapping.resources_of(&kind).map(|(ri, _)| ri).collect();
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
        let mut done: Vec<(usize, WebhookEventRawResults)> = Vec::new();
        let mut failed: Vec<(String, String, u32)> = Vec::new();
        for o in outcomes {
            match o {
                Pair::Done(i, r) => done.push((i, r)),
                Pair::Failed { processor, error, attempts } => failed.push((processor, error, attempts)),
                Pair::Abandoned => {}
            }
        }
        let inputs: Vec<(usize, &[serde_json::Value], &[serde_json::Value])> = done
            .iter()
            .map(|(i, r)| (*i, r.updated_raw_results.as_slice(), r.deleted_raw_results.as_slice()))
            .collect();
        let changes = mapping.map_results(&inputs);
        if !changes.is_empty() && !apply(rt, &changes).await {
            return Outcome::Requeue;
        }
        if !failed.is_empty() {
            let mut names: Vec<String> = failed.iter().map(|f| f.0.clone()).collect();
            names.dedup();
            let attempts = failed.iter().map(|f| f.2).max().unwrap_or(1);
            let error = failed.iter().map(|f| format!("{}: {}", f.0, f.1)).collect::<Vec<_>>().join("; ");
            let full = QueuedEvent { event: std::sync::Arc::new(ev.clone()), ..item.clone() };
            rt.queue.dead_letter(&full, names, error, attempts);
            metrics::counter!(m::DEAD_LETTERED).increment(1);
            warn!(failures = failed.len(), "dead-lettered; replay it from the admin API or `ocean dlq`");
        }
        metrics::counter!(m::PROCESSED).increment(1);
        if let Ok(age) = ev.received_at.elapsed() {
            metrics::histogram!(m::E2E).record(age.as_secs_f64());
        }
        metrics::counter!(m::UPSERTED).increment(changes.upserts.len() as u64);
        metrics::counter!(m::DELETED).increment(changes.deletes.len() as u64);
        info!(upserted = changes.upserts.len(), deleted = changes.deletes.len(), "applied");
        Outcome::Done
    }
    .instrument(span)
    .await
}

/// Applies changes, retrying while the sink fails; `false` when abandoned at shutdown.
async fn apply(rt: &Runtime, changes: &Changes) -> bool {
    let mut attempt = 0u32;
    loop {
        match rt.sink.apply(changes).await {
            Ok(()) => return true,
            Err(e) => {
                metrics::counter!(m::SINK_ERRORS).increment(1);
                let delay =
                    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(9))).min(Duration::from_secs(30));
                warn!(error = %e, attempt, ?delay, "sink failed; the event stays queued and is retried");
                attempt += 1;
                tokio::select! {
                    _ = tokio::time::sleep(delay.mul_f64(0.5 + rand::random::<f64>() / 2.0)) => {}
                    _ = rt.hard_stop.cancelled() => return false,
                }
            }
        }
    }
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
        let policy = proc.retry_policy();
        let attempts = async {
            let mut retry = 0u32;
            loop {
                match proc.handle_event(ev, resource).await {
                    Ok(r) => return Ok(r),
                    Err(e) => {
                        proc.on_error(ev, &e).await;
                        if proc.should_retry(&e) && retry < policy.max_retries {
                            let delay = policy.delay(retry, e.retry_after_hint());
                            metrics::counter!(m::RETRIED).increment(1);
                            warn!(attempt = retry + 1, error = %e, ?delay, "retrying");
                            tokio::time::sleep(delay).await;
                            retry += 1;
                        } else {
                            return Err((e, retry + 1));
                        }
                    }
                }
            }
        };
        let outcome = tokio::select! {
            r = tokio::time::timeout(rt.processing_timeout(), attempts) => r,
            _ = rt.hard_stop.cancelled() => {
                proc.cancel(ev).await;
                warn!("abandoned at shutdown; cancel() called");
                return Pair::Abandoned;
            }
        };
        match outcome {
            Ok(Ok(results)) => {
                proc.after_processing(ev).await;
                Pair::Done(index, results)
            }
            Ok(Err((e, attempts))) => {
                metrics::counter!(m::FAILED).increment(1);
                error!(error = %e, attempts, "failed permanently");
                Pair::Failed { processor: p.id.clone(), error: e.to_string(), attempts }
            }
            Err(_) => {
                proc.cancel(ev).await;
                let e = ProcessorError::fatal(format!("timed out after {:?}", rt.processing_timeout()));
                proc.on_error(ev, &e).await;
                metrics::counter!(m::FAILED).increment(1);
                error!(error = %e, "failed permanently; cancel() called");
                Pair::Failed { processor: p.id.clone(), error: e.to_string(), attempts: 1 }
            }
        }
    }
    .instrument(span)
    .await
}
