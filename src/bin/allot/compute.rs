//! How much of the real work a workload task does
//! ([`matrix_products`](crate::kinds::matrix_products): small dense matrix
//! products, the inner loop of a linear layer) its cost asks for.
//!
//! A task's cost is in seconds on a node of speed 1.0. [`Work::calibrate`]
//! measures how many products this machine does per second on one thread, in
//! this build, so that a task of cost `c` computes for about `c` seconds
//! whatever the optimisation level.

use crate::kinds::matrix_products;
use std::time::{Duration, Instant};

/// How much compute one unit of cost is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Work {
    /// Matrix products per second of cost.
    pub(crate) products_per_second: f64,
}

impl Work {
    /// Measures this machine for about `budget`.
    pub(crate) fn calibrate(budget: Duration) -> Work {
        // Warm up, then double the batch until it takes a measurable time.
        matrix_products(8, 1, || {});
        let mut products = 8u64;
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < budget {
            matrix_products(products, 2, || {});
            done += products;
            products = (products * 2).min(1 << 16);
        }
        let secs = start.elapsed().as_secs_f64().max(1e-6);
        Work {
            products_per_second: (done as f64 / secs).max(1.0),
        }
    }

    /// Products for a task of cost `cost` (seconds on a speed-1.0 node).
    /// The runtime runs its fastest node, of speed `fastest`, at this
    /// machine's pace and holds slower nodes' slots idle in proportion, so
    /// the work is sized for the fastest node: `cost / fastest` seconds
    /// here.
    pub(crate) fn products(&self, cost: f64, fastest: f64) -> u64 {
        (cost * self.products_per_second / fastest.max(1e-9)).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_proportional_to_cost_and_sized_for_the_fastest_node() {
        let w = Work {
            products_per_second: 1000.0,
        };
        assert_eq!(w.products(0.5, 1.0), 500);
        // All nodes at half speed: the fastest runs at this machine's pace,
        // so a cost of 0.5 s at speed 1.0 is 1 s of work here.
        assert_eq!(w.products(0.5, 0.5), 1000);
        assert_eq!(w.products(0.5, 2.0), 250);
        assert_eq!(w.products(0.0, 1.0), 0);
    }
}
