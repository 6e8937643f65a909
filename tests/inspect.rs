//! The state API: tasks by state and paged, one task in detail with why it
//! is not running, nodes, events and rates.

mod support;

use allot::{
    AttemptOutcome, Fault, NodeHealth, NodeId, NodeSpec, Resources, SupervisionConfig,
    SupervisorEvent, Task, TaskKind, TaskQuery, TaskState, Why,
};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};
use support::{builder, eventually, expect, supervisor_events, Blocker};

fn all_pages(h: &allot::RuntimeHandle, mut query: TaskQuery) -> Vec<allot::TaskSummary> {
    let mut out = Vec::new();
    loop {
        let page = h.tasks(&query).expect("a valid query");
        assert!(page.tasks.len() <= query.limit);
        out.extend(page.tasks);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
}

#[test]
fn finished_tasks_are_listed_in_id_order_and_paged_past_the_first_thousand() {
    let mut b = builder(2);
    b.retain_finished(10_000);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let handles = h
        .submit_batch((0..2_500u64).map(|i| {
            Task::new(move |_| Ok::<_, String>(i)).kind(if i % 2 == 0 {
                TaskKind::Training
            } else {
                TaskKind::Inference
            })
        }))
        .unwrap();
    let ids: Vec<_> = handles.iter().map(|t| t.id()).collect();
    for t in handles {
        t.wait().unwrap();
    }
    eventually("every record kept", || h.state_counts().retained == 2_500);
    let listed = all_pages(
        h,
        TaskQuery {
            state: Some(TaskState::Completed),
            limit: 1_000,
            ..TaskQuery::default()
        },
    );
    let listed_ids: Vec<_> = listed.iter().map(|t| t.id).collect();
    assert_eq!(listed_ids, ids, "every task once, in id order");
    assert!(listed.iter().all(|t| t.node.is_some() && t.ended.is_some()));
    let training = all_pages(
        h,
        TaskQuery {
            kind: Some(TaskKind::Training),
            limit: 333,
            ..TaskQuery::default()
        },
    );
    assert_eq!(training.len(), 1_250);
    assert!(training.iter().all(|t| t.kind == TaskKind::Training));
    let on_node_0 = all_pages(
        h,
        TaskQuery {
            node: Some(NodeId(0)),
            limit: 10_000,
            ..TaskQuery::default()
        },
    );
    assert!(on_node_0.iter().all(|t| t.node == Some(NodeId(0))));
    let counts = h.state_counts();
    assert_eq!(counts.completed, 2_500);
    assert_eq!(
        counts.pending + counts.queued + counts.running + counts.backing_off,
        0
    );
    runtime.shutdown();
}

#[test]
fn retention_bounds_the_records_and_the_counts_stay_exact() {
    let mut b = builder(1);
    b.retain_finished(160);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    for chunk in 0..10 {
        let tasks = h
            .submit_batch((0..100).map(move |i| Task::new(move |_| Ok::<_, String>(chunk * i))))
            .unwrap();
        for t in tasks {
            t.wait().unwrap();
        }
    }
    eventually("the last records kept", || {
        let c = h.state_counts();
        c.retained + c.forgotten == 1_000
    });
    let counts = h.state_counts();
    assert_eq!(counts.completed, 1_000, "exact whatever is forgotten");
    assert!(counts.retained <= 160, "{counts:?}");
    assert!(counts.forgotten >= 840, "{counts:?}");
    // Once the last settlements are released, the pages list exactly the
    // retained records.
    eventually("the pages list the records", || {
        all_pages(h, TaskQuery::default()).len() as u64 == counts.retained
    });
    runtime.shutdown();
}

#[test]
fn without_retention_live_tasks_are_listed_and_finished_ones_are_only_counted() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let blocker = Blocker::new();
    let running = h.submit(blocker.task(1u32)).unwrap();
    blocker.expect_started("the blocker");
    let queued = h
        .submit_batch((0..5).map(|_| Task::new(|_| Ok::<_, String>(0u32))))
        .unwrap();
    let page = h.tasks(&TaskQuery::default()).unwrap();
    let states: Vec<_> = page.tasks.iter().map(|t| (t.id, t.state)).collect();
    assert_eq!(states[0], (running.id(), TaskState::Running));
    assert_eq!(states.len(), 6);
    assert!(states[1..].iter().all(|(_, s)| *s == TaskState::Queued));
    assert!(page.tasks.iter().all(|t| t.node == Some(NodeId(0))));
    let counts = h.state_counts();
    assert_eq!((counts.running, counts.queued), (1, 5));
    blocker.open();
    let running_id = running.id();
    running.wait().unwrap();
    for t in queued {
        t.wait().unwrap();
    }
    eventually("all settled", || {
        h.tasks(&TaskQuery::default()).unwrap().tasks.is_empty()
    });
    assert_eq!(h.state_counts().completed, 6);
    assert!(h.task(running_id).is_none(), "not retained");
    runtime.shutdown();
}

