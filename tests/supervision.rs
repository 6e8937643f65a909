//! Restart strategies, restart policies, intensity and escalation.

mod support;

use allot::{
    Escalation, Fault, Health, NodeId, RestartPolicy, RestartStrategy, Runtime, SupervisionConfig,
    SupervisorEvent, Task, TaskError,
};
use rand::SeedableRng;
use std::time::Duration;
use support::{builder, eventually, expect, fast_restarts, supervisor_events, Blocker};

fn with_supervision(nodes: usize, cfg: SupervisionConfig) -> Runtime {
    builder(nodes).supervision(cfg).build().unwrap()
}

fn fast(strategy: RestartStrategy) -> SupervisionConfig {
    SupervisionConfig {
        strategy,
        ..fast_restarts()
    }
}

fn restarts(rt: &Runtime) -> Vec<u64> {
    rt.handle()
        .metrics()
        .nodes
        .iter()
        .map(|n| n.restarts)
        .collect()
}

/// Panics `node`, waits until `expected` restarts show, and checks every
/// node then runs work.
fn panic_and_expect(strategy: RestartStrategy, nodes: usize, node: usize, expected: Vec<u64>) {
    let rt = with_supervision(nodes, fast(strategy));
    let h = rt.handle();
    h.inject(Fault::PanicNode { node: NodeId(node) }).unwrap();
    eventually("the restarts", || restarts(&rt) == expected);
    for j in 0..nodes {
        let t = h
            .submit_to(NodeId(j), Task::new(|ctx| Ok::<_, String>(ctx.node().0)))
            .unwrap();
        assert!(t.wait().is_ok());
    }
    let m = rt.shutdown();
    let got: Vec<u64> = m.nodes.iter().map(|n| n.restarts).collect();
    assert_eq!(got, expected, "no further restarts");
    assert_eq!(m.health, Health::Healthy);
}

#[test]
fn one_for_one_restarts_only_the_failed_node() {
    panic_and_expect(RestartStrategy::OneForOne, 4, 1, vec![0, 1, 0, 0]);
}

#[test]
fn one_for_all_restarts_every_node() {
    panic_and_expect(RestartStrategy::OneForAll, 4, 1, vec![1, 1, 1, 1]);
}

#[test]
fn rest_for_one_restarts_the_failed_node_and_every_node_started_after_it() {
    panic_and_expect(RestartStrategy::RestForOne, 4, 1, vec![0, 1, 1, 1]);
}

#[test]
fn one_for_all_moves_the_siblings_queued_work_too() {
    let rt = with_supervision(2, fast(RestartStrategy::OneForAll));
    let h = rt.handle();
    let gate = Blocker::new();
    let hold = gate.hold();
    let blocker = h
        .submit_to(
            NodeId(1),
            Task::new(move |ctx| {
                if ctx.attempt() == 0 {
                    hold.block();
                }
                Ok::<_, String>(ctx.attempt())
            }),
        )
        .unwrap();
    gate.expect_started("node 1's blocker to start");
    h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
    // Node 1 did not fail, but OneForAll restarts it: its running task
    // loses an attempt and runs again.
    assert_eq!(blocker.wait().unwrap(), 1);
    gate.open();
    eventually("both restarts", || restarts(&rt) == vec![1, 1]);
    rt.shutdown();
}

#[test]
fn a_transient_node_that_stops_normally_is_retired_and_its_work_moves() {
    let cfg = SupervisionConfig {
        policies: vec![RestartPolicy::Transient, RestartPolicy::Permanent],
        ..fast(RestartStrategy::OneForOne)
    };
    let rt = with_supervision(2, cfg);
    let h = rt.handle();
    h.inject(Fault::StopNode { node: NodeId(0) }).unwrap();
    eventually("node 0 to be retired", || h.health() == Health::Degraded);
    let hs = h
        .submit_batch((0..20).map(|_| Task::new(|ctx| Ok::<_, String>(ctx.node().0))))
        .unwrap();
    for t in hs {
        assert_eq!(t.wait().unwrap(), 1, "only node 1 is left");
    }
    // The permanent node is restarted after its crash.
    h.inject(Fault::CrashNode { node: NodeId(1) }).unwrap();
    eventually("node 1 to restart", || restarts(&rt) == vec![0, 1]);
    let m = rt.shutdown();
    assert!(m.nodes[0].retired && !m.nodes[1].retired);
}

