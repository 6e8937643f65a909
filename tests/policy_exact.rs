//! The exact and structured policies against brute force and known
//! optima: makespan, GAP (OR-Library instances), locality (spanning trees,
//! groups), and the input readers they use. Long sweeps are `#[ignore]`d;
//! `examples/policy_report/` runs them in release.

use allot::policy::{
    lpt_schedule, place_groups, prim_mst, Budget, Exact, Gap, GpuModelSet, Hybrid, Makespan,
    NodeView, PolicyKind, TaskView,
};
use allot::sim::gap_file::{parse_gap, parse_known_values, read_gap, GapFileErrorKind};
use allot::sim::openb::{Trace, TraceErrorKind};
use allot::{NodeId, Resources, TaskId, TaskKind};
use proptest::prelude::*;
use std::path::PathBuf;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(path)
}

// ------------------------------------------------------- brute force --

fn brute_force_makespan(p: &Makespan) -> f64 {
    let (n, m) = (p.tasks(), p.nodes());
    let mut best = f64::INFINITY;
    let mut assign = vec![0usize; n];
    loop {
        if (0..n).all(|i| p.is_eligible(i, assign[i])) {
            best = best.min(p.makespan(&assign));
        }
        let mut k = 0;
        while k < n {
            assign[k] += 1;
            if assign[k] < m {
                break;
            }
            assign[k] = 0;
            k += 1;
        }
        if k == n {
            return best;
        }
    }
}

fn brute_force_gap(g: &Gap) -> Option<i64> {
    let (n, m) = (g.items(), g.agents());
    let mut best: Option<i64> = None;
    let mut assign = vec![0usize; n];
    loop {
        if let Some(c) = g.evaluate(&assign) {
            best = Some(best.map_or(c, |b: i64| b.min(c)));
        }
        let mut k = 0;
        while k < n {
            assign[k] += 1;
            if assign[k] < m {
                break;
            }
            assign[k] = 0;
            k += 1;
        }
        if k == n {
            return best;
        }
    }
}

/// Weight of every spanning tree of a complete graph, by brute force over
/// sets of V − 1 edges.
fn spanning_tree_weights(cost: &[Vec<f64>]) -> Vec<f64> {
    let v = cost.len();
    let edges: Vec<(usize, usize)> = (0..v)
        .flat_map(|a| (a + 1..v).map(move |b| (a, b)))
        .collect();
    let mut out = Vec::new();
    let e = edges.len();
    for mask in 0u32..(1 << e) {
        if mask.count_ones() as usize != v - 1 {
            continue;
        }
        let mut parent: Vec<usize> = (0..v).collect();
        fn find(p: &mut [usize], x: usize) -> usize {
            if p[x] != x {
                let r = find(p, p[x]);
                p[x] = r;
            }
            p[x]
        }
        let mut acyclic = true;
        let mut w = 0.0;
        for (k, &(a, b)) in edges.iter().enumerate() {
            if mask >> k & 1 == 1 {
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                if ra == rb {
                    acyclic = false;
                    break;
                }
                parent[ra] = rb;
                w += cost[a][b];
            }
        }
        if acyclic {
            out.push(w);
        }
    }
    out
}

// ------------------------------------------------------------- exact --

fn makespan_strategy() -> impl Strategy<Value = Makespan> {
    (1usize..=3, 1usize..=7).prop_flat_map(|(m, n)| {
        (
            proptest::collection::vec(1u32..=20, n),
            proptest::collection::vec(1u32..=3, m),
            proptest::collection::vec(0u32..=4, m),
        )
            .prop_map(|(w, s, r)| {
                let mut p = Makespan::with_speeds(
                    w.into_iter().map(f64::from).collect(),
                    s.into_iter().map(f64::from).collect(),
                );
                p.ready = r.into_iter().map(f64::from).collect();
                p
            })
    })
}

