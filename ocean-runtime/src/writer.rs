//! A writer thread fed by a channel, as the embedded stores use it: every operation pending at the
//! moment goes into one batch (one transaction, one fsync), and dropping the writer waits for what is
//! pending to be written, so that the file can be opened again at once.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

/// What a writer thread does with its operations.
pub(crate) trait Batches<T>: Send + 'static {
    /// Writes one batch.
    fn write(&mut self, batch: Vec<T>);
    /// When [`Batches::wake`] is due if no operation comes first.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The deadline passed.
    fn wake(&mut self) {}
    /// The channel closed and every operation was written.
    fn end(&mut self) {}
}

/// A closure that writes each batch.
struct Each<F>(F);

impl<T, F: FnMut(Vec<T>) + Send + 'static> Batches<T> for Each<F> {
    fn write(&mut self, batch: Vec<T>) {
        (self.0)(batch)
    }
}

/// The sending side of a writer thread.
pub(crate) struct Writer<T> {
    tx: Mutex<Option<Sender<T>>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Writer<T> {
    /// Starts a thread named `name` that calls `write` with each batch of at most `max` operations, at
    /// `niceness` below the caller's priority (see `priority.rs`).
    pub(crate) fn spawn(
        name: &str,
        max: usize,
        niceness: i32,
        write: impl FnMut(Vec<T>) + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::spawn_with(name, max, niceness, Each(write))
    }

    /// [`Writer::spawn`] with a writer that also acts at deadlines of its own and at the end.
    pub(crate) fn spawn_with(
        name: &str,
        max: usize,
        niceness: i32,
        mut batches: impl Batches<T>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            crate::priority::lower_this_thread(niceness);
            loop {
                match next_batch(&rx, max, batches.deadline()) {
                    Next::Batch(batch) => batches.write(batch),
                    Next::Due => batches.wake(),
                    Next::Closed => break batches.end(),
                }
            }
        })?;
        Ok(Self { tx: Mutex::new(Some(tx)), thread: Some(thread) })
    }

    /// Hands an operation to the thread; `false` once it has stopped.
    pub(crate) fn send(&self, op: T) -> bool {
        match &*self.tx.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(tx) => tx.send(op).is_ok(),
            None => false,
        }
    }
}

enum Next<T> {
    Batch(Vec<T>),
    Due,
    Closed,
}

/// Waits for one operation (until `deadline`, when given), then takes every other one pending, up to
/// `max`.
fn next_batch<T>(rx: &Receiver<T>, max: usize, deadline: Option<Instant>) -> Next<T> {
    let first = match deadline {
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
    };
    let first = match first {
        Ok(op) => op,
        Err(RecvTimeoutError::Timeout) => return Next::Due,
        Err(RecvTimeoutError::Disconnected) => return Next::Closed,
    };
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
    Next::Batch(batch)
}

impl<T> Drop for Writer<T> {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has written what is pending.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
