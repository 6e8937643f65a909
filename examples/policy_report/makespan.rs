//! Generated P‖Cmax families: every makespan policy against the lower
//! bound, and LPT against its 4/3 − 1/(3m) guarantee.

use crate::args::Args;
use crate::report::{max, mean, note, BudgetRun, Goal};
use allot::policy::{
    list_schedule, lpt_schedule, Budget, Exact, Hybrid, LeastLoaded, Lpt, NodeView, Policy,
    PowerOfTwo, RoundRobin, TaskView, WeightedGreedy,
};
use allot::sim::makespan_gen::{suite, Family};
use allot::{NodeId, Resources, TaskId, TaskKind};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Makespan of an online/batch policy on identical idle nodes, through the
/// `Policy` trait.
fn policy_makespan(policy: &mut dyn Policy, work: &[u64], nodes: usize) -> f64 {
    static KIND: TaskKind = TaskKind::Unspecified;
    let tasks: Vec<TaskView<'_>> = work
        .iter()
        .enumerate()
        .map(|(i, &p)| TaskView {
            id: TaskId(i as u64),
            kind: &KIND,
            cost: p as f64,
            demand: Resources::ZERO,
            priority: 0,
        })
        .collect();
    let mut views: Vec<NodeView> = (0..nodes)
        .map(|j| NodeView::idle(NodeId(j), Resources::ZERO, 1.0, 1))
        .collect();
    let mut out = Vec::new();
    policy.allocate(&tasks, &mut views, &mut out);
    let mut load = vec![0.0; nodes];
    for (i, j) in out.iter().enumerate() {
        load[j.expect("placed")] += work[i] as f64;
    }
    load.into_iter().fold(0.0, f64::max)
}

pub(crate) fn makespan_section(
    args: &Args,
    md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
    budgets: &mut Vec<BudgetRun>,
) {
    let instances = suite(if args.quick { 1 } else { 3 });
    let hb = Budget::time(Duration::from_millis(if args.quick { 50 } else { 300 }));
    let eb = Budget::time(Duration::from_millis(if args.quick { 50 } else { 300 }));
    let names = [
        "round-robin",
        "least-loaded",
        "power-of-two",
        "weighted-greedy",
        "lpt",
        "hybrid",
        "exact (n ≤ 20)",
    ];
    // ratios[family][policy]
    let mut ratios: BTreeMap<(Family, &str), Vec<f64>> = BTreeMap::new();
    let mut lpt_checked = 0;
    let mut lpt_violations = 0;
    let mut exact_proved = 0;
    let mut exact_total = 0;
    for inst in &instances {
        let lb = inst.lower_bound() as f64;
        let m = inst.nodes;
        let mut push = |name: &'static str, v: f64| {
            ratios.entry((inst.family, name)).or_default().push(v / lb)
        };
        push(
            "round-robin",
            policy_makespan(&mut RoundRobin::new(), &inst.work, m),
        );
        push(
            "least-loaded",
            policy_makespan(&mut LeastLoaded::new(), &inst.work, m),
        );
        push(
            "power-of-two",
            policy_makespan(&mut PowerOfTwo::new(inst.seed), &inst.work, m),
        );
        push(
            "weighted-greedy",
            policy_makespan(&mut WeightedGreedy::new(), &inst.work, m),
        );
        let lpt = policy_makespan(&mut Lpt::new(), &inst.work, m);
        push("lpt", lpt);
        let p = inst.problem();
        let case = format!("P‖Cmax {} tasks on {m}", inst.work.len());
        let t = Instant::now();
        let h = Hybrid::with_budget(hb, inst.seed).solve_makespan(&p);
        budgets.push(BudgetRun {
            policy: "hybrid",
            case: case.clone(),
            budget: hb.time,
            elapsed: t.elapsed(),
        });
        push("hybrid", h.makespan);
        if inst.work.len() <= 20 {
            let t = Instant::now();
            let e = Exact::with_budget(eb).solve_makespan(&p);
            budgets.push(BudgetRun {
                policy: "exact",
                case,
                budget: eb.time,
                elapsed: t.elapsed(),
            });
            exact_total += 1;
            if e.proved_optimal {
                exact_proved += 1;
                lpt_checked += 1;
                let bound = 4.0 / 3.0 - 1.0 / (3.0 * m as f64);
                if lpt > bound * e.makespan + 1e-9 {
                    lpt_violations += 1;
                }
            }
            push("exact (n ≤ 20)", e.makespan);
        }
    }
    note(&format!("p||cmax: {} instances", instances.len()));
    let _ = writeln!(md, "| family | instances | {} |", names.join(" | "));
    let _ = writeln!(md, "|---|---:|{}", "---:|".repeat(names.len()));
    let mut jf = serde_json::Map::new();
    let mut all: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for f in Family::ALL {
        let count = ratios.get(&(f, "lpt")).map_or(0, Vec::len);
        let mut cells = Vec::new();
        let mut jp = serde_json::Map::new();
        for n in names {
            let v = ratios.get(&(f, n)).cloned().unwrap_or_default();
            all.entry(n).or_default().extend(&v);
            cells.push(format!("{:.4} (max {:.3})", mean(&v), max(&v)));
            jp.insert(
                n.into(),
                json!({"mean_ratio": mean(&v), "max_ratio": max(&v), "instances": v.len()}),
            );
        }
        let _ = writeln!(md, "| {} | {count} | {} |", f.name(), cells.join(" | "));
        jf.insert(f.name().into(), Value::Object(jp));
    }
    let cells: Vec<String> = names
        .iter()
        .map(|n| format!("{:.4} (max {:.3})", mean(&all[n]), max(&all[n])))
        .collect();
    let _ = writeln!(
        md,
        "| **all** | {} | {} |",
        instances.len(),
        cells.join(" | ")
    );
    let hybrid_mean = mean(&all["hybrid"]);
    goals.push(Goal::new(
        "Hybrid P‖Cmax makespan / lower bound ≤ 1.01 on average",
        format!("{hybrid_mean:.4} over {} instances", instances.len()),
        hybrid_mean <= 1.01,
    ));
    goals.push(Goal::new(
        "Lpt within 4/3 − 1/(3m) of optimal",
        format!(
            "{} violations on {lpt_checked} instances with a proved optimum (and a property test)",
            lpt_violations
        ),
        lpt_violations == 0,
    ));
    let _ = writeln!(
        md,
        "\nExact proved the optimum on {exact_proved} of the {exact_total} instances with ≤ 20 tasks \
         (budget {:?} each). LPT stayed within its 4/3 − 1/(3m) bound on all {lpt_checked} of them \
         ({lpt_violations} violations).",
        eb.time
    );
    js["makespan"] = json!({"families": jf, "instances": instances.len(), "exact_proved": exact_proved,
                            "exact_attempted": exact_total, "lpt_bound_checked": lpt_checked,
                            "lpt_bound_violations": lpt_violations, "hybrid_mean_ratio": hybrid_mean,
                            "lower_bound": "max(ceil(sum/m), p_max, p_m + p_(m+1))"});
    // A check of list scheduling against the Policy path.
    let inst = &instances[0];
    let p = inst.problem();
    let order: Vec<usize> = (0..inst.work.len()).collect();
    assert_eq!(
        list_schedule(&p, &order).makespan,
        policy_makespan(&mut LeastLoaded::new(), &inst.work, inst.nodes)
    );
    assert_eq!(
        lpt_schedule(&p).makespan,
        policy_makespan(&mut Lpt::new(), &inst.work, inst.nodes)
    );
}
