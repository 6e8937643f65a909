//! Cluster membership while the runtime runs: workers that join after
//! `build`, a coordinator that starts before any worker, a worker that
//! dies and another that takes its place, and heartbeats that correct the
//! coordinator's view of a remote node. A real `nats-server -js` (free
//! port, temporary store) and real `allot worker` processes.
//!
//! Without `nats-server` these tests print one line saying how to install
//! it and pass; under `CI=true` a missing server fails them.

mod support;
#[path = "support/worker.rs"]
mod worker;
use worker::WorkerProc;

#[path = "../src/bin/allot/kinds.rs"]
#[allow(dead_code)]
mod kinds;

use allot::cluster::ClusterConfig;
use allot::{
    BalancerConfig, Builder, DownReason, NodeHealth, NodeId, RestartPolicy, Runtime,
    SupervisionConfig, SupervisorEvent, TaskHandle, Why,
};
use crossbeam_channel::Receiver;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{NatsServer, DEADLINE};

/// A coordinator waiting for `workers` workers at build, no local nodes,
/// its supervisor's events on the returned channel.
fn coordinator(
    nats: &NatsServer,
    prefix: &str,
    workers: usize,
    tune: impl FnOnce(&mut Builder),
) -> (Runtime, Receiver<SupervisorEvent>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut b = Runtime::builder();
    b.nodes(Vec::new())
        .heartbeat_interval(Duration::from_millis(20))
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        })
        .supervision(SupervisionConfig {
            hang_timeout: Duration::from_secs(1),
            max_restarts: 1_000,
            ..SupervisionConfig::default()
        })
        .on_supervisor_event(move |e| {
            let _ = tx.send(e.clone());
        })
        .cluster(ClusterConfig {
            heartbeat_interval: Duration::from_millis(50),
            join_timeout: DEADLINE,
            ..ClusterConfig::new(&nats.url())
                .workers(workers)
                .subject_prefix(prefix)
        });
    tune(&mut b);
    (b.build().expect("the coordinator starts"), rx)
}

/// Waits for the supervisor to report `n` nodes joined; their ids.
fn joined(events: &Receiver<SupervisorEvent>, n: usize) -> Vec<NodeId> {
    let deadline = Instant::now() + DEADLINE;
    let mut ids = Vec::new();
    while ids.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(SupervisorEvent::NodeJoined { node }) => ids.push(node),
            Ok(_) => {}
            Err(e) => panic!("{} of {n} nodes joined: {e}", ids.len()),
        }
    }
    ids
}

/// The id of the node named `name`.
fn node_named(runtime: &Runtime, name: &str) -> NodeId {
    let nodes = runtime.handle().node_status();
    nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name}: {nodes:?}"))
        .id
}

/// Submits `n` echoes of their index (up to 10 retries each).
fn submit_echoes(runtime: &Runtime, n: u32) -> Vec<TaskHandle<Vec<u8>>> {
    let (_, k) = kinds::builtins();
    runtime
        .handle()
        .submit_batch((0..n).map(|i| {
            k.echo
                .task(&i.to_le_bytes().to_vec())
                .unwrap()
                .max_retries(10)
        }))
        .unwrap()
}

/// Waits on every handle, each for its own value; runs `on_third` after
/// a third of them.
fn wait_all(hs: Vec<TaskHandle<Vec<u8>>>, on_third: impl FnOnce()) {
    let n = hs.len();
    let mut on_third = Some(on_third);
    for (i, t) in hs.into_iter().enumerate() {
        let want = (i as u32).to_le_bytes().to_vec();
        assert_eq!(t.wait().expect("every task ends with its value"), want);
        if i + 1 == n / 3 {
            if let Some(f) = on_third.take() {
                f();
            }
        }
    }
}

/// Every task ended once, with its value.
fn assert_exactly_once(m: &allot::Metrics, n: u32) {
    assert_eq!(m.totals.completed, u64::from(n), "{:?}", m.totals);
    assert_eq!(m.totals.failed + m.totals.cancelled, 0, "{:?}", m.totals);
    assert_eq!(m.totals.unaccounted(), 0, "{:?}", m.totals);
}

