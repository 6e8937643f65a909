//! The worst overshoot of each time budget: elapsed / budget over every
//! budgeted run.

use crate::report::{BudgetRun, Goal};
use allot::policy::{Budget, Exact, Gap, Hybrid, Lpt, NodeView, Policy, PolicyKind, TaskView};
use allot::{NodeId, NodeSpec, Resources, Runtime, Task, TaskId, TaskKind};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A tight GAP instance (weights 5–25, costs 10–49, capacities an even
/// share of the weight plus 25), as in `tests/policy_budget.rs`.
fn budget_gap(agents: usize, items: usize, seed: u64) -> Gap {
    let mut x = seed;
    let mut next = |k: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 33) % k) as i64
    };
    let weight: Vec<i64> = (0..agents * items).map(|_| 5 + next(21)).collect();
    let cost: Vec<i64> = (0..agents * items).map(|_| 10 + next(40)).collect();
    let share = weight.iter().sum::<i64>() / (agents * agents) as i64;
    Gap::new(agents, items, cost, weight, vec![share + 25; agents]).expect("well-formed")
}

/// Times the budgeted policies on large batches (and the GAP solvers on
/// large instances) with the runtime's budgets and with 20 ms, adds the
/// runs the other sections made, and tabulates the worst elapsed / budget
/// per policy.
pub(crate) fn budget_section(
    md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
    quick: bool,
    mut budgets: Vec<BudgetRun>,
) {
    static KIND: TaskKind = TaskKind::Unspecified;
    let repeats = if quick { 2 } else { 5 };
    let mut lpt_worst: (Duration, String) = (Duration::ZERO, String::new());
    for n in [1_000usize, 5_000] {
        let tasks: Vec<TaskView<'_>> = (0..n)
            .map(|i| TaskView {
                id: TaskId(i as u64),
                kind: &KIND,
                cost: 0.5 + ((i * 7919) % 101) as f64 / 37.0,
                demand: Resources::cpu(1_000),
                priority: 0,
            })
            .collect();
        for m in [4usize, 16, 64, 256] {
            let views: Vec<NodeView> = (0..m)
                .map(|j| {
                    NodeView::idle(
                        NodeId(j),
                        Resources::cpu(4_000),
                        1.0 + (j % 3) as f64 * 0.5,
                        2,
                    )
                })
                .collect();
            let case = format!("allocate {n} tasks on {m} nodes");
            let mut out = Vec::new();
            let mut lpt = Duration::MAX;
            for _ in 0..repeats {
                let t = Instant::now();
                Lpt::new().allocate(&tasks, &mut views.clone(), &mut out);
                lpt = lpt.min(t.elapsed());
            }
            if lpt > lpt_worst.0 {
                lpt_worst = (lpt, case.clone());
            }
            for time in [2u64, 20] {
                let budget = Budget::time(Duration::from_millis(time));
                for policy in ["hybrid", "exact"] {
                    for _ in 0..repeats {
                        let mut nodes = views.clone();
                        let mut p: Box<dyn Policy> = if policy == "hybrid" {
                            Box::new(Hybrid::with_budget(budget, 1))
                        } else {
                            Box::new(Exact::with_budget(budget).batch_limit(usize::MAX))
                        };
                        let t = Instant::now();
                        p.allocate(&tasks, &mut nodes, &mut out);
                        let elapsed = t.elapsed();
                        assert!(out.iter().all(Option::is_some), "{policy}: complete");
                        budgets.push(BudgetRun {
                            policy,
                            case: case.clone(),
                            budget: budget.time,
                            elapsed,
                        });
                    }
                }
            }
        }
    }
    for (agents, items) in [(10usize, 200usize), (40, 400), (20, 1_000)] {
        let g = budget_gap(agents, items, 7);
        let case = format!("GAP {items} tasks on {agents} nodes");
        for time in [2u64, 20] {
            let budget = Budget::time(Duration::from_millis(time));
            for _ in 0..repeats {
                let t = Instant::now();
                let h = Hybrid::with_budget(budget, 1).solve_gap(&g);
                budgets.push(BudgetRun {
                    policy: "hybrid (GAP)",
                    case: case.clone(),
                    budget: budget.time,
                    elapsed: t.elapsed(),
                });
                let t = Instant::now();
                let e = Exact::with_budget(budget).solve_gap(&g);
                budgets.push(BudgetRun {
                    policy: "exact (GAP)",
                    case: case.clone(),
                    budget: budget.time,
                    elapsed: t.elapsed(),
                });
                for s in [h, e].into_iter().flatten() {
                    assert_eq!(g.evaluate(&s.assignment), Some(s.cost), "complete");
                }
            }
        }
    }
    // The reproduction: submit_batch of 1 000 tasks under `hybrid`
    // (2 ms budget) on 4 nodes, against `least-loaded`.
    let blocked = |kind: PolicyKind| -> Vec<Duration> {
        let mut b = Runtime::builder();
        b.nodes(vec![NodeSpec::new(Resources::cpu(4_000)).slots(2); 4])
            .policy(kind);
        let runtime = b.build().expect("runtime");
        let handle = runtime.handle();
        let mut times = Vec::new();
        for _ in 0..repeats {
            let batch: Vec<_> = (0..1_000)
                .map(|i| {
                    Task::new(|_| Ok::<_, String>(())).cost(0.5 + ((i * 7919) % 101) as f64 / 37.0)
                })
                .collect();
            let t = Instant::now();
            let handles = handle.submit_batch(batch).expect("submitted");
            times.push(t.elapsed());
            for h in handles {
                let _ = h.wait();
            }
        }
        runtime.shutdown();
        times
    };
    let plain = blocked(PolicyKind::LeastLoaded);
    let hybrid = blocked(PolicyKind::Hybrid);
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let worst = |v: &[Duration]| v.iter().copied().max().unwrap_or_default();
    let best = |v: &[Duration]| v.iter().copied().min().unwrap_or_default();

    let _ = writeln!(
        md,
        "| policy | runs | worst elapsed / budget (budget, where) | within 2 × budget + 1 ms | worst case, fastest of its runs (budget, where) | cases within |"
    );
    let _ = writeln!(md, "|---|---:|---|---:|---|---:|");
    let mut jp = serde_json::Map::new();
    let mut all_cases_within = true;
    let mut within_runs = 0;
    for policy in ["hybrid", "exact", "hybrid (GAP)", "exact (GAP)"] {
        let runs: Vec<&BudgetRun> = budgets.iter().filter(|r| r.policy == policy).collect();
        let Some(w) = runs.iter().max_by(|a, b| a.ratio().total_cmp(&b.ratio())) else {
            continue;
        };
        let within = runs.iter().filter(|r| r.within()).count();
        within_runs += within;
        // The fastest run of each case: what the algorithm does, without
        // the preemptions of a shared machine.
        let mut fastest: BTreeMap<(String, Duration), &BudgetRun> = BTreeMap::new();
        for r in &runs {
            let e = fastest.entry((r.case.clone(), r.budget)).or_insert(r);
            if r.elapsed < e.elapsed {
                *e = r;
            }
        }
        let cases_within = fastest.values().filter(|r| r.within()).count();
        all_cases_within &= cases_within == fastest.len();
        let c = fastest
            .values()
            .max_by(|a, b| a.ratio().total_cmp(&b.ratio()))
            .expect("a case");
        let _ = writeln!(
            md,
            "| {policy} | {} | {:.2} ({:.2} ms of {:?}, {}) | {within} of {} | {:.2} ({:.2} ms of {:?}, {}) | {cases_within} of {} |",
            runs.len(),
            w.ratio(),
            ms(&w.elapsed),
            w.budget,
            w.case,
            runs.len(),
            c.ratio(),
            ms(&c.elapsed),
            c.budget,
            c.case,
            fastest.len()
        );
        jp.insert(
            policy.into(),
            json!({"runs": runs.len(), "worst_ratio": w.ratio(), "worst_seconds": w.elapsed.as_secs_f64(),
                   "budget_seconds": w.budget.as_secs_f64(), "case": w.case, "runs_within_bound": within,
                   "cases": fastest.len(), "cases_within_bound": cases_within,
                   "worst_case_fastest_ratio": c.ratio(), "worst_case_fastest_seconds": c.elapsed.as_secs_f64(),
                   "worst_case": c.case, "worst_case_budget_seconds": c.budget.as_secs_f64()}),
        );
    }
    let _ = writeln!(
        md,
        "\nLPT alone (the makespan construction) took up to {:.2} ms (the slowest case by its \
         fastest run: {}). `submit_batch` of 1 000 tasks on 4 nodes blocked the caller \
         {:.2}–{:.2} ms under `hybrid` (2 ms budget) and {:.2}–{:.2} ms under `least-loaded` \
         (best–worst of {repeats}).",
        ms(&lpt_worst.0),
        lpt_worst.1,
        ms(&best(&hybrid)),
        ms(&worst(&hybrid)),
        ms(&best(&plain)),
        ms(&worst(&plain)),
    );
    goals.push(Goal::new(
        "Every budgeted policy returns within 2 × budget + 1 ms (fastest run of each case)",
        format!(
            "every case: {}; every run: {within_runs} of {} (the rest preempted, or LPT alone over the budget)",
            if all_cases_within { "yes" } else { "no" },
            budgets.len()
        ),
        all_cases_within,
    ));
    js["budgets"] = json!({"policies": jp, "lpt_worst_seconds": lpt_worst.0.as_secs_f64(),
                           "submit_batch_1000_hybrid_seconds": hybrid.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                           "submit_batch_1000_least_loaded_seconds": plain.iter().map(Duration::as_secs_f64).collect::<Vec<_>>()});
}