#[test]
fn a_transient_node_that_crashes_or_panics_is_always_restarted() {
    // The node's report of an abnormal exit must win over the heartbeat
    // noticing the closed mailbox first (which alone would read as a
    // normal stop, and retire a transient node).
    for round in 0..60 {
        let mut b = builder(2);
        b.supervision(SupervisionConfig {
            policies: vec![RestartPolicy::Transient; 2],
            ..fast(RestartStrategy::OneForOne)
        });
        let events = supervisor_events(&mut b);
        let rt = b.build().unwrap();
        let fault = if round % 2 == 0 {
            Fault::CrashNode { node: NodeId(0) }
        } else {
            Fault::PanicNode { node: NodeId(0) }
        };
        rt.handle().inject(fault.clone()).unwrap();
        let next = || expect(&events, "an event");
        let down = next();
        assert!(
            matches!(down, SupervisorEvent::NodeDown { reason, .. } if reason.is_abnormal()),
            "{fault:?} reported as {down:?}"
        );
        assert_eq!(
            next(),
            SupervisorEvent::NodeRestarted {
                node: NodeId(0),
                restarts: 1
            },
            "{fault:?}"
        );
        rt.shutdown();
    }
}

#[test]
fn a_temporary_node_is_never_restarted_and_a_permanent_one_always_is() {
    let cfg = SupervisionConfig {
        policies: vec![RestartPolicy::Temporary, RestartPolicy::Permanent],
        ..fast(RestartStrategy::OneForOne)
    };
    let rt = with_supervision(2, cfg);
    let h = rt.handle();
    h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
    h.inject(Fault::StopNode { node: NodeId(1) }).unwrap();
    eventually("node 1 to restart and node 0 to be retired", || {
        restarts(&rt)[1] == 1 && h.health() == Health::Degraded
    });
    let m = rt.shutdown();
    assert_eq!(m.nodes[0].restarts, 0);
    assert!(m.nodes[0].retired);
    assert_eq!(m.health, Health::Degraded);
}

#[test]
fn a_node_past_its_restart_intensity_is_retired_and_its_tasks_run_elsewhere() {
    let cfg = SupervisionConfig {
        max_restarts: 2,
        restart_period: Duration::from_secs(60),
        ..fast(RestartStrategy::OneForOne)
    };
    let rt = with_supervision(2, cfg);
    let h = rt.handle();
    for k in 1..=2u64 {
        h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
        eventually("the restart", || restarts(&rt)[0] == k);
    }
    // Queue work on node 0, then push it past the limit.
    let gate = Blocker::new();
    let hold = gate.hold();
    let blocker = h
        .submit_to(
            NodeId(0),
            Task::new(move |ctx| {
                if ctx.node() == NodeId(0) {
                    hold.block();
                }
                Ok::<_, String>(ctx.node().0)
            }),
        )
        .unwrap();
    gate.expect_started("the blocker to start on node 0");
    let queued = h
        .submit_batch_to(
            NodeId(0),
            (0..10).map(|_| Task::new(|ctx| Ok::<_, String>(ctx.node().0))),
        )
        .unwrap();
    h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
    eventually("node 0 to be retired", || h.health() == Health::Degraded);
    for t in queued {
        assert_eq!(t.wait().unwrap(), 1);
    }
    assert_eq!(
        blocker.wait().unwrap(),
        1,
        "the running task was retried on node 1"
    );
    gate.open();
    // A task pinned to a retired node is refused at once, naming it.
    let err = h
        .submit_to(NodeId(0), Task::new(|_| Ok::<_, String>(0)))
        .unwrap_err();
    assert_eq!(err.reason(), Some(&allot::Refusal::NodeRetired(NodeId(0))));
    let m = rt.shutdown();
    assert_eq!(m.nodes[0].restarts, 2);
    assert!(m.nodes[0].retired);
    assert_eq!(m.totals.failed, 0);
}

