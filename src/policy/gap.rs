//! The generalized assignment problem (GAP): assign each task to one node;
//! task `i` on node `j` costs `c(j, i)` and uses `a(j, i)` of node `j`'s
//! capacity `b(j)`; minimise the total cost.

use std::fmt;

/// A GAP instance with integer data, `agents` nodes and `items` tasks.
///
/// # Examples
///
/// ```
/// use allot::policy::Gap;
///
/// // Two nodes of capacity 5; three tasks.
/// let gap = Gap::new(
///     2,
///     3,
///     vec![1, 2, 3, /* node 1: */ 3, 2, 1],
///     vec![3, 3, 3, /* node 1: */ 2, 2, 2],
///     vec![5, 5],
/// )?;
/// assert_eq!(gap.evaluate(&[0, 1, 1]), Some(4));
/// assert_eq!(gap.evaluate(&[0, 0, 1]), None); // node 0 over capacity
/// # Ok::<(), allot::policy::GapError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    agents: usize,
    items: usize,
    cost: Vec<i64>,
    weight: Vec<i64>,
    capacity: Vec<i64>,
}

/// Why [`Gap::new`] refused its data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapError {
    /// A matrix or vector has the wrong number of entries.
    Shape {
        /// Which one: `cost`, `weight` or `capacity`.
        what: &'static str,
        /// Entries expected.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// A weight or capacity is negative.
    Negative {
        /// Which one: `weight` or `capacity`.
        what: &'static str,
        /// Its index (row-major for matrices).
        index: usize,
    },
    /// No agents, or no items.
    Empty,
}

impl fmt::Display for GapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GapError::Shape {
                what,
                expected,
                got,
            } => {
                write!(f, "`{what}` has {got} entries, expected {expected}")
            }
            GapError::Negative { what, index } => {
                write!(f, "`{what}` entry {index} is negative")
            }
            GapError::Empty => f.write_str("an instance needs at least one agent and one item"),
        }
    }
}

impl std::error::Error for GapError {}

/// A GAP assignment and how good it is.
#[derive(Clone, Debug, PartialEq)]
pub struct GapSolution {
    /// Node (agent) of each task (item).
    pub assignment: Vec<usize>,
    /// Its total cost.
    pub cost: i64,
    /// Whether the solver proved that no feasible assignment costs less.
    pub proved_optimal: bool,
    /// The best lower bound on the optimum the solver found.
    pub lower_bound: f64,
}

impl Gap {
    /// An instance from row-major matrices (`cost[j * items + i]` is task
    /// `i` on node `j`) and the node capacities.
    ///
    /// # Errors
    ///
    /// A [`GapError`] for a matrix of the wrong size, a negative weight or
    /// capacity, or an empty instance.
    pub fn new(
        agents: usize,
        items: usize,
        cost: Vec<i64>,
        weight: Vec<i64>,
        capacity: Vec<i64>,
    ) -> Result<Self, GapError> {
        if agents == 0 || items == 0 {
            return Err(GapError::Empty);
        }
        for (what, len, expected) in [
            ("cost", cost.len(), agents * items),
            ("weight", weight.len(), agents * items),
            ("capacity", capacity.len(), agents),
        ] {
            if len != expected {
                return Err(GapError::Shape {
                    what,
                    expected,
                    got: len,
                });
            }
        }
        if let Some(index) = weight.iter().position(|&w| w < 0) {
            return Err(GapError::Negative {
                what: "weight",
                index,
            });
        }
        if let Some(index) = capacity.iter().position(|&b| b < 0) {
            return Err(GapError::Negative {
                what: "capacity",
                index,
            });
        }
        Ok(Gap {
            agents,
            items,
            cost,
            weight,
            capacity,
        })
    }

    /// Number of nodes (agents).
    pub fn agents(&self) -> usize {
        self.agents
    }

    /// Number of tasks (items).
    pub fn items(&self) -> usize {
        self.items
    }

    /// Cost of task `i` on node `j`.
    pub fn cost(&self, j: usize, i: usize) -> i64 {
        self.cost[j * self.items + i]
    }

