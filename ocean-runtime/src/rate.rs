//! The rate budget of third-party calls, shared by live events and resync, live events first.
//!
//! Calls made while handling live events wait only for the budget; calls made by a resync also wait while
//! any live call is waiting, so that a resync spending the third party's quota never delays a live event
//! by more than the budget's own wait (plus the resync calls already granted at that instant).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::Notify;

tokio::task_local! {
    /// Set around a resync function: its calls are background calls.
    static BACKGROUND: ();
}

/// Runs `fut` as background work: its [`RateBudget::acquire`] calls yield to live ones.
pub(crate) async fn background<F: std::future::Future>(fut: F) -> F::Output {
    BACKGROUND.scope((), fut).await
}

fn is_background() -> bool {
    BACKGROUND.try_with(|_| ()).is_ok()
}

/// A budget of calls to a third party (`OCEAN__RATE_LIMIT__REQUESTS_PER_SECOND`, burst
/// `OCEAN__RATE_LIMIT__BURST`), shared by everything that holds the integration's [`crate::Context`].
/// Without a rate, every call is granted at once.
///
/// Call [`RateBudget::acquire`] before each request; inside a resync function the call has the lower
/// priority, elsewhere (processors, start hooks, routes) the higher.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let budget = ocean::RateBudget::new(Some(50.0), 1);
/// budget.acquire().await; // granted at once: the bucket starts full
/// # });
/// ```
#[derive(Clone)]
pub struct RateBudget {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
    /// Live callers waiting for a grant.
    live_waiting: AtomicUsize,
    /// Signalled when the last live waiter is granted.
    live_done: Notify,
}

impl std::fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateBudget").field("limited", &self.inner.is_some()).finish()
    }
}

impl RateBudget {
    /// A budget of `per_second` calls (none: unlimited) with bursts of up to `burst` calls.
    pub fn new(per_second: Option<f64>, burst: u32) -> Self {
        let Some(rate) = per_second.filter(|r| r.is_finite() && *r > 0.0) else {
            return Self::unlimited();
        };
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let Some(quota) = Quota::with_period(period) else {
            return Self::unlimited();
        };
        let quota = quota.allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            inner: Some(Arc::new(Inner {
                limiter: DefaultDirectRateLimiter::direct(quota),
                clock: DefaultClock::default(),
                live_waiting: AtomicUsize::new(0),
                live_done: Notify::new(),
            })),
        }
    }

    /// A budget that grants every call at once.
    pub fn unlimited() -> Self {
        Self { inner: None }
    }

    /// Waits until a call may be made.
    pub async fn acquire(&self) {
        let Some(inner) = &self.inner else { return };
        if is_background() {
            inner.acquire_background().await;
        } else {
            inner.live_waiting.fetch_add(1, Ordering::AcqRel);
            let _done = LiveWaiter(inner);
            inner.take().await;
        }
    }
}

/// Leaves the live waiters on drop (granted or cancelled), waking background callers after the last.
struct LiveWaiter<'a>(&'a Inner);

impl Drop for LiveWaiter<'_> {
    fn drop(&mut self) {
        if self.0.live_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.live_done.notify_waiters();
        }
    }
}

impl Inner {
    /// Takes one cell, sleeping until the budget has one.
    async fn take(&self) {
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
    }

    /// Takes one cell when no live caller is waiting, re-checking after each sleep.
    async fn acquire_background(&self) {
        loop {
            let idle = self.live_done.notified();
            if self.live_waiting.load(Ordering::Acquire) > 0 {
                idle.await;
                continue;
            }
            match self.limiter.check() {
                Ok(()) => return,
                Err(not_until) => tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await,
            }
        }
    }
}
