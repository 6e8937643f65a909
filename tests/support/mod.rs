//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

mod blocker;
pub mod chromedriver;
mod hooks;
mod nats;

// Each test crate uses a few of these.
#[allow(unused_imports)]
pub use blocker::{Blocker, Gate, Hold};
#[allow(unused_imports)]
pub use hooks::{supervisor_events, ExecutorCount};
#[allow(unused_imports)]
pub use nats::NatsServer;

use allot::{BalancerConfig, Builder, NodeSpec, Resources, Runtime, SupervisionConfig};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Longest any test waits for an effect before failing.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A builder with `n` plain one-slot nodes and the balancer off.
pub fn builder(n: usize) -> Builder {
    let mut b = Runtime::builder();
    b.nodes(vec![NodeSpec::new(Resources::cpu(4_000)); n])
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        })
        .heartbeat_interval(Duration::from_millis(10));
    b
}

/// Supervision that restarts a failed node after 1 to 5 ms instead of the
/// default backoff, every other setting at its default: tests wait for
/// restarts without waiting out real backoffs.
pub fn fast_restarts() -> SupervisionConfig {
    SupervisionConfig {
        backoff_min: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        ..SupervisionConfig::default()
    }
}

/// A one-shot signal from a task to the test.
pub fn signal() -> (Sender<()>, Receiver<()>) {
    crossbeam_channel::unbounded()
}

/// Receives the next message: a signal, an event a hook forwards.
///
/// # Panics
///
/// If nothing comes within [`DEADLINE`], or every sender is gone; `what`
/// names the message.
pub fn expect<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("waiting for {what}, but every sender is gone")
        }
    }
}

/// Receives `n` messages, all within one [`DEADLINE`], in arrival order.
///
/// # Panics
///
/// If the `n` messages have not all come by the deadline, or every sender
/// is gone first; the message says which of them was missing and names
/// them by `what`.
pub fn expect_each<T>(rx: &Receiver<T>, n: usize, what: &str) -> Vec<T> {
    let deadline = Instant::now() + DEADLINE;
    (0..n)
        .map(|k| {
            let left = deadline.saturating_duration_since(Instant::now());
            rx.recv_timeout(left)
                .unwrap_or_else(|e| panic!("{what} {k} of {n}: {e}"))
        })
        .collect()
}

/// Polls `cond` until it holds, yielding between looks; panics after [`DEADLINE`].
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// Real compute for about `d`: the same work time in debug and release
/// builds, for tests that need runs longer than the runtime's own pace
/// (balancer rounds, speed throttling).
#[allow(dead_code)]
pub fn compute_for(d: std::time::Duration) -> f64 {
    let start = std::time::Instant::now();
    let mut acc = 0.0;
    while start.elapsed() < d {
        acc += busy_work(1);
    }
    acc
}

/// Real compute standing for a small model step: a few matrix-vector products.
pub fn busy_work(rounds: usize) -> f64 {
    let n = 32;
    let m: Vec<f64> = (0..n * n).map(|i| ((i * 7) % 13) as f64 / 13.0).collect();
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
    for _ in 0..rounds {
        let mut out = vec![0.0; n];
        for r in 0..n {
            out[r] = (0..n).map(|c| m[r * n + c] * v[c]).sum::<f64>();
        }
        let norm = out.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v = out.into_iter().map(|x| x / norm).collect();
    }
    v[0]
}
