//! The threads that evaluate mappings. jq programs recurse, and so does dropping the deep values they can
//! build (`reduce range(100000) as $_ ([]; [.])`): on a runtime thread's 2 MiB stack either would abort
//! the process. These threads have a large stack (reserved, committed only as it is used), evaluations
//! on them may recurse as deep as [`STACK_ROOM`], and a panic fails the job, never the thread. Live
//! events' jobs go first: background work (a resync's batches, in small chunks) takes a thread only when
//! no live job waits.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex};

use super::Limits;

/// The stack of an evaluation thread.
const STACK_SIZE: usize = 256 * 1024 * 1024;

/// What an evaluation may use of it for recursion; the rest is for dropping deep values.
pub(crate) const STACK_ROOM: usize = 64 * 1024 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting: live events' first, background work (resync) when none is waiting.
#[derive(Default)]
struct Queues {
    live: VecDeque<Job>,
    background: VecDeque<Job>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next job, live ones first; `None` once closed and empty.
    fn next(&self) -> Option<Job> {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.live.pop_front().or_else(|| q.background.pop_front()) {
                return Some(job);
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A pool of evaluation threads, stopped when dropped.
pub(crate) struct Evaluator {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Evaluator {
    /// Starts `threads` evaluation threads, `niceness` below the caller's priority (see `priority.rs`).
    pub(crate) fn start(threads: usize, niceness: i32) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let threads = (0..threads.max(1))
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new().name(format!("ocean-mapping-{i}")).stack_size(STACK_SIZE).spawn(move || {
                    crate::priority::lower_this_thread(niceness);
                    while let Some(job) = shared.next() {
                        job();
                    }
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { shared, threads })
    }

    /// The limits of a leaf evaluated here, given its time budget.
    pub(crate) fn limits(time: std::time::Duration) -> Limits {
        Limits { time, stack: STACK_ROOM }
    }

    /// Runs `f` on an evaluation thread; `Err` with the message of its panic.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        self.submit(false, f).await
    }

    /// Runs `f` on an evaluation thread once no live job is waiting (resync's batches).
    pub(crate) async fn run_background<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        self.submit(true, f).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        background: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| crate::pool::panic_message(&*p));
            let _ = tx.send(out);
        });
        {
            let mut q = self.shared.lock();
            if q.closed {
                return Err("the mapping threads are stopped".into());
            }
            if background { q.background.push_back(job) } else { q.live.push_back(job) }
        }
        self.shared.ready.notify_one();
        rx.await.unwrap_or_else(|_| Err("a mapping thread stopped".into()))
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
