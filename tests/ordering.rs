//! Queue disciplines hold on a single node.

mod support;

use allot::{Discipline, NodeId, Task};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{builder, compute_for, eventually, Blocker};

struct Job {
    label: usize,
    cost: f64,
    priority: i32,
    deadline_ms: Option<u64>,
}

fn jobs() -> Vec<Job> {
    let raw = [
        (0, 5.0, 1, Some(900)),
        (1, 1.0, 9, None),
        (2, 3.0, 9, Some(100)),
        (3, 0.5, -4, Some(500)),
        (4, 2.0, 3, Some(50)),
        (5, 0.5, 3, Some(300)),
    ];
    raw.into_iter()
        .map(|(label, cost, priority, deadline_ms)| Job {
            label,
            cost,
            priority,
            deadline_ms,
        })
        .collect()
}

/// Runs the jobs on one busy node and returns the labels in start order.
fn start_order(discipline: Discipline, through_supervisor: bool) -> Vec<usize> {
    let runtime = builder(1).discipline(discipline).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let blocker = h.submit(gate.task(usize::MAX)).unwrap();
    gate.expect_started("the blocker to occupy the node");
    let order = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = jobs()
        .into_iter()
        .map(|j| {
            let order = Arc::clone(&order);
            let mut t = Task::new(move |_| {
                order.lock().push(j.label);
                Ok::<_, String>(j.label)
            })
            .cost(j.cost)
            .priority(j.priority);
            if let Some(d) = j.deadline_ms {
                t = t.deadline(Duration::from_millis(d));
            }
            t
        })
        .collect();
    let n = tasks.len() as u64;
    let handles = if through_supervisor {
        let hs = h.submit_batch(tasks).unwrap();
        eventually("every task to reach the node queue", || {
            h.metrics().nodes[0].queued == n
        });
        hs
    } else {
        h.submit_batch_to(NodeId(0), tasks).unwrap()
    };
    gate.open();
    blocker.wait().unwrap();
    for t in handles {
        t.wait().unwrap();
    }
    runtime.shutdown();
    let v = order.lock().clone();
    v
}

#[test]
fn fcfs_starts_tasks_in_submission_order() {
    assert_eq!(start_order(Discipline::Fcfs, false), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn sjf_starts_the_cheapest_task_first_with_ties_in_submission_order() {
    assert_eq!(start_order(Discipline::Sjf, false), vec![3, 5, 1, 4, 2, 0]);
    assert_eq!(start_order(Discipline::Sjf, true), vec![3, 5, 1, 4, 2, 0]);
}

#[test]
fn priority_starts_the_highest_priority_first_with_ties_in_submission_order() {
    assert_eq!(
        start_order(Discipline::Priority, false),
        vec![1, 2, 4, 5, 0, 3]
    );
    assert_eq!(
        start_order(Discipline::Priority, true),
        vec![1, 2, 4, 5, 0, 3]
    );
}

#[test]
fn edf_starts_the_earliest_deadline_first_and_tasks_without_one_last() {
    assert_eq!(start_order(Discipline::Edf, false), vec![4, 2, 5, 3, 0, 1]);
    assert_eq!(start_order(Discipline::Edf, true), vec![4, 2, 5, 3, 0, 1]);
}

/// An executor looks at its inbox before a pick at least every 10 µs of
/// work (and whenever its queue is empty): with tasks of 50 µs, before
/// every pick. So an urgent task pushed behind a queue of less urgent ones
/// starts after at most the one task whose pick raced with the push.
#[test]
fn an_urgent_task_pushed_to_a_busy_node_starts_after_at_most_one_task_picked_before_it_landed() {
    for _ in 0..5 {
        let runtime = builder(1).discipline(Discipline::Priority).build().unwrap();
        let h = runtime.handle();
        let pushed = Arc::new(AtomicBool::new(false));
        let started_after = Arc::new(AtomicUsize::new(0));
        let lows: Vec<_> = (0..400)
            .map(|_| {
                let pushed = Arc::clone(&pushed);
                let started_after = Arc::clone(&started_after);
                Task::new(move |_| {
                    if pushed.load(Ordering::SeqCst) {
                        started_after.fetch_add(1, Ordering::SeqCst);
                    }
                    compute_for(Duration::from_micros(50));
                    Ok::<_, String>(0)
                })
                .priority(0)
            })
            .collect();
        let lows = h.submit_batch_to(NodeId(0), lows).unwrap();
        eventually("the node to be working through its queue", || {
            h.metrics().nodes[0].completed >= 3
        });
        let seen = Arc::clone(&started_after);
        let urgent = h
            .submit_to(
                NodeId(0),
                Task::new(move |_| Ok::<_, String>(seen.load(Ordering::SeqCst))).priority(10),
            )
            .unwrap();
        pushed.store(true, Ordering::SeqCst);
        let before_urgent = urgent.wait().unwrap();
        assert!(
            before_urgent <= 1,
            "{before_urgent} less urgent tasks started after the urgent one was pushed"
        );
        let left = h.metrics().nodes[0].queued;
        assert!(left > 100, "the queue was still long ({left} left)");
        runtime.shutdown_now();
        drop(lows);
    }
}
