//! A stronger lower bound for measuring answers: the Lagrangian relaxation
//! of the assignment constraints, whose sub-problems are one 0-1 knapsack
//! per node (Fisher, Jaikumar and Van Wassenhove's relaxation).
//!
//! With multipliers `u_i` on "task `i` goes to exactly one node",
//!
//! `L(u) = Σ_i u_i − Σ_j max { Σ_i (u_i − c(j,i)) x_ji : Σ_i a(j,i) x_ji ≤ b_j, x ∈ {0,1} }`
//!
//! is at most the cost of every feasible assignment, for every `u`. Each
//! node's knapsack is solved exactly by dynamic programming over its
//! capacity, so the bound is at least the linear-programming bound at the
//! same multipliers, and above it where nodes hold few tasks (where the
//! capacity relaxation's bound is weakest). It costs `O(k·b_j)` per node
//! and step (`k` the tasks with a positive profit there), so it is for
//! reports, not for the solvers' budgets.

use super::problem::Gap;
use crate::policy::Budget;
use std::time::Duration;

impl Gap {
    /// A lower bound on the cost of every feasible assignment, at least as
    /// strong as [`lagrangian_bound`](Self::lagrangian_bound) with the same
    /// `upper` and `iterations` and often stronger: the Lagrangian bound of
    /// the assignment constraints, whose sub-problems are one 0-1 knapsack
    /// per node, solved exactly. It starts from the multipliers of the
    /// capacity bound, then takes `iterations` subgradient steps aimed at
    /// `upper` (the cost of a known feasible assignment). The work is about
    /// `iterations · Σ_j k_j · b_j` (`k_j` the tasks worth taking on node
    /// `j`), so keep the capacities moderate (thousands).
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::policy::Gap;
    ///
    /// // Two nodes of capacity 3, two tasks of use 2: one task per node.
    /// // The best assignment costs 1 + 3 = 4, the capacity bound only 3.
    /// let g = Gap::new(2, 2, vec![1, 1, 3, 3], vec![2, 2, 2, 2], vec![3, 3])?;
    /// let weak = g.lagrangian_bound(Some(4), 200);
    /// let strong = g.knapsack_bound(4, 200);
    /// assert!(strong >= weak - 1e-9 && strong <= 4.0 + 1e-9);
    /// assert!(strong > 3.9);
    /// # Ok::<(), allot::policy::GapError>(())
    /// ```
    pub fn knapsack_bound(&self, upper: i64, iterations: usize) -> f64 {
        let (n, m) = (self.items, self.agents);
        let mut meter = Budget::time(Duration::MAX).start();
        let cap = self.lagrangian(Some(upper), iterations, &mut meter);
        // The multipliers the capacity bound implies: each task's least
        // priced cost, at which this bound is at least the capacity bound.
        let mut u: Vec<f64> = (0..n)
            .map(|i| {
                (0..m)
                    .map(|j| self.cost(j, i) as f64 + cap.lambda[j] * self.weight(j, i) as f64)
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let mut knap = Knapsack::default();
        let mut taken = vec![0u32; n];
        let mut best = cap.bound;
        let mut theta = 1.0;
        let mut stall = 0;
        for _ in 0..iterations.max(1) {
            let v = self.knapsack_value(&u, &mut taken, &mut knap);
            if v > best + 1e-9 {
                best = v;
                stall = 0;
            } else {
                stall += 1;
                if stall >= 15 {
                    theta /= 2.0;
                    stall = 0;
                    if theta < 1e-5 {
                        break;
                    }
                }
            }
            let norm: f64 = taken.iter().map(|&t| (1.0 - t as f64).powi(2)).sum();
            if norm < 0.5 {
                // Every task taken exactly once: a feasible assignment
                // whose cost is this bound.
                break;
            }
            let step = theta * (upper as f64 - v).max(1e-6) / norm;
            for (ui, &t) in u.iter_mut().zip(&taken) {
                *ui += step * (1.0 - t as f64);
            }
        }
        best
    }

    /// `L(u)`, and how many nodes' knapsacks took each task.
    fn knapsack_value(&self, u: &[f64], taken: &mut [u32], knap: &mut Knapsack) -> f64 {
        taken.iter_mut().for_each(|t| *t = 0);
        let mut value: f64 = u.iter().sum();
        for j in 0..self.agents {
            let b = self.capacity(j);
            knap.items.clear();
            knap.items.extend((0..self.items).filter_map(|i| {
                let p = u[i] - self.cost(j, i) as f64;
                let a = self.weight(j, i);
                (p > 1e-12 && a <= b).then_some((i, a as usize, p))
            }));
            value -= knap.solve(b as usize, taken);
        }
        value
    }
}

/// A 0-1 knapsack solved by dynamic programming over the capacity, with
/// its buffers kept from node to node.
#[derive(Default)]
struct Knapsack {
    /// (task, use, profit)
    items: Vec<(usize, usize, f64)>,
    best: Vec<f64>,
    /// Whether item `k` was taken on the way to capacity `w`: `k·(b+1)+w`.
    keep: Vec<bool>,
}

impl Knapsack {
    /// The most profit within `capacity`; adds one to `taken` for each
    /// task of the best choice.
    fn solve(&mut self, capacity: usize, taken: &mut [u32]) -> f64 {
        let width = capacity + 1;
        self.best.clear();
        self.best.resize(width, 0.0);
        self.keep.clear();
        self.keep.resize(self.items.len() * width, false);
        for (k, &(_, a, p)) in self.items.iter().enumerate() {
            let keep = &mut self.keep[k * width..(k + 1) * width];
            for w in (a..width).rev() {
                let with = self.best[w - a] + p;
                if with > self.best[w] {
                    self.best[w] = with;
                    keep[w] = true;
                }
            }
        }
        let mut w = capacity;
        for (k, &(i, a, _)) in self.items.iter().enumerate().rev() {
            if self.keep[k * width + w] {
                taken[i] += 1;
                w -= a;
            }
        }
        self.best[capacity]
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::Gap;

    /// The least cost over every assignment, by enumeration.
    fn optimum(g: &Gap) -> Option<i64> {
        let (n, m) = (g.items(), g.agents());
        let mut best = None;
        let mut a = vec![0usize; n];
        loop {
            if let Some(c) = g.evaluate(&a) {
                best = Some(best.map_or(c, |b: i64| b.min(c)));
            }
            let mut k = 0;
            while k < n {
                a[k] += 1;
                if a[k] < m {
                    break;
                }
                a[k] = 0;
                k += 1;
            }
            if k == n {
                return best;
            }
        }
    }

    #[test]
    fn the_knapsack_bound_lies_between_the_capacity_bound_and_the_optimum() {
        let mut x = 11u64;
        let mut next = |k: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % k
        };
        let mut stronger = 0;
        for round in 0..60 {
            let (m, n) = (2 + round % 3, 4 + round % 5);
            let cost: Vec<i64> = (0..m * n).map(|_| 1 + next(30) as i64).collect();
            let weight: Vec<i64> = (0..m * n).map(|_| 1 + next(9) as i64).collect();
            let capacity: Vec<i64> = (0..m)
                .map(|j| weight[j * n..(j + 1) * n].iter().sum::<i64>() * 6 / (10 * m as i64))
                .collect();
            let g = Gap::new(m, n, cost, weight, capacity).expect("well-formed");
            let Some(opt) = optimum(&g) else { continue };
            let weak = g.lagrangian_bound(Some(opt), 300);
            let strong = g.knapsack_bound(opt, 300);
            assert!(strong <= opt as f64 + 1e-6, "{g:?}: {strong} above {opt}");
            assert!(strong >= weak - 1e-6, "{g:?}: {strong} below {weak}");
            if strong > weak + 0.5 {
                stronger += 1;
            }
        }
        assert!(stronger > 0, "never stronger than the capacity bound");
    }
}
