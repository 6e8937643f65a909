//! Property tests: under random fault plans and seeds, every task ends
//! exactly once and the ledger reconciles with the handles.

mod support;

use allot::{
    Discipline, FaultPlan, FaultSpec, NodeId, PolicyKind, SupervisionConfig, Task, TaskError,
};
use proptest::prelude::*;
use std::collections::HashSet;
use std::time::Duration;

const NODES: usize = 3;

fn fault() -> impl Strategy<Value = FaultSpec> {
    let node = (0..NODES).prop_map(NodeId);
    prop_oneof![
        (node.clone(), 1u64..60)
            .prop_map(|(node, after_tasks)| FaultSpec::CrashNode { node, after_tasks }),
        (0.0f64..0.05).prop_map(|p| FaultSpec::CrashProbability { node: None, p }),
        (node.clone(), 1u64..60)
            .prop_map(|(node, after_tasks)| FaultSpec::PanicNode { node, after_tasks }),
        (0.0f64..0.3).prop_map(|p| FaultSpec::PanicTask { p }),
        (node.clone(), 1u64..60, prop::option::of(1u64..40)).prop_map(|(node, after_tasks, ms)| {
            FaultSpec::HangNode {
                node,
                after_tasks,
                duration: ms.map(Duration::from_millis),
            }
        }),
        (node.clone(), 1u64..60, 1u64..5_000).prop_map(|(node, after_tasks, messages)| {
            FaultSpec::FloodMailbox {
                node,
                after_tasks,
                messages,
            }
        }),
        (node, 0.05f64..1.0, 0u64..30).prop_map(|(node, factor, at)| FaultSpec::SlowNode {
            node,
            factor,
            at: Duration::from_millis(at),
            recover_after: Some(Duration::from_millis(20)),
        }),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    faults: Vec<FaultSpec>,
    tasks: usize,
    cancel_every: usize,
    retry_on_error: bool,
    policy: PolicyKind,
    discipline: Discipline,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        prop::collection::vec(fault(), 0..5),
        50usize..250,
        prop_oneof![Just(0usize), 3usize..20],
        any::<bool>(),
        prop_oneof![Just(PolicyKind::RoundRobin), Just(PolicyKind::LeastLoaded)],
        prop_oneof![
            Just(Discipline::Fcfs),
            Just(Discipline::Sjf),
            Just(Discipline::Priority),
            Just(Discipline::Edf)
        ],
    )
        .prop_map(
            |(seed, faults, tasks, cancel_every, retry_on_error, policy, discipline)| Case {
                seed,
                faults,
                tasks,
                cancel_every,
                retry_on_error,
                policy,
                discipline,
            },
        )
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let plan = FaultPlan {
        seed: Some(case.seed),
        faults: case.faults.clone(),
    };
    let rt = support::builder(NODES)
        .rng_seed(case.seed)
        .policy(case.policy)
        .discipline(case.discipline)
        .supervision(SupervisionConfig {
            hang_timeout: Duration::from_millis(60),
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
            max_restarts: 50,
            ..SupervisionConfig::default()
        })
        .fault_plan(plan)
        .build()
        .unwrap();
    let h = rt.handle();
    let hs = h
        .submit_batch((0..case.tasks as u64).map(|i| {
            Task::new(move |_| Ok::<_, String>(i))
                .cost(0.0001 * (1 + i % 7) as f64)
                .priority((i % 5) as i32)
                .deadline(Duration::from_millis(1 + i % 13))
                .retry_on_error(case.retry_on_error)
                .max_retries(5)
        }))
        .unwrap();
    if case.cancel_every > 0 {
        for t in hs.iter().step_by(case.cancel_every) {
            t.cancel();
        }
    }
    let (mut completed, mut failed, mut cancelled) = (0u64, 0u64, 0u64);
    let mut values = HashSet::new();
    for mut t in hs {
        let outcome = t
            .wait_timeout(support::DEADLINE)
            .ok_or_else(|| TestCaseError::fail(format!("task {} never ended", t.id())))?;
        match outcome {
            Ok(v) => {
                prop_assert!(values.insert(v), "value {} delivered twice", v);
                completed += 1;
            }
            Err(TaskError::Cancelled(_)) => cancelled += 1,
            Err(TaskError::Failed { attempts }) => {
                prop_assert!(!attempts.is_empty());
                failed += 1;
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        }
    }
    let m = rt.shutdown();
    let t = &m.totals;
    prop_assert_eq!(t.submitted, case.tasks as u64);
    prop_assert_eq!(completed + failed + cancelled, t.submitted);
    prop_assert_eq!(t.completed, completed, "{:?}", t);
    prop_assert_eq!(t.failed, failed, "{:?}", t);
    prop_assert_eq!(t.cancelled, cancelled, "{:?}", t);
    prop_assert_eq!(t.in_flight, 0);
    prop_assert_eq!(t.unaccounted(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_task_ends_exactly_once_under_random_fault_plans(case in case()) {
        run(&case)?;
    }
}
