//! The improvement phase of the heuristic GAP solver: local search on
//! a penalised objective with adaptive weights, after Yagiura, Ibaraki and
//! Glover's ejection-chain approach.
//!
//! The search may leave the feasible region: it minimises
//! `cost + Σ_j α_j · max(0, load_j − b_j)`, so that a node may be overfull
//! for a while at a price. Its moves, each tried from every task `i` (on
//! node `a`):
//!
//! 1. **shift** `i` to any other node;
//! 2. **swap** `i` with a task `k` of one of `i`'s candidate nodes `b` (its
//!    cheapest few by Lagrangian cost);
//! 3. **ejection chain** of length two: `i` to a candidate node `b`, and a
//!    task `k` of `b` on to one of `k`'s own candidate nodes.
//!
//! A task takes its best improving move (first improvement over tasks, in
//! a shuffled order); a pass with no move is a local optimum of the
//! penalised objective. After a local optimum, or two passes, the weights
//! adapt: up on the nodes that are
//! overfull (so the next descent restores feasibility), down everywhere
//! when the local optimum is feasible (so the next one may cross the
//! boundary to a cheaper region). Every feasible assignment met is a
//! candidate answer, and the cheapest distinct feasible local optima form
//! an elite set; after a run of local optima without a better answer the
//! search restarts part of the way between two elite answers (path
//! relinking, see [`relink`]), or from the best slightly perturbed while
//! the elite set holds fewer than two.

mod elite;
mod relink;

use super::problem::Gap;
use crate::policy::budget::Meter;
use elite::Elite;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// Candidate nodes per task for swaps and chains.
const CANDIDATES: usize = 4;
/// Local optima without a better feasible answer (over bursts) before a
/// restart from the best.
const RESTART_AFTER: u32 = 60;
/// Passes over the tasks in one descent: the weights adapt after at most
/// this many (on large instances a full descent would take most of a
/// budget before the weights first move).
const PASSES: usize = 2;
/// Weight factor on an overfull node at a local optimum.
const RAISE: f64 = 1.3;
/// Weight factor on every node at a feasible local optimum.
const LOWER: f64 = 0.85;

/// The search state: an assignment (feasible or not), the loads, and the
/// weights.
pub(crate) struct PenaltySearch<'a> {
    g: &'a Gap,
    assign: Vec<usize>,
    load: Vec<i64>,
    cost: i64,
    /// Total overload, `Σ_j max(0, load_j − b_j)`.
    over: i64,
    alpha: Vec<f64>,
    /// Least weight a node keeps.
    floor: f64,
    /// Each task's candidate nodes, cheapest Lagrangian cost first.
    cand: Vec<Vec<usize>>,
    /// The tasks on each node, and each task's index there.
    members: Vec<Vec<usize>>,
    slot: Vec<usize>,
    /// The best feasible assignment met, and its cost.
    pub(crate) best: Option<(Vec<usize>, i64)>,
    /// Local optima since the best last improved.
    stale: u32,
    /// The cheapest distinct feasible local optima, for path relinking.
    elite: Elite,
}

impl<'a> PenaltySearch<'a> {
    /// A search from `start` (any complete assignment), with multipliers
    /// `lambda` (the Lagrangian prices of capacity) as the first weights
    /// and candidate order; `best` is the best feasible answer known.
    pub(crate) fn new(
        g: &'a Gap,
        start: Vec<usize>,
        lambda: &[f64],
        best: Option<(Vec<usize>, i64)>,
        meter: &mut Meter,
    ) -> Self {
        let (n, m) = (g.items(), g.agents());
        let lc = |j: usize, i: usize| {
            g.cost(j, i) as f64 + lambda.get(j).copied().unwrap_or(0.0) * g.weight(j, i) as f64
        };
        let mut cand = Vec::with_capacity(n);
        let keep = CANDIDATES.min(m);
        for i in 0..n {
            meter.work(m as u64);
            let mut v: Vec<usize> = (0..m).collect();
            if keep < m {
                v.select_nth_unstable_by(keep - 1, |&a, &b| lc(a, i).total_cmp(&lc(b, i)));
                v.truncate(keep);
            }
            v.sort_by(|&a, &b| lc(a, i).total_cmp(&lc(b, i)).then(a.cmp(&b)));
            cand.push(v);
        }
        // A weight of the order of what a unit of capacity is worth: the
        // multipliers where they are positive, and otherwise the spread of
        // cost per unit of use.
        let spread: f64 = (0..n.min(64))
            .map(|i| {
                let (lo, hi) = (0..m).fold((i64::MAX, i64::MIN), |(lo, hi), j| {
                    (lo.min(g.cost(j, i)), hi.max(g.cost(j, i)))
                });
                let w = (0..m).map(|j| g.weight(j, i)).max().unwrap_or(1).max(1);
                (hi - lo) as f64 / w as f64
            })
            .sum::<f64>()
            / n.min(64) as f64;
        let floor = (spread * 0.05).max(1e-3);
        let alpha: Vec<f64> = (0..m)
            .map(|j| {
                lambda
                    .get(j)
                    .copied()
                    .unwrap_or(0.0)
                    .max(spread * 0.5)
                    .max(floor)
            })
            .collect();
        let mut s = PenaltySearch {
            g,
            assign: start,
            load: vec![0; m],
            cost: 0,
            over: 0,
            alpha,
            floor,
            cand,
            members: vec![Vec::new(); m],
            slot: vec![0; n],
            best,
            stale: 0,
            elite: Elite::default(),
        };
        if let Some((a, c)) = &s.best {
            s.elite.offer(a, *c);
        }
        s.reset_to(None);
        s
    }

