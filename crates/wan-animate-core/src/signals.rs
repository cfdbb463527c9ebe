//! Wake-ups for push completion: a receiver of the service's task-finished notifications
//! (EventBridge to an HTTP endpoint) calls [`CompletionSignals::notify`]; every wait of a
//! client configured with the hub queries its task at once instead of at its next poll.
//! Notifications are hints, never trusted as results: the wait always reads the task.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// A cloneable hub of task-completion signals (runtime-agnostic, no allocation per signal
/// for tasks nobody waits on).
///
/// ```
/// use wan_animate_core::{Client, ClientConfig, CompletionSignals, http::*};
/// let signals = CompletionSignals::new();
/// let http = http_client_fn(|_| async { Err(TransportError::connect("offline")) });
/// let client = Client::builder(ClientConfig::new("sk-x"))
///     .http_client(http)
///     .completion_signals(signals.clone())
///     .build()?;
/// // ... in the HTTP receiver of push notifications:
/// signals.notify("0385dc79-5ff8-4d82-bcb6");
/// # let _ = client;
/// # Ok::<(), wan_animate_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct CompletionSignals {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

#[derive(Default)]
struct Slot {
    generation: u64,
    subscribers: usize,
    wakers: Vec<Waker>,
}

impl fmt::Debug for CompletionSignals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = self.slots.lock().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("CompletionSignals")
            .field("tasks_waited_on", &waiting)
            .finish()
    }
}

impl CompletionSignals {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Says that `task_id` may have finished: waits on it query it now. Returns whether any
    /// wait was listening (a signal for a task nobody waits on is dropped).
    pub fn notify(&self, task_id: &str) -> bool {
        let wakers = {
            let Ok(mut slots) = self.slots.lock() else {
                return false;
            };
            match slots.get_mut(task_id) {
                Some(slot) => {
                    slot.generation += 1;
                    std::mem::take(&mut slot.wakers)
                }
                None => return false,
            }
        };
        for w in wakers {
            w.wake();
        }
        true
    }

    /// Whether some wait is listening for `task_id`.
    pub fn is_waited_on(&self, task_id: &str) -> bool {
        self.slots
            .lock()
            .map(|s| s.contains_key(task_id))
            .unwrap_or(false)
    }

    /// Starts listening for `task_id` (signals from now on count).
    pub(crate) fn subscribe(&self, task_id: &str) -> Subscription {
        let seen = match self.slots.lock() {
            Ok(mut slots) => {
                let slot = slots.entry(task_id.to_owned()).or_default();
                slot.subscribers += 1;
                slot.generation
            }
            Err(_) => 0,
        };
        Subscription {
            hub: self.clone(),
            task_id: task_id.to_owned(),
            seen,
        }
    }
}

/// One wait's interest in one task; dropping it stops listening.
pub(crate) struct Subscription {
    hub: CompletionSignals,
    task_id: String,
    seen: u64,
}

impl Subscription {
    /// Completes at the next signal not yet consumed (at once if one came since the last).
    pub(crate) fn signaled(&mut self) -> impl Future<Output = ()> + Send + '_ {
        std::future::poll_fn(move |cx| {
            let Ok(mut slots) = self.hub.slots.lock() else {
                return Poll::Pending;
            };
            let Some(slot) = slots.get_mut(&self.task_id) else {
                return Poll::Pending;
            };
            if slot.generation > self.seen {
                self.seen = slot.generation;
                return Poll::Ready(());
            }
            if !slot.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                slot.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.hub.slots.lock()
            && let Some(slot) = slots.get_mut(&self.task_id)
        {
            slot.subscribers = slot.subscribers.saturating_sub(1);
            if slot.subscribers == 0 {
                slots.remove(&self.task_id);
            }
        }
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_wakes_its_subscriber_once_and_others_not() {
        let hub = CompletionSignals::new();
        assert!(!hub.notify("t-1"), "nobody listens yet");
        let mut a = hub.subscribe("t-1");
        let mut b = hub.subscribe("t-2");
        assert!(hub.notify("t-1"));
        // Consumed once.
        a.signaled().await;
        let again = futures_util::FutureExt::now_or_never(a.signaled());
        assert!(again.is_none());
        assert!(futures_util::FutureExt::now_or_never(b.signaled()).is_none());
        drop(a);
        assert!(
            !hub.is_waited_on("t-1"),
            "dropping the last subscription forgets the task"
        );
        assert!(hub.is_waited_on("t-2"));
    }
}