#[test]
fn a_task_pinned_behind_a_long_queue_says_where_it_waits() {
    let runtime = builder(2).build().unwrap();
    let h = runtime.handle();
    let blocker = Blocker::new();
    let first = h.submit_to(NodeId(1), blocker.task(0u32)).unwrap();
    blocker.expect_started("the blocker on node 1");
    let ahead = h
        .submit_batch_to(
            NodeId(1),
            (0..1_500).map(|_| Task::new(|_| Ok::<_, String>(0u32))),
        )
        .unwrap();
    let pinned = h
        .submit_to(NodeId(1), Task::new(|_| Ok::<_, String>(7u32)))
        .unwrap();
    let detail = h.task(pinned.id()).expect("live");
    assert_eq!(detail.summary.state, TaskState::Queued);
    assert_eq!(detail.summary.node, Some(NodeId(1)));
    assert_eq!(
        detail.why,
        Some(Why::Queued {
            node: NodeId(1),
            position: 1_500,
            length: 1_501
        })
    );
    assert_eq!(
        detail.why.unwrap().to_string(),
        "queued on node-1 at position 1500 of 1501"
    );
    let detail = h.task(first.id()).expect("live");
    assert_eq!(detail.summary.state, TaskState::Running);
    assert_eq!(detail.why, None);
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(detail.attempts[0].outcome, AttemptOutcome::Running);
    assert_eq!(detail.attempts[0].node, Some(NodeId(1)));
    // The node filter lists that queue, paged.
    let on_1 = all_pages(
        h,
        TaskQuery {
            state: Some(TaskState::Queued),
            node: Some(NodeId(1)),
            limit: 1_000,
            ..TaskQuery::default()
        },
    );
    assert_eq!(on_1.len(), 1_501);
    let on_0 = h
        .tasks(&TaskQuery {
            node: Some(NodeId(0)),
            ..TaskQuery::default()
        })
        .unwrap();
    assert!(on_0.tasks.is_empty());
    blocker.open();
    first.wait().unwrap();
    for t in ahead {
        t.wait().unwrap();
    }
    assert_eq!(pinned.wait().unwrap(), 7);
    runtime.shutdown();
}

#[test]
fn an_unplaceable_task_names_its_demand_the_best_offer_and_the_node_it_waits_for() {
    let mut b = builder(0);
    b.nodes([
        NodeSpec::new(Resources::cpu(4_000)).name("cpu"),
        NodeSpec::new(Resources::cpu(4_000).with_gpu_milli(1_000)).name("gpu"),
    ])
    .supervision(SupervisionConfig {
        // The GPU node stays down long enough to look at.
        backoff_min: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        ..SupervisionConfig::default()
    });
    let events = supervisor_events(&mut b);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    h.inject(Fault::CrashNode { node: NodeId(1) }).unwrap();
    let e = expect(&events, "the GPU node down");
    assert!(
        matches!(
            e,
            SupervisorEvent::NodeDown {
                node: NodeId(1),
                ..
            }
        ),
        "{e:?}"
    );
    let demand = Resources::cpu(1_000).with_gpu_milli(500);
    let task = h
        .submit(Task::new(|_| Ok::<_, String>(())).demand(demand))
        .unwrap();
    let detail = h.task(task.id()).expect("live");
    assert_eq!(detail.summary.state, TaskState::Pending);
    match &detail.why {
        Some(Why::Unplaceable {
            demand: d,
            best: Some(best),
            restarting,
        }) => {
            assert_eq!(*d, demand);
            assert_eq!(best.name, "cpu");
            assert!(best.available);
            assert_eq!(restarting, &vec![NodeId(1)]);
        }
        other => panic!("{other:?}"),
    }
    let text = detail.why.unwrap().to_string();
    assert!(text.contains("on cpu"), "{text}");
    assert!(text.contains("waiting for node-1 to restart"), "{text}");
    let nodes = h.node_status();
    assert_eq!(nodes[1].health, NodeHealth::Down);
    assert_eq!(nodes[0].health, NodeHealth::Up);
    assert_eq!(nodes[1].gpu_fragmentation, Some(0.0));
    assert_eq!(nodes[0].gpu_fragmentation, None);
    let kept = h.events();
    assert!(matches!(
        kept.last().map(|e| &e.event),
        Some(SupervisorEvent::NodeDown {
            node: NodeId(1),
            ..
        })
    ));
    assert!(kept.last().unwrap().at <= SystemTime::now());
    assert_eq!(h.state_counts().pending, 1);
    // Cancelled by id, as the dashboard does.
    assert!(h.cancel(task.id()));
    assert!(task.wait().is_err());
    runtime.shutdown_now();
}

