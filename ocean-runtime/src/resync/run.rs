//! Runs: one at a time, kind after kind in the mapping's order, then the prune step; what the admin API
//! shows of the current and the last run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::{Instrument, info, info_span, warn};

use super::OnResync;
use super::kind::KindOutcome;
use crate::context::Context;
use crate::mapping::Mapping;
use crate::raw::RawApi;
use crate::runtime::Runtime;

/// Where a run, or one kind of it, stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Pending,
    Running,
    /// Listed to its end and applied.
    Completed,
    /// A function failed or the catalog refused its entities: nothing of it is deleted.
    Failed,
    /// No function lists it, or one said it cannot now.
    Skipped,
    /// Stopped at shutdown.
    Cancelled,
}

/// One kind of a run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct KindReport {
    pub(crate) kind: String,
    pub(crate) status: Status,
    /// Raw objects listed.
    pub(crate) items: u64,
    /// Entities written.
    pub(crate) upserted: u64,
    /// Entities deleted as no longer listed.
    pub(crate) deleted: u64,
    /// Objects the mapping could not turn into entities.
    pub(crate) failed: u64,
    /// Entities left as live events wrote them during the run.
    pub(crate) kept_for_live_events: u64,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// A run, as `GET /admin/resync` shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RunReport {
    pub(crate) id: String,
    /// `start-up`, `schedule` or `request`.
    pub(crate) trigger: &'static str,
    pub(crate) status: Status,
    /// Seconds since the Unix epoch.
    pub(crate) started_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) finished_at: Option<f64>,
    pub(crate) kinds: Vec<KindReport>,
    /// What the prune step decided not to delete, and why.
    pub(crate) notes: Vec<String>,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[derive(Default)]
struct State {
    current: Option<RunReport>,
    last: Option<RunReport>,
}

/// The resync of one integration: its functions, and the run in progress.
pub(crate) struct Resyncer {
    pub(super) fns: Vec<OnResync>,
    pub(super) rt: Arc<Runtime>,
    pub(super) raw: Arc<RawApi>,
    pub(super) context: Context,
    state: Mutex<State>,
    /// The integration's runtime: a run asked for over HTTP runs there, not on the HTTP worker's thread.
    runtime: tokio::runtime::Handle,
}

