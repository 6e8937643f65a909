//! The builder's `on_*` hooks: executor threads and supervisor events.

mod support;

use allot::{
    DownReason, Fault, NodeId, NodeSpec, Resources, RestartPolicy, RestartStrategy,
    SupervisionConfig, SupervisorEvent, Task,
};
use std::collections::HashSet;
use std::thread::ThreadId;
use support::{builder, expect, fast_restarts, supervisor_events};

#[derive(Debug, PartialEq)]
enum Seen {
    Start(NodeId, ThreadId),
    Stop(NodeId, ThreadId),
}

#[test]
fn executor_hooks_run_on_every_executor_thread_before_its_tasks_and_as_it_exits() {
    for _ in 0..3 {
        let (tx, seen) = crossbeam_channel::unbounded();
        let (start_tx, stop_tx) = (tx.clone(), tx);
        let runtime = builder(2)
            .nodes([
                NodeSpec::new(Resources::cpu(4_000)).slots(2),
                NodeSpec::new(Resources::cpu(4_000)),
            ])
            .on_executor_start(move |node| {
                let _ = start_tx.send(Seen::Start(node, std::thread::current().id()));
            })
            .on_executor_stop(move |node| {
                let _ = stop_tx.send(Seen::Stop(node, std::thread::current().id()));
            })
            .build()
            .unwrap();
        let h = runtime.handle();
        let mut ran = Vec::new();
        for node in [0, 0, 0, 1, 1] {
            let t = h
                .submit_to(
                    NodeId(node),
                    Task::new(|ctx| Ok::<_, String>((ctx.node(), std::thread::current().id()))),
                )
                .unwrap();
            ran.push(t.wait().unwrap());
        }
        // Three executors: two for node 0, one for node 1, each announced
        // once, on its own thread.
        let mut started = HashSet::new();
        for _ in 0..3 {
            match expect(&seen, "an executor start") {
                Seen::Start(node, thread) => assert!(started.insert((node, thread))),
                other => panic!("a stop before any shutdown: {other:?}"),
            }
        }
        let per_node = |n: usize| started.iter().filter(|(node, _)| node.0 == n).count();
        assert_eq!((per_node(0), per_node(1)), (2, 1));
        for task in &ran {
            assert!(
                started.contains(task),
                "task ran on an unannounced thread: {task:?}"
            );
        }
        runtime.shutdown();
        let mut stopped = HashSet::new();
        for _ in 0..3 {
            match expect(&seen, "an executor stop") {
                Seen::Stop(node, thread) => assert!(stopped.insert((node, thread))),
                other => panic!("a start after shutdown: {other:?}"),
            }
        }
        assert_eq!(stopped, started, "each executor stops on its own thread");
    }
}

#[test]
fn the_supervisor_reports_a_node_down_its_restart_and_a_retirement() {
    let mut b = builder(2);
    b.supervision(SupervisionConfig {
        strategy: RestartStrategy::OneForOne,
        policies: vec![RestartPolicy::Permanent, RestartPolicy::Temporary],
        ..fast_restarts()
    });
    let events = supervisor_events(&mut b);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let next = || expect(&events, "a supervisor event");

    h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
    assert_eq!(
        next(),
        SupervisorEvent::NodeDown {
            node: NodeId(0),
            reason: DownReason::Panicked
        }
    );
    assert_eq!(
        next(),
        SupervisorEvent::NodeRestarted {
            node: NodeId(0),
            restarts: 1
        }
    );
    // Node 1 is temporary: never restarted.
    h.inject(Fault::CrashNode { node: NodeId(1) }).unwrap();
    assert_eq!(
        next(),
        SupervisorEvent::NodeDown {
            node: NodeId(1),
            reason: DownReason::Crashed
        }
    );
    assert_eq!(next(), SupervisorEvent::NodeRetired { node: NodeId(1) });
    // The restarted node still runs work.
    let t = h
        .submit(Task::new(|ctx| Ok::<_, String>(ctx.node())))
        .unwrap();
    assert_eq!(t.wait().unwrap(), NodeId(0));
    let m = runtime.shutdown();
    assert_eq!((m.nodes[0].restarts, m.nodes[1].retired), (1, true));
    assert!(
        events.try_recv().is_err(),
        "no other event: shutdown is not a failure"
    );
}

#[test]
fn a_panicking_hook_neither_stops_supervision_nor_loses_tasks() {
    let runtime = builder(2)
        .supervision(fast_restarts())
        .on_executor_start(|_| panic!("hook bug at executor start"))
        .on_supervisor_event(|_| panic!("hook bug in a supervisor event"))
        .build()
        .unwrap();
    let h = runtime.handle();
    h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
    support::eventually("node 0 to restart", || h.metrics().nodes[0].restarts == 1);
    let hs = h
        .submit_batch((0..200u32).map(|i| Task::new(move |_| Ok::<_, String>(i))))
        .unwrap();
    let values: Vec<u32> = hs.into_iter().map(|t| t.wait().unwrap()).collect();
    assert_eq!(values, (0..200).collect::<Vec<_>>());
    assert_eq!(runtime.shutdown().totals.completed, 200);
}

#[test]
fn every_supervisor_event_is_emitted_after_the_state_it_announces_is_visible() {
    use allot::{Health, RuntimeHandle};
    use std::sync::{Arc, OnceLock};
    for _ in 0..5 {
        let handle: Arc<OnceLock<RuntimeHandle>> = Arc::new(OnceLock::new());
        let (tx, seen) = crossbeam_channel::unbounded();
        let look = Arc::clone(&handle);
        let runtime = builder(2)
            .supervision(SupervisionConfig {
                strategy: RestartStrategy::OneForOne,
                policies: vec![RestartPolicy::Permanent, RestartPolicy::Temporary],
                ..fast_restarts()
            })
            .on_supervisor_event(move |e| {
                // What a hook sees of the runtime as the event arrives.
                let h = look.get().expect("the handle is set before any fault");
                let m = h.metrics();
                let _ = tx.send((e.clone(), h.health(), m.nodes));
            })
            .build()
            .unwrap();
        handle.set(runtime.handle().clone()).unwrap();
        let h = runtime.handle();
        let next = || expect(&seen, "a supervisor event");

        h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
        let (e, health, nodes) = next();
        assert!(matches!(
            e,
            SupervisorEvent::NodeDown {
                node: NodeId(0),
                ..
            }
        ));
        assert!(!nodes[0].available, "NodeDown: the node shows unavailable");
        assert_eq!(nodes[0].failures, 1, "NodeDown: its failure is counted");
        assert_eq!(health, Health::Healthy);
        let (e, _, nodes) = next();
        assert_eq!(
            e,
            SupervisorEvent::NodeRestarted {
                node: NodeId(0),
                restarts: 1
            }
        );
        assert!(nodes[0].available, "NodeRestarted: the node is back");
        assert_eq!(
            nodes[0].restarts, 1,
            "NodeRestarted: the restart is counted"
        );

        h.inject(Fault::CrashNode { node: NodeId(1) }).unwrap();
        let (e, _, nodes) = next();
        assert!(matches!(
            e,
            SupervisorEvent::NodeDown {
                node: NodeId(1),
                ..
            }
        ));
        assert!(!nodes[1].available);
        let (e, health, nodes) = next();
        assert_eq!(e, SupervisorEvent::NodeRetired { node: NodeId(1) });
        assert!(nodes[1].retired, "NodeRetired: the node shows retired");
        assert_eq!(health, Health::Degraded, "NodeRetired: health has changed");
        runtime.shutdown();
    }
}