#[test]
fn a_worker_that_joins_after_build_receives_tasks_and_can_be_pinned_to() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-late";
    let _w1 = WorkerProc::start(&nats, p, "w1", &["--slots", "2"]);
    let (runtime, events) = coordinator(&nats, p, 1, |_| {});
    assert_eq!(runtime.handle().node_status().len(), 1, "w1's node only");
    let _w2 = WorkerProc::start(&nats, p, "w2", &["--slots", "2"]);
    let ids = joined(&events, 1);
    let late = node_named(&runtime, "w2/0");
    assert_eq!(ids, [late]);
    assert_eq!(late, NodeId(1), "the next free id");
    // Placed onto by the policy…
    let n = 2_000;
    wait_all(submit_echoes(&runtime, n), || {});
    // …and pinned to by its id.
    let (_, k) = kinds::builtins();
    let pinned = runtime
        .handle()
        .submit_batch_to(
            late,
            (0..50u32).map(|i| k.echo.task(&i.to_le_bytes().to_vec()).unwrap()),
        )
        .unwrap();
    for (i, t) in pinned.into_iter().enumerate() {
        assert_eq!(t.wait().unwrap(), (i as u32).to_le_bytes().to_vec());
    }
    let m = runtime.shutdown();
    assert_exactly_once(&m, n + 50);
    let w2 = m.nodes.iter().find(|x| x.name == "w2/0").unwrap();
    assert!(
        w2.completed > 50,
        "the late worker ran placed tasks too: {:?}",
        m.nodes
    );
    let c = m.cluster.expect("cluster metrics");
    assert!(
        c.workers.iter().all(|w| w.refused.is_none()),
        "{:?}",
        c.workers
    );
}

#[test]
fn a_coordinator_without_workers_holds_tasks_until_one_joins() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-zero";
    let (runtime, events) = coordinator(&nats, p, 0, |_| {});
    assert!(runtime.handle().node_status().is_empty());
    let n = 500;
    let hs = submit_echoes(&runtime, n);
    let first = hs[0].id();
    let why = runtime.handle().task(first).expect("a live task").why;
    assert!(
        matches!(why, Some(Why::AwaitingWorker { .. })),
        "it waits for a worker: {why:?}"
    );
    let text = why.unwrap().to_string();
    assert!(text.contains("waiting for a worker"), "{text}");
    let _w1 = WorkerProc::start(&nats, p, "w1", &["--slots", "2"]);
    joined(&events, 1);
    wait_all(hs, || {});
    let m = runtime.shutdown();
    assert_exactly_once(&m, n);
    assert_eq!(m.nodes.len(), 1);
    assert_eq!(m.nodes[0].completed, u64::from(n));
}

#[test]
fn a_dead_worker_is_replaced_by_one_that_joins_under_a_new_name() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-replace";
    let mut w1 = WorkerProc::start(&nats, p, "w1", &["--slots", "2"]);
    let (runtime, events) = coordinator(&nats, p, 1, |_| {});
    let n = 3_000;
    let hs = submit_echoes(&runtime, n);
    let mut w2 = None;
    wait_all(hs, || {
        w1.sigkill();
        w2 = Some(WorkerProc::start(&nats, p, "w2", &["--slots", "2"]));
    });
    let m = runtime.shutdown();
    assert_exactly_once(&m, n);
    let events: Vec<SupervisorEvent> = events.try_iter().collect();
    assert!(
        events.contains(&SupervisorEvent::NodeDown {
            node: NodeId(0),
            reason: DownReason::Unreachable
        }),
        "w1's node is declared down: {events:?}"
    );
    assert!(
        events.contains(&SupervisorEvent::NodeJoined { node: NodeId(1) }),
        "w2's node joins as node 1: {events:?}"
    );
    assert_eq!(m.nodes[1].name, "w2/0");
    assert!(m.nodes[1].completed > 0, "{:?}", m.nodes);
    assert_eq!(
        m.nodes[0].completed + m.nodes[1].completed,
        u64::from(n),
        "{:?}",
        m.nodes
    );
}

