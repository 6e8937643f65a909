//! The heuristic GAP solver that [`Hybrid`](crate::policy::Hybrid) runs
//! and [`Exact`](crate::policy::Exact) starts from: constructions within
//! the budget, then rounds of the penalty search and exact
//! re-optimisation of small parts.

use super::penalty::PenaltySearch;
use super::problem::{Gap, GapSolution};
use super::{branch_and_bound, Lagrangian};
use crate::policy::budget::Meter;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Largest DP table (states) for a two-node sub-problem.
const PAIR_DP_STATES: usize = 1 << 21;
/// Rounds without improvement after which the search stops (each round
/// is a burst of [`PENALTY_BURST`] local optima and the exact parts).
const STALE_ROUNDS: u32 = 30;
/// Local optima in one burst of the penalty search.
const PENALTY_BURST: u64 = 200;
/// Largest `n²·m` for which a round runs the full ejection-chain scan.
const FULL_CHAIN_WORK: u64 = 20_000_000;
/// Subgradient steps that refine the constructions' multipliers, aimed
/// at the best construction.
const WARM_LAGRANGIAN_STEPS: usize = 100;
/// Search nodes one large-neighbourhood step may spend.
const LNS_STEPS: u64 = 4_000;

/// A cheap feasible assignment for `g` within `meter`, from `seed`; with
/// the Lagrangian multipliers it used. `None` when none was found.
pub(crate) fn solve_heuristic(g: &Gap, seed: u64, meter: &mut Meter) -> Option<GapSolution> {
    solve_with_multipliers(g, seed, meter).map(|(s, _)| s)
}

/// [`solve_heuristic`], with the multipliers of its bound.
pub(crate) fn solve_with_multipliers(
    g: &Gap,
    seed: u64,
    meter: &mut Meter,
) -> Option<(GapSolution, Vec<f64>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let meter = &mut *meter;
    let start = construct_gap(g, &mut rng, meter);
    if !meter.check() {
        // No time for more than the constructions: the best of them, and
        // the bound they computed, if any.
        let (assignment, cost) = start.best?;
        let lagrangian = start.lagrangian.unwrap_or(Lagrangian {
            lambda: vec![0.0; g.agents()],
            bound: f64::NEG_INFINITY,
        });
        let proved_optimal = cost as f64 <= lagrangian.bound.ceil() + 1e-9;
        return Some((
            GapSolution {
                assignment,
                cost,
                proved_optimal,
                lower_bound: lagrangian.bound,
            },
            lagrangian.lambda,
        ));
    }
    // The bound aimed at the best construction: on from the constructions'
    // multipliers when they got to compute them (fewer steps), else from
    // zero.
    let lag = match &start.lagrangian {
        Some(l0) => g.lagrangian_from(
            Some(&l0.lambda),
            start.best.as_ref().map(|b| b.1),
            WARM_LAGRANGIAN_STEPS,
            meter,
        ),
        None => g.lagrangian(start.best.as_ref().map(|b| b.1), 300, meter),
    };
    let (lambda, bound) = match start.lagrangian {
        Some(l0) if l0.bound >= lag.bound => (l0.lambda, l0.bound),
        _ => (lag.lambda, lag.bound),
    };
    let stop_at = bound.ceil() as i64;
    if let (false, Some((assignment, cost))) = (meter.check(), &start.best) {
        // Setting up the search reads the whole instance: no time for it.
        let (assignment, cost) = (assignment.clone(), *cost);
        return Some((
            GapSolution {
                assignment,
                cost,
                proved_optimal: cost <= stop_at,
                lower_bound: bound,
            },
            lambda,
        ));
    }
    // With no feasible start, the penalty search starts from each
    // task's cheapest node by Lagrangian cost, and looks for one.
    let mut search = PenaltySearch::new(
        g,
        start.best.as_ref().map_or_else(
            || {
                cheapest_by(g, |j, i| {
                    g.cost(j, i) as f64 + lambda[j] * g.weight(j, i) as f64
                })
            },
            |b| b.0.clone(),
        ),
        &lambda,
        start.best,
        meter,
    );
    if search.best.is_none() {
        search.run(stop_at, &mut rng, meter);
    }
    let (mut assign, mut cost) = search.best.clone()?;
    // Ejection chains over every pair of tasks only while a scan is
    // cheap; the penalty search's chains, over candidate nodes, cover
    // the large instances.
    let (n, m) = (g.items() as u64, g.agents() as u64);
    let full_chains = n * n * m <= FULL_CHAIN_WORK;
    let mut stale = 0u32;
    while cost > stop_at && stale < STALE_ROUNDS && meter.step(n * m) {
        let before = cost;
        // A burst of the penalty search, which keeps its own state
        // (weights, restarts) from burst to burst.
        let mut burst = meter.sub(PENALTY_BURST);
        search.run(stop_at, &mut rng, &mut burst);
        let (a, c) = search.best.clone().expect("a feasible best");
        if c < cost {
            (assign, cost) = (a, c);
        }
        // Then exact re-optimisation of small parts of the best.
        let mut residual = g.residual(&assign);
        cost -= g.descend(&mut assign, &mut residual, meter);
        if full_chains {
            cost -= ejection_chains(g, &mut assign, &mut residual, meter);
        }
        if stale % 4 == 3 {
            cost -= pair_dp(g, &mut assign, &mut rng, meter);
        }
        cost -= lns_step(g, &mut assign, cost, &lambda, &mut rng, stale, meter);
        debug_assert_eq!(g.evaluate(&assign), Some(cost));
        if cost < before {
            stale = 0;
            search.restart_from(&assign, cost);
        } else {
            stale += 1;
        }
    }
    Some((
        GapSolution {
            assignment: assign,
            cost,
            proved_optimal: cost <= stop_at,
            lower_bound: bound,
        },
        lambda,
    ))
}

