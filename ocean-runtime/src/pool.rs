//! The worker pool's liveness: which workers are busy since when, so that readiness can tell a pool that
//! makes progress from one whose every worker is stuck on an event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Per-worker busy marks, as milliseconds since the pool started (0 when idle).
pub(crate) struct Pool {
    started: Instant,
    busy_since: Vec<AtomicU64>,
    /// Longer than anything an event may legitimately take: the processing timeout plus a margin.
    stuck_after: Duration,
}

impl Pool {
    pub(crate) fn new(workers: usize, processing_timeout: Duration) -> Self {
        Self {
            started: Instant::now(),
            busy_since: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            stuck_after: processing_timeout.saturating_add(Duration::from_secs(30)),
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.busy_since.len()
    }

    fn now(&self) -> u64 {
        // At least 1: 0 means idle.
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    pub(crate) fn busy(&self, worker: usize) {
        if let Some(b) = self.busy_since.get(worker) {
            b.store(self.now(), Ordering::Release);
        }
    }

    pub(crate) fn idle(&self, worker: usize) {
        if let Some(b) = self.busy_since.get(worker) {
            b.store(0, Ordering::Release);
        }
    }

    /// Workers busy on one event for longer than any event may take.
    pub(crate) fn stuck(&self) -> usize {
        let now = self.now();
        let limit = self.stuck_after.as_millis() as u64;
        self.busy_since
            .iter()
            .map(|b| b.load(Ordering::Acquire))
            .filter(|&since| since != 0 && now.saturating_sub(since) > limit)
            .count()
    }

    /// Whether at least one worker can take an event.
    pub(crate) fn can_progress(&self) -> bool {
        self.stuck() < self.size()
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_is_stuck_only_when_every_worker_is() {
        let pool = Pool::new(2, Duration::ZERO);
        pool.busy_since[0].store(1, Ordering::Release);
        assert!(pool.can_progress(), "one worker is idle");
        assert_eq!(pool.stuck(), 0, "not busy for long yet");
        pool.busy_since[1].store(1, Ordering::Release);
        // Busy since the pool started, 30 s of margin ago.
        let pool = Pool { started: Instant::now() - Duration::from_secs(31), ..pool };
        assert_eq!(pool.stuck(), 2);
        assert!(!pool.can_progress());
        pool.idle(0);
        assert!(pool.can_progress());
    }
}
