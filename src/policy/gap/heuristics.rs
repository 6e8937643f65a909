//! The Lagrangian bound, the regret greedy and the local descent: the
//! heuristics the GAP solvers start from.

use super::problem::Gap;
use crate::policy::budget::Meter;

/// A task's two most desired nodes with room, for [`Gap::regret_greedy`].
#[derive(Clone, Copy, Debug)]
struct TwoBest {
    first: f64,
    agent: usize,
    second: f64,
    /// The node of `second` (`usize::MAX` when there is none).
    second_agent: usize,
}

impl TwoBest {
    /// Lists task `i` with the nodes it watches.
    fn watch(&self, i: usize, watch: &mut [Vec<usize>]) {
        watch[self.agent].push(i);
        if self.second_agent != usize::MAX {
            watch[self.second_agent].push(i);
        }
    }
}

/// A heap entry of [`Gap::regret_greedy`]: the largest regret first, ties
/// to the lowest task.
#[derive(Clone, Copy, Debug)]
struct Pick {
    regret: f64,
    task: usize,
    version: u32,
}

impl Pick {
    fn new(b: &TwoBest, task: usize, version: u32) -> Self {
        Pick {
            regret: b.second - b.first,
            task,
            version,
        }
    }
}

impl PartialEq for Pick {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Pick {}

impl PartialOrd for Pick {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pick {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.regret
            .total_cmp(&other.regret)
            .then(other.task.cmp(&self.task))
            .then(self.version.cmp(&other.version))
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
    /// A lower bound on the cost of every feasible assignment: the
    /// Lagrangian bound of the capacity constraints (equal at best to the
    /// linear-programming bound) after `iterations` steps of subgradient
    /// ascent, with no time limit. `upper`, the cost of a known feasible
    /// assignment, aims the steps (Polyak's rule); without it they aim at
    /// an estimate. The work is `iterations · n · m`.
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::policy::Gap;
    ///
    /// let g = Gap::new(2, 2, vec![1, 5, 4, 2], vec![2, 2, 2, 2], vec![2, 2])?;
    /// // The best assignment costs 1 + 2 = 3.
    /// assert!(g.lagrangian_bound(Some(3), 100) <= 3.0 + 1e-9);
    /// # Ok::<(), allot::policy::GapError>(())
    /// ```
    pub fn lagrangian_bound(&self, upper: Option<i64>, iterations: usize) -> f64 {
        let mut meter = crate::policy::Budget::time(std::time::Duration::MAX).start();
        self.lagrangian(upper, iterations, &mut meter).bound
    }

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

    /// Subgradient ascent on `L(λ)` for `iterations` steps (fewer when the
    /// meter runs out), with Polyak steps towards `upper` (a known feasible
    /// cost, or an estimate).
    pub(crate) fn lagrangian(
        &self,
        upper: Option<i64>,
        iterations: usize,
        meter: &mut Meter,
    ) -> Lagrangian {
        self.lagrangian_from(None, upper, iterations, meter)
    }