/// What [`construct_gap`] found: the best feasible construction, and the
/// Lagrangian multipliers if it got to compute them.
pub(crate) struct GapStart {
    /// The cheapest feasible construction (after descent), and its cost.
    pub(crate) best: Option<(Vec<usize>, i64)>,
    /// The multipliers the Lagrangian constructions used.
    pub(crate) lagrangian: Option<Lagrangian>,
}

/// Hybrid's constructions, within the meter: regret greedy by plain cost,
/// by Lagrangian cost (after 200 subgradient steps), by relative weight,
/// by cost × weight, and by perturbed Lagrangian costs; the cheapest
/// feasible one wins, and is improved by descent. Each construction checks the
/// meter and, cut short, completes greedily (see [`Gap::regret_greedy`]);
/// the first always runs, and while none is feasible the cheap
/// relative-weight one runs even past the budget (once), since an answer
/// is what the budget is for.
pub(crate) fn construct_gap(g: &Gap, rng: &mut StdRng, meter: &mut Meter) -> GapStart {
    let mut lag0: Option<Lagrangian> = None;
    let mut best: Option<(Vec<usize>, i64)> = None;
    let by_share = |j: usize, i: usize| g.weight(j, i) as f64 / g.capacity(j).max(1) as f64;
    for k in 0..8 {
        if k > 0 && meter.is_spent() {
            if best.is_none() && k <= 2 {
                // One last cheap try for feasibility: fill by relative weight.
                let a = g.regret_greedy(by_share, meter);
                if let Some(a) = a {
                    let c = g.evaluate(&a).expect("feasible");
                    best = Some((a, c));
                }
            }
            break;
        }
        let lambda = match &lag0 {
            Some(l) => l.lambda.clone(),
            None if k == 0 => Vec::new(),
            None => lag0.insert(g.lagrangian(None, 200, meter)).lambda.clone(),
        };
        let a = match k {
            0 => g.regret_greedy(|j, i| g.cost(j, i) as f64, meter),
            1 => g.regret_greedy(
                |j, i| g.cost(j, i) as f64 + lambda[j] * g.weight(j, i) as f64,
                meter,
            ),
            2 => g.regret_greedy(by_share, meter),
            3 => g.regret_greedy(|j, i| (g.cost(j, i) * g.weight(j, i)) as f64, meter),
            _ => {
                let noise: Vec<f64> = (0..g.agents() * g.items())
                    .map(|_| 1.0 + 0.1 * (rng.random::<f64>() - 0.5))
                    .collect();
                meter.work(noise.len() as u64);
                g.regret_greedy(
                    |j, i| {
                        (g.cost(j, i) as f64 + lambda[j] * g.weight(j, i) as f64)
                            * noise[j * g.items() + i]
                    },
                    meter,
                )
            }
        };
        if let Some(a) = a {
            let c = g.evaluate(&a).expect("feasible");
            if best.as_ref().is_none_or(|(_, b)| c < *b) {
                best = Some((a, c));
            }
        }
    }
    // Descent (quadratic in the tasks) on the best construction only.
    if let Some((a, c)) = &mut best {
        let mut r = g.residual(a);
        *c -= g.descend(a, &mut r, meter);
    }
    GapStart {
        best,
        lagrangian: lag0,
    }
}

