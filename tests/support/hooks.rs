//! Builder hooks that report to the test.

use allot::{Builder, SupervisorEvent};
use crossbeam_channel::Receiver;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts a runtime's executor threads as they start and stop, through the
/// builder's executor hooks.
///
/// Clones share the counts.
#[derive(Clone, Default)]
pub struct ExecutorCount {
    started: Arc<AtomicUsize>,
    stopped: Arc<AtomicUsize>,
}

impl ExecutorCount {
    /// Installs the counting `on_executor_start` and `on_executor_stop`
    /// hooks on `b` (replacing any executor hooks it had).
    pub fn install<'b>(&self, b: &'b mut Builder) -> &'b mut Builder {
        let (started, stopped) = (Arc::clone(&self.started), Arc::clone(&self.stopped));
        b.on_executor_start(move |_| {
            started.fetch_add(1, Ordering::SeqCst);
        })
        .on_executor_stop(move |_| {
            stopped.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// Executor threads started so far.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Executor threads started and not yet stopped.
    pub fn running(&self) -> usize {
        self.started.load(Ordering::SeqCst) - self.stopped.load(Ordering::SeqCst)
    }
}

/// Installs an `on_supervisor_event` hook on `b` that sends every event, in
/// the order the supervisor emits them, to the returned receiver (read it
/// with [`super::expect`]).
pub fn supervisor_events(b: &mut Builder) -> Receiver<SupervisorEvent> {
    let (tx, events) = crossbeam_channel::unbounded();
    b.on_supervisor_event(move |e| {
        let _ = tx.send(e.clone());
    });
    events
}
