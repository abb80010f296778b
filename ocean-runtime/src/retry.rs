//! One retry primitive for processors, the sink and Port's API: a backoff schedule held as data, and one
//! loop that waits between attempts, honours retry-after hints and stops when cancelled.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How a delay is drawn under its ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Jitter {
    /// Uniform in `[0, ceiling]` (full jitter).
    Full,
    /// Uniform in `[ceiling * (1 - f), ceiling * (1 + f)]`, capped.
    Spread(f64),
    /// Uniform in `[ceiling * low, ceiling]`.
    AtLeast(f64),
}

/// A backoff schedule: the ceiling of retry `n` is `min(cap, initial * base^n)`; a retry-after hint is a
/// floor of the delay; `attempts` bounds the attempts (`None`: until cancelled).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) base: f64,
    pub(crate) cap: Duration,
    pub(crate) jitter: Jitter,
    pub(crate) attempts: Option<u32>,
}

impl Backoff {
    /// The delay ceiling before retry number `retry` (0-based).
    pub(crate) fn ceiling(&self, retry: u32) -> Duration {
        let secs = self.initial.as_secs_f64() * self.base.powi(retry.min(64) as i32);
        Duration::from_secs_f64(secs.min(self.cap.as_secs_f64()).max(0.0))
    }

    /// The delay before retry number `retry`, at least `hint` (itself capped at five minutes).
    pub(crate) fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(retry);
        let r = rand::random::<f64>();
        let drawn = match self.jitter {
            Jitter::Full => ceiling.mul_f64(r),
            Jitter::Spread(f) => ceiling.mul_f64(1.0 - f + 2.0 * f * r).min(self.cap),
            Jitter::AtLeast(low) => ceiling.mul_f64(low + (1.0 - low) * r),
        };
        match hint {
            Some(h) => drawn.max(h.min(Duration::from_secs(300))),
            None => drawn,
        }
    }
}

/// What one attempt gave.
pub(crate) enum Attempt<T, E> {
    /// Success.
    Done(T),
    /// A transient failure: wait (at least `after`, when given), then try again.
    Retry { error: E, after: Option<Duration> },
    /// A transient failure to retry at once (for example after refreshing a credential).
    Again(E),
    /// A permanent failure.
    Fail(E),
}

/// How the loop ended.
pub(crate) enum Outcome<T, E> {
    Done(T),
    /// The last error and the attempts made.
    Failed {
        error: E,
        attempts: u32,
    },
    Cancelled,
}

/// Runs `op` (given the 0-based attempt number) until it succeeds, fails permanently, exhausts the
/// schedule's attempts or `cancel`, when given, fires. `on_retry` sees each error that is retried, with
/// the delay.
pub(crate) async fn run<T, E, Fut>(
    backoff: &Backoff,
    cancel: Option<&CancellationToken>,
    mut op: impl FnMut(u32) -> Fut,
    mut on_retry: impl FnMut(&E, u32, Duration),
) -> Outcome<T, E>
where
    Fut: Future<Output = Attempt<T, E>>,
{
    let cancelled = || async {
        match cancel {
            Some(c) => c.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let mut attempt = 0u32;
    let mut retry = 0u32;
    loop {
        let result = tokio::select! {
            r = op(attempt) => r,
            _ = cancelled() => return Outcome::Cancelled,
        };
        attempt += 1;
        let last = backoff.attempts.is_some_and(|n| attempt >= n);
        let (error, delay) = match result {
            Attempt::Done(t) => return Outcome::Done(t),
            Attempt::Fail(error) => return Outcome::Failed { error, attempts: attempt },
            Attempt::Again(error) => (error, Duration::ZERO),
            Attempt::Retry { error, after } => {
                let d = backoff.delay(retry, after);
                retry += 1;
                (error, d)
            }
        };
        if last {
            return Outcome::Failed { error, attempts: attempt };
        }
        on_retry(&error, attempt, delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancelled() => return Outcome::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Backoff = Backoff {
        initial: Duration::from_millis(1),
        base: 2.0,
        cap: Duration::from_millis(4),
        jitter: Jitter::Full,
        attempts: Some(3),
    };

    #[test]
    fn ceilings_grow_to_the_cap_and_hints_are_floors() {
        let b = Backoff { initial: Duration::from_secs(1), cap: Duration::from_secs(30), ..FAST };
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(10), Duration::from_secs(30));
        assert!(b.delay(0, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        let s = Backoff { jitter: Jitter::AtLeast(0.5), ..b };
        assert!(s.delay(2, None) >= Duration::from_secs(2));
    }

    #[tokio::test]
    async fn the_loop_stops_at_the_attempts_on_failure_and_on_cancel() {
        let mut retried = 0;
        let out = run(
            &FAST,
            None,
            |_| async { Attempt::<(), _>::Retry { error: "busy", after: None } },
            |_, _, _| retried += 1,
        )
        .await;
        assert!(matches!(out, Outcome::Failed { attempts: 3, .. }));
        assert_eq!(retried, 2);
        let out = run(
            &FAST,
            None,
            |n| async move { if n < 2 { Attempt::Again("x") } else { Attempt::Done(n) } },
            |_, _, _| {},
        )
        .await;
        assert!(matches!(out, Outcome::Done(2)));
        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let forever = Backoff { attempts: None, ..FAST };
        let out = run(
            &forever,
            Some(&cancelled),
            |_| async { Attempt::<(), _>::Retry { error: "x", after: None } },
            |_, _, _| {},
        )
        .await;
        assert!(matches!(out, Outcome::Cancelled));
    }
}
