//! Remembers the events already delivered, within a bounded memory.

use std::collections::{HashSet, VecDeque};

use wan_animate_types::TaskCompletionEvent;

/// The keys of one event: its id (EventBridge keeps it across redeliveries) and its
/// `(task id, status)` (the same completion announced twice under different ids).
pub(crate) fn keys(event: &TaskCompletionEvent) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if !event.id.is_empty() {
        keys.push(format!("id\u{0}{}", event.id));
    }
    keys.push(format!(
        "task\u{0}{}\u{0}{}",
        event.data.task_id,
        event.data.task_status.as_str()
    ));
    keys
}

/// A set of the most recent `capacity` keys; the oldest are forgotten first.
#[derive(Debug)]
pub(crate) struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Seen {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records every key and returns true, unless one of them was already known (then
    /// records nothing and returns false).
    pub(crate) fn insert_all(&mut self, keys: &[String]) -> bool {
        if keys.iter().any(|k| self.set.contains(k)) {
            return false;
        }
        for key in keys {
            self.set.insert(key.clone());
            self.order.push_back(key.clone());
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Forgets keys recorded for an event that could not be delivered after all.
    pub(crate) fn remove_all(&mut self, keys: &[String]) {
        for key in keys {
            self.set.remove(key);
        }
        self.order.retain(|k| !keys.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wan_animate_types::TaskStatus;

    #[test]
    fn same_id_or_same_task_and_status_is_a_duplicate() {
        let mut seen = Seen::new(100);
        let a = TaskCompletionEvent::new("e1", "t1", TaskStatus::Succeeded);
        assert!(seen.insert_all(&keys(&a)));
        assert!(!seen.insert_all(&keys(&a)));
        let same_id = TaskCompletionEvent::new("e1", "t2", TaskStatus::Failed);
        assert!(!seen.insert_all(&keys(&same_id)));
        let same_task = TaskCompletionEvent::new("e9", "t1", TaskStatus::Succeeded);
        assert!(!seen.insert_all(&keys(&same_task)));
        let other_status = TaskCompletionEvent::new("e2", "t1", TaskStatus::Failed);
        assert!(seen.insert_all(&keys(&other_status)));
    }

    #[test]
    fn memory_is_bounded_and_removal_allows_redelivery() {
        let mut seen = Seen::new(4);
        for i in 0..10 {
            let e = TaskCompletionEvent::new(format!("e{i}"), format!("t{i}"), TaskStatus::Failed);
            assert!(seen.insert_all(&keys(&e)));
        }
        assert!(seen.set.len() <= 4 && seen.order.len() <= 4);
        let e = TaskCompletionEvent::new("x", "y", TaskStatus::Failed);
        assert!(seen.insert_all(&keys(&e)));
        seen.remove_all(&keys(&e));
        assert!(seen.insert_all(&keys(&e)));
    }
}
