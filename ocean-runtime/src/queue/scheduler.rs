//! The group scheduler: per-group FIFO, one event in flight per group, groups in parallel. In memory,
//! shared by every backend; what it holds is already persisted by the backend's storage.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::item::QueuedEvent;

#[derive(Default)]
struct State {
    groups: HashMap<String, VecDeque<QueuedEvent>>,
    ready: VecDeque<String>,
    in_flight: HashSet<String>,
    len: usize,
    by_path: HashMap<String, usize>,
    closed: bool,
}

/// Events waiting or in flight, ordered per group.
#[derive(Default)]
pub(crate) struct Scheduler {
    state: Mutex<State>,
    notify: Notify,
}

impl Scheduler {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters at worst off by one; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an event at the tail of its group; `false` once closed.
    pub(crate) fn push(&self, item: QueuedEvent) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        let group = item.group().to_owned();
        *st.by_path.entry(item.event.path.clone()).or_default() += 1;
        st.len += 1;
        let q = st.groups.entry(group.clone()).or_default();
        q.push_back(item);
        if q.len() == 1 && !st.in_flight.contains(&group) {
            st.ready.push_back(group);
            self.notify.notify_one();
        }
        true
    }

    /// Waits for the head of a group that has nothing in flight; `None` once closed.
    pub(crate) async fn next(&self) -> Option<QueuedEvent> {
        loop {
            let notified = self.notify.notified();
            {
                let mut st = self.lock();
                if st.closed {
                    return None;
                }
                while let Some(group) = st.ready.pop_front() {
                    let item = st.groups.get_mut(&group).and_then(VecDeque::pop_front);
                    if let Some(item) = item {
                        st.in_flight.insert(group);
                        if !st.ready.is_empty() {
                            self.notify.notify_one();
                        }
                        return Some(item);
                    }
                }
            }
            notified.await;
        }
    }

    /// The event left the queue: its group may deliver the next one.
    pub(crate) fn done(&self, item: &QueuedEvent) {
        let mut st = self.lock();
        st.len = st.len.saturating_sub(1);
        if let Some(n) = st.by_path.get_mut(&item.event.path) {
            *n = n.saturating_sub(1);
        }
        self.release(&mut st, item.group());
    }

    /// The event goes back to the head of its group.
    pub(crate) fn requeue(&self, item: QueuedEvent) {
        let mut st = self.lock();
        let group = item.group().to_owned();
        st.groups.entry(group.clone()).or_default().push_front(item);
        self.release(&mut st, &group);
    }

    fn release(&self, st: &mut State, group: &str) {
        st.in_flight.remove(group);
        match st.groups.get(group) {
            Some(q) if !q.is_empty() => {
                st.ready.push_back(group.to_owned());
                self.notify.notify_one();
            }
            _ => {
                st.groups.remove(group);
            }
        }
    }

    /// Events held, in flight included.
    pub(crate) fn len(&self) -> usize {
        self.lock().len
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Events held per path, sorted by path.
    pub(crate) fn depth_by_path(&self) -> Vec<(String, usize)> {
        let st = self.lock();
        let mut v: Vec<_> = st.by_path.iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort();
        v
    }

    /// Stops deliveries: `next` returns `None` from now on.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WebhookEvent;

    fn item(group: &str, n: u64) -> QueuedEvent {
        let mut e = WebhookEvent::from_json("/webhook", serde_json::json!({"n": n}));
        e.group_key = Some(group.into());
        let mut q = QueuedEvent::new(e, vec![0]);
        q.seq = n;
        q
    }

    #[tokio::test]
    async fn one_event_of_a_group_at_a_time_and_groups_in_parallel() {
        let s = Scheduler::default();
        for (g, n) in [("a", 1), ("a", 2), ("b", 3)] {
            assert!(s.push(item(g, n)));
        }
        let first = s.next().await.unwrap();
        let other = s.next().await.unwrap();
        assert_eq!((first.seq, other.seq), (1, 3));
        let wait = tokio::time::timeout(std::time::Duration::from_millis(20), s.next()).await;
        assert!(wait.is_err(), "the second event of `a` waits for the first");
        s.requeue(first);
        assert_eq!(s.next().await.unwrap().seq, 1, "a requeued event is delivered again first");
        assert_eq!(s.len(), 3);
        s.close();
        assert!(s.next().await.is_none());
        assert!(!s.push(item("c", 4)));
    }
}
