//! Two measurements of `allot bench` beyond throughput: the latency of one
//! request while a flood of batched work runs on the same runtime (allot,
//! with an urgent and a normal request, against raw actix and
//! `tokio::spawn` under the same flood), and what an idle or trickling
//! runtime costs in CPU.
//!
//! Every flood has one shape: batches of no-op messages or tasks, each
//! batch sent before the one before it is awaited, so a batch always waits
//! in the queue while another runs and the queue stays bounded.

use allot::{BalancerConfig, Discipline, NodeSpec, Resources, Runtime, RuntimeHandle, Task};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A flood on its own thread until stopped.
struct Flood {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Flood {
    /// Runs `round` (one batch sent, the one before it awaited) until
    /// stopped, then `last` (the final batch awaited).
    fn start<S: Send + 'static>(
        mut round: impl FnMut(Option<S>) -> S + Send + 'static,
        last: impl FnOnce(S) + Send + 'static,
    ) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("allot-bench-flood".into())
            .spawn(move || {
                let mut previous = None;
                while !stopping.load(Ordering::Relaxed) {
                    previous = Some(round(previous));
                }
                if let Some(p) = previous {
                    last(p);
                }
            })
            .expect("the flood thread starts");
        Flood {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn noop() -> Task<()> {
    Task::new(|_| Ok::<_, std::convert::Infallible>(())).cost(0.0)
}

/// The runtime the loaded and idle cases use: `nodes` one-slot nodes, the
/// balancer off, the priority discipline (so an urgent request can pass
/// the flood's queued tasks).
pub(crate) fn priority_runtime(nodes: usize) -> Runtime {
    Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(4_000)); nodes])
        .discipline(Discipline::Priority)
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        })
        .build()
        .expect("runtime starts")
}

/// One round trip of a no-op task of `priority` on `rt`.
fn allot_trip(rt: &RuntimeHandle, priority: i32) -> Duration {
    let start = Instant::now();
    rt.submit(noop().priority(priority))
        .expect("accepted")
        .wait()
        .expect("no-op succeeds");
    start.elapsed()
}

/// `requests` round trips of an urgent (highest priority) and of a normal
/// request on `rt` while a flood of `batch`-task batches runs there: each
/// list of round trips, urgent first.
pub(crate) fn allot(rt: &RuntimeHandle, requests: usize, batch: usize) -> [Vec<Duration>; 2] {
    let flooding = rt.clone();
    let flood = Flood::start(
        move |previous: Option<Vec<allot::TaskHandle<()>>>| {
            let sent = flooding
                .submit_batch((0..batch).map(|_| noop()))
                .expect("accepted");
            for h in previous.into_iter().flatten() {
                h.wait().expect("no-op succeeds");
            }
            sent
        },
        |last| {
            for h in last {
                h.wait().expect("no-op succeeds");
            }
        },
    );
    // Taken in turns, so that neither meets the flood's start alone.
    let mut urgent = Vec::with_capacity(requests);
    let mut normal = Vec::with_capacity(requests);
    for _ in 0..requests {
        urgent.push(allot_trip(rt, i32::MAX));
        normal.push(allot_trip(rt, 0));
    }
    drop(flood);
    [urgent, normal]
}

/// Raw actix: an actor on an arbiter of its own taking a flood of
/// `do_send`s and answering requests between them.
pub(crate) struct Actix {
    addr: actix::Addr<Sink>,
    system: actix::System,
    thread: Option<JoinHandle<()>>,
}

pub(crate) struct Sink;

impl actix::Actor for Sink {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1 << 20);
    }
}

/// A flood message (no answer).
struct Drop1;

impl actix::Message for Drop1 {
    type Result = ();
}

impl actix::Handler<Drop1> for Sink {
    type Result = ();

    fn handle(&mut self, _msg: Drop1, _ctx: &mut Self::Context) {}
}

/// A request, answered with its own number.
struct Ask(u64);

impl actix::Message for Ask {
    type Result = u64;
}

impl actix::Handler<Ask> for Sink {
    type Result = u64;

    fn handle(&mut self, msg: Ask, _ctx: &mut Self::Context) -> u64 {
        msg.0
    }
}