    /// [`lagrangian`](Self::lagrangian) from the multipliers `from` (with
    /// smaller first steps) rather than from zero.
    #[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
    pub(crate) fn lagrangian_from(
        &self,
        from: Option<&[f64]>,
        upper: Option<i64>,
        iterations: usize,
        meter: &mut Meter,
    ) -> Lagrangian {
        let m = self.agents;
        let per_iteration = (self.items * m) as u64;
        let mut lambda = from.map_or_else(|| vec![0.0; m], <[f64]>::to_vec);
        let mut grad = vec![0.0; m];
        let mut best = Lagrangian {
            lambda: lambda.clone(),
            bound: self.lagrangian_value(&lambda, &mut grad),
        };
        let mut theta = if from.is_some() { 0.5 } else { 2.0 };
        let mut stall = 0;
        for _ in 0..iterations {
            if !meter.work(per_iteration) {
                break;
            }
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
    /// room) differ most goes to its best node (ties to the lowest task).
    /// `None` if it gets stuck.
    ///
    /// When the meter runs out, the tasks not yet placed go, in index
    /// order, each to its most desired node with room (one scan of the
    /// nodes per task, the cost of reading them): a construction cut short
    /// still completes, in about `O(n·m)`.
    ///
    /// Each task's two best nodes are kept from round to round: nodes only
    /// lose room, so they change only when one of them can no longer take
    /// the task. Each node lists the tasks watching it (it is one of their
    /// two best), and a heap holds the regrets, so a round looks only at
    /// the tasks that watched the node just filled: about `O(n·m)` in all
    /// rather than `O(n²·m)`.
    pub(crate) fn regret_greedy(
        &self,
        desire: impl Fn(usize, usize) -> f64,
        meter: &mut Meter,
    ) -> Option<Vec<usize>> {
        let (n, m) = (self.items, self.agents);
        let mut residual = self.capacity.clone();
        let mut assign = vec![usize::MAX; n];
        let mut best: Vec<TwoBest> = Vec::with_capacity(n);
        // Tasks watching each node (stale entries are dropped when read).
        let mut watch: Vec<Vec<usize>> = vec![Vec::new(); m];
        let mut heap = std::collections::BinaryHeap::with_capacity(n);
        // Each entry carries the version of its task's two best it was
        // made from; an older one is stale.
        let mut version = vec![0u32; n];
        for i in 0..n {
            if !meter.work(m as u64) {
                return self.complete(assign, residual, &desire);
            }
            let b = self.two_best(i, &residual, &desire)?;
            b.watch(i, &mut watch);
            heap.push(Pick::new(&b, i, 0));
            best.push(b);
        }
        for _ in 0..n {
            let i = loop {
                let p = heap.pop()?;
                if assign[p.task] == usize::MAX && version[p.task] == p.version {
                    break p.task;
                }
            };
            let j = best[i].agent;
            assign[i] = j;
            residual[j] -= self.weight(j, i);
            // Tasks whose best or second-best node was `j` and no longer
            // fits there look again.
            let watchers = std::mem::take(&mut watch[j]);
            let mut work = watchers.len() as u64 + 1;
            for &k in &watchers {
                let b = best[k];
                if assign[k] != usize::MAX || (b.agent != j && b.second_agent != j) {
                    continue; // placed, or no longer watching `j`
                }
                if self.weight(j, k) <= residual[j] {
                    watch[j].push(k);
                    continue;
                }
                let b = self.two_best(k, &residual, &desire)?;
                b.watch(k, &mut watch);
                version[k] += 1;
                heap.push(Pick::new(&b, k, version[k]));
                best[k] = b;
                work += m as u64;
            }
            if !meter.work(work) {
                return self.complete(assign, residual, &desire);
            }
        }
        Some(assign)
    }

    /// Places each task not yet placed (`usize::MAX`), in index order, on
    /// its most desired node with room; `None` when one has none.
    pub(crate) fn complete(
        &self,
        mut assign: Vec<usize>,
        mut residual: Vec<i64>,
        desire: &impl Fn(usize, usize) -> f64,
    ) -> Option<Vec<usize>> {
        for (i, slot) in assign.iter_mut().enumerate() {
            if *slot != usize::MAX {
                continue;
            }
            let j = (0..self.agents)
                .filter(|&j| self.weight(j, i) <= residual[j])
                .min_by(|&a, &b| desire(a, i).total_cmp(&desire(b, i)).then(a.cmp(&b)))?;
            residual[j] -= self.weight(j, i);
            *slot = j;
        }
        Some(assign)
    }

    /// Task `i`'s best and second-best nodes with room by `desire`, as a
    /// scan in node order finds them; `None` when no node has room.
    fn two_best(
        &self,
        i: usize,
        residual: &[i64],
        desire: &impl Fn(usize, usize) -> f64,
    ) -> Option<TwoBest> {
        let mut b = TwoBest {
            first: f64::INFINITY,
            agent: usize::MAX,
            second: f64::INFINITY,
            second_agent: usize::MAX,
        };
        for (j, &room) in residual.iter().enumerate() {
            if self.weight(j, i) > room {
                continue;
            }
            let d = desire(j, i);
            if d < b.first {
                (b.second, b.second_agent) = (b.first, b.agent);
                (b.first, b.agent) = (d, j);
            } else if d < b.second {
                (b.second, b.second_agent) = (d, j);
            }
        }
        (b.agent != usize::MAX).then_some(b)
    }

    /// Improves a feasible assignment by single moves and pairwise swaps
    /// that lower the cost, until none does (first improvement) or the
    /// meter runs out. Returns the saving; `assign` and `residual` stay
    /// consistent either way.
    #[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
    pub(crate) fn descend(
        &self,
        assign: &mut [usize],
        residual: &mut [i64],
        meter: &mut Meter,
    ) -> i64 {
        let (n, m) = (self.items, self.agents);
        let mut gained = 0;
        loop {
            let mut improved = false;
            for i in 0..n {
                if !meter.work(m as u64) {
                    return gained;
                }
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
                if !meter.work((n - i) as u64) {
                    return gained;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The regret greedy as first written: every round rescans every task
    /// on every node.
    #[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
    fn regret_greedy_by_rescans(
        g: &Gap,
        desire: impl Fn(usize, usize) -> f64,
    ) -> Option<Vec<usize>> {
        let (n, m) = (g.items, g.agents);
        let mut residual = g.capacity.clone();
        let mut assign = vec![usize::MAX; n];
        for _ in 0..n {
            let mut pick: Option<(usize, usize, f64)> = None;
            for i in (0..n).filter(|&i| assign[i] == usize::MAX) {
                let (mut b1, mut b2) = ((f64::INFINITY, usize::MAX), f64::INFINITY);
                for j in 0..m {
                    if g.weight(j, i) > residual[j] {
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
            residual[j] -= g.weight(j, i);
        }
        Some(assign)
    }

    #[test]
    fn the_regret_greedy_keeping_two_best_nodes_matches_a_full_rescan() {
        let mut x = 11u64;
        let mut next = |k: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) % k) as i64
        };
        let mut stuck = 0;
        for round in 0..300 {
            let (m, n) = (1 + round % 6, 1 + round % 23);
            // Small ranges, so desires tie and capacities run out.
            let cost: Vec<i64> = (0..m * n).map(|_| next(6)).collect();
            let weight: Vec<i64> = (0..m * n).map(|_| 1 + next(5)).collect();
            let capacity: Vec<i64> = (0..m)
                .map(|_| 2 + next(3 * n as u64 / m as u64 + 3))
                .collect();
            let g = Gap::new(m, n, cost, weight, capacity).unwrap();
            let by_cost = |j: usize, i: usize| g.cost(j, i) as f64;
            let by_share = |j: usize, i: usize| g.weight(j, i) as f64 / g.capacity(j).max(1) as f64;
            let fast = g.regret_greedy(by_cost, &mut Meter::unlimited());
            assert_eq!(fast, regret_greedy_by_rescans(&g, by_cost), "{g:?}");
            stuck += usize::from(fast.is_none());
            let fast = g.regret_greedy(by_share, &mut Meter::unlimited());
            assert_eq!(fast, regret_greedy_by_rescans(&g, by_share), "{g:?}");
        }
        // Both outcomes were exercised.
        assert!(stuck > 10 && stuck < 290, "{stuck} of 300 stuck");
    }
}
