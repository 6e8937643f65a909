//! The measured cases of `allot bench`, shared with `benches/throughput.rs`
//! and `examples/throughput.rs` (which include this file with `#[path]`):
//! allot's paths and their baselines. Throughput cases return the wall time
//! for `n` messages or tasks; latency cases return one round trip.
//!
//! Only allot, actix, crossbeam-channel, tokio and rayon may be used here:
//! they are dependencies of every target that includes this file.

use allot::{BalancerConfig, NodeId, NodeSpec, Resources, Runtime, RuntimeHandle, Task};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU time used so far by every live thread of this process, in
/// nanoseconds (`/proc/self/task/*/schedstat`; 0 where there is none).
/// The bench's threads live for the whole measurement, so the difference
/// across a case is the process's CPU for it, all threads counted.
pub(crate) fn process_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| {
            std::fs::read_to_string(e.path().join("schedstat"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Unrelated CPU work for a whole measurement: `n` processes that spin
/// (`sh` looping), stopped when dropped. The same for every case.
pub(crate) struct Busy(Vec<std::process::Child>);

impl Busy {
    /// Starts `n` spinning processes.
    ///
    /// # Errors
    ///
    /// When `sh` cannot be started.
    pub(crate) fn start(n: usize) -> std::io::Result<Busy> {
        let mut out = Busy(Vec::with_capacity(n));
        for _ in 0..n {
            out.0.push(
                std::process::Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(std::process::Stdio::null())
                    .spawn()?,
            );
        }
        Ok(out)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An allot runtime sized for throughput runs: `nodes` one-slot nodes, the
/// balancer off (it would only add noise to a no-op flood).
pub(crate) fn allot_runtime(nodes: usize) -> Runtime {
    Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(4_000)); nodes])
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        })
        .build()
        .expect("runtime starts")
}

fn noop() -> Task<()> {
    Task::new(|_| Ok::<_, std::convert::Infallible>(())).cost(0.0)
}

/// Fire-and-forget into one node's mailbox: `n` no-op tasks pushed to node 0
/// in batches of `batch` without handles (1 = one message at a time, each
/// with its handle, dropped); ends when the node has run them all.
pub(crate) fn allot_mailbox(rt: &RuntimeHandle, n: usize, batch: usize) -> Duration {
    let start = Instant::now();
    let mut left = n - 1;
    while left > 0 {
        let k = batch.min(left);
        left -= k;
        if k == 1 {
            drop(rt.submit_to(NodeId(0), noop()).expect("accepted"));
        } else {
            rt.submit_batch_detached_to(NodeId(0), (0..k).map(|_| noop()))
                .expect("accepted");
        }
    }
    // One slot, FIFO: the last task ends after every other.
    rt.submit_to(NodeId(0), noop())
        .expect("accepted")
        .wait()
        .expect("no-op succeeds");
    start.elapsed()
}

/// As [`allot_mailbox`] with batches, keeping every batch's handles (and
/// dropping them): what the vector of handles costs.
pub(crate) fn allot_mailbox_handles(rt: &RuntimeHandle, n: usize, batch: usize) -> Duration {
    let start = Instant::now();
    let mut last = None;
    let mut left = n;
    while left > 0 {
        let k = batch.min(left);
        left -= k;
        let mut hs = rt
            .submit_batch_to(NodeId(0), (0..k).map(|_| noop()))
            .expect("accepted");
        last = hs.pop();
    }
    last.expect("at least one task")
        .wait()
        .expect("no-op succeeds");
    start.elapsed()
}

/// End to end: `n` no-op tasks through the supervisor and policy in batches
/// of `batch` (their handles appended to one vector), then every result
/// received.
pub(crate) fn allot_e2e(rt: &RuntimeHandle, n: usize, batch: usize) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let k = batch.min(left);
        left -= k;
        rt.submit_batch_into((0..k).map(|_| noop()), &mut handles)
            .expect("accepted");
    }
    for h in handles {
        h.wait().expect("no-op succeeds");
    }
    start.elapsed()
}

