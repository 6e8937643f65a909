//! Behaviour of the allocation policies and the simulators that measure
//! them: capacities and constraints, determinism, heterogeneous nodes,
//! learning, and the openb GPU trace. Long sweeps are `#[ignore]`d;
//! `examples/policy_report/` runs them in release. The exact policies are
//! in `policy_exact.rs`.

mod support;

use allot::policy::{
    BestFit, Budget, DotProduct, Fgd, FragmentationAware, GpuChoice, GpuDemand, GpuModelSet,
    GpuNode, GpuPacking, GpuPlacement, Hybrid, LeastLoaded, Makespan, NodeView, Policy, PolicyKind,
    RandomFit, RoundRobin, TaskView, Ucb,
};
use allot::sim::bandit::{run_bandit, BanditConfig, Slowdown};
use allot::sim::cluster::{FgdConfig, Scenario};
use allot::sim::gap_file::read_gap;
use allot::sim::openb::Trace;
use allot::{BalancerConfig, NodeId, NodeSpec, Resources, Runtime, Task, TaskId, TaskKind};
use std::path::PathBuf;
use std::time::Duration;
use support::{eventually, Blocker};

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(path)
}

// ------------------------------------------- capacities and constraints --

static KINDS: [TaskKind; 3] = [
    TaskKind::Training,
    TaskKind::Inference,
    TaskKind::Evaluation,
];

fn mixed_views() -> Vec<NodeView> {
    let mut v = vec![
        NodeView::idle(NodeId(0), Resources::new(4_000, 8_192, 0, 1_000), 1.0, 1),
        NodeView::idle(
            NodeId(1),
            Resources::new(16_000, 65_536, 2_000, 1_000),
            2.0,
            4,
        ),
        NodeView::idle(
            NodeId(2),
            Resources::new(8_000, 32_768, 1_000, 1_000),
            0.5,
            2,
        ),
        NodeView::idle(
            NodeId(3),
            Resources::new(64_000, 262_144, 8_000, 10_000),
            1.5,
            8,
        ),
    ];
    v[3].available = false;
    v[1].load = 3.0;
    v
}

fn mixed_tasks() -> Vec<TaskView<'static>> {
    let demands = [
        Resources::cpu(1_000),
        Resources::cpu(6_000).with_memory_mib(16_000),
        Resources::cpu(2_000).with_gpu_milli(500),
        Resources::cpu(2_000).with_gpu_milli(2_000),
        Resources::cpu(20_000),
        Resources::ZERO,
    ];
    (0..24)
        .map(|i| TaskView {
            id: TaskId(i),
            kind: &KINDS[i as usize % 3],
            cost: 0.5 + (i % 5) as f64,
            demand: demands[i as usize % demands.len()],
            priority: 0,
        })
        .collect()
}

#[test]
fn every_policy_respects_capacities_and_availability() {
    let tasks = mixed_tasks();
    for &kind in PolicyKind::ALL {
        let mut p = kind.build(11);
        let views = mixed_views();
        for t in &tasks {
            match p.place(t, &views) {
                Some(j) => assert!(views[j].can_host(t), "{kind}: place put {t:?} on {j}"),
                None => assert!(
                    !views.iter().any(|v| v.can_host(t)),
                    "{kind}: refused a placeable task"
                ),
            }
        }
        let mut views = mixed_views();
        let mut out = Vec::new();
        p.allocate(&tasks, &mut views, &mut out);
        assert_eq!(out.len(), tasks.len(), "{kind}");
        for (t, c) in tasks.iter().zip(&out) {
            match c {
                Some(j) => assert!(views[*j].can_host(t), "{kind}: allocate put {t:?} on {j}"),
                None => assert!(t.demand.cpu_milli > 16_000, "{kind}: refused {t:?}"),
            }
        }
    }
}

fn gpu_cluster() -> Vec<GpuNode> {
    (0..12)
        .map(|j| {
            let gpus = [1, 2, 4, 8][j % 4];
            GpuNode::new(
                8_000 * gpus as u64 + 8_000,
                65_536,
                gpus,
                Some((j % 3) as u8),
            )
            .with_max_tasks(20)
        })
        .collect()
}

