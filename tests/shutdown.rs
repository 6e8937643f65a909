//! Graceful and immediate shutdown.

mod support;

use allot::{CancelReason, NodeId, Task, TaskError};
use support::{builder, Blocker};

#[test]
fn shutdown_now_returns_every_unfinished_task() {
    for _ in 0..3 {
        let runtime = builder(2).build().unwrap();
        let h = runtime.handle().clone();
        let gate = Blocker::new();
        let mut handles = Vec::new();
        // One running (stuck) task per node, and 50 queued behind them.
        for node in 0..2 {
            handles.push(h.submit_to(NodeId(node), gate.task(node as u32)).unwrap());
        }
        gate.expect_started("node 0's task to start");
        gate.expect_started("node 1's task to start");
        handles.extend(
            h.submit_batch((0..50u32).map(|i| Task::new(move |_| Ok::<_, String>(i)).cost(0.5)))
                .unwrap(),
        );
        let ids: Vec<_> = handles.iter().map(|t| t.id()).collect();
        let back = runtime.shutdown_now().unfinished;
        gate.open();
        let back_ids: Vec<_> = back.iter().map(|t| t.id()).collect();
        assert_eq!(back_ids, ids, "every unfinished task, in submission order");
        for t in handles {
            assert!(matches!(
                t.wait(),
                Err(TaskError::Cancelled(CancelReason::Shutdown))
            ));
        }
        // Handed-back tasks are whole: they can run on another runtime.
        let other = builder(1).build().unwrap();
        let mut it = back.into_iter();
        let first = it.next().unwrap().into_task::<u32>().unwrap();
        assert_eq!(first.spec().cost, 1.0);
        let wrong = it.next().unwrap().into_task::<String>();
        assert!(wrong.is_err(), "a wrong result type is refused");
        let again = wrong.unwrap_err().into_task::<u32>().unwrap();
        assert_eq!(other.handle().submit(again).unwrap().wait().unwrap(), 1);
        other.shutdown();
        assert!(h.metrics().totals.in_flight == 0);
    }
}

#[test]
fn shutdown_drains_every_task_before_stopping() {
    let runtime = builder(3).build().unwrap();
    let h = runtime.handle().clone();
    let hs = h
        .submit_batch(
            (0..2_000u64)
                .map(|i| Task::new(move |_| Ok::<_, String>(support::busy_work(2) + i as f64))),
        )
        .unwrap();
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, 2_000);
    assert_eq!(m.totals.in_flight, 0);
    for t in hs {
        assert!(t.is_finished());
        t.wait().unwrap();
    }
}

#[test]
fn submit_after_shutdown_is_refused_and_hands_the_task_back() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle().clone();
    runtime.shutdown();
    let err = h
        .submit(Task::new(|_| Ok::<_, String>(3)).priority(2))
        .unwrap_err();
    assert_eq!(err.reason(), Some(&allot::Refusal::ShuttingDown));
    assert_eq!(err.into_inner().spec().priority, 2);
    assert!(h.shutdown_now().is_clean(), "a second shutdown is a no-op");
}

#[test]
fn a_batch_whose_iterator_shuts_the_runtime_down_is_handed_back_whole() {
    // The caller's iterator runs outside the runtime's locks: it may call
    // back into the runtime, even to shut it down (which would deadlock if
    // the submission held the state lock while pulling tasks).
    for path in ["submit_batch", "submit_batch_detached", "submit_batch_into"] {
        let runtime = builder(2).build().unwrap();
        let h = runtime.handle().clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let stopper = h.clone();
            let batch = (0..4).map(move |i| {
                if i == 2 {
                    stopper.shutdown();
                }
                Task::new(|_| Ok::<_, String>(())).priority(i)
            });
            let err = match path {
                "submit_batch" => h.submit_batch(batch).map(drop).unwrap_err(),
                "submit_batch_detached" => h.submit_batch_detached(batch).unwrap_err(),
                _ => h
                    .submit_batch_into(batch, &mut Vec::new())
                    .map(drop)
                    .unwrap_err(),
            };
            let _ = tx.send((err.reason().cloned(), err.into_inner()));
        });
        let Ok((kind, tasks)) = rx.recv_timeout(support::DEADLINE) else {
            // Dropping it would wait on the hung thread's lock.
            std::mem::forget(runtime);
            panic!("{path}: a shutdown from the batch's iterator hung");
        };
        assert_eq!(kind, Some(allot::Refusal::ShuttingDown), "{path}");
        let priorities: Vec<i32> = tasks.iter().map(|t| t.spec().priority).collect();
        assert_eq!(
            priorities,
            [0, 1, 2, 3],
            "{path}: every task back, in order"
        );
        assert_eq!(runtime.shutdown().totals.submitted, 0, "{path}");
    }
}

#[test]
fn shutdown_timeout_drains_what_ends_in_time_and_hands_back_the_rest() {
    for _ in 0..2 {
        let runtime = builder(2).build().unwrap();
        let h = runtime.handle().clone();
        let gate = Blocker::new();
        // Node 0 is stuck on a task that waits for the gate, with 20 tasks
        // queued behind it; node 1 gets 200 tasks that end on their own.
        let stuck = h.submit_to(NodeId(0), gate.task(u32::MAX)).unwrap();
        gate.expect_started("node 0's task to start");
        let behind = h
            .submit_batch_to(
                NodeId(0),
                (0..20u32).map(|i| Task::new(move |_| Ok::<_, String>(i))),
            )
            .unwrap();
        let free = h
            .submit_batch_to(
                NodeId(1),
                (0..200u32).map(|i| Task::new(move |_| Ok::<_, String>(i))),
            )
            .unwrap();
        let mut ids = vec![stuck.id()];
        ids.extend(behind.iter().map(|t| t.id()));
        // Node 1's no-ops end well within the timeout; node 0's cannot.
        let back = h
            .shutdown_timeout(std::time::Duration::from_secs(1))
            .unfinished;
        gate.open();
        let back_ids: Vec<_> = back.iter().map(|t| t.id()).collect();
        assert_eq!(back_ids, ids, "node 0's tasks, in submission order");
        for t in std::iter::once(stuck).chain(behind) {
            assert!(matches!(
                t.wait(),
                Err(TaskError::Cancelled(CancelReason::Shutdown))
            ));
        }
        let values: Vec<u32> = free.into_iter().map(|t| t.wait().unwrap()).collect();
        assert_eq!(values, (0..200).collect::<Vec<_>>());
        let m = h.metrics();
        assert_eq!((m.totals.completed, m.totals.cancelled), (200, 21));
        let err = h.submit(Task::new(|_| Ok::<_, String>(0))).unwrap_err();
        assert_eq!(err.reason(), Some(&allot::Refusal::ShuttingDown));
        assert!(h.shutdown_timeout(std::time::Duration::ZERO).is_clean());
    }
}

#[test]
fn shutdown_timeout_returns_nothing_when_every_task_ends_in_time() {
    let runtime = builder(2).build().unwrap();
    let hs = runtime
        .handle()
        .submit_batch((0..1_000u64).map(|i| Task::new(move |_| Ok::<_, String>(i * 2))))
        .unwrap();
    let h = runtime.handle().clone();
    assert!(runtime.shutdown_timeout(support::DEADLINE).is_clean());
    assert_eq!(h.metrics().totals.completed, 1_000);
    for (i, t) in hs.into_iter().enumerate() {
        assert_eq!(t.wait().unwrap(), i as u64 * 2);
    }
}
