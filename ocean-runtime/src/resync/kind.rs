//! One kind of a run: each of its functions, once per resource of the kind, its batches mapped with that
//! resource's mapping and applied while the function fetches the next batch.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::marks::Key;
use super::run::{Resyncer, Status};
use super::{Batches, OnResync};
use crate::mapping::{Changes, Mapping, ResourceConfig};
use crate::metrics;
use crate::retry::{self, Backoff, Jitter};

/// Batches a function may hand over ahead of the one being applied.
const AHEAD: usize = 2;

/// Objects mapped per job on the mapping threads, and entities per write to the sink (Port's bulk size):
/// a live event's mapping or write waits for one such piece of a resync at most.
const CHUNK: usize = 20;

/// A batch the sink refuses is retried on this schedule, then fails the kind.
const SINK_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    base: 2.0,
    cap: Duration::from_secs(10),
    jitter: Jitter::AtLeast(0.5),
    attempts: Some(6),
};

/// What a kind's listing gave.
pub(super) struct KindOutcome {
    pub(super) status: Status,
    pub(super) note: Option<String>,
    /// Every entity listed, written or left to live events.
    pub(super) seen: HashSet<Key>,
    /// The blueprints of the entities listed.
    pub(super) blueprints: HashSet<String>,
    /// Blueprints with entities identified by a search query: their listing is not complete by identifier.
    pub(super) unprunable: HashSet<String>,
}

impl KindOutcome {
    pub(super) fn ended(status: Status, note: String) -> Self {
        Self { status, note: Some(note), seen: HashSet::new(), blueprints: HashSet::new(), unprunable: HashSet::new() }
    }
}

pub(super) async fn run(
    res: &Resyncer,
    mapping: &Arc<Mapping>,
    kind: &str,
    slot: usize,
    cancel: &CancellationToken,
) -> KindOutcome {
    let fns: Vec<&OnResync> = res.fns.iter().filter(|f| f.kind == kind).collect();
    if fns.is_empty() {
        return KindOutcome::ended(Status::Skipped, "no resync function lists this kind".into());
    }
    let mut out = KindOutcome::ended(Status::Completed, String::new());
    out.note = None;
    for (index, resource) in mapping.resources_of(kind) {
        for f in &fns {
            let one = One { res, mapping, index, kind, slot, cancel };
            if let Err((status, note)) = one.run(f, resource, &mut out).await {
                out.status = status;
                out.note = Some(note);
                return out;
            }
        }
    }
    out
}

/// One function on one resource.
struct One<'a> {
    res: &'a Resyncer,
    mapping: &'a Arc<Mapping>,
    index: usize,
    kind: &'a str,
    slot: usize,
    cancel: &'a CancellationToken,
}