fn gpu_pods(n: usize, seed: u64) -> Vec<GpuDemand> {
    // A small deterministic mix with model constraints.
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    (0..n)
        .map(|_| {
            let d = match next() % 5 {
                0 => GpuDemand::cpu_only(2_000 + 1_000 * (next() % 4) as u64, 1_024),
                1 | 2 => GpuDemand::shared(
                    1_000 + 500 * (next() % 4) as u64,
                    2_048,
                    [160, 320, 470, 810][next() % 4],
                ),
                3 => GpuDemand::whole(4_000, 4_096, 1),
                _ => GpuDemand::whole(8_000, 8_192, [2, 4, 8][next() % 3]),
            };
            if next() % 3 == 0 {
                d.on_models(GpuModelSet::ANY.with((next() % 3) as u8))
            } else {
                d
            }
        })
        .collect()
}

fn gpu_policies(seed: u64, workload: &[GpuDemand]) -> Vec<Box<dyn GpuPlacement>> {
    vec![
        Box::new(BestFit::new()),
        Box::new(DotProduct::new()),
        Box::new(GpuPacking::new()),
        Box::new(RandomFit::new(seed)),
        Box::new(Fgd::from_workload(workload, 0.95)),
        Box::new(FragmentationAware::new()),
    ]
}

#[test]
fn every_gpu_policy_respects_capacities_and_gpu_type_constraints() {
    let pods = gpu_pods(400, 3);
    for mut p in gpu_policies(9, &pods) {
        let mut nodes = gpu_cluster();
        let (mut placed, mut refused) = (0, 0);
        for d in &pods {
            match p.choose(d, &nodes) {
                Some(GpuChoice { node, gpus }) => {
                    let n = &nodes[node];
                    assert!(n.fits(d), "{}: {d:?} does not fit node {node}", p.name());
                    assert!(
                        d.models.allows(n.model) || d.gpus == 0,
                        "{}: wrong GPU model",
                        p.name()
                    );
                    assert_eq!(gpus.len(), d.gpus as usize);
                    for (k, &g) in gpus.iter().enumerate() {
                        assert!(n.gpu_free[g] >= d.gpu_milli && !gpus[..k].contains(&g));
                    }
                    nodes[node].place(d, &gpus);
                    placed += 1;
                }
                None => {
                    assert!(
                        !nodes.iter().any(|n| n.fits(d)),
                        "{}: refused a placeable pod",
                        p.name()
                    );
                    refused += 1;
                }
            }
        }
        assert!(
            placed > 0 && refused > 0,
            "{}: the cluster should fill up",
            p.name()
        );
        for n in &nodes {
            assert!(n.tasks <= n.max_tasks && n.cpu_free <= n.cpu_capacity);
        }
    }
}

// ------------------------------------------------------- determinism --

#[test]
fn every_policy_is_deterministic_under_a_seed() {
    let tasks: Vec<TaskView<'static>> = mixed_tasks().into_iter().take(6).collect();
    for &kind in PolicyKind::ALL {
        let run = || {
            let mut p = kind.build(42);
            let views = mixed_views();
            let single: Vec<Option<usize>> =
                mixed_tasks().iter().map(|t| p.place(t, &views)).collect();
            let mut views = mixed_views();
            let mut out = Vec::new();
            p.allocate(&tasks, &mut views, &mut out);
            (single, out)
        };
        assert_eq!(run(), run(), "{kind}");
    }
    let pods = gpu_pods(300, 5);
    let choices = |k: usize| {
        let mut p = gpu_policies(17, &pods).swap_remove(k);
        let mut nodes = gpu_cluster();
        pods.iter()
            .map(|d| {
                let c = p.choose(d, &nodes);
                if let Some(c) = &c {
                    nodes[c.node].place(d, &c.gpus);
                }
                c
            })
            .collect::<Vec<_>>()
    };
    for k in 0..6 {
        assert_eq!(choices(k), choices(k), "GPU policy {k}");
    }
    let g = read_gap(data("gap/instances/cattrysse1994_gap5-0")).unwrap();
    let h = |seed| {
        Hybrid::with_budget(Budget::steps(30), seed)
            .solve_gap(&g)
            .unwrap()
    };
    assert_eq!(h(1), h(1));
    let p = Makespan::identical((1..=40).map(|x| ((x * 37) % 23 + 1) as f64).collect(), 6);
    let hm = || Hybrid::with_budget(Budget::steps(200), 1).solve_makespan(&p);
    assert_eq!(hm(), hm());
}