    /// Continues from `assign` (feasible, of cost `cost`), which becomes
    /// the best if it is cheaper; the weights are kept.
    pub(crate) fn restart_from(&mut self, assign: &[usize], cost: i64) {
        if self.best.as_ref().is_none_or(|(_, c)| cost < *c) {
            self.best = Some((assign.to_vec(), cost));
        }
        self.elite.offer(assign, cost);
        self.reset_to(Some(assign));
    }

    /// Recomputes loads, cost and members from `self.assign` (or from
    /// `to`, copied in first).
    fn reset_to(&mut self, to: Option<&[usize]>) {
        if let Some(a) = to {
            self.assign.copy_from_slice(a);
        }
        let g = self.g;
        self.load.iter_mut().for_each(|l| *l = 0);
        self.members.iter_mut().for_each(Vec::clear);
        self.cost = 0;
        for (i, &j) in self.assign.iter().enumerate() {
            self.load[j] += g.weight(j, i);
            self.cost += g.cost(j, i);
            self.slot[i] = self.members[j].len();
            self.members[j].push(i);
        }
        self.over = (0..g.agents())
            .map(|j| (self.load[j] - g.capacity(j)).max(0))
            .sum();
        self.note_feasible();
    }

    /// Keeps the current assignment as the best if it is feasible and
    /// cheaper.
    fn note_feasible(&mut self) -> bool {
        if self.over == 0 && self.best.as_ref().is_none_or(|(_, c)| self.cost < *c) {
            self.best = Some((self.assign.clone(), self.cost));
            return true;
        }
        false
    }

    /// The change of node `j`'s penalty if its load changes by `d`.
    fn pen(&self, j: usize, d: i64) -> f64 {
        let b = self.g.capacity(j);
        let before = (self.load[j] - b).max(0);
        let after = (self.load[j] + d - b).max(0);
        self.alpha[j] * (after - before) as f64
    }

    /// Moves task `i` to node `to`, keeping every aggregate consistent.
    fn shift(&mut self, i: usize, to: usize) {
        let g = self.g;
        let from = self.assign[i];
        let over_of = |load: i64, j: usize| (load - g.capacity(j)).max(0);
        self.over -= over_of(self.load[from], from) + over_of(self.load[to], to);
        self.load[from] -= g.weight(from, i);
        self.load[to] += g.weight(to, i);
        self.over += over_of(self.load[from], from) + over_of(self.load[to], to);
        self.cost += g.cost(to, i) - g.cost(from, i);
        // Out of `from`'s list (the last member takes its place), into `to`'s.
        let k = self.slot[i];
        let last = self.members[from].pop().expect("a member");
        if last != i {
            self.members[from][k] = last;
            self.slot[last] = k;
        }
        self.slot[i] = self.members[to].len();
        self.members[to].push(i);
        self.assign[i] = to;
    }

