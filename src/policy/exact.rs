//! Exact solvers for small batches: branch-and-bound for makespan (P‖Cmax,
//! Q‖Cmax) and for the generalized assignment problem, within a budget,
//! saying whether they proved optimality.

use super::budget::{Budget, Meter};
use super::gap::{branch_and_bound, solve_with_multipliers, Gap, GapSolution};
use super::lpt::lpt_schedule;
use super::{least_finish, Makespan, NodeView, Policy, Schedule, TaskView};
use std::time::Duration;

/// Optimal assignments by branch-and-bound, within a [`Budget`].
///
/// - [`solve_makespan`](Exact::solve_makespan): tasks in decreasing order
///   of work, each tried on every node (nodes in the same state tried once),
///   starting from the [`lpt_schedule`] as the incumbent; a branch is cut
///   when its finish time, or the fluid bound on the work left, or the
///   earliest the next task could finish, reaches the incumbent.
/// - [`solve_gap`](Exact::solve_gap): starts from the heuristic answer
///   [`Hybrid`](super::Hybrid) finds within the budget; then, with the time
///   left, tasks in
///   decreasing order of regret, nodes in increasing Lagrangian cost; a
///   branch is cut by the Lagrangian bound on the capacity constraints,
///   with multipliers from subgradient ascent at the root.
///
/// Either stops when the budget runs out and then reports the best
/// assignment found with `proved_optimal == false`.
///
/// As a runtime [`Policy`] it solves batches of up to
/// [`DEFAULT_BATCH_LIMIT`](Exact::DEFAULT_BATCH_LIMIT) tasks for the least
/// makespan, counting the work already queued on each node, and places
/// larger batches by LPT.
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
    /// Default budget in the runtime: 2 ms or 200 000 search nodes.
    pub const DEFAULT_BUDGET: Budget = Budget {
        time: Duration::from_millis(2),
        steps: 200_000,
    };

    /// Seed of the heuristic that gives [`solve_gap`](Self::solve_gap) its
    /// incumbent.
    pub const GAP_SEED: u64 = 1;

    /// Most steps (improvement rounds) of the heuristic that gives
    /// [`solve_gap`](Self::solve_gap) its incumbent.
    pub const GAP_HEURISTIC_ROUNDS: u64 = 1_000;

    /// The budget of the heuristic that gives [`solve_gap`](Self::solve_gap)
    /// its incumbent, out of `budget`: the same time, and at most
    /// [`GAP_HEURISTIC_ROUNDS`](Self::GAP_HEURISTIC_ROUNDS) steps.
    pub fn gap_heuristic_budget(budget: Budget) -> Budget {
        Budget {
            time: budget.time,
            steps: budget.steps.min(Self::GAP_HEURISTIC_ROUNDS),
        }
    }

    /// Default largest batch solved exactly in the runtime: 12 tasks;
    /// larger batches are scheduled by [`Lpt`](super::Lpt).
    pub const DEFAULT_BATCH_LIMIT: usize = 12;

    /// With [`DEFAULT_BUDGET`](Self::DEFAULT_BUDGET) and
    /// [`DEFAULT_BATCH_LIMIT`](Self::DEFAULT_BATCH_LIMIT).
    pub fn new() -> Self {
        Exact::with_budget(Self::DEFAULT_BUDGET)
    }

    /// With the given budget.
    pub fn with_budget(budget: Budget) -> Self {
        Exact {
            budget,
            batch_limit: Self::DEFAULT_BATCH_LIMIT,
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
        self.solve_makespan_within(p, &mut self.budget.start())
    }

    /// [`solve_makespan`](Self::solve_makespan) on a meter already running.
    fn solve_makespan_within(&self, p: &Makespan, meter: &mut Meter) -> Schedule {
        let start = lpt_schedule(p);
        let mut search = MakespanSearch::new(p, start.assignment.clone(), start.makespan);
        let finished = search.run(meter);
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
    ///
    /// Its incumbent is what [`Hybrid::solve_gap`](super::Hybrid::solve_gap)
    /// with seed [`GAP_SEED`](Self::GAP_SEED) returns within
    /// [`gap_heuristic_budget`](Self::gap_heuristic_budget) (the same
    /// time); branch-and-bound has what time that leaves (Hybrid stops
    /// early when it meets its bound or stops improving, as on small
    /// instances), and only improves on it: an `Exact` answers at least as
    /// well as that `Hybrid` at the same budget (exactly so under a step
    /// limit; under a clock limit up to the timing of their runs).
    pub fn solve_gap(&self, g: &Gap) -> Option<GapSolution> {
        let mut meter = self.budget.start();
        // The incumbent: the heuristic solver's answer within the budget
        // (it stops early when it proves its answer or stops improving),
        // so that running out of time returns at least what it finds.
        let share = Self::gap_heuristic_budget(self.budget);
        let start = solve_with_multipliers(g, Self::GAP_SEED, &mut share.start());
        // Proved optimal, or no time left for the search: that answer.
        let proved = start.as_ref().is_some_and(|(s, _)| s.proved_optimal);
        if proved || (start.is_some() && !meter.check()) {
            return start.map(|(s, _)| s);
        }
        let incumbent = start.as_ref().map(|(s, _)| s.cost);
        let lag = g.lagrangian(incumbent, 300, &mut meter);
        let (lambda, bound) = match &start {
            Some((s, l)) if s.lower_bound >= lag.bound => (l.clone(), s.lower_bound),
            _ => (lag.lambda, lag.bound),
        };
        let mut assign = start
            .as_ref()
            .map_or_else(|| vec![0; g.items()], |(s, _)| s.assignment.clone());
        let mut best = incumbent;
        let free: Vec<usize> = (0..g.items()).collect();
        let finished = branch_and_bound(g, &free, &lambda, &mut assign, &mut best, &mut meter);
        let cost = best?;
        Some(GapSolution {
            assignment: assign,
            cost,
            proved_optimal: finished,
            lower_bound: if finished { cost as f64 } else { bound },
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

    /// The depth-first search, with an explicit stack (a batch may hold
    /// more tasks than a thread's stack has room for frames). Returns
    /// whether it finished (so `best` is optimal) before the meter ran out.
    fn run(&mut self, meter: &mut Meter) -> bool {
        let mut stack: Vec<Frame> = Vec::new();
        let mut pool: Vec<Vec<(f64, usize)>> = Vec::new();
        match self.enter(0, meter, &mut pool) {
            Entered::Stop => return false,
            Entered::Done => return true,
            Entered::Branch(f) => stack.push(f),
        }
        while !stack.is_empty() {
            let depth = stack.len() - 1;
            let top = &mut stack[depth];
            let i = self.order[depth];
            if let Some((j, old)) = top.placed.take() {
                self.finish[j] = old;
                self.work[i] = usize::MAX;
            }
            // Candidates in increasing finish time: once one reaches the
            // incumbent, so do the rest.
            let next = top.cands.get(top.next).copied();
            let Some((f, j)) = next.filter(|&(f, _)| f < self.best - 1e-9) else {
                let done = stack.pop().expect("a frame");
                pool.push(done.cands);
                continue;
            };
            top.next += 1;
            top.placed = Some((j, self.finish[j]));
            self.finish[j] = f;
            self.work[i] = j;
            match self.enter(depth + 1, meter, &mut pool) {
                Entered::Stop => return false,
                Entered::Done => {}
                Entered::Branch(f) => stack.push(f),
            }
        }
        true
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

    /// Visits the search node at `depth` (one step of the budget): a
    /// complete assignment is scored, a node its bound cuts is done, any
    /// other yields its candidate nodes for the next task.
    fn enter(
        &mut self,
        depth: usize,
        meter: &mut Meter,
        pool: &mut Vec<Vec<(f64, usize)>>,
    ) -> Entered {
        // One step; its bound and candidates look at every node a few times.
        let m = self.p.nodes();
        if !meter.step(8 * m as u64) {
            return Entered::Stop;
        }
        if depth == self.order.len() {
            let ms = self.finish.iter().copied().fold(0.0, f64::max);
            if ms < self.best - 1e-9 {
                self.best = ms;
                self.best_assign = self.work.clone();
            }
            return Entered::Done;
        }
        if self.bound(depth) >= self.best - 1e-9 {
            return Entered::Done;
        }
        let i = self.order[depth];
        let mut cands = pool.pop().unwrap_or_default();
        cands.clear();
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
        // Each node was compared with the candidates before it.
        if !meter.work((m * cands.len()) as u64) {
            return Entered::Stop;
        }
        cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Entered::Branch(Frame {
            cands,
            next: 0,
            placed: None,
        })
    }
}

/// One level of [`MakespanSearch::run`]: the next task's candidate nodes
/// with their finish times, the next to try, and the placement to undo.
struct Frame {
    cands: Vec<(f64, usize)>,
    next: usize,
    placed: Option<(usize, f64)>,
}

/// What [`MakespanSearch::enter`] found.
enum Entered {
    /// The budget ran out.
    Stop,
    /// A leaf or a cut: nothing below to search.
    Done,
    /// Candidates to branch on.
    Branch(Frame),
}

/// The makespan problem of a runtime batch: each node's queued work as its
/// ready time, `speed · slots` as its speed, `can_host` as eligibility.
/// `None` when some task has no node.
pub(crate) fn batch_problem(tasks: &[TaskView<'_>], nodes: &[NodeView]) -> Option<Makespan> {
    // The matrix only when some task may not go everywhere (the usual
    // batch may: no n × m allocation then).
    let everywhere = tasks.iter().all(|t| nodes.iter().all(|n| n.can_host(t)));
    let eligible = if everywhere {
        None
    } else {
        let e: Vec<Vec<bool>> = tasks
            .iter()
            .map(|t| nodes.iter().map(|n| n.can_host(t)).collect())
            .collect();
        if e.iter().any(|row| !row.iter().any(|&x| x)) {
            return None;
        }
        Some(e)
    };
    if nodes.is_empty() {
        return None;
    }
    Some(Makespan {
        work: tasks.iter().map(|t| t.cost).collect(),
        speeds: nodes.iter().map(NodeView::throughput).collect(),
        ready: nodes.iter().map(NodeView::drain_time).collect(),
        eligible,
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
        if tasks.len() > self.batch_limit {
            return super::Lpt::new().allocate(tasks, nodes, out);
        }
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
    use crate::policy::gap::construct_gap;
    use rand::SeedableRng;

    /// A real instance (Chu–Beasley type D, 100 tasks on 20 nodes), and no
    /// time at all: the answer is still at least as good as the
    /// constructions Hybrid starts from, under the same (spent) budget.
    #[test]
    fn exact_with_no_time_left_answers_at_least_as_well_as_the_constructions() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/gap/instances/chu1997_d20100"
        );
        let g = crate::sim::gap_file::read_gap(path).expect("the instance");
        let none = Budget::time(Duration::ZERO);
        let e = Exact::with_budget(none).solve_gap(&g).expect("an answer");
        assert_eq!(g.evaluate(&e.assignment), Some(e.cost));
        assert!(!e.proved_optimal);
        let mut rng = rand::rngs::StdRng::seed_from_u64(Exact::GAP_SEED);
        let start = construct_gap(&g, &mut rng, &mut none.start());
        let (_, built) = start.best.expect("a feasible construction");
        assert!(
            e.cost <= built,
            "exact {} above the construction {built}",
            e.cost
        );
    }
}