impl One<'_> {
    async fn run(
        &self,
        f: &OnResync,
        resource: &ResourceConfig,
        out: &mut KindOutcome,
    ) -> Result<(), (Status, String)> {
        let (batches, mut rx) = Batches::new(AHEAD);
        let skipped = batches.skipped.clone();
        let listing = (f.run)(self.res.context.clone(), resource, batches);
        let producer =
            AssertUnwindSafe(crate::rate::background(crate::raw::scope(self.res.raw.clone(), listing))).catch_unwind();
        // Dropping the receiver (an apply failed) makes the function's next `send` fail, which ends it.
        let consumer = async move {
            while let Some(batch) = rx.recv().await {
                self.apply(batch, out).await?;
            }
            Ok::<(), String>(())
        };
        let (produced, consumed) = tokio::select! {
            r = async { tokio::join!(producer, consumer) } => r,
            _ = self.cancel.cancelled() => return Err((Status::Cancelled, "cancelled at shutdown".into())),
        };
        let failures = self.res.rt.metrics.labelled_counter(metrics::RESYNC_FAILURES, "kind", self.kind);
        if let Err(e) = consumed {
            failures.increment(1);
            return Err((Status::Failed, e));
        }
        match produced {
            Err(panic) => {
                failures.increment(1);
                Err((Status::Failed, format!("{} panicked: {}", f.name, crate::pool::panic_message(&*panic))))
            }
            Ok(Err(e)) => {
                failures.increment(1);
                Err((Status::Failed, format!("{}: {e}", f.name)))
            }
            Ok(Ok(())) => match skipped.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(reason) => Err((Status::Skipped, format!("{}: {reason}", f.name))),
                None => Ok(()),
            },
        }
    }

    /// Maps one batch and applies its entities, except those live events wrote during the run.
    async fn apply(&self, batch: Vec<Value>, out: &mut KindOutcome) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let rt = &self.res.rt;
        let count = |name| rt.metrics.labelled_counter(name, "kind", self.kind);
        count(metrics::RESYNC_ITEMS).increment(batch.len() as u64);
        let items = batch.len() as u64;
        let mut changes = Changes::default();
        let mut rest = batch;
        while !rest.is_empty() {
            let chunk: Vec<Value> = rest.drain(..rest.len().min(CHUNK)).collect();
            let (mapping, index) = (self.mapping.clone(), self.index);
            let part = rt
                .evaluator
                .run_background(move || mapping.map_results(&[(index, chunk.as_slice(), &[])]))
                .await
                .map_err(|panic| format!("the mapping panicked: {panic}"))?;
            changes.merge = part.merge;
            changes.delete_dependents = part.delete_dependents;
            changes.create_missing_related = part.create_missing_related;
            changes.upserts.extend(part.upserts);
            changes.failures.extend(part.failures);
            changes.overruns.extend(part.overruns);
        }
        for f in changes.failures.iter().chain(&changes.overruns) {
            rt.metrics.mapping_failure(&f.kind, f.reason).increment(1);
        }
        count(metrics::RESYNC_FAILURES).increment(changes.failures.len() as u64);
        // Objects that fail the selector are not listed: the prune step deletes their entities.
        changes.deletes.clear();
        let mut keys: Vec<Key> = Vec::with_capacity(changes.upserts.len());
        for e in &changes.upserts {
            out.blueprints.insert(e.blueprint.clone());
            match e.id_str() {
                Some(id) => keys.push((e.blueprint.clone(), id.to_owned())),
                None => {
                    out.unprunable.insert(e.blueprint.clone());
                }
            }
        }
        out.seen.extend(keys.iter().cloned());
        let (free, claim) = rt.marks.claim(&keys);
        let mut free_iter = free.iter();
        changes.upserts.retain(|e| e.id_str().is_none() || free_iter.next().copied().unwrap_or(true));
        let kept = free.iter().filter(|f| !**f).count() as u64;
        for upserts in changes.upserts.chunks(CHUNK) {
            let piece = Changes {
                upserts: upserts.to_vec(),
                merge: changes.merge,
                delete_dependents: changes.delete_dependents,
                create_missing_related: changes.create_missing_related,
                ..Changes::default()
            };
            apply(rt, &piece, self.cancel).await?;
        }
        drop(claim);
        let (upserted, failed) = (changes.upserts.len() as u64, changes.failures.len() as u64);
        count(metrics::RESYNC_UPSERTED).increment(upserted);
        self.res.update(|r| {
            let k = &mut r.kinds[self.slot];
            k.items += items;
            k.upserted += upserted;
            k.failed += failed;
            k.kept_for_live_events += kept;
        });
        Ok(())
    }
}

/// Applies changes to the sink, retried a few times; the error fails the kind.
pub(super) async fn apply(
    rt: &crate::runtime::Runtime,
    changes: &Changes,
    cancel: &CancellationToken,
) -> Result<(), String> {
    match rt
        .apply_retrying(&*rt.sink, changes, &SINK_BACKOFF, cancel, "the sink refused resync entities; retrying")
        .await
    {
        retry::Outcome::Done(()) => Ok(()),
        retry::Outcome::Failed { error, attempts } => {
            Err(format!("the sink refused the entities {attempts} times: {error}"))
        }
        retry::Outcome::Cancelled => Err("cancelled at shutdown".into()),
    }
}
