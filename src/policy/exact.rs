//! Exact solvers for small batches: branch-and-bound for makespan (P‖Cmax,
//! Q‖Cmax) and for the generalized assignment problem, within a budget,
//! saying whether they proved optimality.

use super::budget::{Budget, Meter};
use super::gap::{branch_and_bound, Gap, GapSolution};
use super::lpt::lpt_schedule;
use super::{least_finish, Makespan, NodeView, Policy, Schedule, TaskView};
use std::time::Duration;

/// Default [`Exact`] budget in the runtime: 2 ms or 200 000 search nodes.
pub const DEFAULT_EXACT_BUDGET: Budget = Budget {
    time: Duration::from_millis(2),
    steps: 200_000,
};

/// Default largest batch [`Exact`] solves exactly in the runtime: 12 tasks;
/// larger batches are scheduled by [`Lpt`](super::Lpt).
pub const DEFAULT_EXACT_BATCH_LIMIT: usize = 12;

/// Optimal assignments by branch-and-bound, within a [`Budget`].
///
/// - [`solve_makespan`](Exact::solve_makespan): tasks in decreasing order
///   of work, each tried on every node (nodes in the same state tried once),
///   starting from the [`lpt_schedule`] as the incumbent; a branch is cut
///   when its finish time, or the fluid bound on the work left, or the
///   earliest the next task could finish, reaches the incumbent.
/// - [`solve_gap`](Exact::solve_gap): tasks in decreasing order of regret,
///   nodes in increasing Lagrangian cost; a branch is cut by the Lagrangian
///   bound on the capacity constraints, with multipliers from subgradient
///   ascent at the root.
///
/// Either stops when the budget runs out and then reports the best
/// assignment found with `proved_optimal == false`.
///
/// As a runtime [`Policy`] it solves batches of up to
/// [`DEFAULT_EXACT_BATCH_LIMIT`] tasks for the least makespan, counting the
/// work already queued on each node, and places larger batches by LPT.
#[derive(Debug, Clone)]
pub struct Exact {
    budget: Budget,
    batch_limit: usize,
}

impl Default for Exact {
    fn default() -> Self {
        Exact::new()
    }
}

impl Exact {
    /// With [`DEFAULT_EXACT_BUDGET`] and [`DEFAULT_EXACT_BATCH_LIMIT`].
    pub fn new() -> Self {
        Exact::with_budget(DEFAULT_EXACT_BUDGET)
    }

    /// With the given budget.
    pub fn with_budget(budget: Budget) -> Self {
        Exact {
            budget,
            batch_limit: DEFAULT_EXACT_BATCH_LIMIT,
        }
    }

    /// The largest batch solved exactly in the runtime.
    pub fn batch_limit(mut self, tasks: usize) -> Self {
        self.batch_limit = tasks;
        self
    }

    /// The least-makespan assignment, or the best found within the budget.
    ///
    /// # Panics
    ///
    /// If some task has no eligible node.
    pub fn solve_makespan(&self, p: &Makespan) -> Schedule {
        let start = lpt_schedule(p);
        let mut meter = self.budget.start();
        let mut search = MakespanSearch::new(p, start.assignment.clone(), start.makespan);
        let finished = search.run(&mut meter);
        let proved = finished || start.makespan <= p.lower_bound() + 1e-9;
        Schedule {
            makespan: search.best,
            assignment: search.best_assign,
            proved_optimal: proved,
        }
    }

    /// The least-cost feasible assignment, or the best found within the
    /// budget; `None` when none was found (the instance may be infeasible;
    /// `proved_optimal` cannot tell then).
    pub fn solve_gap(&self, g: &Gap) -> Option<GapSolution> {
        let mut meter = self.budget.start();
        // An incumbent from the regret greedy, improved by moves and swaps.
        let mut incumbent: Option<(Vec<usize>, i64)> = None;
        for k in 0..3 {
            let a = match k {
                0 => g.regret_greedy(|j, i| g.cost(j, i) as f64),
                1 => g.regret_greedy(|j, i| g.weight(j, i) as f64 / g.capacity(j).max(1) as f64),
                _ => g.regret_greedy(|j, i| (g.cost(j, i) * g.weight(j, i)) as f64),
            };
            if let Some(mut a) = a {
                let mut r = g.residual(&a);
                g.descend(&mut a, &mut r);
                let c = g.evaluate(&a).expect("feasible");
                if incumbent.as_ref().is_none_or(|(_, b)| c < *b) {
                    incumbent = Some((a, c));
                }
            }
        }
        let lag = g.lagrangian(incumbent.as_ref().map(|x| x.1), 300);
        let mut assign = incumbent
            .as_ref()
            .map_or_else(|| vec![0; g.items()], |x| x.0.clone());
        let mut best = incumbent.map(|x| x.1);
        let free: Vec<usize> = (0..g.items()).collect();
        let finished = branch_and_bound(g, &free, &lag.lambda, &mut assign, &mut best, &mut meter);
        let cost = best?;
        Some(GapSolution {
            assignment: assign,
            cost,
            proved_optimal: finished,
            lower_bound: if finished { cost as f64 } else { lag.bound },
        })
    }
}

