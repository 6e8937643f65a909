//! UCB against an oracle that knows the node speeds.

use crate::report::{mean, sd, Goal};
use allot::policy::{LeastLoaded, Policy, RoundRobin, Ucb};
use allot::sim::bandit::{run_bandit, BanditConfig, Slowdown};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) fn ucb_section(md: &mut String, js: &mut Value, goals: &mut Vec<Goal>) {
    let seeds = 1..=5u64;
    let mut rows = Vec::new();
    let mut jr = serde_json::Map::new();
    let scenarios: [(&str, Option<Slowdown>); 2] = [
        ("stationary", None),
        (
            "best node slows to 20 % after 5 000 tasks",
            Some(Slowdown {
                after: 5_000,
                node: None,
                factor: 0.2,
            }),
        ),
    ];
    for (label, slow) in scenarios {
        let mut per: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for seed in seeds.clone() {
            let cfg = BanditConfig {
                seed,
                slowdown: slow,
                ..BanditConfig::default()
            };
            let mut ps: Vec<(&str, Box<dyn Policy>)> = vec![
                ("ucb", Box::new(Ucb::new())),
                (
                    "ucb (no discount)",
                    Box::new(Ucb::with_params(Ucb::DEFAULT_EXPLORATION, 1.0)),
                ),
                ("round-robin", Box::new(RoundRobin::new())),
                (
                    "least-loaded (speeds unknown)",
                    Box::new(LeastLoaded::new()),
                ),
            ];
            for (name, p) in &mut ps {
                let r = run_bandit(p.as_mut(), &cfg);
                let e = per.entry(name).or_default();
                e.0.push(r.regret() * 100.0);
                e.1.push(r.best_share * 100.0);
            }
        }
        for (name, (reg, share)) in &per {
            rows.push(format!(
                "| {label} | {name} | {:.2} ± {:.2} | {:.1} |",
                mean(reg),
                sd(reg),
                mean(share)
            ));
            jr.insert(format!("{label} / {name}"), json!({"regret_pct": mean(reg), "regret_sd": sd(reg), "best_node_share_pct": mean(share)}));
            if label == "stationary" && *name == "ucb" {
                goals.push(Goal::new(
                    "UCB regret ≤ 5 % of the oracle's total time (10 000 tasks, 8 nodes)",
                    format!("{:.2} % (mean of 5 seeds)", mean(reg)),
                    mean(reg) <= 5.0,
                ));
            }
        }
    }
    let _ = writeln!(
        md,
        "| scenario | policy | regret (% of oracle time) | tasks on the oracle's node (%) |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|");
    for r in rows {
        let _ = writeln!(md, "{r}");
    }
    js["ucb"] = Value::Object(jr);
}
