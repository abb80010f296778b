//! Delivery-id deduplication: an atomic check-and-reserve over a time window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The delivery ids seen within the window, with their expiry.
pub(crate) struct Dedup {
    seen: Mutex<HashMap<String, u64>>,
    window: Duration,
}

impl Dedup {
    pub(crate) fn new(window: Duration) -> Self {
        Self { seen: Mutex::new(HashMap::new()), window }
    }

    /// Reserves `key`; `false` when it was seen within the window. Atomic: of two concurrent copies of one
    /// delivery, exactly one reserves it. Returns the expiry to persist with the event.
    pub(crate) fn reserve(&self, key: &str) -> Option<u64> {
        let now = now_secs();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, exp| *exp > now);
        }
        match seen.get(key) {
            Some(exp) if *exp > now => None,
            _ => {
                let exp = now + self.window.as_secs();
                seen.insert(key.to_owned(), exp);
                Some(exp)
            }
        }
    }

    /// Releases a reservation whose event could not be queued, so a retry by the sender is accepted.
    pub(crate) fn release(&self, key: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Restores reservations read from disk.
    pub(crate) fn restore(&self, entries: impl IntoIterator<Item = (String, u64)>) {
        let now = now_secs();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.extend(entries.into_iter().filter(|(_, exp)| *exp > now));
    }
}
