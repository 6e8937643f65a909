//! Branch-and-bound over part of a GAP assignment, under the Lagrangian
//! bound.

use super::problem::Gap;
use crate::policy::budget::Meter;

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
    meter: &mut Meter,
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
    /// Visits the search node at `depth` with `cost` so far (one step of
    /// the budget): a complete assignment is scored, a node its bound cuts
    /// is done; any other gets its candidates in `c.cands[depth]`. Returns
    /// whether to branch, or `None` when the meter ran out.
    fn enter(c: &mut Ctx<'_>, depth: usize, cost: i64, meter: &mut Meter) -> Option<bool> {
        // One step; the bound below looks at every node for each task left.
        if !meter.step(((c.order.len() - depth + 1) * c.g.agents) as u64) {
            return None;
        }
        if depth == c.order.len() {
            if c.best.is_none_or(|b| cost < b) {
                c.best = Some(cost);
                c.best_assign = Some(c.work.clone());
            }
            return Some(false);
        }
        match bound(c, depth, cost) {
            None => return Some(false),
            Some(b) => {
                if let Some(best) = c.best {
                    if b > best as f64 - 1.0 + 1e-6 {
                        return Some(false);
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
        c.cands[depth] = cands;
        Some(true)
    }
    /// The depth-first search, with an explicit stack (an instance may
    /// hold more tasks than a thread's stack has room for frames): at each
    /// open level, `next` is its next candidate and `costs` its cost so
    /// far. Returns whether it finished before the meter ran out.
    fn dfs(c: &mut Ctx<'_>, meter: &mut Meter) -> bool {
        let levels = c.order.len() + 1;
        let (mut next, mut costs) = (vec![0usize; levels], vec![0i64; levels]);
        match enter(c, 0, 0, meter) {
            None => return false,
            Some(false) => return true,
            Some(true) => {}
        }
        let g = c.g;
        let mut depth = 0;
        loop {
            let i = c.order[depth];
            if next[depth] > 0 {
                // Undo the candidate tried last at this level.
                let (_, j) = c.cands[depth][next[depth] - 1];
                c.residual[j] += g.weight(j, i);
                c.work[i] = usize::MAX;
            }
            if next[depth] == c.cands[depth].len() {
                if depth == 0 {
                    return true;
                }
                depth -= 1;
                continue;
            }
            let (_, j) = c.cands[depth][next[depth]];
            next[depth] += 1;
            c.work[i] = j;
            c.residual[j] -= g.weight(j, i);
            let cost = costs[depth] + g.cost(j, i);
            match enter(c, depth + 1, cost, meter) {
                None => return false,
                Some(false) => {}
                Some(true) => {
                    depth += 1;
                    costs[depth] = cost;
                    next[depth] = 0;
                }
            }
        }
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
    let finished = dfs(&mut ctx, meter);
    if let (Some(found), Some(b)) = (ctx.best_assign, ctx.best) {
        assign.copy_from_slice(&found);
        *best = Some(b + fixed_cost);
    }
    finished
}
