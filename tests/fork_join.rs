//! Fork-join from inside running tasks.

mod support;

use allot::{CancelReason, Fault, NodeId, PolicyKind, Task, TaskError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use support::{builder, eventually, Blocker};

#[test]
fn a_task_forks_subtasks_and_joins_their_results_in_order() {
    let rt = builder(2).build().unwrap();
    let h = rt.handle();
    let parent = h
        .submit(Task::new(|ctx| {
            let squares = ctx
                .fork_join((0..20u64).map(|i| Task::new(move |_| Ok::<_, String>(i * i))))
                .map_err(|e| e.to_string())?;
            let values: Vec<u64> = squares.into_iter().map(|r| r.unwrap()).collect();
            Ok::<_, String>(values)
        }))
        .unwrap();
    let v = parent.wait().unwrap();
    assert_eq!(v, (0..20u64).map(|i| i * i).collect::<Vec<_>>());
    let m = rt.shutdown();
    assert_eq!(m.totals.submitted, 21);
    assert_eq!(m.totals.completed, 21);
}

#[test]
fn fork_join_does_not_deadlock_when_every_executor_is_inside_a_join() {
    for _ in 0..5 {
        // Two one-slot nodes, four parents: both executors are busy joining
        // while every child waits in a queue behind another parent.
        let rt = builder(2).policy(PolicyKind::RoundRobin).build().unwrap();
        let h = rt.handle();
        let parents = h
            .submit_batch((0..4u64).map(|p| {
                Task::new(move |ctx| {
                    let kids = (0..16u64).map(move |i| {
                        Task::new(move |ctx| {
                            // Grandchildren: a join inside a join.
                            let inner = ctx
                                .fork_join(
                                    (0..3u64).map(move |k| Task::new(move |_| Ok::<_, String>(k))),
                                )
                                .map_err(|e| e.to_string())?;
                            let s: u64 = inner.into_iter().map(|r| r.unwrap()).sum();
                            Ok::<_, String>(p * 100 + i + s)
                        })
                    });
                    let out = ctx.fork_join(kids).map_err(|e| e.to_string())?;
                    Ok::<_, String>(out.into_iter().map(|r| r.unwrap()).sum::<u64>())
                })
            }))
            .unwrap();
        let sums: Vec<u64> = parents.into_iter().map(|t| t.wait().unwrap()).collect();
        let expect: Vec<u64> = (0..4u64)
            .map(|p| (0..16).map(|i| p * 100 + i + 3).sum())
            .collect();
        assert_eq!(sums, expect);
        let m = rt.shutdown();
        assert_eq!(m.totals.completed, 4 + 4 * 16 + 4 * 16 * 3);
    }
}

#[test]
fn a_parent_retried_after_its_node_crashes_leaves_no_orphans_and_counts_nothing_twice() {
    let rt = builder(2).build().unwrap();
    let h = rt.handle().clone();
    let done = Arc::new(AtomicU64::new(0));
    let d = Arc::clone(&done);
    let parent = h
        .submit_to(
            NodeId(0),
            Task::new(move |ctx| {
                let d = Arc::clone(&d);
                let attempt = ctx.attempt();
                let kids = (0..40u64).map(move |i| {
                    let d = Arc::clone(&d);
                    Task::new(move |ctx| {
                        // Children of the first attempt stop once it is gone.
                        let mut x = 0.0;
                        for _ in 0..200 {
                            if ctx.is_abandoned() {
                                break;
                            }
                            x += support::busy_work(2);
                        }
                        d.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, String>((i, x))
                    })
                });
                let results = ctx.fork_join(kids).map_err(|e| e.to_string())?;
                let mut sum = 0;
                let mut cancelled = 0;
                for r in results {
                    match r {
                        Ok((i, _)) => sum += i,
                        Err(TaskError::Cancelled(CancelReason::ParentEnded)) => cancelled += 1,
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok::<_, String>((attempt, sum, cancelled))
            }),
        )
        .unwrap();
    eventually("some children of the first attempt to finish", || {
        done.load(Ordering::Relaxed) >= 3
    });
    h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
    let (attempt, sum, cancelled) = parent.wait().unwrap();
    assert_eq!(attempt, 1, "the parent ran again");
    assert_eq!(
        sum,
        (0..40u64).sum::<u64>(),
        "the retry used only its own children"
    );
    assert_eq!(cancelled, 0);
    let m = rt.shutdown();
    let t = &m.totals;
    // 1 parent + 40 children per attempt; first-attempt children either
    // completed or were cancelled with their parent. Nothing is left over.
    assert_eq!(t.submitted, 81);
    assert_eq!(t.completed + t.cancelled, 81);
    assert!(t.cancelled > 0, "{t:?}");
    assert_eq!(t.failed, 0);
    assert_eq!(t.in_flight, 0);
    assert_eq!(t.unaccounted(), 0);
}

#[test]
fn subtasks_an_attempt_did_not_join_end_with_it() {
    let rt = builder(1).build().unwrap();
    let h = rt.handle();
    let gate = Blocker::new();
    let hold = gate.hold();
    let parent = h
        .submit(Task::new(move |ctx| {
            let hold = hold.clone();
            let child = ctx
                .spawn(Task::new(move |_| {
                    hold.block();
                    Ok::<_, String>(1)
                }))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(child)
        }))
        .unwrap();
    let child = parent.wait().unwrap();
    assert!(matches!(
        child.wait(),
        Err(TaskError::Cancelled(CancelReason::ParentEnded))
    ));
    gate.open();
    let m = rt.shutdown();
    assert_eq!((m.totals.completed, m.totals.cancelled), (1, 1));
}
