//! Extreme values at the API: every numeric and duration input is either
//! refused with a typed error naming the field, or runs (clamped to its
//! documented range). None panics the library or loses a task.

mod support;

use allot::{
    BalancerConfig, BuildError, Fault, FaultPlan, FaultSpec, NodeId, NodeSpec, Refusal, Resources,
    Runtime, RuntimeHandle, SubmitError, SupervisionConfig, Task,
};
use proptest::prelude::*;
use std::time::Duration;
use support::DEADLINE;

const FLOATS: [f64; 12] = [
    0.0,
    -0.0,
    5e-324,
    1e-300,
    1e-6,
    1.0,
    -1.0,
    1e300,
    f64::MAX,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];
const DURATIONS: [Duration; 7] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_millis(1),
    Duration::from_millis(20),
    Duration::from_secs(3_600),
    Duration::from_secs(u64::MAX),
    Duration::MAX,
];
const COUNTS: [u64; 5] = [0, 1, 3, 1 << 40, u64::MAX];

fn float() -> impl Strategy<Value = f64> {
    prop::sample::select(&FLOATS[..])
}
fn duration() -> impl Strategy<Value = Duration> {
    prop::sample::select(&DURATIONS[..])
}
fn count() -> impl Strategy<Value = u64> {
    prop::sample::select(&COUNTS[..])
}

/// Each setting is either left at its default (`None`) or an extreme value,
/// so that most runs change a few settings and many still build.
#[derive(Debug, Clone, Default)]
struct Setting {
    speeds: [Option<f64>; 2],
    slots: [Option<u64>; 2],
    capacity: Option<u64>,
    queue_capacity: Option<u64>,
    heartbeat: Option<Duration>,
    retry_backoff: Option<(Duration, Duration)>,
    high: Option<f64>,
    low: Option<f64>,
    balancer_interval: Option<Duration>,
    min_gap: Option<Duration>,
    max_per_round: Option<u64>,
    max_restarts: Option<u64>,
    restart_period: Option<Duration>,
    backoff: Option<(Duration, Duration)>,
    jitter: Option<f64>,
    hang_timeout: Option<Duration>,
}

fn some<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(0.25, s)
}

fn setting() -> impl Strategy<Value = Setting> {
    (
        (
            some(float()),
            some(float()),
            some(count()),
            some(count()),
            some(count()),
            some(count()),
        ),
        (
            some(duration()),
            some((duration(), duration())),
            some(float()),
            some(float()),
        ),
        (
            some(duration()),
            some(duration()),
            some(count()),
            some(count()),
            some(duration()),
        ),
        (
            some((duration(), duration())),
            some(float()),
            some(duration()),
        ),
    )
        .prop_map(|(a, b, c, d)| Setting {
            speeds: [a.0, a.1],
            slots: [a.2, a.3],
            capacity: a.4,
            queue_capacity: a.5,
            heartbeat: b.0,
            retry_backoff: b.1,
            high: b.2,
            low: b.3,
            balancer_interval: c.0,
            min_gap: c.1,
            max_per_round: c.2,
            max_restarts: c.3,
            restart_period: c.4,
            backoff: d.0,
            jitter: d.1,
            hang_timeout: d.2,
        })
}

fn build(s: &Setting) -> Result<Runtime, BuildError> {
    let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let nodes = (0..2).map(|i| {
        let mut n = NodeSpec::new(Resources::cpu(s.capacity.unwrap_or(4_000)));
        if let Some(v) = s.speeds[i] {
            n = n.speed(v);
        }
        if let Some(v) = s.slots[i] {
            n = n.slots(clamp(v));
        }
        n
    });
    let mut b = Runtime::builder();
    b.nodes(nodes);
    if let Some(v) = s.queue_capacity {
        b.queue_capacity(clamp(v));
    }
    b.heartbeat_interval(s.heartbeat.unwrap_or(Duration::from_millis(10)));
    if let Some((min, max)) = s.retry_backoff {
        b.retry_backoff(min, max);
    }
    let d = BalancerConfig::default();
    b.balancer(BalancerConfig {
        enabled: true,
        interval: s.balancer_interval.unwrap_or(d.interval),
        high: s.high.unwrap_or(d.high),
        low: s.low.unwrap_or(d.low),
        max_per_round: s.max_per_round.map_or(d.max_per_round, clamp),
        min_gap: s.min_gap.unwrap_or(d.min_gap),
    });
    let d = SupervisionConfig::default();
    let (backoff_min, backoff_max) = s.backoff.unwrap_or((d.backoff_min, d.backoff_max));
    b.supervision(SupervisionConfig {
        max_restarts: s
            .max_restarts
            .map_or(d.max_restarts, |v| u32::try_from(v).unwrap_or(u32::MAX)),
        restart_period: s.restart_period.unwrap_or(d.restart_period),
        backoff_min,
        backoff_max,
        backoff_jitter: s.jitter.unwrap_or(d.backoff_jitter),
        hang_timeout: s.hang_timeout.unwrap_or(d.hang_timeout),
        ..d
    });
    b.build()
}

