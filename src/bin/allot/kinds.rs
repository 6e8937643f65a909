//! The built-in named task kinds: what `allot worker` serves and what
//! `allot run --nats` submits.
//!
//! | name            | arguments                                              | result      |
//! |-----------------|--------------------------------------------------------|-------------|
//! | `allot.noop`    | `()`                                                   | `()`        |
//! | `allot.sleep`   | [`SleepArgs`] `{ ms }`                                 | attempt, `u64` |
//! | `allot.compute` | [`ComputeArgs`] `{ index, products, error_rate, seed }` | attempt, `u32` |
//! | `allot.fail`    | `String`                                               | always that error |
//! | `allot.panic`   | `String`                                               | panics with it |
//! | `allot.echo`    | `Vec<u8>`                                              | the same bytes |
//!
//! Both sides of a cluster build the registry from this file, so it
//! depends only on allot's public API, serde and std: integration tests
//! include it as it is (`#[path = "../src/bin/allot/kinds.rs"] mod kinds;`).
//! The calibrated work of `allot run` (dense matrix products and a seeded
//! chance of failing) lives here for the same reason: a local task and a
//! remote `allot.compute` run the very same code.

use allot::{NamedFn, Registry, TaskContext};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Does nothing: `()` -> `()`.
pub(crate) const NOOP: &str = "allot.noop";
/// Sleeps, watching for abandonment: [`SleepArgs`] -> the attempt.
pub(crate) const SLEEP: &str = "allot.sleep";
/// `allot run`'s calibrated work: [`ComputeArgs`] -> the attempt.
pub(crate) const COMPUTE: &str = "allot.compute";
/// Fails with the message given: `String` -> `()`.
pub(crate) const FAIL: &str = "allot.fail";
/// Panics with the message given: `String` -> `()`.
pub(crate) const PANIC: &str = "allot.panic";
/// Returns its argument: `Vec<u8>` -> `Vec<u8>` (payload-size benches).
pub(crate) const ECHO: &str = "allot.echo";

/// The arguments of `allot.sleep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SleepArgs {
    /// How long to sleep, in milliseconds.
    pub(crate) ms: u64,
}

/// The arguments of `allot.compute`: one task of an `allot run` workload.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ComputeArgs {
    /// The task's index in the run: salts the matrices and the chance.
    pub(crate) index: u64,
    /// Matrix products to compute (the coordinator sizes them from the
    /// task's cost).
    pub(crate) products: u64,
    /// Probability that an attempt ends with its own error.
    pub(crate) error_rate: f64,
    /// The run's seed, for the chance of an error.
    pub(crate) seed: u64,
}

/// The built-in functions, typed: what builds their tasks.
///
/// `allot run` submits only `compute`; the others are for the programs
/// that include this file (tests, benches) and for workers' callers.
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub(crate) struct Builtins {
    /// `allot.noop`.
    pub(crate) noop: NamedFn<(), ()>,
    /// `allot.sleep`.
    pub(crate) sleep: NamedFn<SleepArgs, u64>,
    /// `allot.compute`.
    pub(crate) compute: NamedFn<ComputeArgs, u32>,
    /// `allot.fail`.
    pub(crate) fail: NamedFn<String, ()>,
    /// `allot.panic`.
    pub(crate) panic: NamedFn<String, ()>,
    /// `allot.echo`.
    pub(crate) echo: NamedFn<Vec<u8>, Vec<u8>>,
}

/// A registry of the built-in kinds, and their typed handles. Every
/// process builds its own from this same code.
pub(crate) fn builtins() -> (Registry, Builtins) {
    let mut r = Registry::new();
    // Fixed, well-formed, distinct names in a fresh registry: registering
    // cannot fail (a unit test registers them all).
    let taken = "a fresh registry takes every built-in name";
    let noop = r
        .register(NOOP, |_ctx, (): ()| Ok::<(), Infallible>(()))
        .expect(taken);
    let sleep = r.register(SLEEP, sleep).expect(taken);
    let compute = r.register(COMPUTE, compute).expect(taken);
    let fail = r
        .register(FAIL, |_ctx, message: String| Err::<(), String>(message))
        .expect(taken);
    let panic = r
        .register(PANIC, |_ctx, message: String| -> Result<(), Infallible> {
            panic!("{message}")
        })
        .expect(taken);
    let echo = r
        .register(ECHO, |_ctx, bytes: Vec<u8>| Ok::<_, Infallible>(bytes))
        .expect(taken);
    let fns = Builtins {
        noop,
        sleep,
        compute,
        fail,
        panic,
        echo,
    };
    (r, fns)
}

/// `allot.sleep`: sleeps `ms` in pieces of at most 1 ms, with a heartbeat
/// after each, and stops early once the attempt is abandoned (cancelled or
/// timed out: how a worker sees it).
///
/// # Errors
///
/// `"abandoned"` when the attempt was abandoned before the time was up.
fn sleep(ctx: &TaskContext<'_>, args: SleepArgs) -> Result<u64, String> {
    let end = Instant::now().checked_add(Duration::from_millis(args.ms));
    loop {
        if ctx.is_abandoned() {
            return Err("abandoned".to_owned());
        }
        let left = match end {
            Some(end) => end.saturating_duration_since(Instant::now()),
            // Past the clock's range: until abandoned.
            None => Duration::MAX,
        };
        if left.is_zero() {
            return Ok(u64::from(ctx.attempt()));
        }
        std::thread::sleep(left.min(Duration::from_millis(1)));
        ctx.heartbeat();
    }
}