    /// Capacity task `i` uses on node `j`.
    pub fn weight(&self, j: usize, i: usize) -> i64 {
        self.weight[j * self.items + i]
    }

    /// Capacity of node `j`.
    pub fn capacity(&self, j: usize) -> i64 {
        self.capacity[j]
    }

    /// Capacity used on each node under `assignment`.
    ///
    /// # Panics
    ///
    /// If `assignment` is not one node index per task.
    pub fn loads(&self, assignment: &[usize]) -> Vec<i64> {
        assert_eq!(assignment.len(), self.items, "one node per task");
        let mut load = vec![0; self.agents];
        for (i, &j) in assignment.iter().enumerate() {
            load[j] += self.weight(j, i);
        }
        load
    }

    /// Total cost of `assignment`, or `None` when it is malformed or puts a
    /// node over capacity.
    pub fn evaluate(&self, assignment: &[usize]) -> Option<i64> {
        if assignment.len() != self.items || assignment.iter().any(|&j| j >= self.agents) {
            return None;
        }
        let load = self.loads(assignment);
        if (0..self.agents).any(|j| load[j] > self.capacity[j]) {
            return None;
        }
        Some(
            assignment
                .iter()
                .enumerate()
                .map(|(i, &j)| self.cost(j, i))
                .sum(),
        )
    }
}

/// Lagrangian multipliers on the capacity constraints, and the bound they
/// give: `L(λ) = Σ_i min_j (c(j,i) + λ_j a(j,i)) − Σ_j λ_j b_j` for `λ ≥ 0`
/// is at most the optimum of every feasible assignment.
#[derive(Clone, Debug)]
pub(crate) struct Lagrangian {
    pub(crate) lambda: Vec<f64>,
    pub(crate) bound: f64,
}

impl Gap {
    /// `L(λ)` and, for each node, how far the relaxed choice overloads it.
    fn lagrangian_value(&self, lambda: &[f64], grad: &mut [f64]) -> f64 {
        grad.iter_mut()
            .zip(&self.capacity)
            .for_each(|(g, &b)| *g = -(b as f64));
        let mut value = 0.0;
        for i in 0..self.items {
            let mut best = (f64::INFINITY, 0);
            for (j, l) in lambda.iter().enumerate() {
                let v = self.cost(j, i) as f64 + l * self.weight(j, i) as f64;
                if v < best.0 {
                    best = (v, j);
                }
            }
            value += best.0;
            grad[best.1] += self.weight(best.1, i) as f64;
        }
        value
            - lambda
                .iter()
                .zip(&self.capacity)
                .map(|(l, &b)| l * b as f64)
                .sum::<f64>()
    }

    /// Subgradient ascent on `L(λ)` for `iterations` steps, with Polyak
    /// steps towards `upper` (a known feasible cost, or an estimate).
    #[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
    pub(crate) fn lagrangian(&self, upper: Option<i64>, iterations: usize) -> Lagrangian {
        let m = self.agents;
        let mut lambda = vec![0.0; m];
        let mut grad = vec![0.0; m];
        let mut best = Lagrangian {
            lambda: lambda.clone(),
            bound: self.lagrangian_value(&lambda, &mut grad),
        };
        let mut theta = 2.0;
        let mut stall = 0;
        for _ in 0..iterations {
            let v = self.lagrangian_value(&lambda, &mut grad);
            if v > best.bound + 1e-9 {
                best = Lagrangian {
                    lambda: lambda.clone(),
                    bound: v,
                };
                stall = 0;
            } else {
                stall += 1;
                if stall >= 20 {
                    theta /= 2.0;
                    stall = 0;
                    if theta < 1e-6 {
                        break;
                    }
                }
            }
            let norm: f64 = grad
                .iter()
                .zip(&lambda)
                .map(|(g, l)| if *l <= 0.0 && *g < 0.0 { 0.0 } else { g * g })
                .sum();
            if norm < 1e-12 {
                break; // the relaxed choice is feasible: the bound is tight
            }
            let target = match upper {
                Some(u) => u as f64,
                None => v.abs() * 1.05 + 1.0,
            };
            let step = theta * (target - v).max(1e-6) / norm;
            for j in 0..m {
                lambda[j] = (lambda[j] + step * grad[j]).max(0.0);
            }
        }
        best
    }