// --------------------------------------------- heterogeneous behaviour --

#[test]
fn least_loaded_gives_a_16_slot_node_sixteen_times_the_work_of_a_1_slot_node() {
    static KIND: TaskKind = TaskKind::Unspecified;
    let tasks: Vec<TaskView<'_>> = (0..1000)
        .map(|i| TaskView {
            id: TaskId(i),
            kind: &KIND,
            cost: 0.01,
            demand: Resources::cpu(1_000),
            priority: 0,
        })
        .collect();
    for mut p in [
        PolicyKind::LeastLoaded.build(1),
        PolicyKind::Lpt.build(1),
        PolicyKind::Hybrid.build(1),
    ] {
        let mut views = vec![
            NodeView::idle(NodeId(0), Resources::cpu(16_000), 1.0, 16),
            NodeView::idle(NodeId(1), Resources::cpu(1_000), 1.0, 1),
        ];
        let mut out = Vec::new();
        p.allocate(&tasks, &mut views, &mut out);
        let small = out.iter().filter(|c| **c == Some(1)).count();
        // Ideal split: 1000 / 17 ≈ 58.8 on the small node.
        assert!(
            (58..=60).contains(&small),
            "{}: {small} tasks on the 1-slot node",
            p.name()
        );
    }
    // Round-robin ignores slots: half the work lands on the small node.
    let mut rr = RoundRobin::new();
    let mut views = vec![
        NodeView::idle(NodeId(0), Resources::cpu(16_000), 1.0, 16),
        NodeView::idle(NodeId(1), Resources::cpu(1_000), 1.0, 1),
    ];
    let mut out = Vec::new();
    rr.allocate(&tasks, &mut views, &mut out);
    assert_eq!(out.iter().filter(|c| **c == Some(1)).count(), 500);
}

#[test]
fn four_nodes_with_two_slots_each_get_two_of_eight_tasks_each_on_the_runtime() {
    // The balancer off: under load an executor may not have started its
    // node's two tasks before another node finished its own, and moving a
    // queued one there would be right; this test is about placement.
    let runtime = Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(2_000)).slots(2); 4])
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        })
        .build()
        .unwrap();
    let handles =
        runtime
            .handle()
            .submit_batch((0..8).map(|_| {
                Task::new(|ctx| Ok::<_, String>(ctx.node())).demand(Resources::cpu(1_000))
            }))
            .unwrap();
    let mut per_node = [0usize; 4];
    for h in handles {
        per_node[h.wait().unwrap().0] += 1;
    }
    assert_eq!(per_node, [2, 2, 2, 2]);
    runtime.shutdown();
}

#[test]
fn ucb_regret_stays_within_5_percent_of_an_oracle_over_10_000_tasks_on_8_nodes() {
    for seed in 1..=3 {
        let cfg = BanditConfig {
            seed,
            ..BanditConfig::default()
        };
        let r = run_bandit(&mut Ucb::new(), &cfg);
        assert!(r.regret() < 0.05, "seed {seed}: regret {:.3}", r.regret());
        assert!(r.best_share > 0.8);
        // Without learning, the same tasks cost far more.
        assert!(run_bandit(&mut RoundRobin::new(), &cfg).regret() > 5.0 * r.regret());
    }
}

#[test]
fn ucb_moves_away_from_a_node_that_slows_down() {
    let cfg = BanditConfig {
        tasks: 6_000,
        slowdown: Some(Slowdown {
            after: 2_000,
            node: None,
            factor: 0.2,
        }),
        ..BanditConfig::default()
    };
    let adaptive = run_bandit(&mut Ucb::new(), &cfg);
    let frozen = run_bandit(&mut Ucb::with_params(0.2, 1.0), &cfg);
    assert!(
        adaptive.regret() < frozen.regret(),
        "{adaptive:?} vs {frozen:?}"
    );
    assert!(adaptive.best_share > 0.7, "{adaptive:?}");
}