/// `allot.compute`: `products` matrix products salted by `index`, with a
/// heartbeat every 64, then a seeded chance `error_rate` of failing
/// (drawn from the seed, the index and the attempt, so a run is
/// reproducible whatever the interleaving).
///
/// # Errors
///
/// A "simulated model error" when the chance draws one.
pub(crate) fn compute(ctx: &TaskContext<'_>, args: ComputeArgs) -> Result<u32, String> {
    matrix_products(args.products, args.index, || ctx.heartbeat());
    let attempt = ctx.attempt();
    if args.error_rate > 0.0 && chance(args.seed, args.index, u64::from(attempt), args.error_rate) {
        return Err(format!(
            "simulated model error (task {}, attempt {attempt}, error_rate {})",
            args.index, args.error_rate
        ));
    }
    Ok(attempt)
}

/// Side of the square matrices multiplied.
pub(crate) const MATRIX: usize = 16;

type Matrix = [[f32; MATRIX]; MATRIX];

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

/// Runs `products` dense matrix products (the inner loop of a linear
/// layer), calling `tick` every 64 of them (for heartbeats); returns a
/// checksum so the work cannot be optimised away.
pub(crate) fn matrix_products(products: u64, salt: u64, mut tick: impl FnMut()) -> f32 {
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

/// splitmix64 of the inputs: seeded decisions that do not depend on thread
/// interleaving.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether the seeded draw for `(seed, a, b)` falls under probability `p`.
pub(crate) fn chance(seed: u64, a: u64, b: u64, p: f64) -> bool {
    ((mix(seed, a, b) >> 11) as f64 / (1u64 << 53) as f64) < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use allot::{NodeSpec, Resources, Runtime, RuntimeHandle, Task, TaskError, TaskHandle};

    #[test]
    fn seeded_chances_are_stable_and_near_their_probability() {
        let hits = (0..10_000).filter(|&i| chance(3, i, 0, 0.1)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert_eq!(chance(3, 5, 1, 0.5), chance(3, 5, 1, 0.5));
    }

    #[test]
    fn the_product_is_deterministic_and_finite() {
        let a = matrix_products(10, 7, || {});
        assert_eq!(a, matrix_products(10, 7, || {}));
        assert!(a.is_finite());
    }

    #[test]
    fn every_builtin_is_registered_under_its_name() {
        let (r, b) = builtins();
        let mut names: Vec<&str> = r.names().collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [COMPUTE, ECHO, FAIL, NOOP, PANIC, SLEEP],
            "the guide's table lists these"
        );
        assert_eq!(b.compute.name(), COMPUTE);
        assert_eq!(b.sleep.name(), SLEEP);
    }

    #[test]
    fn the_builtins_run_as_named_tasks_on_local_nodes() {
        let (_, b) = builtins();
        let rt = Runtime::builder()
            .nodes(vec![NodeSpec::new(Resources::cpu(1_000)).slots(2)])
            .build()
            .unwrap();
        let h = rt.handle();
        fn sub<T: Send + 'static>(h: &RuntimeHandle, t: Task<T>) -> TaskHandle<T> {
            h.submit(t).unwrap()
        }
        sub(h, b.noop.task(&()).unwrap()).wait().unwrap();
        let bytes = vec![7u8; 1000];
        assert_eq!(sub(h, b.echo.task(&bytes).unwrap()).wait().unwrap(), bytes);
        assert_eq!(
            sub(h, b.sleep.task(&SleepArgs { ms: 3 }).unwrap())
                .wait()
                .unwrap(),
            0
        );
        let args = ComputeArgs {
            index: 1,
            products: 100,
            error_rate: 0.0,
            seed: 1,
        };
        assert_eq!(sub(h, b.compute.task(&args).unwrap()).wait().unwrap(), 0);
        let always = ComputeArgs {
            error_rate: 1.0,
            ..args
        };
        let e = sub(h, b.compute.task(&always).unwrap().max_retries(0))
            .wait()
            .unwrap_err();
        assert!(e.to_string().contains("simulated model error"), "{e}");
        let e = sub(
            h,
            b.fail.task(&"no luck".to_owned()).unwrap().max_retries(0),
        )
        .wait()
        .unwrap_err();
        assert!(matches!(e, TaskError::Failed { .. }));
        assert!(e.to_string().contains("no luck"), "{e}");
        rt.shutdown();
    }

    #[test]
    fn a_sleep_stops_soon_after_its_attempt_is_abandoned() {
        let (_, b) = builtins();
        let rt = Runtime::builder()
            .nodes(vec![NodeSpec::new(Resources::cpu(1_000))])
            .build()
            .unwrap();
        let h = rt
            .handle()
            .submit(
                b.sleep
                    .task(&SleepArgs { ms: 600_000 })
                    .unwrap()
                    .timeout(Duration::from_millis(20))
                    .max_retries(0),
            )
            .unwrap();
        assert!(h.wait().is_err(), "it timed out");
        // The runtime let go of the attempt (and replaced its executor);
        // the sleep sees it and returns, well before its ten minutes.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !rt.handle().metrics().abandoned.is_empty() {
            assert!(Instant::now() < deadline, "the sleep went on");
            std::thread::sleep(Duration::from_millis(5));
        }
        rt.shutdown();
    }
}
