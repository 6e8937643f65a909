//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

use allot::{BalancerConfig, Builder, NodeSpec, Resources, Runtime};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

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

/// A gate that tasks wait on until the test opens it.
#[derive(Clone)]
pub struct Gate {
    tx: Arc<parking_lot::Mutex<Option<Sender<()>>>>,
    rx: Receiver<()>,
}

impl Gate {
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Gate {
            tx: Arc::new(parking_lot::Mutex::new(Some(tx))),
            rx,
        }
    }

    /// Lets every waiter through, now and later.
    pub fn open(&self) {
        self.tx.lock().take();
    }

    /// Blocks until the gate opens; panics after [`DEADLINE`].
    pub fn wait(&self) {
        match self.rx.recv_timeout(DEADLINE) {
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {}
            other => panic!("gate never opened: {other:?}"),
        }
    }

    /// Blocks until the gate opens or `d` passes; whether it opened.
    pub fn wait_up_to(&self, d: Duration) -> bool {
        matches!(
            self.rx.recv_timeout(d),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }
}

/// A one-shot signal from a task to the test.
pub fn signal() -> (Sender<()>, Receiver<()>) {
    crossbeam_channel::unbounded()
}

/// Waits for a signal or panics after [`DEADLINE`].
pub fn expect(rx: &Receiver<()>, what: &str) {
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Polls `cond` until it holds, yielding between looks; panics after [`DEADLINE`].
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
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
