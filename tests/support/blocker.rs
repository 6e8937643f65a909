//! Task code that holds its executor until the test lets it go.

use super::{expect, DEADLINE};
use allot::Task;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// A gate that tasks wait on until the test opens it.
///
/// Once opened it stays open: every waiter, now and later, goes through.
#[derive(Clone)]
pub struct Gate {
    tx: Arc<parking_lot::Mutex<Option<Sender<()>>>>,
    rx: Receiver<()>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Gate {
            tx: Arc::new(parking_lot::Mutex::new(Some(tx))),
            rx,
        }
    }

    /// Lets every waiter through, now and later.
    pub fn open(&self) {
        self.tx.lock().take();
    }

    /// Blocks until the gate opens.
    ///
    /// # Panics
    ///
    /// If it is still closed after [`DEADLINE`].
    pub fn wait(&self) {
        match self.rx.recv_timeout(DEADLINE) {
            Err(RecvTimeoutError::Disconnected) => {}
            other => panic!("gate never opened: {other:?}"),
        }
    }

    /// Blocks until the gate opens or `d` passes; whether it opened.
    pub fn wait_up_to(&self, d: Duration) -> bool {
        matches!(self.rx.recv_timeout(d), Err(RecvTimeoutError::Disconnected))
    }
}

/// Holds executors busy inside task code until the test lets them go, and
/// tells the test each time a task reaches the hold.
///
/// The test keeps the `Blocker`. Task code gets a [`Hold`] from
/// [`Blocker::hold`] and calls [`Hold::block`] where it should stop (or is
/// built whole by [`Blocker::task`]). Once [`Blocker::expect_started`]
/// returns, one more task has reached its hold: its executor is busy, so
/// whatever the test sends to that node next queues behind it.
/// [`Blocker::open`] lets every held task go, now and later.
///
/// Nothing here sleeps: each wait ends as soon as the other side acts, and
/// panics after [`DEADLINE`] with what it waited for.
pub struct Blocker {
    gate: Gate,
    started_tx: Sender<()>,
    started: Receiver<()>,
}

impl Blocker {
    /// A closed blocker that no task has reached yet.
    pub fn new() -> Self {
        let (started_tx, started) = crossbeam_channel::unbounded();
        Blocker {
            gate: Gate::new(),
            started_tx,
            started,
        }
    }

    /// The handle task code holds on to: clone it into as many tasks as
    /// should wait on this blocker.
    pub fn hold(&self) -> Hold {
        Hold {
            gate: self.gate.clone(),
            started: self.started_tx.clone(),
        }
    }

    /// A task that, on every attempt, says it started, blocks its executor
    /// until [`Blocker::open`], then returns `value`.
    ///
    /// Its attempt panics (and so fails) if the blocker is still closed
    /// after [`DEADLINE`].
    pub fn task<T: Clone + Send + Sync + 'static>(&self, value: T) -> Task<T> {
        let hold = self.hold();
        Task::new(move |_| {
            hold.block();
            Ok::<_, String>(value.clone())
        })
    }

    /// Waits until one more task has reached its hold.
    ///
    /// Each call consumes one start: two held tasks need two calls.
    ///
    /// # Panics
    ///
    /// If no task reaches a hold within [`DEADLINE`]; `what` names the
    /// task in the message.
    pub fn expect_started(&self, what: &str) {
        expect(&self.started, what);
    }

    /// Lets every held task go, now and later.
    pub fn open(&self) {
        self.gate.open();
    }
}

/// Task code's side of a [`Blocker`].
#[derive(Clone)]
pub struct Hold {
    gate: Gate,
    started: Sender<()>,
}

impl Hold {
    /// Tells the test this task has started, without blocking.
    pub fn announce(&self) {
        let _ = self.started.send(());
    }

    /// Tells the test this task has started, then blocks until the
    /// blocker opens.
    ///
    /// # Panics
    ///
    /// If the blocker is still closed after [`DEADLINE`].
    pub fn block(&self) {
        self.announce();
        self.gate.wait();
    }

    /// Tells the test this task has started, then blocks until the
    /// blocker opens or `d` passes; whether it opened.
    pub fn block_up_to(&self, d: Duration) -> bool {
        self.announce();
        self.gate.wait_up_to(d)
    }

    /// Blocks until the blocker opens or `d` passes, without announcing;
    /// whether it opened. For task code that polls something else between
    /// looks at the blocker.
    pub fn wait_up_to(&self, d: Duration) -> bool {
        self.gate.wait_up_to(d)
    }
}
