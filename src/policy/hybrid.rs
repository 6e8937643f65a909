//! Hybrid: a greedy start improved by exact dynamic programming on
//! sub-problems and local search, within a budget.

mod pair_split;

use super::budget::{Budget, Meter};
use super::exact::{apply_schedule, batch_problem};
use super::gap::{solve_heuristic, Gap, GapSolution};
use super::lpt::lpt_schedule;
use super::{least_finish, Makespan, NodeView, Policy, Schedule, TaskView};
use pair_split::improve_makespan;
use std::time::Duration;

/// Greedy start, then improvement by exact sub-problem solves and local
/// search, until no improvement is left or the [`Budget`] runs out.
///
/// - **Makespan** ([`solve_makespan`](Hybrid::solve_makespan)): starts from
///   LPT; then, repeatedly, the node that finishes last and each other node
///   in turn have their tasks re-split between them optimally by a
///   subset-sum dynamic program (which subsumes moving one task and
///   swapping two); a better split of any pair that lowers the makespan is
///   kept. Stops when no pair with the last node improves.
/// - **GAP** ([`solve_gap`](Hybrid::solve_gap)): starts from the best of
///   several regret-greedy constructions (each checks the budget and, cut
///   short, completes greedily), then alternates bursts of a penalty
///   search with exact re-optimisation of small parts of the best answer.
///   The penalty search (after Yagiura, Ibaraki and Glover's ejection-chain
///   approach) may overfill nodes at a price per unit that adapts: shifts,
///   swaps and two-step ejection chains over each task's cheapest nodes,
///   weights raised on overfull nodes and lowered when the search is
///   feasible, restarts part of the way between two of the best answers
///   met (path relinking). The exact parts: descent (moves and
///   swaps), full ejection chains on small instances, optimal re-splits of
///   two nodes' tasks by dynamic programming over both capacities, and
///   large-neighbourhood steps that free 8–14 tasks (all of two or three
///   nodes, or a random few) and re-assign them by branch-and-bound.
///
/// Deterministic under its seed when the budget's step limit, not its
/// clock, stops it. As a runtime [`Policy`] it minimises a batch's
/// makespan, counting the work already queued on each node.
#[derive(Debug, Clone)]
pub struct Hybrid {
    budget: Budget,
    seed: u64,
}

impl Hybrid {
    /// Default budget in the runtime: 2 ms or 1 000 rounds.
    pub const DEFAULT_BUDGET: Budget = Budget {
        time: Duration::from_millis(2),
        steps: 1_000,
    };

    /// With [`DEFAULT_BUDGET`](Self::DEFAULT_BUDGET), seeded.
    pub fn new(seed: u64) -> Self {
        Hybrid::with_budget(Self::DEFAULT_BUDGET, seed)
    }

    /// With the given budget, seeded.
    pub fn with_budget(budget: Budget, seed: u64) -> Self {
        Hybrid { budget, seed }
    }

    /// A short makespan for `p`.
    ///
    /// `proved_optimal` is set only when the result meets
    /// [`Makespan::lower_bound`].
    ///
    /// # Panics
    ///
    /// If some task has no eligible node.
    pub fn solve_makespan(&self, p: &Makespan) -> Schedule {
        self.solve_makespan_within(p, &mut self.budget.start())
    }

    /// [`solve_makespan`](Self::solve_makespan) on a meter already running.
    fn solve_makespan_within(&self, p: &Makespan, meter: &mut Meter) -> Schedule {
        let mut s = lpt_schedule(p);
        improve_makespan(p, &mut s.assignment, meter);
        s.makespan = p.makespan(&s.assignment);
        s.proved_optimal = s.makespan <= p.lower_bound() + 1e-9;
        s
    }

    /// A cheap feasible assignment for `g`, or `None` when none was found.
    ///
    /// `proved_optimal` is set only when the cost meets the Lagrangian
    /// lower bound.
    pub fn solve_gap(&self, g: &Gap) -> Option<GapSolution> {
        solve_heuristic(g, self.seed, &mut self.budget.start())
    }
}

impl Policy for Hybrid {
    fn name(&self) -> &'static str {
        "hybrid"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        least_finish(task, nodes)
    }

    fn allocate(
        &mut self,
        tasks: &[TaskView<'_>],
        nodes: &mut [NodeView],
        out: &mut Vec<Option<usize>>,
    ) {
        // The budget counts from here: building the problem is part of it.
        let mut meter = self.budget.start();
        match batch_problem(tasks, nodes) {
            Some(p) => {
                let s = self.solve_makespan_within(&p, &mut meter);
                apply_schedule(&s, tasks, nodes, out);
            }
            None => super::Lpt::new().allocate(tasks, nodes, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The least makespan of `p` on two nodes, over every subset.
    fn best_of_two(p: &Makespan) -> f64 {
        (0u32..1 << p.tasks())
            .map(|mask| {
                let a: Vec<usize> = (0..p.tasks()).map(|i| (mask >> i & 1) as usize).collect();
                p.makespan(&a)
            })
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn the_two_node_re_split_finds_the_best_split() {
        let mut x = 5u64;
        let mut next = |k: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % k
        };
        for round in 0..200 {
            let n = 1 + round % 12;
            let integral = round % 2 == 0;
            let work: Vec<f64> = (0..n)
                .map(|_| {
                    let w = 1 + next(40);
                    if integral {
                        w as f64
                    } else {
                        w as f64 / 7.0
                    }
                })
                .collect();
            let speeds = vec![1.0 + next(3) as f64, 1.0 + next(2) as f64];
            let mut p = Makespan::with_speeds(work, speeds);
            p.ready = vec![next(5) as f64, next(5) as f64];
            let best = best_of_two(&p);
            let s = Hybrid::with_budget(Budget::steps(1_000), 1).solve_makespan(&p);
            assert_eq!(s.assignment.len(), n);
            // Exact on integral work; within the rounding of 2^20 units
            // (half a unit per task) otherwise.
            let slack = if integral {
                1e-9
            } else {
                p.work.iter().sum::<f64>() * n as f64 / (1u64 << 20) as f64
            };
            assert!(
                s.makespan <= best + slack,
                "{p:?}: {} against the best {best}",
                s.makespan
            );
        }
    }
}