    /// Task `i`'s best move and its change of the penalised objective,
    /// if it lowers it; reports its work to `meter`.
    fn best_move(&self, i: usize, meter: &mut Meter) -> Option<(f64, Move)> {
        let g = self.g;
        let a = self.assign[i];
        let (wa_i, ca_i) = (g.weight(a, i), g.cost(a, i));
        let mut best: Option<(f64, Move)> = None;
        let mut consider = |d: f64, mv: Move| {
            if d < -1e-9 && best.as_ref().is_none_or(|(b, _)| d < *b) {
                best = Some((d, mv));
            }
        };
        let leave_a = self.pen(a, -wa_i);
        for b in 0..g.agents() {
            if b != a {
                let d = (g.cost(b, i) - ca_i) as f64 + leave_a + self.pen(b, g.weight(b, i));
                consider(d, Move::Shift(b));
            }
        }
        let mut work = g.agents() as u64;
        for &b in &self.cand[i] {
            if b == a {
                continue;
            }
            let (wb_i, cb_i) = (g.weight(b, i), g.cost(b, i));
            work += self.members[b].len() as u64 * (1 + self.cand[i].len() as u64);
            for &k in &self.members[b] {
                let (wb_k, cb_k) = (g.weight(b, k), g.cost(b, k));
                // Swap: k to a.
                let d = (cb_i - ca_i + g.cost(a, k) - cb_k) as f64
                    + self.pen(a, g.weight(a, k) - wa_i)
                    + self.pen(b, wb_i - wb_k);
                consider(d, Move::Swap(k));
                // Chain: k on to a third node c.
                let through_b = (cb_i - ca_i - cb_k) as f64 + leave_a + self.pen(b, wb_i - wb_k);
                for &c in &self.cand[k] {
                    if c == a || c == b {
                        continue;
                    }
                    let d = through_b + g.cost(c, k) as f64 + self.pen(c, g.weight(c, k));
                    consider(d, Move::Chain(b, k, c));
                }
            }
        }
        meter.work(work);
        best
    }

    /// Applies task `i`'s move.
    fn apply(&mut self, i: usize, mv: Move) {
        let a = self.assign[i];
        match mv {
            Move::Shift(b) => self.shift(i, b),
            Move::Swap(k) => {
                let b = self.assign[k];
                self.shift(i, b);
                self.shift(k, a);
            }
            Move::Chain(b, k, c) => {
                self.shift(i, b);
                self.shift(k, c);
            }
        }
    }

    /// Descends on the penalised objective to a local optimum, or for
    /// [`PASSES`] passes; `false` if the meter ran out first.
    fn descend(&mut self, order: &mut [usize], rng: &mut StdRng, meter: &mut Meter) -> bool {
        for _ in 0..PASSES {
            order.shuffle(rng);
            let mut moved = false;
            for &i in order.iter() {
                if meter.is_spent() {
                    return false;
                }
                if let Some((_, mv)) = self.best_move(i, meter) {
                    self.apply(i, mv);
                    moved = true;
                    self.note_feasible();
                }
            }
            if !moved {
                return true;
            }
        }
        true
    }

    /// Runs until the meter runs out, or `stop_at` (a lower bound) is met.
    /// One local optimum is one step of the meter.
    pub(crate) fn run(&mut self, stop_at: i64, rng: &mut StdRng, meter: &mut Meter) {
        let g = self.g;
        let n = g.items();
        let mut order: Vec<usize> = (0..n).collect();
        while meter.step(n as u64) {
            let before = self.best.as_ref().map(|b| b.1);
            if !self.descend(&mut order, rng, meter) {
                return;
            }
            if self.over == 0 {
                self.elite.offer(&self.assign, self.cost);
            }
            if self.best.as_ref().is_some_and(|b| b.1 <= stop_at) {
                return;
            }
            // Adapt the weights.
            if self.over > 0 {
                for j in 0..g.agents() {
                    let over = self.load[j] - g.capacity(j);
                    if over > 0 {
                        let rel = over as f64 / g.capacity(j).max(1) as f64;
                        self.alpha[j] *= RAISE + rel;
                    }
                }
            } else {
                for a in &mut self.alpha {
                    *a = (*a * LOWER).max(self.floor);
                }
            }
            let improved = self.best.as_ref().map(|b| b.1) < before || before.is_none();
            self.stale = if improved && self.best.is_some() {
                0
            } else {
                self.stale + 1
            };
            if self.stale >= RESTART_AFTER {
                self.stale = 0;
                if self.relink_restart(rng, meter) {
                    // Resumes between two elite answers.
                } else if let Some((b, _)) = self.best.clone() {
                    self.reset_to(Some(&b));
                    // A kick: a few random tasks to random candidates.
                    for _ in 0..(2 + n / 100).min(n) {
                        let i = rng.random_range(0..n);
                        let c = self.cand[i][rng.random_range(0..self.cand[i].len())];
                        if c != self.assign[i] {
                            self.shift(i, c);
                        }
                    }
                    meter.work(n as u64);
                }
            }
        }
    }
}

/// A move of one task, see [`PenaltySearch::best_move`].
#[derive(Clone, Copy, Debug)]
enum Move {
    /// To this node.
    Shift(usize),
    /// With this task.
    Swap(usize),
    /// To node `.0`, whose task `.1` goes on to node `.2`.
    Chain(usize, usize, usize),
}