    /// Regret greedy (Martello–Toth): repeatedly the task whose best and
    /// second-best nodes (by `desire`, lower is better, among nodes with
    /// room) differ most goes to its best node. `None` if it gets stuck.
    #[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
    pub(crate) fn regret_greedy(&self, desire: impl Fn(usize, usize) -> f64) -> Option<Vec<usize>> {
        let (n, m) = (self.items, self.agents);
        let mut residual = self.capacity.clone();
        let mut assign = vec![usize::MAX; n];
        for _ in 0..n {
            let mut pick: Option<(usize, usize, f64)> = None; // item, agent, regret
            for i in (0..n).filter(|&i| assign[i] == usize::MAX) {
                let (mut b1, mut b2) = ((f64::INFINITY, usize::MAX), f64::INFINITY);
                for j in 0..m {
                    if self.weight(j, i) > residual[j] {
                        continue;
                    }
                    let d = desire(j, i);
                    if d < b1.0 {
                        b2 = b1.0;
                        b1 = (d, j);
                    } else if d < b2 {
                        b2 = d;
                    }
                }
                if b1.1 == usize::MAX {
                    return None;
                }
                let regret = b2 - b1.0;
                if pick.is_none_or(|(_, _, r)| regret > r) {
                    pick = Some((i, b1.1, regret));
                }
            }
            let (i, j, _) = pick?;
            assign[i] = j;
            residual[j] -= self.weight(j, i);
        }
        Some(assign)
    }

    /// Improves a feasible assignment by single moves and pairwise swaps
    /// that lower the cost, until none does (first improvement).
    #[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
    pub(crate) fn descend(&self, assign: &mut [usize], residual: &mut [i64]) -> i64 {
        let (n, m) = (self.items, self.agents);
        let mut gained = 0;
        loop {
            let mut improved = false;
            for i in 0..n {
                let a = assign[i];
                for j in 0..m {
                    if j != a
                        && self.weight(j, i) <= residual[j]
                        && self.cost(j, i) < self.cost(a, i)
                    {
                        gained += self.cost(a, i) - self.cost(j, i);
                        residual[a] += self.weight(a, i);
                        residual[j] -= self.weight(j, i);
                        assign[i] = j;
                        improved = true;
                        break;
                    }
                }
            }
            for i in 0..n {
                for k in (i + 1)..n {
                    let (a, b) = (assign[i], assign[k]);
                    if a == b {
                        continue;
                    }
                    let delta =
                        self.cost(b, i) + self.cost(a, k) - self.cost(a, i) - self.cost(b, k);
                    if delta >= 0 {
                        continue;
                    }
                    let ra = residual[a] + self.weight(a, i) - self.weight(a, k);
                    let rb = residual[b] + self.weight(b, k) - self.weight(b, i);
                    if ra >= 0 && rb >= 0 {
                        residual[a] = ra;
                        residual[b] = rb;
                        assign[i] = b;
                        assign[k] = a;
                        gained -= delta;
                        improved = true;
                    }
                }
            }
            if !improved {
                return gained;
            }
        }
    }

    /// Residual capacity of each node under a (possibly partial: entries
    /// `usize::MAX` are unassigned) assignment.
    pub(crate) fn residual(&self, assign: &[usize]) -> Vec<i64> {
        let mut r = self.capacity.clone();
        for (i, &j) in assign.iter().enumerate() {
            if j != usize::MAX {
                r[j] -= self.weight(j, i);
            }
        }
        r
    }
}