#[test]
fn a_worker_that_left_and_comes_back_gets_new_nodes() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-return";
    let w1 = WorkerProc::start(&nats, p, "w1", &["--slots", "2"]);
    let (runtime, events) = coordinator(&nats, p, 1, |b| {
        b.supervision(SupervisionConfig {
            policy: RestartPolicy::Transient,
            hang_timeout: Duration::from_secs(1),
            ..SupervisionConfig::default()
        });
    });
    // A clean leave: its node goes down as `Left`, a normal exit, which a
    // transient node is not restarted after: it is retired.
    let ok = Command::new("kill")
        .args(["-TERM", &w1.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(SupervisorEvent::NodeRetired { node }) => {
                assert_eq!(node, NodeId(0));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("w1's node never retired: {e}"),
        }
    }
    drop(w1);
    assert_eq!(
        runtime.handle().node_status()[0].health,
        NodeHealth::Retired
    );
    // Tasks submitted meanwhile wait for a worker.
    let n = 300;
    let hs = submit_echoes(&runtime, n);
    let _again = WorkerProc::start(&nats, p, "w1", &["--slots", "2"]);
    assert_eq!(joined(&events, 1), [NodeId(1)]);
    wait_all(hs, || {});
    let m = runtime.shutdown();
    assert_exactly_once(&m, n);
    assert_eq!(m.nodes[1].name, "w1/0");
    assert_eq!(m.nodes[1].completed, u64::from(n));
}

#[test]
fn heartbeats_correct_the_coordinators_view_of_a_remote_node() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-view";
    let worker = ["--slots", "1", "--prefetch", "2"];
    let mut w1 = WorkerProc::start(&nats, p, "w1", &worker);
    let (runtime, _events) = coordinator(&nats, p, 1, |b| {
        b.supervision(SupervisionConfig {
            // Room for the worker to come back before it is declared down.
            hang_timeout: Duration::from_secs(10),
            ..SupervisionConfig::default()
        })
        .cluster(ClusterConfig {
            heartbeat_interval: Duration::from_millis(50),
            join_timeout: DEADLINE,
            prefetch: 2,
            ..ClusterConfig::new(&nats.url()).workers(1).subject_prefix(p)
        });
    });
    let (_, k) = kinds::builtins();
    let h = runtime.handle();
    let hs = h
        .submit_batch((0..3).map(|_| k.sleep.task(&kinds::SleepArgs { ms: 1_500 }).unwrap()))
        .unwrap();
    let view = |h: &allot::RuntimeHandle| {
        let s = &h.node_status()[0];
        (s.running, s.queued)
    };
    // Three attempts handed over to a one-slot worker: it runs one and
    // holds two (its prefetch), and says so.
    let start = Instant::now();
    while view(h) != (1, 2) {
        assert!(start.elapsed() < DEADLINE, "view {:?}", view(h));
        std::thread::yield_now();
    }
    // The worker dies and comes back at once under its name: the new
    // process holds nothing until the broker delivers the work again, and
    // its heartbeats say so.
    w1.sigkill();
    let _again = WorkerProc::start(&nats, p, "w1", &worker);
    let start = Instant::now();
    while view(h) != (0, 3) {
        assert!(start.elapsed() < DEADLINE, "view {:?}", view(h));
        std::thread::yield_now();
    }
    for t in hs {
        // (`sleep` answers its attempt: the same one, delivered again.)
        assert_eq!(t.wait().unwrap(), 0);
    }
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, 3);
    assert_eq!(m.totals.failed, 0);
}

