//! Loom models of a node's park/wake protocol (see `NodeShared::park`,
//! `NodeShared::signal`, `push_runs`): a push that races an executor going
//! to sleep wakes it, whatever the interleaving. Built only with
//! `RUSTFLAGS="--cfg loom"` (see `src/loom_models.rs`).
//!
//! The pushers call the node's own `push_batch`; the executors take their
//! next job the way `executor_loop` does when its queue runs dry: look at
//! the inbox, pop, watch the inbox for a while (one executor at a time),
//! then park. A lost wake-up leaves an executor waiting for ever, which
//! loom reports as a deadlock.

use super::executor::DEAD_LINGER;
use super::{NodeShared, NodeSpec};
use crate::hooks::Hooks;
use crate::ids::NodeId;
use crate::job::JobRef;
use crate::ledger::Ledger;
use crate::loom_models::{job, model};
use crate::queue::Discipline;
use crate::sync::atomic::Ordering;
use crate::sync::{spin_until, MutexGuard};
use loom::thread;
use std::sync::Arc;

/// A node open for work, as `start_node` leaves it (without threads).
/// With `watch`, an idle executor watches the inbox before it parks (the
/// runtime does so when executors do not outnumber cores). Loom explores
/// few interleavings around a watching executor's yields (a yielding
/// thread waits for the others to move: a model with one watching executor
/// passed even with the re-check before waiting removed), so the models
/// of the wait itself turn the watch off, as the runtime does on a busy
/// machine, and the one with two executors lets one of them watch.
fn open_node(slots: usize, watch: bool) -> Arc<NodeShared> {
    let node = NodeShared::new(
        NodeId(0),
        NodeSpec::default().slots(slots),
        Discipline::Fcfs,
        Arc::new(Ledger::new()),
        Hooks::default(),
    );
    node.set_watch_idle(watch);
    node.reopen();
    Arc::new(node)
}

/// An idle executor's way to its next job, as in `executor_loop`: look at
/// the inbox, pop; else watch the inbox a while (if no other executor
/// does), look again; else park (lingering first, if `linger`) and look
/// again when woken.
fn next_job(node: &NodeShared, linger: bool) -> JobRef {
    let mut st = node.state.lock();
    let mut spun = false;
    let mut lingering = linger;
    loop {
        if node.inbox.len.load(Ordering::Relaxed) > 0 {
            node.absorb(&mut st);
        }
        if let Some(job) = st.queue.pop() {
            return job;
        }
        if !spun && !st.spinner && node.watch_idle.load(Ordering::Relaxed) {
            spun = true;
            st.spinner = true;
            MutexGuard::unlocked(&mut st, || {
                spin_until(|| node.inbox.len.load(Ordering::Acquire) != 0)
            });
            st.spinner = false;
            continue;
        }
        node.park(&mut st, lingering.then_some(DEAD_LINGER));
        lingering = false;
    }
}

/// Pushes one pending job (id `id`), as dispatch and migration do.
fn push_one(node: &NodeShared, id: u64) -> JobRef {
    let (_, job) = job(id, 0);
    assert!(node.push_batch(vec![JobRef::clone(&job)]).is_ok());
    job
}

/// (b) One executor goes idle while one job is pushed: it takes the job,
/// whether the push lands before it looks, while it watches, while it
/// counts itself parked, or once it waits.
#[test]
fn loom_a_push_racing_an_executor_going_to_sleep_wakes_it() {
    model(|| {
        let node = open_node(1, false);
        let executor = {
            let node = node.clone();
            thread::spawn(move || next_job(&node, false))
        };
        let pushed = push_one(&node, 0);
        let got = executor.join().expect("the executor does not panic");
        assert!(Arc::ptr_eq(&got, &pushed));
    });
}

/// (b) The same race with the executor's first wait the timed one (it
/// keeps finished jobs for submitters): loom's timed waits never time
/// out, so only the push's wake-up ends it.
#[test]
fn loom_a_push_racing_a_lingering_executor_wakes_it() {
    model(|| {
        let node = open_node(1, false);
        let executor = {
            let node = node.clone();
            thread::spawn(move || next_job(&node, true))
        };
        let pushed = push_one(&node, 0);
        let got = executor.join().expect("the executor does not panic");
        assert!(Arc::ptr_eq(&got, &pushed));
    });
}

/// (b) Two submitters push one job each while one executor goes idle
/// between them: it takes both, however the two pushes and its two idle
/// spells interleave.
#[test]
fn loom_two_pushes_racing_one_executor_both_reach_it() {
    model(|| {
        let node = open_node(1, false);
        let executor = {
            let node = node.clone();
            thread::spawn(move || [next_job(&node, false), next_job(&node, false)])
        };
        let other = {
            let node = node.clone();
            thread::spawn(move || push_one(&node, 1))
        };
        let first = push_one(&node, 0);
        let second = other.join().expect("the pusher does not panic");
        let got = executor.join().expect("the executor does not panic");
        let ids: Vec<_> = got.iter().map(|j| j.core().id.0).collect();
        assert!(ids == [0, 1] || ids == [1, 0], "each job once: {ids:?}");
        drop((first, second));
    });
}

/// (b) Two executors go idle while a batch of two jobs is pushed in one
/// run (which wakes every waiting executor): each executor gets a job.
/// One of them watches the inbox first, the other parks at once.
#[test]
fn loom_a_batch_racing_two_executors_going_to_sleep_reaches_both() {
    model(|| {
        let node = open_node(2, true);
        let executors: Vec<_> = (0..2)
            .map(|_| {
                let node = node.clone();
                thread::spawn(move || next_job(&node, false))
            })
            .collect();
        let jobs: Vec<JobRef> = (0..2).map(|id| job(id, 0).1).collect();
        assert!(node.push_batch(jobs.clone()).is_ok());
        let mut ids: Vec<u64> = executors
            .into_iter()
            .map(|e| e.join().expect("no executor panics").core().id.0)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1], "each job once");
    });
}
