//! The throughput cases shared by `benches/throughput.rs` and
//! `examples/throughput.rs`: allot's paths and their baselines, each
//! returning the wall time for `n` messages or tasks.

use allot::{BalancerConfig, NodeId, NodeSpec, Resources, Runtime, RuntimeHandle, Task};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An allot runtime sized for throughput runs: `nodes` one-slot nodes, the
/// balancer off (it would only add noise to a no-op flood).
pub fn allot_runtime(nodes: usize) -> Runtime {
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
/// in batches of `batch` (1 = one message at a time), handles dropped; ends
/// when the node has run them all.
pub fn allot_mailbox(rt: &RuntimeHandle, n: usize, batch: usize) -> Duration {
    let start = Instant::now();
    let mut last = None;
    let mut left = n;
    while left > 0 {
        let k = batch.min(left);
        left -= k;
        if k == 1 {
            last = Some(rt.submit_to(NodeId(0), noop()).expect("accepted"));
        } else {
            let mut hs = rt
                .submit_batch_to(NodeId(0), (0..k).map(|_| noop()))
                .expect("accepted");
            last = hs.pop();
        }
    }
    // One slot, FIFO: the last task ends after every other.
    last.expect("at least one task")
        .wait()
        .expect("no-op succeeds");
    start.elapsed()
}

/// End to end: `n` no-op tasks through the supervisor and policy in batches
/// of `batch`, then every result received.
pub fn allot_e2e(rt: &RuntimeHandle, n: usize, batch: usize) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let k = batch.min(left);
        left -= k;
        handles.extend(rt.submit_batch((0..k).map(|_| noop())).expect("accepted"));
    }
    for h in handles {
        h.wait().expect("no-op succeeds");
    }
    start.elapsed()
}

/// Raw actix: an actor on its own arbiter counting `do_send` messages.
pub struct ActixBaseline {
    addr: actix::Addr<Counter>,
    done: crossbeam_channel::Receiver<()>,
    target: Arc<AtomicUsize>,
    system: actix::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub struct Counter {
    seen: usize,
    target: Arc<AtomicUsize>,
    done: crossbeam_channel::Sender<()>,
}

impl actix::Actor for Counter {
    type Context = actix::Context<Self>;
}

pub struct Ping;

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

impl ActixBaseline {
    pub fn start() -> Self {
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
    pub fn do_send(&self, n: usize) -> Duration {
        self.target.store(n, Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..n {
            self.addr.do_send(Ping);
        }
        self.done.recv().expect("counter reports");
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
pub fn crossbeam(n: usize) -> Duration {
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

/// tokio: spawn `n` no-op tasks on a multi-thread runtime and await each.
pub fn tokio_spawn(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        let hs: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
        for h in hs {
            h.await.expect("no-op succeeds");
        }
    });
    start.elapsed()
}

/// rayon: `n` no-op `scope.spawn`s; the scope waits for all.
pub fn rayon_spawn(pool: &rayon::ThreadPool, n: usize) -> Duration {
    let start = Instant::now();
    pool.scope(|s| {
        for _ in 0..n {
            s.spawn(|_| {});
        }
    });
    start.elapsed()
}