/// Each task on its most desired node, capacities ignored.
fn cheapest_by(g: &Gap, desire: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    (0..g.items())
        .map(|i| {
            (0..g.agents())
                .min_by(|&a, &b| desire(a, i).total_cmp(&desire(b, i)).then(a.cmp(&b)))
                .expect("an agent")
        })
        .collect()
}

/// Moves a task to a node without room for it, and one task of that node
/// on to a third node, when the pair of moves is feasible and cheaper.
/// Returns the saving.
#[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
fn ejection_chains(g: &Gap, assign: &mut [usize], residual: &mut [i64], meter: &mut Meter) -> i64 {
    let (n, m) = (g.items(), g.agents());
    let mut saved = 0;
    for i in 0..n {
        // Each target node scans the tasks, and each of its own tasks the
        // nodes: about 2·n·m in all.
        if !meter.work((2 * n * m) as u64) {
            return saved;
        }
        let a = assign[i];
        for b in 0..m {
            if b == a || g.weight(b, i) <= residual[b] {
                continue; // a plain move; descent covers it
            }
            let gain_i = g.cost(a, i) - g.cost(b, i);
            let need = g.weight(b, i) - residual[b];
            let mut best: Option<(i64, usize, usize)> = None;
            for k in 0..n {
                if assign[k] != b || k == i || g.weight(b, k) < need {
                    continue;
                }
                for c in 0..m {
                    if c == b {
                        continue;
                    }
                    let room = if c == a {
                        residual[a] + g.weight(a, i)
                    } else {
                        residual[c]
                    };
                    if g.weight(c, k) > room {
                        continue;
                    }
                    let delta = gain_i + g.cost(b, k) - g.cost(c, k);
                    if delta > 0 && best.is_none_or(|(d, ..)| delta > d) {
                        best = Some((delta, k, c));
                    }
                }
            }
            if let Some((delta, k, c)) = best {
                residual[a] += g.weight(a, i);
                residual[b] -= g.weight(b, i) - g.weight(b, k);
                residual[c] -= g.weight(c, k);
                assign[i] = b;
                assign[k] = c;
                saved += delta;
                break;
            }
        }
    }
    saved
}