#[test]
fn tasks_that_only_a_retired_node_could_run_fail_with_a_typed_error() {
    let cfg = SupervisionConfig {
        policies: vec![RestartPolicy::Temporary],
        ..fast(RestartStrategy::OneForOne)
    };
    let rt = builder(0)
        .nodes([
            allot::NodeSpec::new(allot::Resources::cpu(4_000).with_gpu_milli(1_000)),
            allot::NodeSpec::new(allot::Resources::cpu(4_000)),
        ])
        .supervision(cfg)
        .build()
        .unwrap();
    let h = rt.handle();
    let gate = Blocker::new();
    let gpu = allot::Resources::cpu(1_000).with_gpu_milli(500);
    let blocker = h.submit(gate.task(()).demand(gpu)).unwrap();
    gate.expect_started("the GPU task to start");
    let waiting = h
        .submit(Task::new(|_| Ok::<_, String>(())).demand(gpu))
        .unwrap();
    h.inject(Fault::PanicNode { node: NodeId(0) }).unwrap();
    for t in [blocker, waiting] {
        match t.wait() {
            Err(TaskError::Unschedulable { reason }) => {
                assert!(reason.contains("gpu_milli"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    gate.open();
    let err = h
        .submit(Task::new(|_| Ok::<_, String>(())).demand(gpu))
        .unwrap_err();
    assert!(
        matches!(err.reason(), Some(allot::Refusal::Infeasible(_))),
        "no node left can fit it: {err}"
    );
    let m = rt.shutdown();
    assert_eq!(m.totals.failed, 2);
}

#[test]
fn escalation_can_stop_the_runtime_and_fail_every_unfinished_task() {
    let cfg = SupervisionConfig {
        max_restarts: 1,
        restart_period: Duration::from_secs(60),
        escalation: Escalation::StopRuntime,
        ..fast(RestartStrategy::OneForOne)
    };
    let rt = with_supervision(2, cfg);
    let h = rt.handle();
    let gate = Blocker::new();
    let stuck = h.submit_batch((0..6).map(|_| gate.task(()))).unwrap();
    h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
    eventually("the first restart", || restarts(&rt)[0] == 1);
    h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
    eventually("the runtime to stop", || h.health() == Health::Stopped);
    for t in stuck {
        assert!(matches!(t.wait(), Err(TaskError::Unschedulable { .. })));
    }
    gate.open();
    assert_eq!(
        h.submit(Task::new(|_| Ok::<_, String>(())))
            .unwrap_err()
            .reason(),
        Some(&allot::Refusal::ShuttingDown)
    );
    let m = rt.shutdown();
    assert_eq!(m.totals.failed, 6);
    assert_eq!(m.totals.unaccounted(), 0);
}

#[test]
fn restart_backoff_grows_exponentially_up_to_its_cap() {
    let cfg = SupervisionConfig {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(300),
        backoff_jitter: 0.1,
        ..SupervisionConfig::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let d: Vec<Duration> = (0..8).map(|n| cfg.backoff(n, &mut rng)).collect();
    for (n, got) in d.iter().take(5).enumerate() {
        let base = Duration::from_millis(10 << n);
        assert!(*got >= base && *got <= base.mul_f64(1.1), "{n}: {got:?}");
    }
    for late in &d[5..] {
        assert!(*late >= Duration::from_millis(300) && *late <= Duration::from_millis(330));
    }
}

#[test]
fn a_runtime_whose_every_node_is_retired_reports_stopped_and_refuses_work() {
    let cfg = SupervisionConfig {
        policy: RestartPolicy::Temporary,
        ..fast(RestartStrategy::OneForOne)
    };
    let rt = with_supervision(1, cfg);
    let h = rt.handle();
    h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
    eventually("the runtime to stop", || h.health() == Health::Stopped);
    let err = h.submit(Task::new(|_| Ok::<_, String>(()))).unwrap_err();
    assert_eq!(err.reason(), Some(&allot::Refusal::ShuttingDown), "{err}");
    rt.shutdown();
}

#[test]
fn tasks_pinned_to_a_node_that_is_down_run_elsewhere_exactly_once() {
    // Node 0 stays down for a long backoff after it is stopped; batches
    // pinned to it meanwhile go to the supervisor and run on node 1.
    let cfg = SupervisionConfig {
        backoff_min: Duration::from_secs(30),
        backoff_max: Duration::from_secs(30),
        backoff_jitter: 0.0,
        ..SupervisionConfig::default()
    };
    let rt = with_supervision(2, cfg);
    let h = rt.handle();
    h.inject(Fault::StopNode { node: NodeId(0) }).unwrap();
    eventually("node 0 to be down", || !h.metrics().nodes[0].available);
    let mut with_handles = h
        .submit_batch_to(
            NodeId(0),
            (0..300).map(|_| Task::new(|ctx| Ok::<_, String>(ctx.node().0))),
        )
        .unwrap();
    for _ in 0..50 {
        with_handles.push(
            h.submit_to(NodeId(0), Task::new(|ctx| Ok::<_, String>(ctx.node().0)))
                .unwrap(),
        );
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    h.submit_batch_detached_to(
        NodeId(0),
        (0..300).map(|i| {
            let tx = tx.clone();
            Task::new(move |ctx| {
                tx.send((i, ctx.node().0)).map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            })
        }),
    )
    .unwrap();
    drop(tx);
    for mut t in with_handles {
        let got = t
            .wait_timeout(Duration::from_secs(30))
            .expect("every pinned task runs");
        assert_eq!(got.unwrap(), 1, "ran on the node that was up");
    }
    let mut seen = vec![false; 300];
    for _ in 0..300 {
        let (i, node) = expect(&rx, "every detached task to run");
        assert_eq!(node, 1);
        assert!(!seen[i], "task {i} ran twice");
        seen[i] = true;
    }
    let totals = rt.shutdown().totals;
    assert_eq!(totals.completed, 650);
    assert_eq!(totals.failed, 0);
}
