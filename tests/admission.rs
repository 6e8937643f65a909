//! What submit refuses, and that a refused task comes back to the caller.

mod support;

use allot::{NodeId, NodeSpec, Refusal, Resources, Runtime, SubmitBatchError, SubmitError, Task};
use support::{builder, Blocker};

fn gpu_runtime() -> Runtime {
    builder(0)
        .nodes([
            NodeSpec::new(Resources::new(4_000, 8_192, 0, 1_000)),
            NodeSpec::new(Resources::new(8_000, 32_768, 2_000, 1_000)),
        ])
        .build()
        .unwrap()
}

#[test]
fn an_infeasible_task_is_handed_back_with_the_resource_that_does_not_fit() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    let task = Task::new(|_| Ok::<_, String>(42))
        .demand(Resources::cpu(1_000).with_gpu_milli(3_000))
        .priority(7);
    match h.submit(task) {
        Err(SubmitError::Refused {
            task,
            reason: Refusal::Infeasible(reason),
        }) => {
            assert_eq!(reason.resource, "gpu_milli");
            assert_eq!((reason.demand, reason.largest_capacity), (3_000, 2_000));
            assert!(reason.to_string().contains("gpu_milli"));
            // The same task, intact, runs once its demand is fixed.
            assert_eq!(task.spec().priority, 7);
            let fixed = task.demand(Resources::cpu(1_000).with_gpu_milli(500));
            assert_eq!(h.submit(fixed).unwrap().wait().unwrap(), 42);
        }
        other => panic!("unexpected {other:?}"),
    }
    let m = runtime.shutdown();
    assert_eq!(m.totals.submitted, 1);
}

#[test]
fn a_task_that_fits_only_one_node_runs_there() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    let hs = h
        .submit_batch((0..20).map(|_| {
            Task::new(|ctx| Ok::<_, String>(ctx.node().0))
                .demand(Resources::cpu(500).with_gpu_milli(1_000))
        }))
        .unwrap();
    for t in hs {
        assert_eq!(t.wait().unwrap(), 1);
    }
    runtime.shutdown();
}

#[test]
fn a_nan_or_negative_cost_is_refused_naming_the_field() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    for cost in [f64::NAN, -1.0, f64::INFINITY] {
        let err = h
            .submit(Task::new(|_| Ok::<_, String>(())).cost(cost))
            .unwrap_err();
        assert!(matches!(err.reason(), Some(Refusal::Invalid(_))), "{err}");
        assert!(err.to_string().contains("`cost`"), "{err}");
    }
    assert_eq!(runtime.shutdown().totals.submitted, 0);
}

#[test]
fn a_refused_batch_hands_back_every_task_and_names_the_first_bad_one() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let t = Task::new(move |_| Ok::<_, String>(i));
            if i == 3 {
                t.demand(Resources::cpu(64_000))
            } else {
                t
            }
        })
        .collect();
    let err = h.submit_batch(tasks).unwrap_err();
    assert_eq!(err.index(), Some(3));
    assert!(matches!(err.reason(), Some(Refusal::Infeasible(r)) if r.resource == "cpu_milli"));
    let back = err.into_inner();
    assert_eq!(back.len(), 5);
    assert_eq!(runtime.shutdown().totals.submitted, 0);
}

#[test]
fn a_full_queue_hands_the_task_back() {
    let runtime = builder(1).queue_capacity(3).build().unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(h.submit(gate.task(i)).unwrap());
    }
    gate.expect_started("the first task to start");
    let err = h
        .submit(Task::new(|_| Ok::<_, String>(99)).priority(4))
        .unwrap_err();
    assert!(err.is_full(), "{err}");
    let back = err.into_inner();
    assert_eq!(back.spec().priority, 4);
    let batch_err = h
        .submit_batch((0..2).map(|_| Task::new(|_| Ok::<_, String>(0))))
        .unwrap_err();
    assert!(batch_err.is_full());
    gate.open();
    for t in held {
        t.wait().unwrap();
    }
    // Room again: the handed-back task goes through.
    assert_eq!(h.submit(back).unwrap().wait().unwrap(), 99);
    runtime.shutdown();
}

#[test]
fn bad_builder_settings_are_named() {
    let err = builder(0).build().unwrap_err();
    assert!(err.to_string().contains("`nodes`"), "{err}");
    let err = builder(1)
        .nodes([NodeSpec::default().speed(f64::NAN)])
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("`nodes[0].speed`"), "{err}");
    match err {
        allot::BuildError::InvalidConfig { field, index, .. } => {
            assert_eq!((field, index), ("nodes.speed", Some(0)));
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = builder(1)
        .nodes([NodeSpec::default(), NodeSpec::default().slots(0)])
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("`nodes[1].slots`"), "{err}");
    let err = builder(1).queue_capacity(0).build().unwrap_err();
    assert!(err.to_string().contains("queue_capacity"), "{err}");
}