/// Submits four tasks (a refused one is handed back, as with a queue
/// capacity of 1), runs `then`, stops within 2 s: what went wrong, if
/// anything (the ledger off, an accepted task left unanswered).
fn run_four_tasks_and_stop(runtime: Runtime, then: impl FnOnce(&RuntimeHandle)) -> Option<String> {
    let h = runtime.handle().clone();
    let tasks: Vec<_> = (0..4u32)
        .filter_map(|i| {
            h.submit(Task::new(move |_| Ok::<_, String>(i)).cost(0.001))
                .ok()
        })
        .collect();
    then(&h);
    let report = runtime.shutdown_timeout(Duration::from_secs(2));
    let m = h.metrics();
    if m.totals.unaccounted() != 0 {
        return Some(format!("{:?} {:?}", m.totals, report));
    }
    tasks
        .iter()
        .position(|t| !t.is_finished())
        .map(|i| format!("task {i} never answered"))
}

/// The field names a build error may name: each refusal must name one.
const FIELDS: [&str; 15] = [
    "nodes[0].speed",
    "nodes[1].speed",
    "nodes[0].slots",
    "nodes[1].slots",
    "queue_capacity",
    "heartbeat_interval",
    "retry_backoff",
    "balancer.high",
    "balancer.low",
    "balancer.interval",
    "balancer.max_per_round",
    "supervision.restart_period",
    "supervision.backoff",
    "supervision.hang_timeout",
    "threads",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_extreme_setting_is_refused_naming_its_field_or_runs_tasks_and_crashes(s in setting()) {
        match build(&s) {
            Err(e) => {
                let text = e.to_string();
                prop_assert!(FIELDS.iter().any(|f| text.contains(f)), "unnamed: {text}");
            }
            Ok(runtime) => {
                let problem = run_four_tasks_and_stop(runtime, |h| {
                    // A crash exercises the restart backoff with these settings.
                    h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
                    h.inject(Fault::SlowNode { node: NodeId(1), factor: 1e-300 }).unwrap();
                });
                prop_assert!(problem.is_none(), "{}", problem.unwrap_or_default());
            }
        }
    }

    #[test]
    fn any_extreme_task_spec_is_refused_naming_its_field_or_ends(
        cost in float(),
        deadline in duration(),
        timeout in duration(),
        retries in count(),
        cpu in count(),
        priority in prop::sample::select(vec![i32::MIN, -1, 0, 1, i32::MAX]),
    ) {
        let runtime = support::builder(2).build().unwrap();
        let h = runtime.handle();
        let task = Task::new(|_| Ok::<_, String>(1u8))
            .cost(cost)
            .deadline(deadline)
            .timeout(timeout)
            .max_retries(u32::try_from(retries).unwrap_or(u32::MAX))
            .priority(priority)
            .demand(Resources::cpu(cpu));
        match h.submit(task) {
            Ok(mut t) => {
                let out = t.wait_timeout(DEADLINE);
                prop_assert!(out.is_some(), "the task never ended");
            }
            Err(SubmitError::Refused {
                reason: Refusal::Invalid(error),
                ..
            }) => {
                let text = error.to_string();
                prop_assert!(text.contains("cost") || text.contains("timeout"), "{text}");
            }
            Err(SubmitError::Refused {
                reason: Refusal::Infeasible(_),
                ..
            }) => prop_assert!(cpu > 4_000),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        let m = runtime.shutdown();
        prop_assert_eq!(m.totals.unaccounted(), 0);
    }

    #[test]
    fn any_extreme_fault_plan_is_refused_naming_the_entry_or_runs(
        p in float(),
        factor in float(),
        at in duration(),
        recover in duration(),
        hang in duration(),
        after in count(),
        messages in count(),
    ) {
        let plan = FaultPlan::new(7)
            .with(FaultSpec::CrashProbability { node: None, p })
            .with(FaultSpec::PanicTask { p })
            .with(FaultSpec::SlowNode { node: NodeId(0), factor, at, recover_after: Some(recover) })
            .with(FaultSpec::HangNode { node: NodeId(1), after_tasks: after, duration: Some(hang) })
            .with(FaultSpec::FloodMailbox { node: NodeId(0), after_tasks: after, messages });
        let mut b = support::builder(2);
        b.fault_plan(plan);
        match b.build() {
            Err(e) => prop_assert!(e.to_string().contains("fault_plan"), "{e}"),
            Ok(runtime) => {
                let problem = run_four_tasks_and_stop(runtime, |_| {});
                prop_assert!(problem.is_none(), "{}", problem.unwrap_or_default());
            }
        }
    }
}

#[test]
fn a_node_slower_than_the_throttle_range_runs_at_its_floor_instead_of_panicking() {
    let runtime = Runtime::builder()
        .nodes([
            NodeSpec::new(Resources::cpu(1_000)).speed(1e300),
            NodeSpec::new(Resources::cpu(1_000)).speed(1.0),
        ])
        .build()
        .unwrap();
    let h = runtime.handle();
    for node in [0, 1] {
        let t = h
            .submit_to(NodeId(node), Task::new(|_| Ok::<_, String>(3)))
            .unwrap();
        assert_eq!(t.wait().unwrap(), 3);
    }
    h.inject(Fault::SlowNode {
        node: NodeId(0),
        factor: 1e-300,
    })
    .unwrap();
    let t = h
        .submit_to(NodeId(0), Task::new(|_| Ok::<_, String>(4)))
        .unwrap();
    assert_eq!(t.wait().unwrap(), 4);
    assert_eq!(runtime.shutdown().totals.completed, 3);
}

#[test]
fn huge_restart_backoffs_do_not_panic_the_supervisor() {
    for (min, max, jitter) in [
        (Duration::MAX, Duration::MAX, 0.2),
        (Duration::from_millis(1), Duration::from_millis(2), 1e300),
    ] {
        let built = support::builder(2)
            .supervision(SupervisionConfig {
                backoff_min: min,
                backoff_max: max,
                backoff_jitter: jitter,
                ..SupervisionConfig::default()
            })
            .build();
        let runtime = match built {
            Err(e) => {
                assert!(e.to_string().contains("supervision.backoff"), "{e}");
                continue;
            }
            Ok(r) => r,
        };
        let h = runtime.handle();
        h.inject(Fault::CrashNode { node: NodeId(0) }).unwrap();
        support::eventually("node 0 to be down", || !h.metrics().nodes[0].available);
        // The supervisor still works: a later crash of node 1 is handled.
        h.inject(Fault::CrashNode { node: NodeId(1) }).unwrap();
        support::eventually("node 1 to be down", || !h.metrics().nodes[1].available);
        assert_ne!(h.health(), allot::Health::Healthy, "nodes are down");
        drop(runtime.shutdown_now());
    }
}

#[test]
fn a_runtime_with_more_threads_than_the_machine_allows_is_refused_before_it_starts() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let err = Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(1_000)); 100_000])
        .build()
        .unwrap_err();
    match err {
        BuildError::TooManyThreads { needed, limit } => {
            assert_eq!(needed, 200_002);
            assert!(limit < needed);
            let text = BuildError::TooManyThreads { needed, limit }.to_string();
            assert!(text.contains(&limit.to_string()), "{text}");
        }
        other => panic!("expected TooManyThreads, got {other:?}"),
    }
}

#[test]
fn tasks_of_enormous_cost_add_up_in_a_nodes_load_without_wrapping() {
    let runtime = support::builder(1).build().unwrap();
    let h = runtime.handle();
    let gate = support::Blocker::new();
    let tasks: Vec<_> = [1e300, 1.0]
        .into_iter()
        .map(|cost| h.submit_to(NodeId(0), gate.task(()).cost(cost)).unwrap())
        .collect();
    // The load is the capped cost plus one, not a sum wrapped round to ~1.
    let load = h.metrics().nodes[0].load;
    assert!(load >= 1e7, "load {load}");
    gate.open();
    for t in tasks {
        t.wait().unwrap();
    }
    runtime.shutdown();
}
