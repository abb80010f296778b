//! The threads that evaluate mappings. jq programs recurse, and so does dropping the deep values they can
//! build (`reduce range(100000) as $_ ([]; [.])`): on a runtime thread's 2 MiB stack either would abort
//! the process. These threads have a large stack (reserved, committed only as it is used), evaluations
//! on them may recurse as deep as [`STACK_ROOM`], and a panic fails the job, never the thread.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::Limits;

/// The stack of an evaluation thread.
const STACK_SIZE: usize = 256 * 1024 * 1024;

/// What an evaluation may use of it for recursion; the rest is for dropping deep values.
pub(crate) const STACK_ROOM: usize = 64 * 1024 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// A pool of evaluation threads, stopped when dropped.
pub(crate) struct Evaluator {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Evaluator {
    /// Starts `threads` evaluation threads.
    pub(crate) fn start(threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new().name(format!("ocean-mapping-{i}")).stack_size(STACK_SIZE).spawn(move || {
                    loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { jobs: Mutex::new(Some(tx)), threads })
    }

    /// The limits of a leaf evaluated here, given its time budget.
    pub(crate) fn limits(time: std::time::Duration) -> Limits {
        Limits { time, stack: STACK_ROOM }
    }

    /// Runs `f` on an evaluation thread; `Err` with the message of its panic.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| crate::pool::panic_message(&*p));
            let _ = tx.send(out);
        });
        let sent = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err("the mapping threads are stopped".into());
        }
        rx.await.unwrap_or_else(|_| Err("a mapping thread stopped".into()))
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
