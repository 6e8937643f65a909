//! Code the runtime has let go of: timed-out and cancelled attempts, hung
//! executors. A shutdown does not wait for it, reports it, and ends every
//! thread it could end.

mod support;

use allot::{
    AbandonReason, FaultPlan, FaultSpec, NodeId, RuntimeHandle, Task, TaskError, TaskHandle,
};
use std::time::{Duration, Instant};
use support::{builder, eventually, Blocker, ExecutorCount};

/// How long blocking task code in these tests runs when no gate lets it go:
/// far longer than any shutdown here may take.
const STUCK: Duration = Duration::from_secs(20);

/// One node, one slot, with executor hooks counting threads.
fn one_slot_runtime(executors: &ExecutorCount) -> allot::Runtime {
    executors.install(&mut builder(1)).build().unwrap()
}

/// Submits ten quick tasks and then one whose code blocks on `gate` (for
/// at most [`STUCK`]), announcing itself to `gate` as it starts.
fn quick_then_stuck(
    h: &RuntimeHandle,
    gate: &Blocker,
    edit: impl FnOnce(Task<u32>) -> Task<u32>,
) -> (Vec<TaskHandle<u32>>, TaskHandle<u32>) {
    let quick = h
        .submit_batch((0..10u32).map(|i| Task::new(move |_| Ok::<_, String>(i))))
        .unwrap();
    let hold = gate.hold();
    let stuck = h
        .submit(edit(Task::new(move |_| {
            let _ = hold.block_up_to(STUCK);
            Ok::<_, String>(99)
        })))
        .unwrap();
    (quick, stuck)
}

#[test]
fn shutdown_does_not_wait_for_an_attempt_that_timed_out_and_reports_it() {
    for _ in 0..3 {
        let executors = ExecutorCount::default();
        let runtime = one_slot_runtime(&executors);
        let h = runtime.handle().clone();
        let gate = Blocker::new();
        let (quick, stuck) = quick_then_stuck(&h, &gate, |t| {
            t.timeout(Duration::from_millis(50)).max_retries(0)
        });
        for q in quick {
            q.wait().unwrap();
        }
        gate.expect_started("the stuck task to start");
        let err = stuck.wait().unwrap_err();
        assert!(matches!(err, TaskError::Failed { .. }), "{err:?}");
        let m = h.metrics();
        assert_eq!(
            (m.totals.in_flight, m.totals.live),
            (0, 0),
            "{:?}",
            m.totals
        );
        assert_eq!(m.abandoned.len(), 1);
        assert_eq!(m.abandoned[0].reason, AbandonReason::TimedOut);

        let t = Instant::now();
        let m = runtime.shutdown();
        assert!(t.elapsed() < STUCK / 4, "shutdown waited {:?}", t.elapsed());
        assert_eq!(m.abandoned.len(), 1, "the stuck attempt is reported");
        assert_eq!(m.totals.unaccounted(), 0);
        // Every executor but the one running the abandoned code has exited.
        assert_eq!(executors.running(), 1);
        gate.open();
        eventually(
            "the abandoned executor to exit once its code returns",
            || executors.running() == 0,
        );
    }
}

#[test]
fn a_task_cancelled_while_it_runs_leaves_the_ledger_and_shutdown_does_not_wait_for_it() {
    for _ in 0..3 {
        let executors = ExecutorCount::default();
        let runtime = one_slot_runtime(&executors);
        let h = runtime.handle().clone();
        let gate = Blocker::new();
        let (quick, stuck) = quick_then_stuck(&h, &gate, |t| t);
        for q in quick {
            q.wait().unwrap();
        }
        gate.expect_started("the stuck task to start");
        assert!(stuck.cancel());
        assert!(matches!(stuck.wait(), Err(TaskError::Cancelled(_))));
        // Let go of within about a heartbeat interval (10 ms here).
        eventually("the cancelled task to leave the ledger", || {
            let m = h.metrics();
            m.totals.in_flight == 0 && m.totals.live == 0 && m.totals.cancelled == 1
        });
        let m = h.metrics();
        assert_eq!(m.abandoned.len(), 1);
        assert_eq!(m.abandoned[0].reason, AbandonReason::Cancelled);
        // The node has its slot back: a new task runs while the old code is stuck.
        let t = h.submit(Task::new(|_| Ok::<_, String>(7))).unwrap();
        assert_eq!(t.wait().unwrap(), 7);

        let t = Instant::now();
        let report = h.shutdown_timeout(STUCK);
        assert!(t.elapsed() < STUCK / 4, "shutdown waited {:?}", t.elapsed());
        assert!(report.unfinished.is_empty());
        assert_eq!(report.abandoned.len(), 1, "{report:?}");
        assert_eq!(executors.running(), 1);
        gate.open();
        eventually("the abandoned executor to exit", || {
            executors.running() == 0
        });
    }
}