/// End to end, one at a time: `n` no-op tasks each submitted on its own
/// through the policy (`submit`, handles kept), then every result received:
/// what `tokio::spawn` + await and rayon's `scope.spawn` do per task.
pub(crate) fn allot_e2e_single(rt: &RuntimeHandle, n: usize) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(rt.submit(noop()).expect("accepted"));
    }
    for h in handles {
        h.wait().expect("no-op succeeds");
    }
    start.elapsed()
}

/// Request/response: one no-op task submitted through the policy, then its
/// result awaited.
pub(crate) fn allot_round_trip(rt: &RuntimeHandle) -> Duration {
    let start = Instant::now();
    rt.submit(noop())
        .expect("accepted")
        .wait()
        .expect("no-op succeeds");
    start.elapsed()
}

/// Raw actix: an actor on its own arbiter counting `do_send` messages and
/// answering `send` requests.
pub(crate) struct ActixBaseline {
    addr: actix::Addr<Counter>,
    done: crossbeam_channel::Receiver<()>,
    target: Arc<AtomicUsize>,
    system: actix::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub(crate) struct Counter {
    seen: usize,
    target: Arc<AtomicUsize>,
    done: crossbeam_channel::Sender<()>,
}

impl actix::Actor for Counter {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // `send` waits while the mailbox is full (16 by default); a caller
        // with thousands of requests in flight would raise it too.
        ctx.set_mailbox_capacity(1 << 20);
    }
}

/// A fire-and-forget message, counted.
pub(crate) struct Ping;

impl actix::Message for Ping {
    type Result = ();
}

impl actix::Handler<Ping> for Counter {
    type Result = ();

    fn handle(&mut self, _msg: Ping, _ctx: &mut Self::Context) {
        self.seen += 1;
        if self.seen == self.target.load(Ordering::Relaxed) {
            self.seen = 0;
            let _ = self.done.send(());
        }
    }
}

/// A request answered with its own number.
pub(crate) struct Echo(u64);

impl actix::Message for Echo {
    type Result = u64;
}

impl actix::Handler<Echo> for Counter {
    type Result = u64;

    fn handle(&mut self, msg: Echo, _ctx: &mut Self::Context) -> u64 {
        msg.0
    }
}

impl ActixBaseline {
    pub(crate) fn start() -> Self {
        use actix::Actor;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            let system = actix::System::new();
            let (done_tx, done_rx) = crossbeam_channel::unbounded();
            let target = Arc::new(AtomicUsize::new(usize::MAX));
            let t2 = Arc::clone(&target);
            let arbiter = actix::Arbiter::new();
            let addr = Counter::start_in_arbiter(&arbiter.handle(), move |_| Counter {
                seen: 0,
                target: t2,
                done: done_tx,
            });
            let _ = tx.send((addr, done_rx, target, actix::System::current()));
            let _ = system.run();
            arbiter.stop();
            let _ = arbiter.join();
        });
        let (addr, done, target, system) = rx.recv().expect("actix baseline starts");
        ActixBaseline {
            addr,
            done,
            target,
            system,
            thread: Some(thread),
        }
    }

    /// `n` fire-and-forget messages, until the actor has handled them all.
    pub(crate) fn do_send(&self, n: usize) -> Duration {
        self.target.store(n, Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..n {
            self.addr.do_send(Ping);
        }
        self.done.recv().expect("counter reports");
        start.elapsed()
    }

    /// `n` requests with `send`, then every answer awaited (on `rt`, a
    /// future executor the actor does not run on).
    pub(crate) fn send_all(&self, rt: &tokio::runtime::Runtime, n: usize) -> Duration {
        let start = Instant::now();
        rt.block_on(async {
            let answers: Vec<_> = (0..n as u64).map(|i| self.addr.send(Echo(i))).collect();
            for a in answers {
                std::hint::black_box(a.await.expect("actor alive"));
            }
        });
        start.elapsed()
    }

    /// One request with `send`, its answer awaited.
    pub(crate) fn round_trip(&self, rt: &tokio::runtime::Runtime) -> Duration {
        let start = Instant::now();
        let answer = rt.block_on(self.addr.send(Echo(1))).expect("actor alive");
        std::hint::black_box(answer);
        start.elapsed()
    }
}

