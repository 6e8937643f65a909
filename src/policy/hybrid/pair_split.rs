//! The makespan half of [`Hybrid`](super::Hybrid): optimal re-splits of two
//! nodes' tasks by a subset-sum dynamic program.

use crate::policy::budget::Meter;
use crate::policy::makespan::Makespan;

/// Improves a makespan assignment by optimal re-splits of the last node's
/// tasks with each other node's; stops at a local optimum or when the
/// meter runs out (a re-split cut short is dropped, so `assign` is always
/// a complete assignment).
pub(super) fn improve_makespan(p: &Makespan, assign: &mut [usize], meter: &mut Meter) {
    let m = p.nodes();
    if m < 2 {
        return;
    }
    let n = p.tasks() as u64;
    let mut scratch = SplitScratch::default();
    loop {
        let finish = p.finish_times(assign);
        let worst = (0..m)
            .max_by(|&a, &b| finish[a].total_cmp(&finish[b]).then(b.cmp(&a)))
            .expect("nodes");
        let mut others: Vec<usize> = (0..m).filter(|&k| k != worst).collect();
        others.sort_by(|&a, &b| finish[a].total_cmp(&finish[b]).then(a.cmp(&b)));
        if !meter.work(n + 8 * m as u64) {
            return;
        }
        let mut improved = false;
        for k in others {
            // One step per pair tried; its scan of the tasks is its work.
            if !meter.step(n) {
                return;
            }
            match split_pair(p, assign, worst, k, finish[worst], &mut scratch, meter) {
                Some(true) => {
                    improved = true;
                    break;
                }
                Some(false) => {}
                None => return,
            }
        }
        if !improved {
            return;
        }
    }
}

/// Buffers [`split_pair`] keeps from one pair to the next.
#[derive(Debug, Default)]
struct SplitScratch {
    /// Tasks of the pair that may go to either node.
    movable: Vec<usize>,
    /// Their integer weights.
    w: Vec<usize>,
    /// Which sums a subset of the movable tasks reaches: bit `s % 64` of
    /// word `s / 64`.
    reach: Vec<u64>,
    /// For each reached sum, the movable task that first reached it (read
    /// only at reached sums, so never cleared).
    from: Vec<u32>,
}

/// Bits of the subset-sum table of a re-split whose work is scaled (not
/// small integers): units × tasks.
const SPLIT_TABLE_BITS: u64 = 1 << 26;

/// Words of the subset-sum table one [`Meter::work`] report covers.
const SPLIT_CHUNK_WORDS: usize = 1_024;

