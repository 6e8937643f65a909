//! The OR-Library GAP instances with known optima: online greedy, `Exact`
//! and `Hybrid` against the optimum.

use crate::args::Args;
use crate::report::{max, mean, note, BudgetRun, Goal};
use allot::policy::{Budget, Exact, Gap, Hybrid};
use allot::sim::gap_file::{parse_optima, read_gap};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Online greedy: each task in order to the cheapest node with room.
fn gap_online_greedy(g: &Gap) -> Option<(Vec<usize>, i64)> {
    let mut residual: Vec<i64> = (0..g.agents()).map(|j| g.capacity(j)).collect();
    let mut assign = Vec::with_capacity(g.items());
    for i in 0..g.items() {
        let j = (0..g.agents())
            .filter(|&j| g.weight(j, i) <= residual[j])
            .min_by_key(|&j| (g.cost(j, i), j))?;
        residual[j] -= g.weight(j, i);
        assign.push(j);
    }
    let c = g.evaluate(&assign)?;
    Some((assign, c))
}

/// Selects the instances of one table row.
type GroupFilter = fn(&GapRow) -> bool;

struct GapRow {
    name: String,
    items: usize,
    agents: usize,
    optimum: Option<i64>,
    /// Per solver: cost (None = no feasible found), proved, seconds.
    results: BTreeMap<&'static str, (Option<i64>, bool, f64)>,
}

const GAP_SOLVERS: [&str; 3] = ["online-greedy", "exact", "hybrid"];