impl Drop for ActixBaseline {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// crossbeam-channel: `n` messages to a consumer thread that counts them.
pub(crate) fn crossbeam(n: usize) -> Duration {
    let (tx, rx) = crossbeam_channel::unbounded::<u64>();
    let consumer = std::thread::spawn(move || {
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(rx.recv().expect("producer alive"));
        }
        sum
    });
    let start = Instant::now();
    for i in 0..n as u64 {
        tx.send(i).expect("consumer alive");
    }
    std::hint::black_box(consumer.join().expect("consumer ends"));
    start.elapsed()
}

/// crossbeam-channel as a task pool: worker threads take requests from one
/// channel and answer on another.
pub(crate) struct CrossbeamPool {
    requests: Option<crossbeam_channel::Sender<u64>>,
    answers: crossbeam_channel::Receiver<u64>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl CrossbeamPool {
    pub(crate) fn start(workers: usize) -> Self {
        let (req_tx, req_rx) = crossbeam_channel::unbounded::<u64>();
        let (ans_tx, ans_rx) = crossbeam_channel::unbounded::<u64>();
        let workers = (0..workers.max(1))
            .map(|_| {
                let (rx, tx) = (req_rx.clone(), ans_tx.clone());
                std::thread::spawn(move || {
                    for r in rx {
                        if tx.send(r).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        CrossbeamPool {
            requests: Some(req_tx),
            answers: ans_rx,
            workers,
        }
    }

    fn send(&self, r: u64) {
        self.requests
            .as_ref()
            .expect("pool running")
            .send(r)
            .expect("workers alive");
    }

    /// `n` requests, then every answer received.
    pub(crate) fn all(&self, n: usize) -> Duration {
        let start = Instant::now();
        for i in 0..n as u64 {
            self.send(i);
        }
        for _ in 0..n {
            std::hint::black_box(self.answers.recv().expect("workers alive"));
        }
        start.elapsed()
    }

    /// One request, its answer received.
    pub(crate) fn round_trip(&self) -> Duration {
        let start = Instant::now();
        self.send(1);
        std::hint::black_box(self.answers.recv().expect("workers alive"));
        start.elapsed()
    }
}

impl Drop for CrossbeamPool {
    fn drop(&mut self) {
        self.requests.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// tokio: spawn `n` no-op tasks on a multi-thread runtime and await each.
pub(crate) fn tokio_spawn(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        let hs: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
        for h in hs {
            h.await.expect("no-op succeeds");
        }
    });
    start.elapsed()
}

/// tokio, fire-and-forget: `n` detached no-op tasks; the last to run says so.
pub(crate) fn tokio_spawn_detached(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    let left = Arc::new(AtomicUsize::new(n));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let start = Instant::now();
    for _ in 0..n {
        let (left, tx) = (Arc::clone(&left), tx.clone());
        rt.spawn(async move {
            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = tx.send(());
            }
        });
    }
    rx.recv().expect("the last task reports");
    start.elapsed()
}

/// tokio: one no-op task spawned and awaited.
pub(crate) fn tokio_round_trip(rt: &tokio::runtime::Runtime) -> Duration {
    let start = Instant::now();
    rt.block_on(rt.spawn(async {})).expect("no-op succeeds");
    start.elapsed()
}

/// rayon: `n` no-op `scope.spawn`s; the scope waits for all.
pub(crate) fn rayon_spawn(pool: &rayon::ThreadPool, n: usize) -> Duration {
    let start = Instant::now();
    pool.scope(|s| {
        for _ in 0..n {
            s.spawn(|_| {});
        }
    });
    start.elapsed()
}

/// rayon, fire-and-forget: `n` detached `pool.spawn`s; the last to run says so.
pub(crate) fn rayon_spawn_detached(pool: &rayon::ThreadPool, n: usize) -> Duration {
    let left = Arc::new(AtomicUsize::new(n));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let start = Instant::now();
    for _ in 0..n {
        let (left, tx) = (Arc::clone(&left), tx.clone());
        pool.spawn(move || {
            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = tx.send(());
            }
        });
    }
    rx.recv().expect("the last task reports");
    start.elapsed()
}

/// rayon: one closure run on the pool, the caller blocked until it returns.
pub(crate) fn rayon_round_trip(pool: &rayon::ThreadPool) -> Duration {
    let start = Instant::now();
    pool.install(|| std::hint::black_box(1u64));
    start.elapsed()
}