/// Depth-first branch-and-bound over the tasks in `free` (the others keep
/// their node in `assign`), bounded by the Lagrangian bound with fixed
/// multipliers `lambda`. Improves `assign`/`best` in place when it finds a
/// cheaper completion; returns whether the search finished (so `best` is
/// optimal for the sub-problem) before the meter ran out.
pub(crate) fn branch_and_bound(
    g: &Gap,
    free: &[usize],
    lambda: &[f64],
    assign: &mut [usize],
    best: &mut Option<i64>,
    meter: &mut super::budget::Meter,
) -> bool {
    let m = g.agents;
    // Order: most decisive first (largest gap between its two cheapest
    // Lagrangian costs).
    let lc = |j: usize, i: usize| g.cost(j, i) as f64 + lambda[j] * g.weight(j, i) as f64;
    let mut order: Vec<usize> = free.to_vec();
    let regret = |i: usize| {
        let mut v: Vec<f64> = (0..m).map(|j| lc(j, i)).collect();
        v.sort_by(f64::total_cmp);
        if v.len() > 1 {
            v[1] - v[0]
        } else {
            0.0
        }
    };
    let keys: Vec<f64> = order.iter().map(|&i| regret(i)).collect();
    let mut idx: Vec<usize> = (0..order.len()).collect();
    idx.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(order[a].cmp(&order[b])));
    order = idx.into_iter().map(|k| order[k]).collect();

    let mut work: Vec<usize> = assign.to_vec();
    for &i in free {
        work[i] = usize::MAX;
    }
    let mut residual = g.residual(&work);
    let fixed_cost: i64 = work
        .iter()
        .enumerate()
        .filter(|(_, &j)| j != usize::MAX)
        .map(|(i, &j)| g.cost(j, i))
        .sum();
    struct Ctx<'a> {
        g: &'a Gap,
        order: Vec<usize>,
        lambda: &'a [f64],
        work: Vec<usize>,
        residual: Vec<i64>,
        best: Option<i64>,
        best_assign: Option<Vec<usize>>,
        cands: Vec<Vec<(f64, usize)>>,
    }
    fn bound(c: &Ctx<'_>, depth: usize, cost: i64) -> Option<f64> {
        let g = c.g;
        let mut b = cost as f64;
        for &i in &c.order[depth..] {
            let mut best = f64::INFINITY;
            for j in 0..g.agents {
                if g.weight(j, i) <= c.residual[j] {
                    let v = g.cost(j, i) as f64 + c.lambda[j] * g.weight(j, i) as f64;
                    if v < best {
                        best = v;
                    }
                }
            }
            if best == f64::INFINITY {
                return None;
            }
            b += best;
        }
        for j in 0..g.agents {
            b -= c.lambda[j] * c.residual[j] as f64;
        }
        Some(b)
    }
    fn dfs(c: &mut Ctx<'_>, depth: usize, cost: i64, meter: &mut super::budget::Meter) -> bool {
        if !meter.step() {
            return false;
        }
        if depth == c.order.len() {
            if c.best.is_none_or(|b| cost < b) {
                c.best = Some(cost);
                c.best_assign = Some(c.work.clone());
            }
            return true;
        }
        match bound(c, depth, cost) {
            None => return true,
            Some(b) => {
                if let Some(best) = c.best {
                    if b > best as f64 - 1.0 + 1e-6 {
                        return true;
                    }
                }
            }
        }
        let i = c.order[depth];
        let g = c.g;
        let mut cands = std::mem::take(&mut c.cands[depth]);
        cands.clear();
        for j in 0..g.agents {
            if g.weight(j, i) <= c.residual[j] {
                cands.push((g.cost(j, i) as f64 + c.lambda[j] * g.weight(j, i) as f64, j));
            }
        }
        cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut finished = true;
        for &(_, j) in &cands {
            c.work[i] = j;
            c.residual[j] -= g.weight(j, i);
            let ok = dfs(c, depth + 1, cost + g.cost(j, i), meter);
            c.residual[j] += g.weight(j, i);
            c.work[i] = usize::MAX;
            if !ok {
                finished = false;
                break;
            }
        }
        c.cands[depth] = cands;
        finished
    }
    let depth_count = order.len();
    let best_before = best.map(|b| b - fixed_cost);
    let mut ctx = Ctx {
        g,
        order,
        lambda,
        work: std::mem::take(&mut work),
        residual: std::mem::take(&mut residual),
        best: best_before,
        best_assign: None,
        cands: vec![Vec::new(); depth_count + 1],
    };
    let finished = dfs(&mut ctx, 0, 0, meter);
    if let (Some(found), Some(b)) = (ctx.best_assign, ctx.best) {
        assign.copy_from_slice(&found);
        *best = Some(b + fixed_cost);
    }
    finished
}