/// Branch-and-bound state for makespan.
struct MakespanSearch<'a> {
    p: &'a Makespan,
    order: Vec<usize>,
    /// Work left from position k of `order` on.
    suffix: Vec<f64>,
    finish: Vec<f64>,
    work: Vec<usize>,
    best: f64,
    best_assign: Vec<usize>,
}

impl<'a> MakespanSearch<'a> {
    fn new(p: &'a Makespan, start: Vec<usize>, makespan: f64) -> Self {
        let mut order: Vec<usize> = (0..p.tasks()).collect();
        order.sort_by(|&a, &b| p.work[b].total_cmp(&p.work[a]).then(a.cmp(&b)));
        let mut suffix = vec![0.0; order.len() + 1];
        for k in (0..order.len()).rev() {
            suffix[k] = suffix[k + 1] + p.work[order[k]];
        }
        MakespanSearch {
            p,
            order,
            suffix,
            finish: p.ready.clone(),
            work: vec![usize::MAX; p.tasks()],
            best: makespan,
            best_assign: start,
        }
    }

    fn run(&mut self, meter: &mut Meter) -> bool {
        self.dfs(0, meter)
    }

    /// Lower bound on any completion: the fluid bound of the work left on
    /// the current finish times, and the earliest the next task can finish.
    fn bound(&self, depth: usize) -> f64 {
        let current = self.finish.iter().copied().fold(0.0, f64::max);
        if depth == self.order.len() {
            return current;
        }
        let i = self.order[depth];
        let next = (0..self.p.nodes())
            .filter(|&j| self.p.is_eligible(i, j))
            .map(|j| self.finish[j] + self.p.work[i] / self.p.speeds[j])
            .fold(f64::INFINITY, f64::min);
        let fluid = super::makespan::fluid_bound(&self.p.speeds, &self.finish, self.suffix[depth]);
        current.max(next).max(fluid)
    }

    fn dfs(&mut self, depth: usize, meter: &mut Meter) -> bool {
        if !meter.step() {
            return false;
        }
        if depth == self.order.len() {
            let ms = self.finish.iter().copied().fold(0.0, f64::max);
            if ms < self.best - 1e-9 {
                self.best = ms;
                self.best_assign = self.work.clone();
            }
            return true;
        }
        if self.bound(depth) >= self.best - 1e-9 {
            return true;
        }
        let i = self.order[depth];
        let m = self.p.nodes();
        let mut cands: Vec<(f64, usize)> = Vec::with_capacity(m);
        for j in 0..m {
            if !self.p.is_eligible(i, j) {
                continue;
            }
            // Nodes in the same state (speed, finish, eligibility) are
            // interchangeable: try one.
            let same = cands.iter().any(|&(_, k)| {
                self.p.speeds[k] == self.p.speeds[j]
                    && self.finish[k] == self.finish[j]
                    && self.p.eligible.is_none()
            });
            if !same {
                cands.push((self.finish[j] + self.p.work[i] / self.p.speeds[j], j));
            }
        }
        cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (f, j) in cands {
            if f >= self.best - 1e-9 {
                break;
            }
            let old = self.finish[j];
            self.finish[j] = f;
            self.work[i] = j;
            let ok = self.dfs(depth + 1, meter);
            self.finish[j] = old;
            self.work[i] = usize::MAX;
            if !ok {
                return false;
            }
        }
        true
    }
}

/// The makespan problem of a runtime batch: each node's queued work as its
/// ready time, `speed · slots` as its speed, `can_host` as eligibility.
/// `None` when some task has no node.
pub(crate) fn batch_problem(tasks: &[TaskView<'_>], nodes: &[NodeView]) -> Option<Makespan> {
    let eligible: Vec<Vec<bool>> = tasks
        .iter()
        .map(|t| nodes.iter().map(|n| n.can_host(t)).collect())
        .collect();
    if eligible.iter().any(|e| !e.iter().any(|&x| x)) {
        return None;
    }
    let all = eligible.iter().all(|e| e.iter().all(|&x| x));
    Some(Makespan {
        work: tasks.iter().map(|t| t.cost).collect(),
        speeds: nodes.iter().map(NodeView::throughput).collect(),
        ready: nodes.iter().map(NodeView::drain_time).collect(),
        eligible: (!all).then_some(eligible),
    })
}

/// Applies a schedule of a runtime batch to the views and `out`.
pub(crate) fn apply_schedule(
    s: &Schedule,
    tasks: &[TaskView<'_>],
    nodes: &mut [NodeView],
    out: &mut Vec<Option<usize>>,
) {
    out.clear();
    for (i, &j) in s.assignment.iter().enumerate() {
        nodes[j].assign(&tasks[i]);
        out.push(Some(j));
    }
}

impl Policy for Exact {
    fn name(&self) -> &'static str {
        "exact"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        // One task: the node that finishes it soonest is optimal.
        least_finish(task, nodes)
    }

    fn allocate(
        &mut self,
        tasks: &[TaskView<'_>],
        nodes: &mut [NodeView],
        out: &mut Vec<Option<usize>>,
    ) {
        match batch_problem(tasks, nodes) {
            Some(p) if tasks.len() <= self.batch_limit => {
                let s = self.solve_makespan(&p);
                apply_schedule(&s, tasks, nodes, out);
            }
            _ => super::Lpt::new().allocate(tasks, nodes, out),
        }
    }
}