fn gap_strategy() -> impl Strategy<Value = Gap> {
    (2usize..=3, 2usize..=7).prop_flat_map(|(m, n)| {
        (
            proptest::collection::vec(1i64..=20, m * n),
            proptest::collection::vec(1i64..=10, m * n),
            proptest::collection::vec(5i64..=25, m),
        )
            .prop_map(move |(c, a, b)| Gap::new(m, n, c, a, b).expect("well-formed"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn exact_matches_brute_force_on_random_small_makespan_instances(p in makespan_strategy()) {
        let s = Exact::with_budget(Budget::steps(1_000_000)).solve_makespan(&p);
        prop_assert!(s.proved_optimal);
        prop_assert!((s.makespan - brute_force_makespan(&p)).abs() < 1e-9);
        prop_assert!((p.makespan(&s.assignment) - s.makespan).abs() < 1e-9);
    }

    #[test]
    fn exact_matches_brute_force_on_random_small_gap_instances(g in gap_strategy()) {
        let s = Exact::with_budget(Budget::steps(1_000_000)).solve_gap(&g);
        match (brute_force_gap(&g), s) {
            (None, s) => prop_assert!(s.is_none()),
            (Some(best), Some(s)) => {
                prop_assert!(s.proved_optimal);
                prop_assert_eq!(s.cost, best);
                prop_assert_eq!(g.evaluate(&s.assignment), Some(best));
            }
            (Some(best), None) => prop_assert!(false, "exact found nothing, optimum {}", best),
        }
    }

    #[test]
    fn lpt_stays_within_four_thirds_minus_one_over_three_m_of_optimal(
        m in 2usize..=4,
        w in proptest::collection::vec(1u32..=50, 3..=9),
    ) {
        let p = Makespan::identical(w.into_iter().map(f64::from).collect(), m);
        let opt = Exact::with_budget(Budget::steps(5_000_000)).solve_makespan(&p);
        prop_assert!(opt.proved_optimal);
        let lpt = lpt_schedule(&p).makespan;
        prop_assert!(lpt <= (4.0 / 3.0 - 1.0 / (3.0 * m as f64)) * opt.makespan + 1e-9);
    }

    #[test]
    fn hybrid_is_never_worse_than_lpt_and_returns_a_valid_assignment(p in makespan_strategy()) {
        let h = Hybrid::with_budget(Budget::steps(10_000), 3).solve_makespan(&p);
        prop_assert!(h.makespan <= lpt_schedule(&p).makespan + 1e-9);
        prop_assert!((p.makespan(&h.assignment) - h.makespan).abs() < 1e-9);
        prop_assert!(h.makespan >= p.lower_bound() - 1e-9);
    }

    #[test]
    fn hybrid_gap_answers_are_feasible_and_never_below_the_optimum(g in gap_strategy()) {
        if let (Some(best), Some(h)) = (brute_force_gap(&g), Hybrid::with_budget(Budget::steps(50), 5).solve_gap(&g)) {
            prop_assert_eq!(g.evaluate(&h.assignment), Some(h.cost));
            prop_assert!(h.cost >= best);
            prop_assert!(h.lower_bound <= best as f64 + 1e-6);
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn mst_weight_matches_brute_force(v in 2usize..=6, w in proptest::collection::vec(1u32..=20, 15)) {
        let mut cost = vec![vec![0.0; v]; v];
        let mut k = 0;
        for a in 0..v {
            for b in a + 1..v {
                cost[a][b] = f64::from(w[k]);
                cost[b][a] = f64::from(w[k]);
                k += 1;
            }
        }
        let mst = prim_mst(&cost);
        let best = spanning_tree_weights(&cost).into_iter().fold(f64::INFINITY, f64::min);
        prop_assert_eq!(mst.total, best);
        prop_assert_eq!(mst.edges.len(), v - 1);
    }
}

#[test]
fn the_articles_mst_example_weighs_11_not_17() {
    let cost: Vec<Vec<f64>> = [
        [0.0, 2.0, 3.0, 6.0, 5.0],
        [2.0, 0.0, 4.0, 7.0, 1.0],
        [3.0, 4.0, 0.0, 5.0, 8.0],
        [6.0, 7.0, 5.0, 0.0, 9.0],
        [5.0, 1.0, 8.0, 9.0, 0.0],
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    let mst = prim_mst(&cost);
    assert_eq!(mst.total, 11.0);
    // Nodes numbered 0–4 here (1–5 in the article).
    let mut edges: Vec<(usize, usize)> = mst
        .edges
        .iter()
        .map(|&(a, b, _)| (a.min(b), a.max(b)))
        .collect();
    edges.sort_unstable();
    assert_eq!(edges, vec![(0, 1), (0, 2), (1, 4), (2, 3)]);
    let trees = spanning_tree_weights(&cost);
    assert_eq!(trees.len(), 125, "Cayley: 5^3 spanning trees");
    let min = trees.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(min, 11.0);
    assert_eq!(
        trees.iter().filter(|&&w| w == min).count(),
        1,
        "the minimum is unique"
    );
    assert_ne!(min, 17.0);
}

#[test]
fn groups_of_communicating_tasks_stay_within_a_rack_when_they_fit() {
    // Two racks of three nodes, one slot each: cost 1 inside a rack, 10 across.
    let cost: Vec<Vec<f64>> = (0..6)
        .map(|a| {
            (0..6)
                .map(|b| {
                    if a == b {
                        0.0
                    } else if a / 3 == b / 3 {
                        1.0
                    } else {
                        10.0
                    }
                })
                .collect()
        })
        .collect();
    let placed = place_groups(&cost, &[1; 6], &[3, 3]).unwrap();
    for g in &placed {
        assert!(g.iter().all(|&j| j / 3 == g[0] / 3), "{placed:?}");
    }
    assert!(place_groups(&cost, &[1; 6], &[4, 3]).is_none());
}

/// A group's cost was summed over every pair of its tasks, for every
/// candidate first node: one group of 5 000 tasks (a batch of one kind) on
/// 16 nodes spent seconds there, blocking the submitter. It is summed over
/// pairs of nodes now (`O(nodes²)`, unit-tested equal to the pair sum).
#[test]
fn a_group_of_5000_tasks_is_placed_in_well_under_half_a_second() {
    // Two racks of eight nodes; cost 1 inside a rack, 10 across.
    let cost: Vec<Vec<f64>> = (0..16)
        .map(|a| {
            (0..16)
                .map(|b| match (a == b, a / 8 == b / 8) {
                    (true, _) => 0.0,
                    (false, true) => 1.0,
                    (false, false) => 10.0,
                })
                .collect()
        })
        .collect();
    let free: Vec<usize> = (0..16).map(|j| 300 + 20 * (j % 5)).collect();
    let t = std::time::Instant::now();
    let placed = place_groups(&cost, &free, &[5_000]).expect("room for all");
    let took = t.elapsed();
    let g = &placed[0];
    assert_eq!(g.len(), 5_000);
    for (j, &room) in free.iter().enumerate() {
        assert!(g.iter().filter(|&&k| k == j).count() <= room);
    }
    // One rack is filled before the other is used.
    let in_first = g.iter().filter(|&&k| k < 8).count();
    let first_room: usize = free[..8].iter().sum();
    let second_room: usize = free[8..].iter().sum();
    assert!(
        in_first == first_room || in_first == 5_000 - second_room,
        "{in_first}"
    );
    assert!(
        took < std::time::Duration::from_millis(500),
        "placing one group of 5 000 took {took:?}"
    );
}

/// `locality` (no matrix: every pair of nodes equally far) grew a group
/// Prim-style from every first node over a matrix of all pairs, `O(m³)`
/// for `m` nodes: a batch of 1 000 tasks of one kind on 256 nodes blocked
/// the submitter 3.5 s in a debug build (1.2 s once group costs were summed
/// over pairs of nodes; 125 ms optimised). Equally far nodes are filled in
/// index order without the matrix now (unit-tested to give what the matrix
/// gives).
#[test]
fn locality_places_1000_tasks_of_one_kind_on_256_nodes_in_well_under_a_second() {
    static KIND: TaskKind = TaskKind::Inference;
    let tasks: Vec<TaskView<'_>> = (0..1_000)
        .map(|i| TaskView {
            id: TaskId(i),
            kind: &KIND,
            cost: 1.0,
            demand: Resources::cpu(1_000),
            priority: 0,
        })
        .collect();
    let mut views: Vec<NodeView> = (0..256)
        .map(|j| NodeView::idle(NodeId(j), Resources::cpu(4_000), 1.0, 2))
        .collect();
    let mut out = Vec::new();
    let t = std::time::Instant::now();
    PolicyKind::Locality
        .build(1)
        .allocate(&tasks, &mut views, &mut out);
    let took = t.elapsed();
    assert!(out.len() == 1_000 && out.iter().all(|c| c.is_some_and(|j| j < 256)));
    // Two slots each, 1 000 tasks: two rounds of slots, the fewest nodes.
    let used = (0..256).filter(|j| out.contains(&Some(*j))).count();
    assert_eq!(used, 250);
    assert!(
        took < std::time::Duration::from_millis(200),
        "placing took {took:?}"
    );
}

// ---------------------------------------------------------------- GAP --

#[test]
fn exact_proves_the_optimum_on_every_in_repo_instance_with_at_most_20_items() {
    let optima =
        parse_known_values(&std::fs::read_to_string(data("gap/optima.csv")).unwrap()).unwrap();
    let small: Vec<_> = optima
        .iter()
        .filter(|o| {
            let g = read_gap(data("gap/instances").join(&o.name)).unwrap();
            g.items() <= 20
        })
        .collect();
    assert_eq!(small.len(), 10);
    for o in small {
        let g = read_gap(data("gap/instances").join(&o.name)).unwrap();
        let s = Exact::with_budget(Budget::steps(20_000_000))
            .solve_gap(&g)
            .unwrap();
        assert!(s.proved_optimal, "{}", o.name);
        assert_eq!(s.cost, o.value, "{}", o.name);
    }
}

/// Exact starts from what Hybrid (seed `Exact::GAP_SEED`) finds in its
/// share of the budget, so an Exact that runs out of steps answers at least as well as
/// that Hybrid. Step budgets make both runs the same on any machine.
#[test]
fn exact_out_of_budget_answers_at_least_as_well_as_hybrid_with_its_share_of_the_budget() {
    for name in ["chu1997_d20100", "chu1997_c10100", "cattrysse1994_gap12-0"] {
        let g = read_gap(data("gap/instances").join(name)).unwrap();
        for steps in [0, 2, 10, 40] {
            let e = Exact::with_budget(Budget::steps(steps))
                .solve_gap(&g)
                .expect("exact finds a feasible answer");
            assert_eq!(g.evaluate(&e.assignment), Some(e.cost), "{name}");
            let share = Exact::gap_heuristic_budget(Budget::steps(steps));
            let h = Hybrid::with_budget(share, Exact::GAP_SEED)
                .solve_gap(&g)
                .expect("hybrid finds a feasible answer");
            assert!(
                e.cost <= h.cost,
                "{name}, {steps} steps: exact {} above hybrid {}",
                e.cost,
                h.cost
            );
        }
    }
}

#[test]
fn every_in_repo_gap_instance_parses_with_the_sizes_its_table_gives() {
    let text = std::fs::read_to_string(data("gap/optima.csv")).unwrap();
    let optima = parse_known_values(&text).unwrap();
    assert_eq!(optima.len(), 72);
    assert!(optima.iter().all(|o| o.proved));
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let g = read_gap(data("gap/instances").join(f[0])).unwrap();
        assert_eq!(
            (g.items(), g.agents()),
            (f[3].parse().unwrap(), f[4].parse().unwrap())
        );
    }
}

#[test]
fn the_gap_parser_rejects_malformed_files_with_a_typed_error_naming_the_line() {
    let bad_token = parse_gap("t", "2 2\n1 2\n3 x\n1 1\n1 1\n4 4\n").unwrap_err();
    assert_eq!(bad_token.line, 3);
    assert!(
        matches!(&bad_token.kind, GapFileErrorKind::NotAnInteger { field: "the cost matrix", token } if token == "x")
    );
    assert_eq!(
        bad_token.to_string(),
        "t:3: `x` in the cost matrix is not an integer"
    );

    let truncated = parse_gap("t", "2 2\n1 2\n3 4\n1 1\n").unwrap_err();
    assert_eq!(truncated.line, 4);
    assert!(matches!(
        truncated.kind,
        GapFileErrorKind::UnexpectedEnd {
            expected: "the capacity-use matrix"
        }
    ));

    let trailing = parse_gap("t", "1 1\n5\n2\n3\n9\n").unwrap_err();
    assert_eq!(trailing.line, 5);
    assert!(matches!(
        trailing.kind,
        GapFileErrorKind::TrailingData { .. }
    ));

    let bad_size = parse_gap("t", "\n0 3\n").unwrap_err();
    assert_eq!(bad_size.line, 2);
    assert!(matches!(
        bad_size.kind,
        GapFileErrorKind::BadSize {
            agents: 0,
            items: 3
        }
    ));

    let negative = parse_gap("t", "1 1\n5\n2\n-3\n").unwrap_err();
    assert_eq!(negative.line, 4);
    assert!(matches!(negative.kind, GapFileErrorKind::Invalid(_)));

    let missing = read_gap(data("gap/no-such-file")).unwrap_err();
    assert!(matches!(missing.kind, GapFileErrorKind::Io(_)));
}

#[test]
fn the_openb_loader_rejects_malformed_rows_naming_file_line_and_column() {
    let nodes = "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,1024,2,T4\n";
    let pods = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np0,1000,1,1,500,T4|A10\np1,1000,1,1,1500,\n";
    let e = Trace::parse("nodes.csv", nodes, "pods.csv", pods).unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.line, e.column.as_deref()),
        ("pods.csv", 3, Some("gpu_milli"))
    );
    assert!(matches!(e.kind, TraceErrorKind::OutOfRange { .. }));
    let e = Trace::parse(
        "nodes.csv",
        "sn,cpu_milli,memory_mib,gpu,model\nn0,1,2,3\n",
        "pods.csv",
        "",
    )
    .unwrap_err();
    assert_eq!((e.line, e.column.as_deref()), (2, None));
    assert!(matches!(
        e.kind,
        TraceErrorKind::FieldCount {
            expected: 5,
            got: 4
        }
    ));
    let t = Trace::parse("nodes.csv", nodes, "pods.csv", &pods.replace("1500", "300")).unwrap();
    assert_eq!(t.pods[0].demand.models, GpuModelSet::ANY.with(0).with(1));
}