#[test]
fn ucb_learns_speeds_from_feedback_and_prefers_the_fast_node() {
    let mut p = Ucb::new();
    let kind = TaskKind::Training;
    let views: Vec<NodeView> = (0..3)
        .map(|j| NodeView::idle(NodeId(j), Resources::ZERO, 1.0, 1))
        .collect();
    let task = TaskView {
        id: TaskId(0),
        kind: &kind,
        cost: 1.0,
        demand: Resources::ZERO,
        priority: 0,
    };
    for _ in 0..300 {
        let j = p.place(&task, &views).unwrap();
        let speed = [1.0, 3.0, 0.5][j];
        p.observe(&allot::policy::Feedback {
            node: NodeId(j),
            kind: kind.clone(),
            cost: 1.0,
            elapsed: Duration::from_secs_f64(1.0 / speed),
        });
    }
    assert_eq!(p.place(&task, &views), Some(1));
    assert!((p.estimate(&kind, 1).unwrap() - 3.0).abs() < 1e-6);
}

// ------------------------------------------------------------- openb --

fn openb() -> Trace {
    Trace::load(
        data("openb/openb_node_list_all_node.csv"),
        data("openb/openb_pod_list_default.csv"),
    )
    .unwrap()
}

#[test]
fn the_openb_trace_has_the_cluster_the_fgd_paper_describes() {
    let t = openb();
    assert_eq!((t.nodes.len(), t.pods.len()), (1523, 8152));
    assert_eq!(t.nodes.iter().filter(|n| n.gpus > 0).count(), 1213);
    assert_eq!(t.gpu_count(), 6212);
    let sc = Scenario::new(&t, &FgdConfig::default()).unwrap();
    assert_eq!(sc.nodes.len(), 1213);
    let offered: u64 = sc.pods.iter().map(GpuDemand::total_gpu_milli).sum();
    assert!(
        offered as f64 <= 1.3 * sc.capacity_milli as f64
            && offered as f64 > 1.29 * sc.capacity_milli as f64
    );
}

#[test]
fn best_fit_on_one_seed_lands_near_the_published_92_86_percent() {
    let t = openb();
    let r = allot::sim::cluster::simulate(&t, &mut BestFit::new(), &FgdConfig::default()).unwrap();
    let a = r.allocation_at(100).unwrap();
    // The published mean over 10 seeds is 92.86 % (sd 0.2 across seeds).
    assert!((a - 92.86).abs() < 1.0, "{a}");
}

#[test]
#[ignore = "10 seeds × 2 policies of the full trace: run in release"]
fn best_fit_and_fgd_reproduce_the_published_means_within_half_a_point() {
    let t = openb();
    let workload: Vec<GpuDemand> = t.pods.iter().map(|p| p.demand).collect();
    for (expected, make) in [
        (
            92.862,
            Box::new(|| Box::new(BestFit::new()) as Box<dyn GpuPlacement>)
                as Box<dyn Fn() -> Box<dyn GpuPlacement>>,
        ),
        (
            95.227,
            Box::new(|| Box::new(Fgd::from_workload(&workload, 0.95)) as Box<dyn GpuPlacement>),
        ),
    ] {
        let mut sum = 0.0;
        for seed in 42..52 {
            let mut p = make();
            sum += allot::sim::cluster::simulate(
                &t,
                p.as_mut(),
                &FgdConfig {
                    seed,
                    ..FgdConfig::default()
                },
            )
            .unwrap()
            .allocation_at(100)
            .unwrap();
        }
        assert!(
            (sum / 10.0 - expected).abs() <= 0.5,
            "{} vs {expected}",
            sum / 10.0
        );
    }
}

/// The issue-20 finding: allot 0.1's fragmentation-aware policy, learning
/// the mix from scratch, dropped 11 of the 44 8-GPU, 120-CPU pods by 100 %
/// offered on seed 43 (its first drop at 15 % offered) where FGD dropped
/// about one. Keeping room for the largest shape among tied nodes fixes it.
#[test]
fn fragmentation_aware_drops_no_more_eight_gpu_pods_than_fgd_and_allocates_at_least_as_much() {
    let t = openb();
    let workload: Vec<GpuDemand> = t.pods.iter().map(|p| p.demand).collect();
    let config = FgdConfig {
        seed: 43,
        ..FgdConfig::default()
    };
    let sc = Scenario::new(&t, &config).unwrap();
    let eight_by_100 = |r: &allot::sim::cluster::FgdRun| {
        r.dropped
            .iter()
            .filter(|d| d.demand.gpus == 8 && d.offered_pct <= 100.0)
            .count()
    };
    let fgd = sc
        .run(&mut Fgd::from_workload(&workload, 0.95), config.seed)
        .unwrap();
    let ours = sc
        .run(
            &mut FragmentationAware::new().with_prior(&workload),
            config.seed,
        )
        .unwrap();
    assert!(
        eight_by_100(&ours) <= eight_by_100(&fgd),
        "{} vs {}",
        eight_by_100(&ours),
        eight_by_100(&fgd)
    );
    assert!(
        ours.first_failure.unwrap() > 90.0,
        "{:?}",
        ours.first_failure
    );
    let (a, b) = (
        ours.allocation_at(100).unwrap(),
        fgd.allocation_at(100).unwrap(),
    );
    assert!(a >= b, "{a} vs {b}");
}

