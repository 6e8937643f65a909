//! The real work a workload task does: small dense matrix products (the inner
//! loop of a linear layer), as many as its cost asks for.
//!
//! A task's cost is in seconds on a node of speed 1.0. [`Work::calibrate`]
//! measures how many products this machine does per second on one thread, in
//! this build, so that a task of cost `c` computes for about `c` seconds
//! whatever the optimisation level.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Side of the square matrices multiplied.
pub(crate) const MATRIX: usize = 16;

type Matrix = [[f32; MATRIX]; MATRIX];

/// How much compute one unit of cost is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Work {
    /// Matrix products per second of cost.
    pub(crate) products_per_second: f64,
}

fn seed_matrix(salt: u64) -> Matrix {
    let mut m = [[0.0f32; MATRIX]; MATRIX];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            // Small values in [-0.5, 0.5): products stay finite.
            let h = (i as u64 * 31 + j as u64 * 17 + salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            *v = ((h >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
        }
    }
    m
}

/// `out = tanh-ish(a · b)`: one dense layer with a cheap activation.
fn layer(a: &Matrix, b: &Matrix, out: &mut Matrix) {
    for i in 0..MATRIX {
        for j in 0..MATRIX {
            let mut acc = 0.0f32;
            for k in 0..MATRIX {
                acc += a[i][k] * b[k][j];
            }
            out[i][j] = acc / (1.0 + acc.abs());
        }
    }
}

/// Runs `products` matrix products, calling `tick` every 64 of them (for
/// heartbeats); returns a checksum so the work cannot be optimised away.
pub(crate) fn run(products: u64, salt: u64, mut tick: impl FnMut()) -> f32 {
    let w = seed_matrix(salt);
    let mut x = seed_matrix(salt ^ 0xABCD);
    let mut y = [[0.0f32; MATRIX]; MATRIX];
    for p in 0..products {
        layer(black_box(&x), &w, &mut y);
        std::mem::swap(&mut x, &mut y);
        if p % 64 == 63 {
            tick();
        }
    }
    black_box(x[0][0])
}

impl Work {
    /// Measures this machine for about `budget`.
    pub(crate) fn calibrate(budget: Duration) -> Work {
        // Warm up, then double the batch until it takes a measurable time.
        run(8, 1, || {});
        let mut products = 8u64;
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < budget {
            run(products, 2, || {});
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

    #[test]
    fn the_product_is_deterministic_and_finite() {
        let a = run(10, 7, || {});
        assert_eq!(a, run(10, 7, || {}));
        assert!(a.is_finite());
    }
}
