//! The prune step: the entities this integration owns that a run did not list are deleted, blueprint by
//! blueprint, when every kind writing the blueprint completed in the run and their share of the blueprint's
//! entities is within the config's `entityDeletionThreshold`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::kind::KindOutcome;
use super::marks::Key;
use super::run::{Resyncer, Status};
use crate::mapping::{Changes, EntityRef, Mapping};
use crate::metrics;

/// Port's default `entityDeletionThreshold`: a run may delete at most 90 % of a blueprint's entities.
pub(crate) const DEFAULT_DELETION_THRESHOLD: f64 = 0.9;

pub(super) async fn run(
    res: &Resyncer,
    mapping: &Arc<Mapping>,
    kinds: &[String],
    outcomes: &[KindOutcome],
    cancel: &CancellationToken,
) {
    // Which kinds write each blueprint: those that listed entities of it in this run, and the resources of
    // the whole mapping whose blueprint is a constant.
    let mut writers: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (kind, o) in kinds.iter().zip(outcomes) {
        for bp in &o.blueprints {
            writers.entry(bp.clone()).or_default().insert(kind);
        }
    }
    for (index, r) in mapping.config().resources.iter().enumerate() {
        if let Some(bp) = mapping.constant_blueprint(index) {
            writers.entry(bp).or_default().insert(&r.kind);
        }
    }
    let threshold = mapping.config().entity_deletion_threshold.unwrap_or(DEFAULT_DELETION_THRESHOLD);
    let outcome = |k: &str| kinds.iter().position(|x| x == k).map(|i| (i, &outcomes[i]));
    for (bp, ks) in writers {
        if cancel.is_cancelled() {
            return;
        }
        // Said in the kinds' own reports when none of them completed.
        if !ks.iter().any(|k| outcome(k).is_some_and(|(_, o)| o.status == Status::Completed)) {
            continue;
        }
        let unfinished: Vec<&str> =
            ks.iter().copied().filter(|k| outcome(k).is_none_or(|(_, o)| o.status != Status::Completed)).collect();
        if !unfinished.is_empty() {
            note(res, format!("`{bp}`: nothing deleted, kind {} did not complete in this run", unfinished.join(", ")));
            continue;
        }
        if ks.iter().any(|k| outcome(k).is_some_and(|(_, o)| o.unprunable.contains(&bp))) {
            note(res, format!("`{bp}`: nothing deleted, some identifiers are search queries"));
            continue;
        }
        let existing = match res.rt.sink.owned(&bp).await {
            Ok(ids) => ids,
            Err(e) => {
                note(res, format!("`{bp}`: nothing deleted, the sink cannot list its entities: {e}"));
                continue;
            }
        };
        let listed = |key: &Key| ks.iter().any(|k| outcome(k).is_some_and(|(_, o)| o.seen.contains(key)));
        let stale: Vec<Key> = existing
            .iter()
            .map(|id| (bp.clone(), id.clone()))
            .filter(|key| !listed(key) && !res.rt.marks.touched(key))
            .collect();
        if stale.is_empty() {
            continue;
        }
        let share = stale.len() as f64 / existing.len().max(1) as f64;
        if share > threshold {
            let text = format!(
                "`{bp}`: nothing deleted, {} of its {} entities were not listed ({:.0} %), above entityDeletionThreshold {threshold}",
                stale.len(),
                existing.len(),
                share * 100.0
            );
            warn!("{text}");
            note(res, text);
            continue;
        }
        let (free, claim) = res.rt.marks.claim(&stale);
        let deletes: Vec<EntityRef> = stale
            .into_iter()
            .zip(free)
            .filter(|(_, free)| *free)
            .map(|((blueprint, identifier), _)| EntityRef { blueprint, identifier })
            .collect();
        let changes =
            Changes { deletes, delete_dependents: mapping.config().delete_dependent_entities, ..Changes::default() };
        // Deleted entities are counted against the first kind of the run writing the blueprint.
        let Some((slot, kind)) = ks.iter().find_map(|k| outcome(k).map(|(i, _)| (i, *k))) else { continue };
        match super::kind::apply(&res.rt, &changes, cancel).await {
            Ok(()) => {
                let n = changes.deletes.len() as u64;
                info!(blueprint = %bp, deleted = n, "entities no longer listed deleted");
                res.rt.metrics.labelled_counter(metrics::RESYNC_DELETED, "kind", kind).increment(n);
                res.update(|r| r.kinds[slot].deleted += n);
            }
            Err(e) => note(res, format!("`{bp}`: deleting {} entities failed: {e}", changes.deletes.len())),
        }
        drop(claim);
    }
}

fn note(res: &Resyncer, text: String) {
    info!("{text}");
    res.update(|r| r.notes.push(text));
}
