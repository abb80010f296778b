//! A writer thread fed by a channel, as the embedded stores use it: every operation pending at the
//! moment goes into one batch (one transaction, one fsync), and dropping the writer waits for what is
//! pending to be written, so that the file can be opened again at once.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;

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
        mut write: impl FnMut(Vec<T>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            crate::priority::lower_this_thread(niceness);
            while let Some(batch) = next_batch(&rx, max) {
                write(batch);
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

/// Waits for one operation, then takes every other one pending, up to `max`; `None` once closed.
fn next_batch<T>(rx: &Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
    Some(batch)
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
