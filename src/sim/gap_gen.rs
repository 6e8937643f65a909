//! Seeded GAP instances of the three hard families (Chu–Beasley types C
//! and D, Laguna et al.'s type E, as Yagiura, Ibaraki and Glover use them),
//! for sizes the OR-Library files do not cover.
//!
//! Each family draws the capacity use `a(j, i)` and cost `c(j, i)` of every
//! task `i` on every node `j`, then gives node `j` the capacity
//! `b(j) = ⌊0.8 · Σ_i a(j, i) / m⌋`:
//!
//! | type | `a(j, i)` | `c(j, i)` |
//! |---|---|---|
//! | C | uniform 5..=25 | uniform 10..=50 |
//! | D | uniform 1..=100 | `111 − a + e`, `e` uniform −10..=10 |
//! | E | `⌊1 − 10 ln u⌋`, `u` uniform in (0, 1] | `⌊1000 / a − 10 v⌋`, `v` uniform in [0, 1) |
//!
//! Types D and E correlate cost inversely with capacity use, which is what
//! makes them hard; they are minimisation instances (as maximisation they
//! are trivial). The instances are not the published files (the papers'
//! random streams are not reproducible here), but drawn the same way, so
//! their difficulty is comparable; no optimum is known for them, and the
//! report measures against a Lagrangian lower bound instead.

use crate::policy::Gap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;

/// A family of GAP instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum GapFamily {
    /// Type C: uniform use and cost, capacity 80 % of the average use.
    C,
    /// Type D: cost inversely correlated with use, capacity 80 %.
    D,
    /// Type E: exponential use, cost about `1000 / use`, capacity 80 %.
    E,
}

impl GapFamily {
    /// Every family.
    pub const ALL: [GapFamily; 3] = [GapFamily::C, GapFamily::D, GapFamily::E];

    /// Its name in reports: `"C"`, `"D"`, …
    pub fn name(self) -> &'static str {
        match self {
            GapFamily::C => "C",
            GapFamily::D => "D",
            GapFamily::E => "E",
        }
    }
}

impl fmt::Display for GapFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An instance of `family` with `agents` nodes and `items` tasks, from
/// `seed`.
///
/// # Examples
///
/// ```
/// use allot::sim::gap_gen::{generate, GapFamily};
///
/// let g = generate(GapFamily::D, 10, 200, 1);
/// assert_eq!((g.agents(), g.items()), (10, 200));
/// assert_eq!(g, generate(GapFamily::D, 10, 200, 1)); // seeded
/// ```
///
/// # Panics
///
/// If `agents` or `items` is 0.
pub fn generate(family: GapFamily, agents: usize, items: usize, seed: u64) -> Gap {
    assert!(agents > 0 && items > 0, "at least one agent and one item");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cost = vec![0i64; agents * items];
    let mut weight = vec![0i64; agents * items];
    for k in 0..agents * items {
        let (a, c) = match family {
            GapFamily::C => (rng.random_range(5..=25), rng.random_range(10..=50)),
            GapFamily::D => {
                let a: i64 = rng.random_range(1..=100);
                (a, 111 - a + rng.random_range(-10..=10))
            }
            GapFamily::E => {
                // u in (0, 1]: 1 − [0, 1).
                let u = 1.0 - rng.random::<f64>();
                let a = (1.0 - 10.0 * u.ln()).floor() as i64;
                let c = (1000.0 / a as f64 - 10.0 * rng.random::<f64>()).floor() as i64;
                (a, c)
            }
        };
        weight[k] = a;
        cost[k] = c;
    }
    let capacity: Vec<i64> = (0..agents)
        .map(|j| {
            let sum: i64 = weight[j * items..(j + 1) * items].iter().sum();
            (0.8 * sum as f64 / agents as f64).floor() as i64
        })
        .collect();
    Gap::new(agents, items, cost, weight, capacity).expect("generated data is well-formed")
}

/// The sizes (agents, items) of Yagiura et al.'s larger instances: 200 to
/// 1 600 items, 5 to 80 agents.
pub const YAGIURA_SIZES: [(usize, usize); 12] = [
    (5, 200),
    (10, 200),
    (20, 200),
    (10, 400),
    (20, 400),
    (40, 400),
    (15, 900),
    (30, 900),
    (60, 900),
    (20, 1_600),
    (40, 1_600),
    (80, 1_600),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_seeded_and_shaped_as_asked() {
        for family in GapFamily::ALL {
            let g = generate(family, 5, 40, 9);
            assert_eq!((g.agents(), g.items()), (5, 40));
            assert_eq!(g, generate(family, 5, 40, 9), "{family}");
            assert_ne!(g, generate(family, 5, 40, 10), "{family}");
            for j in 0..5 {
                assert!(g.capacity(j) > 0, "{family}");
                for i in 0..40 {
                    assert!(g.weight(j, i) >= 1, "{family}");
                }
            }
        }
    }

    #[test]
    fn type_d_costs_fall_as_use_rises() {
        let g = generate(GapFamily::D, 4, 300, 3);
        for j in 0..4 {
            for i in 0..300 {
                let (a, c) = (g.weight(j, i), g.cost(j, i));
                assert!((1..=100).contains(&a));
                assert!((111 - a - 10..=111 - a + 10).contains(&c));
            }
        }
    }
}
