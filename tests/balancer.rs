//! The balancer moves queued work off slow nodes.

mod support;

use allot::{BalancerConfig, Fault, NodeId, PolicyKind, Task};
use std::time::Duration;
use support::builder;

#[test]
fn the_balancer_moves_queued_tasks_off_a_node_whose_speed_drops() {
    for _ in 0..3 {
        let runtime = builder(2)
            .policy(PolicyKind::RoundRobin)
            .balancer(BalancerConfig {
                enabled: true,
                interval: Duration::from_millis(5),
                ..BalancerConfig::default()
            })
            .build()
            .unwrap();
        let h = runtime.handle();
        // Round-robin splits the work evenly... (each task computes for a
        // fixed time, so the run spans many balancer rounds in debug and
        // release builds alike)
        let hs = h
            .submit_batch((0..400).map(|_| {
                Task::new(|ctx| {
                    Ok::<_, String>((ctx.node(), support::compute_for(Duration::from_micros(300))))
                })
                .cost(0.001)
            }))
            .unwrap();
        // ...then node 0 slows to a twentieth of its speed.
        h.inject(Fault::SlowNode {
            node: NodeId(0),
            factor: 0.05,
        })
        .unwrap();
        let mut on = [0u32; 2];
        for t in hs {
            on[t.wait().unwrap().0 .0] += 1;
        }
        let m = runtime.shutdown();
        assert!(m.nodes[0].migrations_out > 0, "{:?}", m.nodes[0]);
        // Every move out of one node is a move into the other.
        assert_eq!(m.nodes[0].migrations_out, m.nodes[1].migrations_in);
        assert_eq!(m.nodes[1].migrations_out, m.nodes[0].migrations_in);
        // Near the end the fast node may hand a task back (equal drain
        // times); the net flow is off the slow node.
        assert!(
            m.nodes[0].migrations_out > 2 * m.nodes[0].migrations_in,
            "{:?}",
            m.nodes
        );
        assert!(
            on[1] > on[0] * 2,
            "the fast node should do most of the work: {on:?}"
        );
        assert_eq!(m.totals.completed, 400);
        assert!(m.balancer_rounds > 0);
    }
}

#[test]
fn a_disabled_balancer_moves_nothing() {
    let runtime = builder(2).policy(PolicyKind::RoundRobin).build().unwrap();
    let h = runtime.handle();
    let hs = h
        .submit_batch(
            (0..100).map(|_| Task::new(|_| Ok::<_, String>(support::busy_work(10))).cost(0.001)),
        )
        .unwrap();
    h.inject(Fault::SlowNode {
        node: NodeId(0),
        factor: 0.2,
    })
    .unwrap();
    for t in hs {
        t.wait().unwrap();
    }
    let m = runtime.shutdown();
    assert_eq!(m.totals.migrations, 0);
    assert_eq!(m.nodes[0].completed, 50);
}
