//! The ledger thread: the one place a [`LedgerStore`] is touched during a run, so SQLite's
//! blocking I/O (and its fsyncs) never stall the async workers.
//!
//! Transitions that arrive while a commit is in progress are applied together in the next
//! one (group commit): one fsync for many jobs, each still compare-and-set on its own, and
//! every caller answered only after its transition is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::ledger::{LedgerError, LedgerStore, Transition};

type Call = Box<dyn FnOnce(&mut dyn LedgerStore) + Send>;

enum Request {
    Transition(Transition, oneshot::Sender<Result<(), LedgerError>>),
    Call(Call),
}

/// Most transitions applied in one commit.
const MAX_GROUP: usize = 1024;

/// A [`LedgerStore`] on its own thread, used from async code. Dropping it finishes the
/// queued work, closes the store (releasing its run lock) and joins the thread.
///
/// ```
/// use wan_animate_batch::ledger::{JobState, Ledger, LedgerStore, Transition};
/// use wan_animate_batch::store::LedgerThread;
/// # let dir = tempfile::tempdir()?;
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// let ledger = LedgerThread::spawn(Box::new(Ledger::open(&dir.path().join("l.sqlite"))?));
/// let total = rt.block_on(ledger.call(|store| store.summary()))??.total;
/// assert_eq!(total, 0);
/// let stale = rt.block_on(ledger.transition(Transition::new("x", JobState::Queued, JobState::Uploaded, 0)));
/// assert!(stale.is_err(), "no such job: refused, not written");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LedgerThread {
    tx: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    applied: Arc<AtomicU64>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Transition(t, _) => write!(f, "Transition({t:?})"),
            Request::Call(_) => f.write_str("Call"),
        }
    }
}

impl LedgerThread {
    /// Moves `store` onto a new thread.
    pub fn spawn(mut store: Box<dyn LedgerStore>) -> Self {
        let (tx, rx) = mpsc::channel::<Request>();
        let applied = Arc::new(AtomicU64::new(0));
        let counter = applied.clone();
        let thread = std::thread::Builder::new()
            .name("wan-animate-ledger".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = Vec::new();
                    let mut later: Vec<Call> = Vec::new();
                    match first {
                        Request::Call(f) => f(store.as_mut()),
                        Request::Transition(t, reply) => group.push((t, reply)),
                    }
                    while !group.is_empty() && group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(Request::Transition(t, reply)) => group.push((t, reply)),
                            Ok(Request::Call(f)) => later.push(f),
                            Err(_) => break,
                        }
                    }
                    if !group.is_empty() {
                        let (ts, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                        let results = store.apply(&ts);
                        let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
                        counter.fetch_add(ok, Ordering::Relaxed);
                        for (reply, r) in replies.into_iter().zip(results) {
                            let _ = reply.send(r);
                        }
                    }
                    for f in later {
                        f(store.as_mut());
                    }
                }
            })
            .expect("the OS can start a thread");
        Self {
            tx: Some(tx),
            thread: Some(thread),
            applied,
        }
    }

    fn send(&self, r: Request) -> Result<(), LedgerError> {
        self.tx
            .as_ref()
            .and_then(|tx| tx.send(r).ok())
            .ok_or_else(closed)
    }

    /// Applies one transition; returns once it is durable (or refused).
    pub async fn transition(&self, t: Transition) -> Result<(), LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Transition(t, reply))?;
        answer.await.map_err(|_| closed())?
    }

    /// Runs `f` on the ledger thread and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn LedgerStore) -> R + Send + 'static,
    ) -> Result<R, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Call(Box::new(move |s| {
            let _ = reply.send(f(s));
        })))?;
        answer.await.map_err(|_| closed())
    }

    /// Transitions applied so far (for benchmarks).
    pub fn transitions_applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }
}

fn closed() -> LedgerError {
    LedgerError::Storage("the ledger thread stopped".into())
}

impl Drop for LedgerThread {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{JobState, Ledger};
    use crate::manifest::{Job, MediaSource};
    use wan_animate_types::{Mode, Model};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_transitions_are_each_checked_and_the_lock_goes_with_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let mut ledger = Ledger::open(&path).unwrap();
        let jobs: Vec<Job> = (0..200)
            .map(|i| Job {
                id: format!("j{i}"),
                line: i + 1,
                model: Model::AnimateMix,
                image: MediaSource::Url("https://x/p.jpg".into()),
                video: MediaSource::Url("https://x/v.mp4".into()),
                mode: Mode::Standard,
                watermark: None,
                check_image: None,
                output: format!("j{i}.mp4").into(),
            })
            .collect();
        ledger.sync_jobs(&jobs, 0).unwrap();
        let thread = Arc::new(LedgerThread::spawn(Box::new(ledger)));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..200 {
            let thread = thread.clone();
            set.spawn(async move {
                // Two writers race for each job; exactly one may win.
                let t = Transition::new(format!("j{i}"), JobState::Queued, JobState::Uploaded, 1);
                let (a, b) = tokio::join!(thread.transition(t.clone()), thread.transition(t));
                (a.is_ok() as u32) + (b.is_ok() as u32)
            });
        }
        while let Some(wins) = set.join_next().await {
            assert_eq!(
                wins.unwrap(),
                1,
                "one of two identical transitions is stale"
            );
        }
        assert_eq!(thread.transitions_applied(), 200);
        assert!(Ledger::open(&path).is_err(), "the thread holds the lock");
        drop(Arc::into_inner(thread).unwrap());
        let reopened = Ledger::open(&path).unwrap();
        assert_eq!(reopened.summary().unwrap().pending, 200);
        assert_eq!(reopened.job("j7").unwrap().state, Some(JobState::Uploaded));
    }
}