#[test]
fn a_retry_waiting_out_its_backoff_says_until_when_and_keeps_its_attempts() {
    let mut b = builder(1);
    b.retain_finished(100)
        .retry_backoff(Duration::from_secs(30), Duration::from_secs(30));
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let task = h
        .submit(
            Task::new(|ctx| {
                if ctx.attempt() == 0 {
                    Err("first try fails".to_owned())
                } else {
                    Ok(1u32)
                }
            })
            .retry_on_error(true),
        )
        .unwrap();
    eventually("the retry backing off", || {
        h.task(task.id())
            .is_some_and(|d| d.summary.state == TaskState::BackingOff)
    });
    let detail = h.task(task.id()).unwrap();
    match detail.why {
        Some(Why::BackingOff { until, attempt }) => {
            assert_eq!(attempt, 1);
            assert!(until > SystemTime::now() + Duration::from_secs(20));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(detail.attempts.len(), 1);
    let a = &detail.attempts[0];
    assert_eq!(a.outcome, AttemptOutcome::Failed);
    assert_eq!(a.node, Some(NodeId(0)));
    assert!(a.started.is_some() && a.ended >= a.started.map(Some).unwrap());
    assert!(a.error.as_deref().unwrap().contains("first try fails"));
    assert_eq!(h.state_counts().backing_off, 1);
    let listed = h
        .tasks(&TaskQuery {
            state: Some(TaskState::BackingOff),
            ..TaskQuery::default()
        })
        .unwrap();
    assert_eq!(listed.tasks.len(), 1);
    assert!(h.cancel(task.id()));
    // The cancelled retry leaves the ledger when its backoff ends: do not
    // wait for that.
    runtime.shutdown_now();
}

#[test]
fn a_finished_task_keeps_every_attempt_with_its_node_and_times() {
    let mut b = builder(1);
    b.retain_finished(100)
        .retry_backoff(Duration::ZERO, Duration::ZERO);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let task = h
        .submit(
            Task::new(|ctx| {
                if ctx.attempt() < 2 {
                    Err(format!("attempt {} fails", ctx.attempt()))
                } else {
                    Ok(ctx.attempt())
                }
            })
            .retry_on_error(true)
            .priority(3),
        )
        .unwrap();
    let id = task.id();
    assert_eq!(task.wait().unwrap(), 2);
    // Until its record is kept, the detail is what the job says (no end
    // time): wait for the record.
    eventually("its record", || {
        h.task(id).is_some_and(|d| d.summary.ended.is_some())
    });
    let d = h.task(id).unwrap();
    assert_eq!(d.summary.state, TaskState::Completed);
    assert_eq!(d.spec.priority, 3);
    let outcomes: Vec<_> = d.attempts.iter().map(|a| (a.number, a.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![
            (0, AttemptOutcome::Failed),
            (1, AttemptOutcome::Failed),
            (2, AttemptOutcome::Completed)
        ]
    );
    assert!(d
        .attempts
        .iter()
        .all(|a| a.node == Some(NodeId(0)) && a.started.is_some() && a.ended.is_some()));
    assert_eq!(d.why, None);
    runtime.shutdown();
}

#[test]
fn nodes_events_and_rates_describe_what_happened() {
    let mut b = builder(2);
    b.supervision(support::fast_restarts());
    let events = supervisor_events(&mut b);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    for t in h
        .submit_batch((0..200).map(|i| Task::new(move |_| Ok::<_, String>(i))))
        .unwrap()
    {
        t.wait().unwrap();
    }
    h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
    expect(&events, "node down");
    expect(&events, "node restarted");
    let kept: Vec<_> = h.events().into_iter().map(|e| e.event).collect();
    assert!(matches!(
        kept[0],
        SupervisorEvent::NodeDown {
            node: NodeId(0),
            ..
        }
    ));
    assert!(matches!(
        kept[1],
        SupervisorEvent::NodeRestarted {
            node: NodeId(0),
            restarts: 1
        }
    ));
    let times: BTreeSet<_> = h.events().iter().map(|e| e.at).collect();
    assert!(!times.is_empty());
    let nodes = h.node_status();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].restarts, 1);
    assert_eq!(nodes.iter().map(|n| n.completed).sum::<u64>(), 200);
    assert!(nodes.iter().all(|n| n.free == n.capacity && n.slots == 1));
    let rates = h.rates();
    assert!(rates.completed > 0.0, "{rates:?}");
    assert!(rates.window > Duration::ZERO);
    runtime.shutdown();
}

#[test]
fn a_page_size_out_of_range_is_refused() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    for limit in [0, TaskQuery::MAX_LIMIT + 1, usize::MAX] {
        let err = h
            .tasks(&TaskQuery {
                limit,
                ..TaskQuery::default()
            })
            .unwrap_err();
        assert_eq!(err, allot::QueryError::Limit(limit));
    }
    assert!(h.task(allot::TaskId(12_345)).is_none());
    assert!(!h.cancel(allot::TaskId(12_345)));
    runtime.shutdown();
}

