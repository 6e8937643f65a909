//! What happens to tasks when a node actor panics or stops.

mod support;

use allot::{Fault, NodeId, PolicyKind, Task, TaskStatus};
use support::{builder, eventually, expect, signal, Blocker};

#[test]
fn in_flight_tasks_complete_elsewhere_when_a_node_panics() {
    for _ in 0..3 {
        let runtime = builder(2).policy(PolicyKind::RoundRobin).build().unwrap();
        let h = runtime.handle();
        let gate = Blocker::new();
        let hold = gate.hold();
        let task = h
            .submit_to(
                NodeId(0),
                Task::new(move |ctx| {
                    if ctx.node() == NodeId(0) && ctx.attempt() == 0 {
                        hold.block();
                    }
                    Ok::<_, String>((ctx.node(), ctx.attempt()))
                }),
            )
            .unwrap();
        gate.expect_started("the task to start on node 0");
        assert_eq!(task.status(), TaskStatus::Running);
        h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
        // The retry completes while the first attempt is still stuck on node 0.
        let (node, attempt) = task.wait().unwrap();
        assert_eq!(attempt, 1);
        let _ = node; // node 0 restarted, so the retry may run on either node.
        gate.open();
        // The restart itself waits out a short backoff.
        eventually("node 0 to restart", || h.metrics().nodes[0].restarts == 1);
        let m = runtime.shutdown();
        assert_eq!(m.totals.restarts, 1);
        assert_eq!(m.totals.completed, 1);
        assert_eq!(m.totals.retried, 1);
    }
}

#[test]
fn a_late_result_from_a_replaced_node_is_discarded() {
    let runtime = builder(2).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let (late_tx, late) = signal();
    let hold = gate.hold();
    let task = h
        .submit_to(
            NodeId(0),
            Task::new(move |ctx| {
                if ctx.attempt() == 0 {
                    hold.block();
                    let _ = late_tx.send(());
                    return Ok::<_, String>("stale");
                }
                Ok("fresh")
            }),
        )
        .unwrap();
    gate.expect_started("the first attempt to start");
    h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
    assert_eq!(task.wait().unwrap(), "fresh");
    gate.open();
    expect(&late, "the stale attempt to return");
    eventually("the stale result to be counted", || {
        h.metrics().nodes[0].stale_results == 1
    });
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, 1);
}

#[test]
fn queued_tasks_move_to_other_nodes_when_a_node_actor_stops() {
    let runtime = builder(2).policy(PolicyKind::RoundRobin).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let hold = gate.hold();
    // Node 0 is busy with a blocker; ten tasks queue behind it.
    let blocker = h
        .submit_to(
            NodeId(0),
            Task::new(move |ctx| {
                if ctx.attempt() == 0 {
                    hold.block();
                }
                Ok::<_, String>(ctx.node())
            }),
        )
        .unwrap();
    gate.expect_started("the blocker to start");
    let queued = h
        .submit_batch_to(
            NodeId(0),
            (0..10).map(|_| Task::new(|ctx| Ok::<_, String>(ctx.attempt()))),
        )
        .unwrap();
    assert!(queued.iter().all(|t| t.status() == TaskStatus::Queued));
    h.inject(Fault::StopNode { node: NodeId(0) }).unwrap();
    for t in queued {
        // Queued tasks had not started: moving them uses no attempt.
        assert_eq!(t.wait().unwrap(), 0);
    }
    assert!(blocker.wait().is_ok());
    gate.open();
    eventually("node 0 to restart", || h.metrics().nodes[0].restarts == 1);
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, 11);
}

#[test]
fn a_task_lost_with_its_node_more_often_than_allowed_fails() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let task = h.submit(gate.task(()).max_retries(1)).unwrap();
    for _ in 0..2 {
        gate.expect_started("an attempt to start");
        h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
    }
    match task.wait() {
        Err(allot::TaskError::Failed { attempts }) => {
            assert_eq!(attempts.len(), 2);
            assert!(attempts
                .iter()
                .all(|a| matches!(a.failure, allot::AttemptFailure::NodeLost)));
        }
        other => panic!("unexpected {other:?}"),
    }
    gate.open();
    eventually("node 0 to restart twice", || {
        h.metrics().nodes[0].restarts == 2
    });
    let m = runtime.shutdown();
    assert_eq!(m.totals.failed, 1);
}
