//! Seeded P‖Cmax instance families, and the classic lower bound.

use crate::policy::Makespan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;

/// A family of processing-time distributions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Uniform integers in 1..=100.
    Uniform,
    /// Half in 1..=20, half in 80..=100.
    Bimodal,
    /// One task in 20 (at least one) in 500..=1000, the rest in 1..=10.
    ManySmallFewLarge,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 3] = [Family::Uniform, Family::Bimodal, Family::ManySmallFewLarge];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Uniform => "uniform",
            Family::Bimodal => "bimodal",
            Family::ManySmallFewLarge => "many-small-few-large",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One generated instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Its family.
    pub family: Family,
    /// Number of identical nodes.
    pub nodes: usize,
    /// Its seed.
    pub seed: u64,
    /// Processing time of each task.
    pub work: Vec<u64>,
}

impl Instance {
    /// The instance as a [`Makespan`] problem.
    pub fn problem(&self) -> Makespan {
        Makespan::identical(self.work.iter().map(|&p| p as f64).collect(), self.nodes)
    }

    /// [`lower_bound`] of the instance.
    pub fn lower_bound(&self) -> u64 {
        lower_bound(&self.work, self.nodes)
    }
}

/// `tasks` processing times of `family`, from `seed`.
pub fn generate(family: Family, tasks: usize, seed: u64) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    match family {
        Family::Uniform => (0..tasks).map(|_| rng.random_range(1..=100)).collect(),
        Family::Bimodal => (0..tasks)
            .map(|_| {
                if rng.random_bool(0.5) {
                    rng.random_range(1..=20)
                } else {
                    rng.random_range(80..=100)
                }
            })
            .collect(),
        Family::ManySmallFewLarge => {
            let large = (tasks / 20).max(1).min(tasks);
            let mut v: Vec<u64> = (0..tasks)
                .map(|k| {
                    if k < large {
                        rng.random_range(500..=1000)
                    } else {
                        rng.random_range(1..=10)
                    }
                })
                .collect();
            // Spread the large ones through the list.
            for k in (1..v.len()).rev() {
                let j = rng.random_range(0..=k);
                v.swap(k, j);
            }
            v
        }
    }
}

/// `max(⌈Σp / m⌉, p_max, p_m + p_(m+1))`, with `p` in decreasing order
/// (the last term only when there are more than `m` tasks): no schedule on
/// `nodes` identical nodes finishes earlier.
///
/// # Panics
///
/// If `nodes` is 0.
pub fn lower_bound(work: &[u64], nodes: usize) -> u64 {
    assert!(nodes > 0, "at least one node");
    let sum: u64 = work.iter().sum();
    let mut lb = sum.div_ceil(nodes as u64);
    let mut p = work.to_vec();
    p.sort_unstable_by(|a, b| b.cmp(a));
    if let Some(&max) = p.first() {
        lb = lb.max(max);
    }
    if p.len() > nodes {
        lb = lb.max(p[nodes - 1] + p[nodes]);
    }
    lb
}

/// Task counts of the standard suite.
pub const SUITE_TASKS: [usize; 7] = [10, 20, 50, 100, 200, 500, 1000];
/// Node counts of the standard suite.
pub const SUITE_NODES: [usize; 6] = [2, 4, 8, 16, 32, 64];

/// The standard suite: every family × task count × node count (fewer
/// nodes than tasks) × `seeds` seeds (1, 2, …), with fixed seeds.
pub fn suite(seeds: u64) -> Vec<Instance> {
    let mut out = Vec::new();
    for family in Family::ALL {
        for &n in &SUITE_TASKS {
            for &m in SUITE_NODES.iter().filter(|&&m| m < n) {
                for s in 1..=seeds {
                    let seed = s * 1_000_003 + (n as u64) * 101 + m as u64;
                    out.push(Instance {
                        family,
                        nodes: m,
                        seed,
                        work: generate(family, n, seed),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_takes_the_largest_of_its_three_terms() {
        assert_eq!(lower_bound(&[3, 3, 2, 2, 2], 2), 6);
        assert_eq!(lower_bound(&[10, 1, 1], 2), 10);
        assert_eq!(lower_bound(&[5, 5, 5], 2), 10);
        assert_eq!(
            generate(Family::Bimodal, 50, 7),
            generate(Family::Bimodal, 50, 7)
        );
    }
}