#[test]
fn the_balancer_moves_queued_tasks_to_a_worker_that_joined_late() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-late-balance";
    let _slow = WorkerProc::start(
        &nats,
        p,
        "slow",
        &["--slots", "1", "--speed", "0.05", "--prefetch", "0"],
    );
    let (runtime, events) = coordinator(&nats, p, 1, |b| {
        b.balancer(BalancerConfig {
            enabled: true,
            interval: Duration::from_millis(10),
            ..BalancerConfig::default()
        });
    });
    let _fast = WorkerProc::start(&nats, p, "fast", &["--slots", "1", "--prefetch", "0"]);
    joined(&events, 1);
    let (slow, fast) = (
        node_named(&runtime, "slow/0"),
        node_named(&runtime, "fast/0"),
    );
    let (_, k) = kinds::builtins();
    // Everything pinned to the slow node at first.
    let hs = runtime
        .handle()
        .submit_batch_to(
            slow,
            (0..100).map(|_| k.sleep.task(&kinds::SleepArgs { ms: 5 }).unwrap()),
        )
        .unwrap();
    for t in hs {
        assert_eq!(t.wait().unwrap(), 0);
    }
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, 100);
    assert!(m.nodes[fast.0].migrations_in > 0, "{:?}", m.nodes);
    assert!(m.nodes[fast.0].completed > 0, "{:?}", m.nodes);
    assert_eq!(
        m.nodes[slow.0].migrations_out,
        m.nodes[fast.0].migrations_in
    );
}

#[test]
fn a_worker_past_the_room_reserved_is_refused_with_a_typed_error() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-room";
    let _w1 = WorkerProc::start(&nats, p, "w1", &["--slots", "1"]);
    let _w2 = WorkerProc::start(&nats, p, "w2", &["--slots", "1"]);
    // At build: two workers awaited, room for one node.
    let err = Runtime::builder()
        .nodes(Vec::new())
        .cluster(ClusterConfig {
            join_timeout: DEADLINE,
            ..ClusterConfig::new(&nats.url())
                .workers(2)
                .max_nodes(1)
                .subject_prefix(p)
        })
        .build()
        .expect_err("two workers' nodes do not fit in room for one");
    assert!(
        matches!(
            err,
            allot::BuildError::Cluster(allot::cluster::ClusterError::TooManyNodes {
                max_nodes: 1,
                ..
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("cluster.max_nodes"), "{err}");
    drop(_w2);
    // While running: w1 at build, w3 later, room for one.
    let (runtime, _events) = coordinator(&nats, p, 1, |b| {
        b.cluster(ClusterConfig {
            heartbeat_interval: Duration::from_millis(50),
            join_timeout: DEADLINE,
            ..ClusterConfig::new(&nats.url())
                .workers(1)
                .max_nodes(1)
                .subject_prefix(p)
        });
    });
    let _w3 = WorkerProc::start(&nats, p, "w3", &["--slots", "1"]);
    let start = Instant::now();
    let refusal = loop {
        let m = runtime.handle().metrics();
        let c = m.cluster.expect("cluster metrics");
        if let Some(w) = c
            .workers
            .iter()
            .find(|w| w.name == "w3" && w.refused.is_some())
        {
            break w.refused.clone().unwrap();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "w3 never refused: {:?}",
            c.workers
        );
        std::thread::yield_now();
    };
    assert!(
        refusal.contains("worker w3") && refusal.contains("max_nodes"),
        "{refusal}"
    );
    assert_eq!(runtime.handle().node_status().len(), 1, "w3 has no node");
    runtime.shutdown();
}

#[test]
fn a_shutdown_waiting_for_tasks_still_takes_a_worker_that_joins() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = "t-drain";
    let (runtime, events) = coordinator(&nats, p, 0, |_| {});
    let n = 200;
    let hs = submit_echoes(&runtime, n);
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let handle = runtime.handle().clone();
    std::thread::spawn(move || {
        let _ = done_tx.send(handle.shutdown());
    });
    // The shutdown waits: nothing can run its tasks yet.
    assert!(done_rx.recv_timeout(Duration::from_millis(300)).is_err());
    let _w1 = WorkerProc::start(&nats, p, "w1", &["--slots", "2"]);
    joined(&events, 1);
    let m = done_rx.recv_timeout(DEADLINE).expect("the shutdown ends");
    assert_exactly_once(&m, n);
    wait_all(hs, || {});
    drop(runtime);
}
