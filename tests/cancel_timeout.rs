//! Cancelling tasks, task timeouts, and waiting with a deadline.

mod support;

use allot::{AttemptFailure, CancelReason, NodeId, Task, TaskError, TaskStatus};
use std::time::Duration;
use support::{builder, eventually, expect, signal, Blocker};

#[test]
fn a_queued_task_can_be_cancelled_and_never_runs() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let blocker = h.submit(gate.task(())).unwrap();
    gate.expect_started("the blocker to start");
    let (ran_tx, ran) = signal();
    let victim = h
        .submit_to(
            NodeId(0),
            Task::new(move |_| {
                let _ = ran_tx.send(());
                Ok::<_, String>(())
            }),
        )
        .unwrap();
    assert_eq!(victim.status(), TaskStatus::Queued);
    assert!(victim.cancel());
    assert!(!victim.cancel(), "a second cancel does nothing");
    assert_eq!(victim.status(), TaskStatus::Cancelled);
    gate.open();
    blocker.wait().unwrap();
    assert!(matches!(
        victim.wait(),
        Err(TaskError::Cancelled(CancelReason::Caller))
    ));
    let m = runtime.shutdown();
    assert!(
        ran.try_recv().is_err(),
        "a cancelled queued task must not run"
    );
    assert_eq!(m.totals.cancelled, 1);
    assert_eq!(m.totals.completed, 1);
}

#[test]
fn a_cancelled_running_task_sees_it_is_abandoned_and_its_result_is_discarded() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let (started_tx, started) = signal();
    let (saw_tx, saw) = signal();
    let task = h
        .submit(Task::new(move |ctx| {
            let _ = started_tx.send(());
            eventually("the task to be abandoned", || ctx.is_abandoned());
            let _ = saw_tx.send(());
            Ok::<_, String>(1)
        }))
        .unwrap();
    expect(&started, "the task to start");
    assert!(task.cancel());
    expect(&saw, "the task to notice it was abandoned");
    assert!(task.wait().unwrap_err().is_cancelled());
    let m = runtime.shutdown();
    assert_eq!(m.totals.cancelled, 1);
    assert_eq!(m.totals.completed, 0);
    assert_eq!(m.nodes[0].stale_results, 1);
}

#[test]
fn an_attempt_past_its_timeout_fails_as_timed_out_and_is_retried() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let hold = gate.hold();
    let task = h
        .submit(
            Task::new(move |ctx| {
                if ctx.attempt() == 0 {
                    hold.block();
                }
                Ok::<_, String>(ctx.attempt())
            })
            .timeout(Duration::from_millis(20)),
        )
        .unwrap();
    // The first attempt is stuck on the gate; it times out and the retry,
    // on a replacement executor, completes.
    assert_eq!(task.wait().unwrap(), 1);
    gate.open();
    eventually("the stuck attempt's result to be discarded", || {
        h.metrics().nodes[0].stale_results == 1
    });
    let m = runtime.shutdown();
    assert_eq!(m.nodes[0].timed_out, 1);
    assert_eq!(m.totals.retried, 1);
}

#[test]
fn a_task_that_always_times_out_fails_with_every_attempt_timed_out() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let task = h
        .submit(
            gate.task(())
                .timeout(Duration::from_millis(10))
                .max_retries(2),
        )
        .unwrap();
    match task.wait() {
        Err(TaskError::Failed { attempts }) => {
            assert_eq!(attempts.len(), 3);
            assert!(attempts
                .iter()
                .all(|a| matches!(a.failure, AttemptFailure::TimedOut)));
        }
        other => panic!("unexpected {other:?}"),
    }
    gate.open();
    let m = runtime.shutdown();
    assert_eq!(m.totals.failed, 1);
}

#[test]
fn wait_timeout_returns_none_until_the_task_ends() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let mut task = h.submit(gate.task(5)).unwrap();
    assert!(task.wait_timeout(Duration::from_millis(5)).is_none());
    assert!(!task.is_finished());
    gate.open();
    let v = task
        .wait_timeout(support::DEADLINE)
        .expect("finished before the deadline");
    assert_eq!(v.unwrap(), 5);
    runtime.shutdown();
}