impl Resyncer {
    /// Made on the integration's runtime, where every run is spawned.
    pub(crate) fn new(fns: Vec<OnResync>, rt: Arc<Runtime>, raw: Arc<RawApi>, context: Context) -> Self {
        Self { fns, rt, raw, context, state: Mutex::default(), runtime: tokio::runtime::Handle::current() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the current run's report.
    pub(super) fn update(&self, f: impl FnOnce(&mut RunReport)) {
        if let Some(r) = self.lock().current.as_mut() {
            f(r);
        }
    }

    /// The current run and the last finished one.
    pub(crate) fn reports(&self) -> (Option<RunReport>, Option<RunReport>) {
        let st = self.lock();
        (st.current.clone(), st.last.clone())
    }

    /// Starts a run of every kind of the mapping, or of `kind`, unless one is in progress: its id, and
    /// whether it was started by this call. A kind the mapping does not have is an error naming its kinds.
    pub(crate) fn start(self: &Arc<Self>, trigger: &'static str, kind: Option<&str>) -> Result<(String, bool), String> {
        let mapping = self.rt.mapping();
        let mut kinds: Vec<String> = Vec::new();
        for r in &mapping.config().resources {
            if !kinds.contains(&r.kind) && kind.is_none_or(|k| k == r.kind) {
                kinds.push(r.kind.clone());
            }
        }
        if let Some(k) = kind
            && kinds.is_empty()
        {
            let known: Vec<&str> = mapping.config().resources.iter().map(|r| r.kind.as_str()).collect();
            return Err(format!("kind `{k}` is not in the mapping (its kinds: {})", known.join(", ")));
        }
        let mut st = self.lock();
        if let Some(c) = &st.current {
            return Ok((c.id.clone(), false));
        }
        let id = uuid::Uuid::now_v7().to_string();
        st.current = Some(RunReport {
            id: id.clone(),
            trigger,
            status: Status::Running,
            started_at: now(),
            finished_at: None,
            kinds: kinds
                .iter()
                .map(|k| KindReport {
                    kind: k.clone(),
                    status: Status::Pending,
                    items: 0,
                    upserted: 0,
                    deleted: 0,
                    failed: 0,
                    kept_for_live_events: 0,
                    note: None,
                })
                .collect(),
            notes: Vec::new(),
        });
        drop(st);
        // Noted from now on: a live write from here on wins over this run.
        self.rt.marks.begin_run();
        let span = info_span!("resync", id = %id, trigger);
        let me = self.clone();
        self.runtime.spawn(async move { me.execute(mapping, kinds).await }.instrument(span));
        Ok((id, true))
    }

    async fn execute(self: Arc<Self>, mapping: Arc<Mapping>, kinds: Vec<String>) {
        // Whatever happens to the run (a panic in a sink included), live events stop being noted and the
        // next run can start.
        let _ending = Ending(&self);
        let started = Instant::now();
        info!(kinds = kinds.len(), "resync started");
        let cancel = self.rt.lifecycle.stopping.clone();
        // Replicas on PostgreSQL run one resync at a time between them: the others skip theirs.
        let (_held, blocked) = match self.rt.queue.database() {
            Some(db) => match crate::postgres::RunLock::try_take(db, RESYNC_LOCK).await {
                Ok(Some(lock)) => (Some(lock), None),
                Ok(None) => (None, Some((Status::Skipped, "another replica is running a resync".to_owned()))),
                Err(e) => {
                    (None, Some((Status::Failed, format!("cannot reach PostgreSQL to take the resync lock: {e}"))))
                }
            },
            None => (None, None),
        };
        let mut outcomes: Vec<KindOutcome> = Vec::new();
        for (slot, kind) in kinds.iter().enumerate() {
            let begun = Instant::now();
            self.update(|r| r.kinds[slot].status = Status::Running);
            let outcome = if cancel.is_cancelled() {
                KindOutcome::ended(Status::Cancelled, "cancelled at shutdown".into())
            } else if let Some((status, note)) = &blocked {
                KindOutcome::ended(*status, note.clone())
            } else {
                super::kind::run(&self, &mapping, kind, slot, &cancel).await
            };
            let labels = |name| self.rt.metrics.labelled_gauge(name, "kind", kind);
            labels(crate::metrics::RESYNC_DURATION).set(begun.elapsed().as_secs_f64());
            if outcome.status == Status::Completed {
                labels(crate::metrics::RESYNC_LAST_SUCCESS).set(now());
            }
            match outcome.status {
                Status::Failed => warn!(
                    kind,
                    error = outcome.note.as_deref().unwrap_or_default(),
                    "resync of the kind failed; nothing of it is deleted"
                ),
                Status::Skipped => {
                    info!(kind, reason = outcome.note.as_deref().unwrap_or_default(), "resync of the kind skipped")
                }
                _ => {}
            }
            self.update(|r| {
                r.kinds[slot].status = outcome.status;
                r.kinds[slot].note.clone_from(&outcome.note);
            });
            outcomes.push(outcome);
        }
        if !cancel.is_cancelled() {
            super::prune::run(&self, &mapping, &kinds, &outcomes, &cancel).await;
        }
        let mut st = self.lock();
        if let Some(mut r) = st.current.take() {
            r.finished_at = Some(now());
            r.status = if r.kinds.iter().any(|k| k.status == Status::Cancelled) {
                Status::Cancelled
            } else if r.kinds.iter().any(|k| k.status == Status::Failed) {
                Status::Failed
            } else {
                Status::Completed
            };
            let sum = |f: fn(&KindReport) -> u64| r.kinds.iter().map(f).sum::<u64>();
            info!(
                status = ?r.status,
                items = sum(|k| k.items),
                upserted = sum(|k| k.upserted),
                deleted = sum(|k| k.deleted),
                seconds = started.elapsed().as_secs_f64(),
                "resync finished"
            );
            st.last = Some(r);
        }
    }

    /// Ends a run that did not finish: it is recorded as failed.
    fn abandon(&self) {
        let mut st = self.lock();
        if let Some(mut r) = st.current.take() {
            r.finished_at = Some(now());
            r.status = Status::Failed;
            for k in r.kinds.iter_mut().filter(|k| matches!(k.status, Status::Pending | Status::Running)) {
                k.status = Status::Failed;
                k.note = Some("the run stopped unexpectedly (a panic); nothing of this kind is deleted".into());
            }
            warn!(id = %r.id, "resync stopped unexpectedly");
            st.last = Some(r);
        }
    }

    /// The start-up run (after the server listens) and the scheduled ones, every `interval`; both end with
    /// the integration.
    pub(crate) fn spawn_triggers(self: &Arc<Self>, on_start: bool, interval: Option<Duration>) {
        if self.fns.is_empty() {
            return;
        }
        if on_start && let Err(e) = self.start("start-up", None) {
            warn!(error = %e, "start-up resync not started");
        }
        let Some(every) = interval.filter(|d| !d.is_zero()) else { return };
        let me = Arc::downgrade(self);
        let stopping = self.rt.lifecycle.stopping.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopping.cancelled() => return,
                }
                let Some(me) = me.upgrade() else { return };
                match me.start("schedule", None) {
                    Ok((id, false)) => info!(running = %id, "scheduled resync skipped: a run is in progress"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "scheduled resync not started"),
                }
            }
        });
    }
}

/// The advisory lock of resync runs among replicas (`resync` in ASCII).
const RESYNC_LOCK: i64 = 0x72_65_73_79_6e_63;

/// Runs when a run's task ends, however it ends.
struct Ending<'a>(&'a Resyncer);

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        self.0.abandon();
        self.0.rt.marks.end_run();
    }
}
