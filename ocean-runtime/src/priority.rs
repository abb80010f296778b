//! Acknowledging before processing, when `OCEAN__PROCESSING_NICENESS` is set: the threads that process
//! events (the workers' runtime built by `Integration::run`, mapping, catalog writes) run at a lower CPU
//! priority than intake's and the queue writer's, so that a burst that saturates the cores is acknowledged
//! first and processed from the queue. Webhook senders time out in seconds (GitHub after 10) and then
//! redeliver or disable the hook. It costs end-to-end throughput and latency (README, Performance), so it
//! is off by default. An integration started with `Integration::start` on a runtime of its own keeps that
//! runtime's priority for its workers.

/// Adds `niceness` (0 to 19; 0 does nothing) to the calling thread's, on Linux where a thread's nice
/// value is its own; elsewhere nothing changes. A refusal is only logged: priority is an optimisation.
pub(crate) fn lower_this_thread(niceness: i32) {
    if niceness <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::nice(niceness) {
        tracing::debug!(error = %e, niceness, "thread priority unchanged");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_thread_is_lowered_alone() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let lowered = std::thread::spawn(|| {
            super::lower_this_thread(5);
            rustix::process::getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 5).min(19));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before, "other threads keep theirs");
    }
}
