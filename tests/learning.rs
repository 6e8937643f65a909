//! A learning policy in the running runtime.

mod support;

use allot::{Fault, NodeId, PolicyKind, Task, TaskKind};
use std::time::Duration;

#[test]
fn ucb_learns_from_completions_to_send_less_work_to_a_slow_node() {
    let rt = support::builder(3).policy(PolicyKind::Ucb).build().unwrap();
    let h = rt.handle();
    // Node 0 runs at a tenth of the others' pace; the policy is not told.
    h.inject(Fault::SlowNode {
        node: NodeId(0),
        factor: 0.1,
    })
    .unwrap();
    for _ in 0..30 {
        let batch = (0..40).map(|_| {
            Task::new(|ctx| {
                Ok::<_, String>((ctx.node(), support::compute_for(Duration::from_micros(100))))
            })
            .kind(TaskKind::Inference)
            .cost(0.000_2)
        });
        for t in h.submit_batch(batch).unwrap() {
            t.wait().unwrap();
        }
    }
    let m = rt.shutdown();
    let done: Vec<u64> = m.nodes.iter().map(|n| n.completed).collect();
    assert_eq!(done.iter().sum::<u64>(), 1_200);
    let fast = (done[1] + done[2]) / 2;
    assert!(
        done[0] * 2 < fast,
        "the slow node should get far less: {done:?}"
    );
}