#[test]
fn closures_given_a_name_are_listed_and_filtered_by_it_live_and_finished() {
    let mut b = builder(2);
    b.retain_finished(10_000);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let embed: std::sync::Arc<str> = "embed".into();
    // Finished: 300 named `embed`, 300 unnamed, one named `embed` that fails.
    let done = h
        .submit_batch((0..600u32).map(|i| {
            let t = Task::new(move |_| Ok::<_, String>(i));
            if i % 2 == 0 {
                t.name(embed.clone())
            } else {
                t
            }
        }))
        .unwrap();
    for t in done {
        t.wait().unwrap();
    }
    let failed = h
        .submit(
            Task::new(|_| Err::<u32, _>("bad batch".to_owned()))
                .name("embed")
                .max_retries(0),
        )
        .unwrap();
    let failed_id = failed.id();
    assert!(failed.wait().is_err());
    eventually("every finished record kept", || {
        h.state_counts().retained == 601
    });
    // Live: one held, 100 named `score` queued behind it, the name kept
    // across a replaced spec.
    let blocker = Blocker::new();
    let held = h.submit_to(NodeId(1), blocker.task(0u32)).unwrap();
    blocker.expect_started("the blocker on node 1");
    let queued = h
        .submit_batch_to(
            NodeId(1),
            (0..100u32).map(|i| {
                let mut t = Task::new(move |_| Ok::<_, String>(i)).name("score");
                t.set_spec(allot::TaskSpec {
                    priority: 1,
                    ..allot::TaskSpec::default()
                });
                t
            }),
        )
        .unwrap();
    let named = |name: &str, state: Option<TaskState>| {
        all_pages(
            h,
            TaskQuery {
                name: Some(name.into()),
                state,
                limit: 64,
                ..TaskQuery::default()
            },
        )
    };
    let embeds = named("embed", None);
    assert_eq!(embeds.len(), 301);
    assert!(embeds.iter().all(|t| t.name.as_deref() == Some("embed")));
    assert!(embeds.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(named("embed", Some(TaskState::Failed)).len(), 1);
    assert_eq!(named("embed", Some(TaskState::Completed)).len(), 300);
    let scores = named("score", Some(TaskState::Queued));
    assert_eq!(scores.len(), 100);
    assert_eq!(scores[0].node, Some(NodeId(1)));
    assert!(named("nothing", None).is_empty());
    // Unnamed closures have no name; a detail shows the name too.
    let all = all_pages(h, TaskQuery::default());
    assert_eq!(all.iter().filter(|t| t.name.is_none()).count(), 301);
    let detail = h.task(failed_id).unwrap();
    assert_eq!(detail.summary.name.as_deref(), Some("embed"));
    assert_eq!(detail.spec.priority, 0);
    let detail = h.task(queued[0].id()).unwrap();
    assert_eq!(detail.summary.name.as_deref(), Some("score"));
    assert_eq!(detail.spec.priority, 1, "the replaced spec");
    blocker.open();
    held.wait().unwrap();
    for t in queued {
        t.wait().unwrap();
    }
    runtime.shutdown();
}