/// Re-splits the tasks of a random pair of nodes optimally between them by
/// dynamic programming over both nodes' used capacity, when the table is
/// small enough. Returns the saving (0, with `assign` untouched, when the
/// meter runs out first).
fn pair_dp(g: &Gap, assign: &mut [usize], rng: &mut StdRng, meter: &mut Meter) -> i64 {
    let m = g.agents();
    if m < 2 {
        return 0;
    }
    let a = rng.random_range(0..m);
    let mut b = rng.random_range(0..m - 1);
    if b >= a {
        b += 1;
    }
    let items: Vec<usize> = (0..g.items())
        .filter(|&i| assign[i] == a || assign[i] == b)
        .collect();
    let (ca, cb) = (g.capacity(a).max(0) as usize, g.capacity(b).max(0) as usize);
    let states = (ca + 1) * (cb + 1);
    if items.is_empty() || states > PAIR_DP_STATES || states * items.len() > 64 * PAIR_DP_STATES {
        return 0;
    }
    let old: i64 = items.iter().map(|&i| g.cost(assign[i], i)).sum();
    const INF: i64 = i64::MAX / 4;
    let idx = |la: usize, lb: usize| la * (cb + 1) + lb;
    let mut dp = vec![INF; states];
    dp[0] = 0;
    // choice[k][state]: whether task k went to `a` on the way to `state`.
    let mut choice: Vec<Vec<bool>> = Vec::with_capacity(items.len());
    for &i in &items {
        let (wa, wb) = (g.weight(a, i) as usize, g.weight(b, i) as usize);
        let (cost_a, cost_b) = (g.cost(a, i), g.cost(b, i));
        let mut next = vec![INF; states];
        let mut ch = vec![false; states];
        for la in 0..=ca {
            if !meter.work(cb as u64 + 1) {
                return 0; // nothing applied yet
            }
            for lb in 0..=cb {
                let v = dp[idx(la, lb)];
                if v >= INF {
                    continue;
                }
                if la + wa <= ca {
                    let t = idx(la + wa, lb);
                    if v + cost_a < next[t] {
                        next[t] = v + cost_a;
                        ch[t] = true;
                    }
                }
                if lb + wb <= cb {
                    let t = idx(la, lb + wb);
                    if v + cost_b < next[t] {
                        next[t] = v + cost_b;
                        ch[t] = false;
                    }
                }
            }
        }
        dp = next;
        choice.push(ch);
    }
    let (mut state, best) = dp
        .iter()
        .enumerate()
        .min_by_key(|&(s, &v)| (v, s))
        .map(|(s, &v)| (s, v))
        .expect("table not empty");
    if best >= old {
        return 0;
    }
    for (k, &i) in items.iter().enumerate().rev() {
        let (la, lb) = (state / (cb + 1), state % (cb + 1));
        if choice[k][state] {
            assign[i] = a;
            state = idx(la - g.weight(a, i) as usize, lb);
        } else {
            assign[i] = b;
            state = idx(la, lb - g.weight(b, i) as usize);
        }
    }
    old - best
}

/// Frees a handful of tasks and re-assigns them optimally (within a small
/// search budget, and the solver's deadline) by branch-and-bound. Returns
/// the saving.
fn lns_step(
    g: &Gap,
    assign: &mut [usize],
    cost: i64,
    lambda: &[f64],
    rng: &mut StdRng,
    stale: u32,
    meter: &Meter,
) -> i64 {
    let (n, m) = (g.items(), g.agents());
    let size = (8 + (stale as usize % 7)).min(n);
    let mut free: Vec<usize> = Vec::with_capacity(size);
    if stale.is_multiple_of(2) && m >= 2 {
        // All tasks of two or three random nodes (a random subset if many).
        let mut nodes: Vec<usize> = (0..m).collect();
        nodes.shuffle(rng);
        nodes.truncate(2 + (stale as usize / 2) % 2);
        free.extend((0..n).filter(|&i| nodes.contains(&assign[i])));
        free.shuffle(rng);
        free.truncate(size);
    } else {
        let mut all: Vec<usize> = (0..n).collect();
        all.shuffle(rng);
        free.extend_from_slice(&all[..size]);
    }
    free.sort_unstable();
    let mut best = Some(cost);
    let mut meter = meter.sub(LNS_STEPS);
    let _finished = branch_and_bound(g, &free, lambda, assign, &mut best, &mut meter);
    cost - best.expect("the current assignment is a solution")
}
