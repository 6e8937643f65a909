//! Seeded fault plans, hang detection and backpressure.

mod support;

use allot::{FaultPlan, FaultSpec, NodeId, SupervisionConfig, Task, TaskError};
use std::time::{Duration, Instant};
use support::{builder, eventually, fast_restarts, Blocker};

fn hang_config(hang_timeout: Duration) -> SupervisionConfig {
    SupervisionConfig {
        hang_timeout,
        ..fast_restarts()
    }
}

#[test]
fn a_node_whose_executor_hangs_is_replaced_and_its_task_runs_again() {
    let plan = FaultPlan::new(1).with(FaultSpec::HangNode {
        node: NodeId(0),
        after_tasks: 1,
        duration: None,
    });
    let rt = builder(2)
        .supervision(hang_config(Duration::from_millis(100)))
        .fault_plan(plan)
        .build()
        .unwrap();
    let h = rt.handle();
    let t = h
        .submit_to(NodeId(0), Task::new(|ctx| Ok::<_, String>(ctx.attempt())))
        .unwrap();
    // The first attempt never starts its code: the executor hangs first.
    assert_eq!(t.wait().unwrap(), 1);
    eventually("node 0 to be replaced", || {
        h.metrics().nodes[0].restarts == 1
    });
    let m = rt.shutdown();
    assert_eq!(m.totals.retried, 1);
    assert_eq!(m.totals.completed, 1);
}

#[test]
fn a_long_task_that_heartbeats_is_not_declared_hung() {
    // A generous timeout, so a loaded machine descheduling the task for a
    // while does not look like a hang.
    let rt = builder(1)
        .supervision(hang_config(Duration::from_millis(250)))
        .build()
        .unwrap();
    let h = rt.handle();
    let t = h
        .submit(Task::new(|ctx| {
            // Work for ~3 hang timeouts, reporting progress as it goes.
            let start = Instant::now();
            let mut acc = 0.0;
            while start.elapsed() < Duration::from_millis(750) {
                acc += support::busy_work(5);
                ctx.heartbeat();
            }
            Ok::<_, String>((ctx.attempt(), acc))
        }))
        .unwrap();
    assert_eq!(t.wait().unwrap().0, 0);
    let m = rt.shutdown();
    assert_eq!(m.nodes[0].restarts, 0);
}

#[test]
fn a_flooded_mailbox_loses_no_task_and_needs_no_restart() {
    let plan = FaultPlan::new(2).with(FaultSpec::FloodMailbox {
        node: NodeId(0),
        after_tasks: 10,
        messages: 200_000,
    });
    let rt = builder(2).fault_plan(plan).build().unwrap();
    let h = rt.handle();
    let hs = h
        .submit_batch((0..2_000u64).map(|i| Task::new(move |_| Ok::<_, String>(i))))
        .unwrap();
    let sum: u64 = hs.into_iter().map(|t| t.wait().unwrap()).sum();
    assert_eq!(sum, 1_999 * 2_000 / 2);
    let m = rt.shutdown();
    assert_eq!(m.totals.restarts, 0);
    assert_eq!(m.totals.completed, 2_000);
}

/// Runs 3 000 tasks on one node under a plan of task panics; returns
/// (completed, failed, retried).
fn run_panicky(seed: u64) -> (u64, u64, u64) {
    let plan = FaultPlan::new(seed).with(FaultSpec::PanicTask { p: 0.2 });
    let rt = builder(1).fault_plan(plan).build().unwrap();
    let hs = rt
        .handle()
        .submit_batch((0..3_000u64).map(|i| {
            Task::new(move |_| Ok::<_, String>(i))
                .retry_on_error(true)
                .max_retries(1)
        }))
        .unwrap();
    for t in hs {
        match t.wait() {
            Ok(_) => {}
            Err(TaskError::Failed { attempts }) => {
                assert_eq!(attempts.len(), 2);
                assert!(attempts[1].to_string().contains("injected panic"));
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    let m = rt.shutdown();
    (m.totals.completed, m.totals.failed, m.totals.retried)
}

#[test]
fn the_same_seed_gives_the_same_faults_and_the_same_outcome() {
    let a = run_panicky(11);
    let b = run_panicky(11);
    assert_eq!(a, b);
    // About 20 % retried, 4 % failed twice.
    assert!((450..750).contains(&a.2), "{a:?}");
    assert!((60..200).contains(&a.1), "{a:?}");
    let c = run_panicky(12);
    assert_ne!(a, c, "another seed, other faults");
}

#[test]
fn submit_wait_applies_backpressure_and_in_flight_tasks_stay_bounded() {
    const CAP: usize = 32;
    let rt = builder(2).queue_capacity(CAP).build().unwrap();
    let h = rt.handle().clone();
    let mut handles = Vec::new();
    let mut max_seen = 0;
    for i in 0..3_000u64 {
        let t = h
            .submit_wait(Task::new(move |_| {
                Ok::<_, String>(support::busy_work(1) + i as f64)
            }))
            .unwrap();
        handles.push(t);
        if i % 50 == 0 {
            let in_flight = h.metrics().totals.in_flight;
            max_seen = max_seen.max(in_flight);
            assert!(
                in_flight as usize <= CAP,
                "{in_flight} tasks in flight with a bound of {CAP}"
            );
        }
    }
    // A plain submit while full hands the task back instead of waiting.
    let mut refused = 0;
    for _ in 0..200 {
        match h.submit(Task::new(|_| Ok::<_, String>(0.0))) {
            Ok(t) => handles.push(t),
            Err(e) => {
                assert!(e.is_full());
                refused += 1;
            }
        }
    }
    for t in handles {
        t.wait().unwrap();
    }
    let m = rt.shutdown();
    assert!(max_seen > 0);
    assert_eq!(m.totals.completed + refused, 3_200);
}

#[test]
fn submit_wait_timeout_gives_the_task_back_when_no_room_frees_in_time() {
    let rt = builder(1).queue_capacity(1).build().unwrap();
    let h = rt.handle();
    let gate = Blocker::new();
    let blocker = h.submit(gate.task(())).unwrap();
    let err = h
        .submit_wait_timeout(
            Task::new(|_| Ok::<_, String>(())).priority(9),
            Duration::from_millis(20),
        )
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.into_inner().spec().priority, 9);
    gate.open();
    blocker.wait().unwrap();
    rt.shutdown();
}