impl Actix {
    pub(crate) fn start() -> Actix {
        use actix::Actor;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            let system = actix::System::new();
            let arbiter = actix::Arbiter::new();
            let addr = Sink::start_in_arbiter(&arbiter.handle(), |_| Sink);
            let _ = tx.send((addr, actix::System::current()));
            let _ = system.run();
            arbiter.stop();
            let _ = arbiter.join();
        });
        let (addr, system) = rx.recv().expect("the actix baseline starts");
        Actix {
            addr,
            system,
            thread: Some(thread),
        }
    }

    /// `requests` round trips (`send`, awaited on a runtime of the caller's)
    /// while another thread floods the actor with `batch`-message batches.
    pub(crate) fn round_trips(&self, requests: usize, batch: usize) -> Vec<Duration> {
        let flooding = self.addr.clone();
        let flood_rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime starts");
        let flood = Flood::start(
            move |previous: Option<actix::dev::Request<Sink, Ask>>| {
                for _ in 0..batch {
                    flooding.do_send(Drop1);
                }
                // Answered after the batch (one mailbox, in order).
                let sent = flooding.send(Ask(0));
                if let Some(p) = previous {
                    flood_rt.block_on(p).expect("actor alive");
                }
                sent
            },
            |_| {},
        );
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime starts");
        let trips = (0..requests)
            .map(|i| {
                let start = Instant::now();
                let answer = caller
                    .block_on(self.addr.send(Ask(i as u64)))
                    .expect("actor alive");
                std::hint::black_box(answer);
                start.elapsed()
            })
            .collect();
        drop(flood);
        trips
    }

    /// One message every `every` for `window`, each answer awaited.
    fn trickle(&self, every: Duration, window: Duration) {
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime starts");
        paced(every, window, || {
            caller
                .block_on(self.addr.send(Ask(1)))
                .expect("actor alive");
        });
    }
}

impl Drop for Actix {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `requests` round trips of `tokio::spawn` + await on `rt` while another
/// thread spawns `batch`-task batches there.
pub(crate) fn tokio(rt: &tokio::runtime::Runtime, requests: usize, batch: usize) -> Vec<Duration> {
    let flooding = rt.handle().clone();
    let flood = Flood::start(
        move |previous: Option<Vec<tokio::task::JoinHandle<()>>>| {
            let sent: Vec<_> = (0..batch).map(|_| flooding.spawn(async {})).collect();
            if let Some(p) = previous {
                flooding.block_on(async {
                    for h in p {
                        h.await.expect("no-op succeeds");
                    }
                });
            }
            sent
        },
        |_| {},
    );
    let trips = (0..requests)
        .map(|_| {
            let start = Instant::now();
            rt.block_on(rt.spawn(async {})).expect("no-op succeeds");
            start.elapsed()
        })
        .collect();
    drop(flood);
    trips
}

/// Calls `f` every `every` (on a fixed clock) for `window`.
fn paced(every: Duration, window: Duration, mut f: impl FnMut()) {
    let start = Instant::now();
    let mut next = start;
    while next < start + window {
        f();
        next += every;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// The quiet cases: CPU seconds of the whole process per second of wall
/// time over a window, each, measured before any other case's runtime
/// exists. The process holds the tokio and actix baselines' idle threads
/// throughout, so the first case (no allot runtime alive) is the floor the
/// others are read against.
pub(crate) const QUIET: [&str; 5] = [
    "floor: no allot runtime (tokio, actix idle)",
    "allot runtime, 4 nodes, idle",
    "allot, one task every 2 ms",
    "tokio::spawn, one task every 2 ms",
    "actix send, one message every 2 ms",
];

/// One task or message every this often in the trickle cases.
pub(crate) const TRICKLE: Duration = Duration::from_millis(2);

/// One measurement of each [`QUIET`] case over `window`.
pub(crate) fn quiet(
    window: Duration,
    tokio_rt: &tokio::runtime::Runtime,
    actix: &Actix,
) -> [f64; 5] {
    let cpu_per_s = |f: &mut dyn FnMut()| {
        let cpu = super::cases::process_cpu_ns();
        let start = Instant::now();
        f();
        let cpu = super::cases::process_cpu_ns().saturating_sub(cpu);
        cpu as f64 / 1e9 / start.elapsed().as_secs_f64()
    };
    let floor = cpu_per_s(&mut || std::thread::sleep(window));
    let rt = priority_runtime(4);
    let h = rt.handle().clone();
    // Let the nodes settle into their waits before the window opens.
    h.submit(noop())
        .expect("accepted")
        .wait()
        .expect("no-op succeeds");
    let idle = cpu_per_s(&mut || std::thread::sleep(window));
    let trickle = cpu_per_s(&mut || {
        paced(TRICKLE, window, || {
            h.submit(noop())
                .expect("accepted")
                .wait()
                .expect("no-op succeeds");
        });
    });
    rt.shutdown();
    let tokio_trickle = cpu_per_s(&mut || {
        paced(TRICKLE, window, || {
            tokio_rt
                .block_on(tokio_rt.spawn(async {}))
                .expect("no-op succeeds");
        });
    });
    let actix_trickle = cpu_per_s(&mut || actix.trickle(TRICKLE, window));
    [floor, idle, trickle, tokio_trickle, actix_trickle]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_keeps_to_its_clock_for_the_window() {
        let mut calls = 0;
        let start = Instant::now();
        paced(Duration::from_millis(2), Duration::from_millis(40), || {
            calls += 1
        });
        // 20 ticks in 40 ms; a late tick is not made up, so never more.
        assert!((1..=20).contains(&calls), "{calls}");
        assert!(start.elapsed() >= Duration::from_millis(40));
    }
}