#[test]
fn shutdown_now_abandons_running_code_reports_it_and_ends_every_other_executor() {
    for _ in 0..3 {
        let executors = ExecutorCount::default();
        let runtime = executors
            .install(builder(2).nodes(vec![
                allot::NodeSpec::new(allot::Resources::cpu(4_000))
                    .slots(3);
                2
            ]))
            .build()
            .unwrap();
        let h = runtime.handle().clone();
        let gate = Blocker::new();
        let hold = gate.hold();
        let stuck = h
            .submit_to(
                NodeId(1),
                Task::new(move |_| {
                    let _ = hold.block_up_to(STUCK);
                    Ok::<_, String>(0)
                }),
            )
            .unwrap();
        gate.expect_started("the stuck task to start");
        eventually("all six executors to start", || executors.started() == 6);
        let t = Instant::now();
        let report = runtime.shutdown_now();
        assert!(t.elapsed() < STUCK / 4, "shutdown waited {:?}", t.elapsed());
        assert_eq!(report.unfinished.len(), 1);
        assert_eq!(report.abandoned.len(), 1, "{report:?}");
        assert_eq!(report.abandoned[0].task, stuck.id());
        assert_eq!(report.abandoned[0].reason, AbandonReason::Shutdown);
        assert_eq!(executors.running(), 1, "only the stuck executor runs on");
        gate.open();
        eventually("the abandoned executor to exit", || {
            executors.running() == 0
        });
    }
}

#[test]
fn a_hang_without_end_does_not_outlive_shutdown_and_the_hung_task_is_handed_back() {
    let executors = ExecutorCount::default();
    let mut b0 = builder(1);
    b0.fault_plan(FaultPlan::new(1).with(FaultSpec::HangNode {
        node: NodeId(0),
        after_tasks: 1,
        duration: None,
    }));
    let runtime = executors.install(&mut b0).build().unwrap();
    let h = runtime.handle().clone();
    let hung = h.submit(Task::new(|_| Ok::<_, String>(1))).unwrap();
    eventually("the hang to start", || h.metrics().nodes[0].running == 1);
    let t = Instant::now();
    let report = runtime.shutdown_timeout(Duration::from_millis(200));
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "shutdown_timeout took {took:?}"
    );
    assert_eq!(report.unfinished.len(), 1, "the hung task is handed back");
    assert!(matches!(hung.wait(), Err(TaskError::Cancelled(_))));
    // An injected hang is the runtime's own code: its executor is ended.
    eventually("every executor to exit", || executors.running() == 0);
}

#[test]
fn wait_timeout_and_submit_wait_timeout_treat_duration_max_as_no_deadline() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let mut t = h.submit(Task::new(|_| Ok::<_, String>(5))).unwrap();
    assert_eq!(t.wait_timeout(Duration::MAX).unwrap().unwrap(), 5);
    let t = h
        .submit_wait_timeout(Task::new(|_| Ok::<_, String>(6)), Duration::MAX)
        .unwrap();
    assert_eq!(t.wait().unwrap(), 6);
    let report = runtime.shutdown_timeout(Duration::MAX);
    assert!(report.is_clean());
}

#[test]
fn a_cancel_handle_cancels_a_task_another_thread_is_waiting_on() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<allot::CancelHandle>();
    for _ in 0..20 {
        let runtime = builder(1).build().unwrap();
        let h = runtime.handle().clone();
        let gate = Blocker::new();
        let hold = gate.hold();
        let task = h
            .submit(Task::new(move |ctx| {
                hold.announce();
                while !ctx.is_abandoned() {
                    if hold.wait_up_to(Duration::from_millis(1)) {
                        break;
                    }
                }
                Ok::<_, String>(1)
            }))
            .unwrap();
        let canceller = task.cancel_handle();
        let id = task.id();
        let waiter = std::thread::spawn(move || task.wait());
        gate.expect_started("the task to start");
        let other = canceller.clone();
        let racer = std::thread::spawn(move || other.cancel());
        let mine = canceller.cancel();
        let theirs = racer.join().unwrap();
        assert!(mine ^ theirs, "exactly one cancel wins");
        assert_eq!(canceller.id(), id);
        assert!(canceller.is_finished());
        assert!(matches!(
            waiter.join().unwrap(),
            Err(TaskError::Cancelled(allot::CancelReason::Caller))
        ));
        gate.open();
        let m = runtime.shutdown();
        assert_eq!(
            (m.totals.cancelled, m.totals.unaccounted()),
            (1, 0),
            "{:?}",
            m.totals
        );
    }
}

#[test]
fn shutdown_with_a_hang_that_never_ends_returns_once_the_node_is_declared_hung() {
    let mut b0 = builder(2);
    b0.fault_plan(FaultPlan::new(1).with(FaultSpec::HangNode {
        node: NodeId(0),
        after_tasks: 1,
        duration: None,
    }))
    .supervision(allot::SupervisionConfig {
        hang_timeout: Duration::from_millis(300),
        ..allot::SupervisionConfig::default()
    });
    let runtime = b0.build().unwrap();
    let h = runtime.handle().clone();
    let hung = h
        .submit_to(NodeId(0), Task::new(|_| Ok::<_, String>(1)))
        .unwrap();
    eventually("the hang to start", || h.metrics().nodes[0].running == 1);
    let t = Instant::now();
    let m = runtime.shutdown();
    let took = t.elapsed();
    // The hung node is replaced after its hang timeout and the task runs
    // again (it was pinned, but a node that is down sends its work on).
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert_eq!(hung.wait().unwrap(), 1);
    assert_eq!((m.totals.completed, m.totals.unaccounted()), (1, 0));
}
