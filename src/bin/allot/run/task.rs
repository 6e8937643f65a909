//! What each task of a workload runs: calibrated work, and a seeded chance
//! of failing with its own error.

use crate::compute::{self, Work};
use crate::workload::model::KindSpec;
use allot::Task;
use std::sync::Arc;
use std::time::Instant;

/// What a workload task returns.
#[derive(Debug)]
pub(super) struct Done {
    pub(super) at: Instant,
    pub(super) attempt: u32,
}

/// What every task closure shares.
#[derive(Debug)]
pub(super) struct TaskEnv {
    pub(super) work: Work,
    /// The fastest nominal node speed (the one that runs at this machine's pace).
    pub(super) fastest: f64,
    pub(super) seed: u64,
}

/// splitmix64 of the inputs: seeded decisions that do not depend on thread
/// interleaving.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn chance(seed: u64, a: u64, b: u64, p: f64) -> bool {
    ((mix(seed, a, b) >> 11) as f64 / (1u64 << 53) as f64) < p
}

pub(super) fn make_task(env: &Arc<TaskEnv>, kind: &KindSpec, index: u64, cost: f64) -> Task<Done> {
    let env = Arc::clone(env);
    let error_rate = kind.error_rate;
    Task::with_spec(kind.spec(cost), move |ctx| {
        let products = env.work.products(cost, env.fastest);
        compute::run(products, index, || ctx.heartbeat());
        if error_rate > 0.0 && chance(env.seed, index, u64::from(ctx.attempt()), error_rate) {
            return Err(format!(
                "simulated model error (task {index}, attempt {}, error_rate {error_rate})",
                ctx.attempt()
            ));
        }
        Ok(Done {
            at: Instant::now(),
            attempt: ctx.attempt(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_chances_are_stable_and_near_their_probability() {
        let hits = (0..10_000).filter(|&i| chance(3, i, 0, 0.1)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert_eq!(chance(3, 5, 1, 0.5), chance(3, 5, 1, 0.5));
    }
}