/// Re-splits the tasks of nodes `a` and `b` (those eligible on both) to
/// minimise the later of their two finish times, by a subset-sum dynamic
/// program with back-pointers (a bit set of the sums reached, shifted by
/// each task's weight); applies it if that finishes both before `limit`.
/// Returns whether it did, or `None` when the meter ran out first (then
/// `assign` is untouched).
#[allow(clippy::too_many_arguments)]
fn split_pair(
    p: &Makespan,
    assign: &mut [usize],
    a: usize,
    b: usize,
    limit: f64,
    scratch: &mut SplitScratch,
    meter: &mut Meter,
) -> Option<bool> {
    // Fixed work (tasks that cannot move) stays where it is.
    let (mut fixed_a, mut fixed_b) = (0.0, 0.0);
    scratch.movable.clear();
    for (i, &j) in assign.iter().enumerate() {
        if j != a && j != b {
            continue;
        }
        if p.is_eligible(i, a) && p.is_eligible(i, b) {
            scratch.movable.push(i);
        } else if j == a {
            fixed_a += p.work[i];
        } else {
            fixed_b += p.work[i];
        }
    }
    let movable = &scratch.movable;
    if movable.is_empty() {
        return Some(false);
    }
    let (base_a, base_b) = (
        p.ready[a] + fixed_a / p.speeds[a],
        p.ready[b] + fixed_b / p.speeds[b],
    );
    let total: f64 = movable.iter().map(|&i| p.work[i]).sum();
    // Integer weights: exact when the work is integral and small enough,
    // otherwise scaled to `SPLIT_TABLE_BITS / tasks` units (between 2^12
    // and 2^20): the finer, the closer the split found is to the best, and
    // the table (units × tasks bits) stays a few milliseconds' work.
    let integral = movable.iter().all(|&i| p.work[i].fract() == 0.0);
    let scale = if integral && total <= (1u64 << 22) as f64 {
        1.0
    } else {
        let units = (SPLIT_TABLE_BITS / movable.len() as u64).clamp(1 << 12, 1 << 20);
        units as f64 / total.max(1e-12)
    };
    scratch.w.clear();
    scratch.w.extend(
        movable
            .iter()
            .map(|&i| (p.work[i] * scale).round() as usize),
    );
    let w = &scratch.w;
    let cap: usize = w.iter().sum();
    let words = cap / 64 + 1;
    let reach = &mut scratch.reach;
    reach.clear();
    reach.resize(words, 0);
    reach[0] = 1;
    if scratch.from.len() < cap + 1 {
        // Zeroed memory is mapped lazily: only the sums reached are touched.
        scratch.from = vec![0; cap + 1];
    }
    let from = &mut scratch.from;
    // 0/1 subset sums: `reach |= reach << wk`, recording each new sum.
    let mut reached = 0usize; // the largest sum reached so far
    for (k, &wk) in w.iter().enumerate() {
        if wk == 0 {
            continue;
        }
        let (q, r) = (wk / 64, (wk % 64) as u32);
        let top = (reached + wk) / 64;
        let mut since_report = 0usize;
        // Downwards, so each word reads its sources before they change.
        for t in (q..=top).rev() {
            let lo = reach[t - q];
            let shifted = if r == 0 {
                lo
            } else {
                let below = if t > q { reach[t - q - 1] } else { 0 };
                (lo << r) | (below >> (64 - r))
            };
            let mut fresh = shifted & !reach[t];
            reach[t] |= shifted;
            while fresh != 0 {
                let bit = fresh.trailing_zeros() as usize;
                from[t * 64 + bit] = k as u32;
                fresh &= fresh - 1;
                since_report += 1;
            }
            since_report += 1;
            if since_report >= SPLIT_CHUNK_WORDS {
                if !meter.work(since_report as u64) {
                    return None;
                }
                since_report = 0;
            }
        }
        if !meter.work(since_report as u64 + 1) {
            return None;
        }
        reached += wk;
    }
    // The later finish time of the pair with sum `s` on `a`: the first
    // term grows with `s`, the second shrinks.
    let on_a = |s: usize| base_a + (s as f64 / scale) / p.speeds[a];
    let on_b = |s: usize| base_b + (total - s as f64 / scale) / p.speeds[b];
    let t = |s: usize| on_a(s).max(on_b(s));
    // The first sum from which `a` finishes no earlier than `b`: below it
    // the best reached sum is the largest, from it on the smallest.
    let (mut lo, mut hi) = (0, cap + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if on_a(mid) >= on_b(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let cross = lo;
    let below = reached_before(reach, cross).map(|mut s| {
        // Of equal times the smallest sum, as a scan from 0 would pick.
        while let Some(prev) = reached_before(reach, s) {
            if t(prev) != t(s) {
                break;
            }
            s = prev;
        }
        s
    });
    let above = reached_from(reach, cross);
    let best = match (below, above) {
        (Some(x), Some(y)) => Some(if t(y) < t(x) { y } else { x }),
        (x, y) => x.or(y),
    };
    let Some(mut s) = best else {
        return Some(false);
    };
    if t(s) >= limit - 1e-9 {
        return Some(false);
    }
    let mut on_a_k = vec![false; movable.len()];
    while s > 0 {
        let k = from[s] as usize;
        on_a_k[k] = true;
        s -= w[k];
    }
    // Check the split with the unscaled work (tasks of zero scaled weight
    // stay on `b`).
    let exact_on_a: f64 = movable
        .iter()
        .zip(&on_a_k)
        .filter(|(_, &x)| x)
        .map(|(&i, _)| p.work[i])
        .sum();
    let new_t =
        (base_a + exact_on_a / p.speeds[a]).max(base_b + (total - exact_on_a) / p.speeds[b]);
    if new_t >= limit - 1e-9 {
        return Some(false);
    }
    for (k, &i) in movable.iter().enumerate() {
        assign[i] = if on_a_k[k] { a } else { b };
    }
    Some(true)
}

/// The largest sum below `s` that `reach` holds.
fn reached_before(reach: &[u64], s: usize) -> Option<usize> {
    if s == 0 {
        return None;
    }
    let last = s - 1;
    let (mut t, bit) = (last / 64, last % 64);
    let mut word = reach[t] & (u64::MAX >> (63 - bit));
    loop {
        if word != 0 {
            return Some(t * 64 + 63 - word.leading_zeros() as usize);
        }
        if t == 0 {
            return None;
        }
        t -= 1;
        word = reach[t];
    }
}

/// The smallest sum at or above `s` that `reach` holds.
fn reached_from(reach: &[u64], s: usize) -> Option<usize> {
    let (mut t, bit) = (s / 64, s % 64);
    if t >= reach.len() {
        return None;
    }
    let mut word = reach[t] & (u64::MAX << bit);
    loop {
        if word != 0 {
            return Some(t * 64 + word.trailing_zeros() as usize);
        }
        t += 1;
        if t >= reach.len() {
            return None;
        }
        word = reach[t];
    }
}