#[test]
fn a_refused_detached_batch_comes_back_whole_and_in_order() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    let batch = (0..5).map(|i| {
        let t = Task::new(move |_| Ok::<_, String>(i)).priority(i);
        if i == 3 {
            t.demand(Resources::cpu(1_000).with_gpu_milli(9_000))
        } else {
            t
        }
    });
    let err = h.submit_batch_detached(batch).unwrap_err();
    assert_eq!(err.index(), Some(3));
    assert!(
        matches!(err.reason(), Some(Refusal::Infeasible(_))),
        "{err:?}"
    );
    let back = err.into_inner();
    let priorities: Vec<i32> = back.iter().map(|t| t.spec().priority).collect();
    assert_eq!(priorities, [0, 1, 2, 3, 4]);
    // The handed-back tasks are the originals and still run.
    let ok: Vec<Task<i32>> = back
        .into_iter()
        .filter(|t| t.spec().priority != 3)
        .collect();
    let handles = h.submit_batch(ok).unwrap();
    let values: Vec<i32> = handles.into_iter().map(|t| t.wait().unwrap()).collect();
    assert_eq!(values, [0, 1, 2, 4]);
    assert_eq!(runtime.shutdown().totals.submitted, 4);
}

#[test]
fn submit_batch_into_appends_handles_and_leaves_the_buffer_alone_on_refusal() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    let mut handles = Vec::new();
    let returning = |r: std::ops::Range<i32>| r.map(|i| Task::new(move |_| Ok::<_, String>(i)));
    let n = h.submit_batch_into(returning(0..3), &mut handles).unwrap();
    assert_eq!(n, 3);
    // A refused batch hands its tasks back and adds nothing.
    let batch = returning(10..14).enumerate().map(|(k, t)| {
        if k == 2 {
            t.demand(Resources::cpu(1_000).with_gpu_milli(9_000))
        } else {
            t
        }
    });
    let err = h.submit_batch_into(batch, &mut handles).unwrap_err();
    assert_eq!(err.index(), Some(2));
    assert_eq!(err.into_inner().len(), 4);
    assert_eq!(handles.len(), 3);
    let n = h.submit_batch_into(returning(3..5), &mut handles).unwrap();
    assert_eq!(n, 2);
    let values: Vec<i32> = handles.into_iter().map(|t| t.wait().unwrap()).collect();
    assert_eq!(values, [0, 1, 2, 3, 4]);
    assert_eq!(runtime.shutdown().totals.submitted, 5);
}

#[test]
fn a_pinned_submission_to_a_node_that_does_not_exist_names_the_node() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    let err = h
        .submit_to(NodeId(7), Task::new(|_| Ok::<_, String>(())).priority(4))
        .unwrap_err();
    assert_eq!(
        err.reason(),
        Some(&Refusal::UnknownNode {
            node: NodeId(7),
            nodes: 2
        })
    );
    assert!(err.to_string().contains("no node"), "{err}");
    assert_eq!(err.into_inner().spec().priority, 4);
    let batch = (0..3).map(|_| Task::new(|_| Ok::<_, String>(())));
    match h.submit_batch_to(NodeId(2), batch) {
        Err(SubmitBatchError::Refused {
            tasks,
            index: 0,
            reason: Refusal::UnknownNode {
                node: NodeId(2), ..
            },
        }) => assert_eq!(tasks.len(), 3),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(runtime.shutdown().totals.submitted, 0);
}

#[test]
fn submit_batch_into_to_pins_the_batch_and_appends_its_handles() {
    let runtime = gpu_runtime();
    let h = runtime.handle();
    let mut handles = Vec::new();
    let on_node = |n: usize| (0..n).map(|_| Task::new(|ctx| Ok::<_, String>(ctx.node().0)));
    assert_eq!(
        h.submit_batch_into_to(NodeId(1), on_node(3), &mut handles)
            .unwrap(),
        3
    );
    assert_eq!(
        h.submit_batch_into_to(NodeId(1), on_node(2), &mut handles)
            .unwrap(),
        2
    );
    let err = h
        .submit_batch_into_to(NodeId(5), on_node(2), &mut handles)
        .unwrap_err();
    assert!(
        matches!(err.reason(), Some(Refusal::UnknownNode { .. })),
        "{err}"
    );
    assert_eq!(handles.len(), 5, "a refused batch adds nothing");
    // Pinned first placements: with no failure, each runs where it was put.
    let nodes: Vec<usize> = handles.into_iter().map(|t| t.wait().unwrap()).collect();
    assert_eq!(nodes, [1, 1, 1, 1, 1]);
    assert_eq!(runtime.shutdown().totals.submitted, 5);
}