#[test]
fn least_loaded_is_the_default_policy_and_leaves_no_node_idle_with_work_waiting() {
    assert_eq!(PolicyKind::default(), PolicyKind::LeastLoaded);
    let mut p = LeastLoaded::new();
    static KIND: TaskKind = TaskKind::Unspecified;
    let task = TaskView {
        id: TaskId(0),
        kind: &KIND,
        cost: 1.0,
        demand: Resources::ZERO,
        priority: 0,
    };
    let mut views: Vec<NodeView> = (0..3)
        .map(|j| NodeView::idle(NodeId(j), Resources::ZERO, 1.0, 1))
        .collect();
    views[0].load = 1.0;
    views[1].load = 1.0;
    assert_eq!(p.place(&task, &views), Some(2));
}

// ------------------------------------------------- what policies see --

/// Records the views the runtime hands it, and places everything on node 0.
#[derive(Debug)]
struct ViewRecorder(std::sync::Arc<parking_lot::Mutex<Vec<Vec<NodeView>>>>);

impl Policy for ViewRecorder {
    fn name(&self) -> &'static str {
        "view-recorder"
    }

    fn place(&mut self, _task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        self.0.lock().push(nodes.to_vec());
        Some(0)
    }
}

/// Node views are read without the node's state lock (from what each
/// holder of it publishes); they must still show what runs and waits there.
#[test]
fn a_policy_sees_a_nodes_running_task_its_queue_and_the_resources_held_until_they_end() {
    let capacity = Resources {
        cpu_milli: 4_000,
        memory_mib: 8_192,
        gpu_milli: 1_000,
        bandwidth_mbps: 1_000,
    };
    let held = Resources {
        cpu_milli: 1_000,
        memory_mib: 1_024,
        gpu_milli: 500,
        bandwidth_mbps: 0,
    };
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let recorder = std::sync::Arc::clone(&seen);
    let runtime = Runtime::builder()
        .nodes(vec![NodeSpec::new(capacity)])
        .policy_with(move |_| Box::new(ViewRecorder(std::sync::Arc::clone(&recorder))))
        .build()
        .unwrap();
    let h = runtime.handle();
    let gate = Blocker::new();
    // Held until the test opens the gate.
    let big = h.submit(gate.task(()).demand(held)).unwrap();
    gate.expect_started("the task to start");
    // Placing a task shows the views as they were just before it (placed
    // by this thread, or by the supervisor if it held the policy then).
    let place = || {
        let before = seen.lock().len();
        let handle = h.submit(Task::new(|_| Ok::<_, String>(()))).unwrap();
        eventually("the task to be placed", || seen.lock().len() != before);
        let v = seen.lock()[before][0].clone();
        (handle, v)
    };
    let (first, v) = place();
    assert_eq!(v.running, 1, "{v:?}");
    assert_eq!(v.free, capacity.saturating_sub(&held), "{v:?}");
    assert_eq!(v.queued, 0, "{v:?}");
    assert!(v.available, "{v:?}");
    let (second, v) = place();
    assert_eq!((v.running, v.queued), (1, 1), "{v:?}");
    gate.open();
    for t in [big, first, second] {
        t.wait().unwrap();
    }
    // The executor publishes as it goes idle, just after it delivers.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (probe, v) = place();
        probe.wait().unwrap();
        if v.running == 0 && v.queued == 0 && v.free == capacity {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the view never showed the tasks gone: {v:?}"
        );
    }
    runtime.shutdown();
}