fn run_gap(
    g: &Gap,
    exact_budget: Budget,
    hybrid_budget: Budget,
) -> BTreeMap<&'static str, (Option<i64>, bool, f64)> {
    let mut r = BTreeMap::new();
    let t = Instant::now();
    let greedy = gap_online_greedy(g).map(|x| x.1);
    r.insert("online-greedy", (greedy, false, t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let e = Exact::with_budget(exact_budget).solve_gap(g);
    r.insert(
        "exact",
        (
            e.as_ref().map(|s| s.cost),
            e.as_ref().is_some_and(|s| s.proved_optimal),
            t.elapsed().as_secs_f64(),
        ),
    );
    let t = Instant::now();
    let h = Hybrid::with_budget(hybrid_budget, 1).solve_gap(g);
    r.insert(
        "hybrid",
        (
            h.as_ref().map(|s| s.cost),
            h.as_ref().is_some_and(|s| s.proved_optimal),
            t.elapsed().as_secs_f64(),
        ),
    );
    for (name, (cost, ..)) in &r {
        if let Some(c) = cost {
            assert!(*c >= 0 || g.items() > 0, "{name}");
        }
    }
    r
}

pub(crate) fn gap_section(
    args: &Args,
    md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
    budgets: &mut Vec<BudgetRun>,
) -> Result<(), String> {
    let dir = args.data.join("gap");
    let optima_text = std::fs::read_to_string(dir.join("optima.csv"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let optima = parse_optima(&optima_text);
    let (eb, hb) = if args.quick {
        (
            Budget::time(Duration::from_millis(100)),
            Budget::time(Duration::from_millis(150)),
        )
    } else {
        (
            Budget::time(Duration::from_secs(1)),
            Budget::time(Duration::from_secs(1)),
        )
    };
    let mut rows = Vec::new();
    for (k, o) in optima.iter().enumerate() {
        if args.quick && k % 3 != 0 && !o.name.contains("gap1-") && !o.name.contains("gap2-") {
            continue;
        }
        let g = read_gap(dir.join("instances").join(&o.name)).map_err(|e| e.to_string())?;
        let results = run_gap(&g, eb, hb);
        for (policy, solver, budget) in
            [("exact (GAP)", "exact", eb), ("hybrid (GAP)", "hybrid", hb)]
        {
            budgets.push(BudgetRun {
                policy,
                case: format!("GAP {}", o.name),
                budget: budget.time,
                elapsed: Duration::from_secs_f64(results[solver].2),
            });
        }
        rows.push(GapRow {
            name: o.name.clone(),
            items: g.items(),
            agents: g.agents(),
            optimum: Some(o.optimum),
            results,
        });
    }
    note(&format!("gap: {} instances", rows.len()));
    let mut extra = Vec::new();
    for path in &args.gaps {
        let g = read_gap(path).map_err(|e| e.to_string())?;
        extra.push(GapRow {
            name: path.display().to_string(),
            items: g.items(),
            agents: g.agents(),
            optimum: None,
            results: run_gap(&g, eb, hb),
        });
    }

    let groups: [(&str, GroupFilter); 7] = [
        ("all", |_| true),
        ("≤ 20 items", |r| r.items <= 20),
        ("cattrysse1994, > 20 items", |r| {
            r.name.starts_with("cattrysse") && r.items > 20
        }),
        ("chu1997 a", |r| r.name.starts_with("chu1997_a")),
        ("chu1997 b", |r| r.name.starts_with("chu1997_b")),
        ("chu1997 c", |r| r.name.starts_with("chu1997_c")),
        ("chu1997 d", |r| r.name.starts_with("chu1997_d")),
    ];
    let _ = writeln!(md, "| instances | policy | n | mean % above optimum | max % | solved to proven optimality | feasible | mean time per instance |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|");
    let mut jgroups = serde_json::Map::new();
    for (gname, pred) in groups {
        let sel: Vec<&GapRow> = rows.iter().filter(|r| pred(r)).collect();
        if sel.is_empty() {
            continue;
        }
        let mut jg = serde_json::Map::new();
        for solver in GAP_SOLVERS {
            let gaps: Vec<f64> = sel
                .iter()
                .filter_map(|r| {
                    let (c, ..) = r.results[solver];
                    Some(100.0 * (c? - r.optimum?) as f64 / r.optimum? as f64)
                })
                .collect();
            let proved = sel.iter().filter(|r| r.results[solver].1).count();
            let times: Vec<f64> = sel.iter().map(|r| r.results[solver].2).collect();
            let pct = |x: f64| {
                if x.is_finite() {
                    format!("{x:.3}")
                } else {
                    "—".into()
                }
            };
            let _ = writeln!(
                md,
                "| {gname} | {solver} | {} | {} | {} | {} | {} | {:.3} s |",
                sel.len(),
                pct(mean(&gaps)),
                pct(max(&gaps)),
                proved,
                gaps.len(),
                mean(&times)
            );
            jg.insert(
                solver.into(),
                json!({"instances": sel.len(), "mean_gap_pct": mean(&gaps), "max_gap_pct": max(&gaps),
                       "proved_optimal": proved, "feasible": gaps.len(), "mean_seconds": mean(&times)}),
            );
            if gname == "all" && solver == "hybrid" {
                goals.push(Goal::new(
                    "Hybrid mean GAP gap ≤ 0.5 %",
                    format!("{:.3} % over {} instances", mean(&gaps), sel.len()),
                    mean(&gaps) <= 0.5,
                ));
            }
            if gname == "≤ 20 items" && solver == "exact" {
                goals.push(Goal::new(
                    "Exact proves the optimum on every instance with ≤ 20 items",
                    format!("{proved} of {}", sel.len()),
                    proved == sel.len(),
                ));
            }
        }
        jgroups.insert(gname.into(), Value::Object(jg));
    }
    let per_instance: Vec<Value> = rows
        .iter()
        .chain(extra.iter())
        .map(|r| {
            json!({"name": r.name, "items": r.items, "agents": r.agents, "optimum": r.optimum,
                   "results": r.results.iter().map(|(k, (c, p, t))| (k.to_string(), json!({"cost": c, "proved_optimal": p, "seconds": t}))).collect::<serde_json::Map<_, _>>()})
        })
        .collect();
    if !extra.is_empty() {
        let _ = writeln!(
            md,
            "\nInstances given on the command line (no known optimum):\n"
        );
        let _ = writeln!(
            md,
            "| instance | n × m | online-greedy | exact (proved?) | hybrid |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|");
        for r in &extra {
            let c = |s: &str| r.results[s].0.map_or("—".to_string(), |c| c.to_string());
            let _ = writeln!(
                md,
                "| {} | {} × {} | {} | {} ({}) | {} |",
                r.name,
                r.items,
                r.agents,
                c("online-greedy"),
                c("exact"),
                r.results["exact"].1,
                c("hybrid")
            );
        }
    }
    js["gap"] = json!({"budget_seconds": {"exact": eb.time.as_secs_f64(), "hybrid": hb.time.as_secs_f64()},
                       "groups": jgroups, "instances": per_instance});
    Ok(())
}
