//! Nodes: an actix actor for control beside executor threads for work.
//!
//! The actor's mailbox takes control messages (heartbeat pings, migration
//! requests, stop, injected faults). Tasks do not pass through it: the
//! supervisor, submitters and the balancer push batches straight into the
//! node's inbox (a vector under its own lock) and wake a waiting executor
//! once per run; whoever holds the node's state lock moves the inbox into
//! the [`DisciplineQueue`] before picking from it (an executor with work
//! queued does so every 10 µs at most). What placement reads of a node
//! (its [`NodeView`]) comes from atomics, never from behind the state lock. Executor threads pick,
//! run and account. A task that runs for a long time therefore never makes
//! the actor deaf.

use crate::clock;
use crate::error::AttemptFailure;
use crate::fault::{Actions, NodeFaults};
use crate::hooks::Hooks;
use crate::ids::{NodeId, TaskId};
use crate::job::{after_failure, AfterFailure, Host, JobRef, Phase, RunEnv, RunOutcome};
use crate::ledger::{Ledger, Settled};
use crate::metrics::{AbandonReason, AbandonedAttempt, NodeMetrics};
use crate::policy::{Feedback, NodeView};
use crate::queue::{Discipline, DisciplineQueue};
use crate::resources::Resources;
use crate::supervision::DownReason;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{lock_spinning, spin_until, Condvar, Mutex, MutexGuard};
use actix::prelude::*;
use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// Default for [`NodeSpec::slots`]: one task at a time.
pub const DEFAULT_NODE_SLOTS: usize = 1;

/// A node's description: its capacity, speed and parallelism.
///
/// # Default
///
/// 4 CPUs, 16 GiB, no GPU, 10 Gbit/s, speed 1.0, [`DEFAULT_NODE_SLOTS`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSpec {
    /// A name for reports; `node-<id>` if empty.
    pub name: String,
    /// What the node offers.
    pub capacity: Resources,
    /// Relative speed; 1.0 is nominal. A node slower than 1.0 is emulated by
    /// holding the slot idle for the extra time after each task.
    pub speed: f64,
    /// How many tasks run at once (executor threads).
    pub slots: usize,
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            name: String::new(),
            capacity: Resources::new(4_000, 16_384, 0, 10_000),
            speed: 1.0,
            slots: DEFAULT_NODE_SLOTS,
        }
    }
}

impl NodeSpec {
    /// A node with this capacity and defaults otherwise.
    pub fn new(capacity: Resources) -> Self {
        NodeSpec {
            capacity,
            ..NodeSpec::default()
        }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the speed.
    pub fn speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }

    /// Sets the number of slots.
    pub fn slots(mut self, slots: usize) -> Self {
        self.slots = slots;
        self
    }
}

/// The current actor address of every node, for whoever needs to message
/// them (supervisor, balancer). Updated on every (re)start.
pub(crate) type NodeDirectory = Arc<Mutex<Vec<Option<Addr<NodeActor>>>>>;

/// Sent by nodes to their supervisor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum NodeEvent {
    /// The node actor of `generation` died.
    Down {
        node: NodeId,
        generation: u64,
        reason: DownReason,
    },
    /// A failed attempt is to be retried; the supervisor now holds the job.
    Retry(JobRef),
    /// Jobs (each `Pending`) that could not be placed where they were
    /// headed; the supervisor now holds them.
    Redispatch(Vec<JobRef>),
}

/// An attempt running in a slot. It names the job by its ledger slot
/// instead of holding a reference: the rare paths that need the job
/// (eviction, timeouts) look it up in the ledger, and the executor does
/// not touch the job's reference count to start and finish it.
#[derive(Debug)]
struct RunningEntry {
    /// The job's ledger slot when it started ([`Ledger::get`]).
    slot: u64,
    task: TaskId,
    /// The executor running it: an abandoned attempt is listed by it
    /// until that executor returns.
    thread: ThreadId,
    attempt: u32,
    /// From [`clock::now_nanos`].
    started: u64,
    timeout: Option<Duration>,
    cost_units: u64,
    demand: Resources,
}

#[derive(Debug, Default)]
struct Slot {
    entry: Option<RunningEntry>,
    /// Its executor was given up on (a timed-out or cancelled task); it
    /// exits when it returns.
    abandoned: bool,
    /// Its abandoned executor has exited: a replacement may take the slot
    /// (so the slot list does not grow with every timeout).
    vacant: bool,
}

/// An attempt the runtime let go of, listed until its executor returns.
#[derive(Debug)]
struct Abandoned {
    task: TaskId,
    attempt: u32,
    reason: AbandonReason,
    /// From [`clock::now_nanos`].
    started: u64,
    thread: ThreadId,
}

struct NodeState {
    generation: u64,
    accepting: bool,
    retired: bool,
    queue: DisciplineQueue<JobRef>,
    /// The emptied buffer traded for the inbox's full one (see `absorb`).
    spare: Vec<JobRef>,
    slots: Vec<Slot>,
    /// An idle executor is watching for pushes before it parks.
    spinner: bool,
    running_demand: Resources,
    latency: hdrhistogram::Histogram<u64>,
    /// Completions for a learning policy, drained by the supervisor.
    feedback: Vec<Feedback>,
    /// Attempts whose executors were let go of and still run their code.
    abandoned: Vec<Abandoned>,
}

impl NodeState {
    /// Lists the attempt in `entry` as abandoned for `reason`.
    fn abandon(&mut self, entry: &RunningEntry, reason: AbandonReason) {
        self.abandoned.push(Abandoned {
            task: entry.task,
            attempt: entry.attempt,
            reason,
            started: entry.started,
            thread: entry.thread,
        });
    }
}

#[derive(Debug, Default)]
struct NodeCounters {
    failures: AtomicU64,
    /// Raised as each task completes, before its value is delivered.
    completed: AtomicU64,
    /// Completed tasks since removed from the ledger (in batches).
    settled: AtomicU64,
    failed: AtomicU64,
    restarts: AtomicU64,
    migrations_in: AtomicU64,
    migrations_out: AtomicU64,
    stale: AtomicU64,
    timed_out: AtomicU64,
}

/// Where pushed jobs wait for the next holder of the state lock to move
/// them into the queue: pushers take only this lock, held for a few
/// pointer copies, so they never hold the state lock an executor needs
/// for every task.
struct Inbox {
    /// Mirrors `NodeState::accepting` (both change under the state lock).
    accepting: bool,
    /// `Queued` jobs, oldest first.
    jobs: Vec<JobRef>,
}

/// The inbox and its length: one line, which a pusher takes once per run
/// (the length written in the same hold, no further line to fetch) and an
/// idle executor watches before it parks.
struct InboxLine {
    /// Jobs in the inbox, written under its lock: read without it.
    len: AtomicUsize,
    mutex: Mutex<Inbox>,
}

/// What a placement needs of a node's state, published by each holder of
/// the state lock that changes it, so views are read without that lock
/// (the lock an executor takes for every task). Each field is exact as of
/// the last release of the lock; fields read together may be from
/// different moments.
#[derive(Debug, Default)]
struct Gauge {
    /// Jobs in the discipline queue (not counting the inbox).
    queued: AtomicUsize,
    /// Slots running a task.
    running: AtomicUsize,
    /// Resources held by running tasks: CPU, memory, GPU, bandwidth.
    held: [AtomicU64; 4],
    /// Whether the current incarnation accepts work.
    accepting: AtomicBool,
}

impl Gauge {
    /// Copies what views read from `st` (the state lock held). Stores only
    /// what changed: a line no one else reads stays put.
    fn publish(&self, st: &NodeState) {
        let running = st.slots.iter().filter(|s| s.entry.is_some()).count();
        for (cell, v) in [(&self.queued, st.queue.len()), (&self.running, running)] {
            if cell.load(Ordering::Relaxed) != v {
                cell.store(v, Ordering::Relaxed);
            }
        }
        let d = &st.running_demand;
        for (cell, v) in
            self.held
                .iter()
                .zip([d.cpu_milli, d.memory_mib, d.gpu_milli, d.bandwidth_mbps])
        {
            if cell.load(Ordering::Relaxed) != v {
                cell.store(v, Ordering::Relaxed);
            }
        }
        if self.accepting.load(Ordering::Relaxed) != st.accepting {
            self.accepting.store(st.accepting, Ordering::Release);
        }
    }

    fn held(&self) -> Resources {
        let [cpu_milli, memory_mib, gpu_milli, bandwidth_mbps] =
            self.held.each_ref().map(|a| a.load(Ordering::Relaxed));
        Resources {
            cpu_milli,
            memory_mib,
            gpu_milli,
            bandwidth_mbps,
        }
    }
}

/// The counters pushers and executors signal each other with.
#[derive(Debug, Default)]
struct Signal {
    /// Estimated cost queued + running, in micro-units; read without locking.
    load: AtomicU64,
    /// Executors waiting (or about to wait) on `cv`: changed under the
    /// state lock, read by pushers after they push, so one of the two
    /// always sees the other (see `executor_loop`).
    parked: AtomicUsize,
}

/// Everything about a node that outlives one incarnation of its actor.
pub(crate) struct NodeShared {
    pub(crate) id: NodeId,
    pub(crate) spec: NodeSpec,
    speed_bits: AtomicU64,
    /// Whether an idle executor watches the inbox before parking: only when
    /// the runtime has no more executors than the machine has cores.
    watch_idle: AtomicBool,
    /// The load, written by pushers once per run and by executors in
    /// batches, read by placement; and the parked count.
    signal: CachePadded<Signal>,
    /// Written by pushers once per job: a line of its own, so executors
    /// reading `signal` or taking `state` do not lose theirs to it.
    /// Lock order: `state`, then `inbox`.
    inbox: CachePadded<InboxLine>,
    /// Taken by executors once per task.
    state: CachePadded<Mutex<NodeState>>,
    /// What views read of the state, without its lock.
    gauge: CachePadded<Gauge>,
    cv: Condvar,
    counters: NodeCounters,
    ledger: Arc<Ledger>,
    events: Mutex<Option<Recipient<NodeEvent>>>,
    /// The current incarnation's actor, for faults raised by executors.
    actor: Mutex<Option<Addr<NodeActor>>>,
    /// Tasks started here, across restarts: what fault triggers count.
    /// Written only under the state lock.
    started: AtomicU64,
    has_faults: AtomicBool,
    faults: Mutex<Arc<NodeFaults>>,
    retired: AtomicBool,
    /// Heartbeats from running tasks ([`TaskContext::heartbeat`]).
    beats: AtomicU64,
    /// The runtime, for tasks that fork subtasks; set once after build.
    host: std::sync::OnceLock<Arc<dyn Host>>,
    /// Whether to record completions for the policy.
    feedback_on: AtomicBool,
    /// The fastest nominal speed in the runtime: nodes run at
    /// `speed / reference_speed` of the machine's pace.
    reference_speed: AtomicU64,
    /// The user's executor thread hooks.
    hooks: Hooks,
    /// Every executor thread started and not yet joined, with whether it
    /// is inside task code now.
    threads: Mutex<Vec<(JoinHandle<()>, Arc<AtomicBool>)>>,
}

impl std::fmt::Debug for NodeShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeShared")
            .field("id", &self.id)
            .field("load", &self.signal.load.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn new_histogram() -> hdrhistogram::Histogram<u64> {
    // 1 µs .. 1 hour, 2 significant digits.
    hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

/// Jobs taken from a node that failed: the not-yet-started and the running.
#[derive(Debug, Default)]
pub(crate) struct Evicted {
    pub(crate) queued: Vec<JobRef>,
    pub(crate) running: Vec<(JobRef, u32)>,
}

impl NodeShared {
    pub(crate) fn new(
        id: NodeId,
        spec: NodeSpec,
        discipline: Discipline,
        ledger: Arc<Ledger>,
        hooks: Hooks,
    ) -> Self {
        let speed = spec.speed;
        NodeShared {
            id,
            spec,
            speed_bits: AtomicU64::new(speed.to_bits()),
            watch_idle: AtomicBool::new(false),
            signal: CachePadded::new(Signal::default()),
            state: CachePadded::new(Mutex::new(NodeState {
                generation: 0,
                accepting: false,
                retired: false,
                queue: DisciplineQueue::new(discipline),
                spare: Vec::new(),
                slots: Vec::new(),
                spinner: false,
                running_demand: Resources::ZERO,
                latency: new_histogram(),
                feedback: Vec::new(),
                abandoned: Vec::new(),
            })),
            gauge: CachePadded::new(Gauge::default()),
            inbox: CachePadded::new(InboxLine {
                len: AtomicUsize::new(0),
                mutex: Mutex::new(Inbox {
                    accepting: false,
                    jobs: Vec::new(),
                }),
            }),
            cv: Condvar::new(),
            counters: NodeCounters::default(),
            ledger,
            events: Mutex::new(None),
            actor: Mutex::new(None),
            started: AtomicU64::new(0),
            has_faults: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            faults: Mutex::new(Arc::new(NodeFaults::default())),
            beats: AtomicU64::new(0),
            host: std::sync::OnceLock::new(),
            feedback_on: AtomicBool::new(false),
            reference_speed: AtomicU64::new(1.0f64.to_bits()),
            hooks,
            threads: Mutex::new(Vec::new()),
        }
    }

    /// Whether an idle executor watches for pushes before it parks.
    pub(crate) fn set_watch_idle(&self, on: bool) {
        self.watch_idle.store(on, Ordering::Relaxed);
    }

    /// Turns completion feedback for the policy on.
    pub(crate) fn enable_feedback(&self) {
        self.feedback_on.store(true, Ordering::Relaxed);
    }

    /// Sets the speed that runs at the machine's own pace (the fastest node's).
    pub(crate) fn set_reference_speed(&self, speed: f64) {
        self.reference_speed
            .store(speed.to_bits(), Ordering::Relaxed);
    }

    /// Takes the completions recorded since the last call.
    pub(crate) fn take_feedback(&self) -> Vec<Feedback> {
        std::mem::take(&mut self.state.lock().feedback)
    }

    /// Gives the node the runtime's fork-join host (once, after build).
    pub(crate) fn set_host(&self, host: Arc<dyn Host>) {
        let _ = self.host.set(host);
    }

    fn env(&self, inject_panic: bool) -> RunEnv<'_> {
        RunEnv {
            beats: Some(&self.beats),
            completed: Some(&self.counters.completed),
            host: self.host.get().map(|h| &**h),
            inject_panic,
        }
    }

    /// Adds faults to this node's plan.
    pub(crate) fn add_faults(&self, more: &NodeFaults) {
        if more.is_empty() {
            return;
        }
        let mut f = self.faults.lock();
        let started = self.started.load(Ordering::Relaxed);
        *f = Arc::new(crate::fault::merge(&f, more, started));
        self.has_faults.store(true, Ordering::Release);
    }

    /// What injected faults do as the `count`th task here starts.
    fn fault_actions(&self, job: &JobRef, attempt: u32, count: u64) -> Actions {
        if !self.has_faults.load(Ordering::Acquire) {
            return Actions::default();
        }
        let faults = Arc::clone(&self.faults.lock());
        faults.actions(self.id, count, job.core().id.0, attempt)
    }

    /// A number that changes whenever the node makes progress: a task
    /// starts, or a running task sends a heartbeat. No clock on the hot path.
    pub(crate) fn progress(&self) -> u64 {
        self.started
            .load(Ordering::Relaxed)
            .wrapping_add(self.beats.load(Ordering::Relaxed))
    }

    /// Whether an attempt is running here now.
    pub(crate) fn is_running_work(&self) -> bool {
        let st = self.state.lock();
        st.accepting && st.slots.iter().any(|s| s.entry.is_some())
    }

    fn actor_fault(&self, fault: ActorFault) {
        let addr = self.actor.lock().clone();
        if let Some(a) = addr {
            a.do_send(fault);
        }
    }

    fn flood(&self, messages: u64) {
        let addr = self.actor.lock().clone();
        if let Some(a) = addr {
            for _ in 0..messages {
                a.do_send(Noise);
            }
        }
    }

    /// An injected hang: blocks this executor until `duration` passes or the
    /// incarnation `generation` ends.
    fn hang(&self, generation: u64, duration: Option<Duration>) {
        tracing::warn!(node = %self.id, ?duration, "fault.hang");
        let start = Instant::now();
        loop {
            if self.generation() != generation {
                return;
            }
            if duration.is_some_and(|d| start.elapsed() >= d) {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(2));
        }
    }

    pub(crate) fn name(&self) -> String {
        if self.spec.name.is_empty() {
            self.id.to_string()
        } else {
            self.spec.name.clone()
        }
    }

    pub(crate) fn speed(&self) -> f64 {
        f64::from_bits(self.speed_bits.load(Ordering::Relaxed))
    }

    pub(crate) fn set_speed(&self, speed: f64) {
        self.speed_bits.store(speed.to_bits(), Ordering::Relaxed);
    }

    /// Load in cost units (seconds at speed 1.0).
    pub(crate) fn load(&self) -> f64 {
        self.signal.load.load(Ordering::Relaxed) as f64 / crate::job::COST_SCALE
    }

    pub(crate) fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    fn generation_is(&self, generation: u64) -> bool {
        self.generation() == generation
    }

    pub(crate) fn is_available(&self) -> bool {
        self.state.lock().accepting
    }

    /// Lock-free: read on every submission.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    pub(crate) fn count_failure(&self) {
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_restart(&self) {
        self.counters.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Restarts so far.
    pub(crate) fn restart_count(&self) -> u64 {
        self.counters.restarts.load(Ordering::Relaxed)
    }

    pub(crate) fn count_migrations(&self, n_in: u64, n_out: u64) {
        self.counters
            .migrations_in
            .fetch_add(n_in, Ordering::Relaxed);
        self.counters
            .migrations_out
            .fetch_add(n_out, Ordering::Relaxed);
    }

    pub(crate) fn completed(&self) -> u64 {
        self.counters.completed.load(Ordering::Relaxed)
    }

    /// Completed tasks still in the ledger, waiting for a batched settle.
    pub(crate) fn unsettled(&self) -> u64 {
        let settled = self.counters.settled.load(Ordering::Relaxed);
        self.completed().saturating_sub(settled)
    }

    /// Pushes jobs (each `Pending`) into the inbox, a run at a time, and
    /// wakes a waiting executor once per run. Hands the jobs back if the
    /// node is not accepting.
    pub(crate) fn push_batch<I: IntoIterator<Item = JobRef>>(&self, jobs: I) -> Result<(), I> {
        self.push_runs(jobs, false)
    }

    /// [`push_batch`](Self::push_batch) for jobs just submitted, which no
    /// one else can reach yet: each is marked `Queued` with a plain store
    /// ([`JobCore::queue_fresh`]) as it goes in, not a compare-and-swap.
    /// Jobs handed back, or sent back to the supervisor, are still
    /// `Pending`.
    pub(crate) fn push_fresh<I: IntoIterator<Item = JobRef>>(&self, jobs: I) -> Result<(), I> {
        self.push_runs(jobs, true)
    }

    fn push_runs<I: IntoIterator<Item = JobRef>>(&self, jobs: I, fresh: bool) -> Result<(), I> {
        let mut inbox = lock_spinning(&self.inbox.mutex);
        if !inbox.accepting {
            return Err(jobs);
        }
        let mut jobs = jobs.into_iter().peekable();
        loop {
            // A run at a time, so an executor trading for the inbox's jobs
            // is not held off for a whole large batch.
            let mut added = 0u64;
            let mut pushed = 0usize;
            for job in jobs.by_ref().take(PUSH_RUN) {
                let core = job.core();
                let queued = if fresh {
                    core.queue_fresh();
                    true
                } else {
                    let attempt = core.attempt();
                    core.transition(Phase::Pending, attempt, Phase::Queued, attempt)
                };
                if queued {
                    added += core.cost_units();
                    inbox.jobs.push(job);
                    pushed += 1;
                } else {
                    // Cancelled (or claimed by a joining parent) on its way here.
                    self.ledger.reap_if_cancelled(core);
                }
            }
            self.inbox.len.store(inbox.jobs.len(), Ordering::SeqCst);
            drop(inbox);
            self.signal.load.fetch_add(added, Ordering::Relaxed);
            if pushed > 0 {
                self.signal(pushed);
            }
            if jobs.peek().is_none() {
                return Ok(());
            }
            inbox = lock_spinning(&self.inbox.mutex);
            if !inbox.accepting {
                // Went down between runs: the rest goes back to the
                // supervisor, still pending.
                drop(inbox);
                let rest: Vec<JobRef> = jobs.collect();
                self.send_event(NodeEvent::Redispatch(rest));
                return Ok(());
            }
        }
    }

    /// After a push of `n` jobs: tells a watching executor, and wakes
    /// waiting ones (one for one job, all for more).
    fn signal(&self, n: usize) {
        // The inbox's length is stored first, then `parked` read with a
        // read-modify-write (adding nothing), which reads the latest count:
        // either it sees an executor that counted itself, or that
        // executor's own read-modify-write comes later, reads ours, and so
        // sees the length (see `park`). A plain `SeqCst` load would do as
        // well, but a model checker that takes `SeqCst` loads for acquire
        // loads (loom) could not tell.
        if self.signal.parked.fetch_add(0, Ordering::SeqCst) == 0 {
            return;
        }
        // Taking the lock means a waiter that counted itself is waiting.
        drop(self.state.lock());
        if n == 1 {
            self.cv.notify_one();
        } else {
            self.cv.notify_all();
        }
    }

    /// An executor with nothing to do waits for a push (the state lock
    /// held, released while it waits), for at most `linger` if given.
    /// Returns whether the wait timed out.
    ///
    /// It counts itself as waiting, then looks at the inbox once more: a
    /// pusher that pushed before our count sees it and takes the state lock
    /// to wake us (which it cannot get until we wait); one that pushed
    /// after is seen here. Each side writes its word and then reads the
    /// other's, so neither look can miss the other's write: `parked` is
    /// written and read with read-modify-writes (see [`signal`](Self::signal)),
    /// the inbox length stored and loaded `SeqCst`.
    fn park(&self, st: &mut MutexGuard<'_, NodeState>, linger: Option<Duration>) -> bool {
        self.signal.parked.fetch_add(1, Ordering::SeqCst);
        let mut timed_out = false;
        if self.inbox.len.load(Ordering::SeqCst) == 0 {
            match linger {
                Some(d) => timed_out = self.cv.wait_for(st, d).timed_out(),
                None => self.cv.wait(st),
            }
        }
        self.signal.parked.fetch_sub(1, Ordering::SeqCst);
        timed_out
    }

    /// Moves the inbox's jobs into the queue (the state lock held). With
    /// jobs queued already it does not wait for a pusher mid-run.
    fn absorb(&self, st: &mut NodeState) {
        {
            let mut inbox = if st.queue.is_empty() {
                lock_spinning(&self.inbox.mutex)
            } else {
                match self.inbox.mutex.try_lock() {
                    Some(inbox) => inbox,
                    None => return,
                }
            };
            if inbox.jobs.is_empty() {
                return;
            }
            // Trade buffers: the inbox keeps an emptied one's capacity.
            std::mem::swap(&mut inbox.jobs, &mut st.spare);
            self.inbox.len.store(0, Ordering::SeqCst);
        }
        st.queue.append_with(&mut st.spare, |j| j.core().key());
    }

    /// Jobs queued here, in the queue and the inbox.
    fn queued(&self, st: &NodeState) -> usize {
        st.queue.len() + self.inbox.len.load(Ordering::Relaxed)
    }

    /// Takes up to `max_tasks` not-yet-started jobs, least urgent first, until
    /// their cost reaches `max_cost` (cost units). They come back `Pending`.
    pub(crate) fn take_queued(&self, max_tasks: usize, max_cost: f64) -> Vec<JobRef> {
        let budget = (max_cost * crate::job::COST_SCALE) as u64;
        let mut taken = Vec::new();
        let mut st = self.state.lock();
        if !st.accepting {
            return taken;
        }
        self.absorb(&mut st);
        let mut cost = 0u64;
        // Leave the most urgent task for this node's next free slot.
        while taken.len() < max_tasks && cost < budget && st.queue.len() > 1 {
            let Some(job) = st.queue.pop_last() else {
                break;
            };
            let core = job.core();
            let attempt = core.attempt();
            self.signal
                .load
                .fetch_sub(core.cost_units(), Ordering::Relaxed);
            if core.transition(Phase::Queued, attempt, Phase::Pending, attempt) {
                cost += core.cost_units();
                taken.push(job);
            } else {
                self.ledger.reap_if_cancelled(core);
            }
        }
        self.gauge.publish(&st);
        taken
    }

    /// Stops the current incarnation: no more accepting, every queued and
    /// running job taken out, old executors told to exit.
    pub(crate) fn evict_all(&self, reason: AbandonReason) -> Evicted {
        let mut out = Evicted::default();
        let running: Vec<(u64, u32)>;
        {
            let mut st = self.state.lock();
            st.generation += 1;
            st.accepting = false;
            {
                // Closed and emptied in one hold: no push lands after.
                let mut inbox = self.inbox.mutex.lock();
                inbox.accepting = false;
                std::mem::swap(&mut inbox.jobs, &mut st.spare);
                self.inbox.len.store(0, Ordering::SeqCst);
            }
            // The queue's jobs came first, then the inbox's.
            out.queued = st.queue.drain_all();
            out.queued.append(&mut st.spare);
            let entries: Vec<RunningEntry> =
                st.slots.drain(..).filter_map(|slot| slot.entry).collect();
            // Their executors run on, let go of: listed until they return.
            for e in &entries {
                st.abandon(e, reason);
            }
            running = entries.iter().map(|e| (e.slot, e.attempt)).collect();
            st.running_demand = Resources::ZERO;
            self.signal.load.store(0, Ordering::Relaxed);
            self.gauge.publish(&st);
        }
        self.cv.notify_all();
        // A job settled meanwhile (cancelled, or completed and released)
        // is no longer in the ledger: nothing to take.
        out.running = running
            .into_iter()
            .filter_map(|(slot, attempt)| Some((self.ledger.get(slot)?, attempt)))
            .collect();
        out
    }

    /// Marks the node retired: it never accepts work again.
    pub(crate) fn retire(&self) {
        self.state.lock().retired = true;
        self.retired.store(true, Ordering::Release);
    }

    /// The current incarnation's actor address, for the supervisor to clear.
    pub(crate) fn actor_slot(&self) -> crate::sync::MutexGuard<'_, Option<Addr<NodeActor>>> {
        self.actor.lock()
    }

    /// Opens a new incarnation; returns its generation. The caller starts
    /// the executors.
    fn reopen(&self) -> u64 {
        let mut st = self.state.lock();
        st.accepting = true;
        self.inbox.mutex.lock().accepting = true;
        st.slots = (0..self.spec.slots.max(1))
            .map(|_| Slot::default())
            .collect();
        self.gauge.publish(&st);
        st.generation
    }

    /// Attempts the runtime lets go of, taken out of their slots, whose
    /// executors are abandoned (listed in [`abandoned`](Self::abandoned)
    /// until they return) and replaced: those that have run past their
    /// timeout, returned for the supervisor to fail, and those whose task
    /// was cancelled while they ran and that have run at least `linger`
    /// (a cancelled attempt about to return is left to return), settled
    /// here as cancelled.
    pub(crate) fn take_abandoned(
        self: &Arc<Self>,
        now: u64,
        linger: Duration,
    ) -> Vec<(JobRef, u32)> {
        // Cancelled attempts need their job's phase, which only the ledger
        // can give (a slot names its job by ledger slot): look them up
        // outside the state lock, then take the slots still running them.
        let long: Vec<(usize, u64, u32)> = {
            let st = self.state.lock();
            st.slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    let e = slot.entry.as_ref()?;
                    (clock::between(e.started, now) >= linger).then_some((i, e.slot, e.attempt))
                })
                .collect()
        };
        let mut cancelled: Vec<(usize, u64, u32, JobRef)> = long
            .into_iter()
            .filter_map(|(i, slot, attempt)| {
                let job = self.ledger.get(slot)?;
                (job.core().phase() == Phase::Cancelled).then_some((i, slot, attempt, job))
            })
            .collect();
        let mut late_jobs = Vec::new();
        let mut replacements = Vec::new();
        let generation;
        {
            let mut st = self.state.lock();
            generation = st.generation;
            if !st.accepting {
                return Vec::new();
            }
            let mut freed = Resources::ZERO;
            for i in 0..st.slots.len() {
                let reason = match &st.slots[i].entry {
                    Some(e)
                        if e.timeout
                            .is_some_and(|t| clock::between(e.started, now) > t) =>
                    {
                        AbandonReason::TimedOut
                    }
                    Some(e)
                        if cancelled
                            .iter()
                            .any(|c| c.0 == i && c.1 == e.slot && c.2 == e.attempt) =>
                    {
                        AbandonReason::Cancelled
                    }
                    _ => continue,
                };
                let slot = &mut st.slots[i];
                let e = slot.entry.take().expect("matched above");
                slot.abandoned = true;
                self.signal.load.fetch_sub(e.cost_units, Ordering::Relaxed);
                freed = freed.saturating_add(&e.demand);
                st.abandon(&e, reason);
                if reason == AbandonReason::TimedOut {
                    late_jobs.push((e.slot, e.attempt));
                    cancelled.retain(|c| c.0 != i);
                }
                replacements.push(i);
            }
            // Cancelled attempts whose slot was not taken here returned or
            // moved meanwhile: their executors settle them.
            cancelled.retain(|c| replacements.contains(&c.0));
            st.running_demand = st.running_demand.saturating_sub(&freed);
            // Each replacement takes a slot whose abandoned executor has
            // exited, or a new one.
            let wanted = replacements.len();
            replacements.clear();
            for (i, slot) in st.slots.iter_mut().enumerate() {
                if replacements.len() == wanted {
                    break;
                }
                if slot.vacant {
                    *slot = Slot::default();
                    replacements.push(i);
                }
            }
            while replacements.len() < wanted {
                replacements.push(st.slots.len());
                st.slots.push(Slot::default());
            }
            self.gauge.publish(&st);
        }
        for (_, _, _, job) in &cancelled {
            self.ledger.settle(job.core(), Settled::Cancelled);
        }
        // A job settled meanwhile is no longer in the ledger: its executor
        // is still replaced, but there is nothing to retry.
        let out: Vec<(JobRef, u32)> = late_jobs
            .into_iter()
            .filter_map(|(slot, attempt)| Some((self.ledger.get(slot)?, attempt)))
            .collect();
        self.counters
            .timed_out
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        for slot in replacements {
            if let Err(e) = spawn_executor(Arc::clone(self), slot, generation) {
                tracing::error!(node = %self.id, error = %e, "node.executor replacement failed");
            }
        }
        out
    }

    /// Attempts let go of whose code still runs, as of `now`.
    pub(crate) fn abandoned(&self, now: u64) -> Vec<AbandonedAttempt> {
        let st = self.state.lock();
        st.abandoned
            .iter()
            .map(|a| AbandonedAttempt {
                task: a.task,
                node: self.id,
                attempt: a.attempt,
                reason: a.reason,
                running_for: clock::between(a.started, now),
            })
            .collect()
    }

    /// After the last incarnation ended (shutdown): waits for every
    /// executor thread to exit, except those still running an abandoned
    /// attempt, and waits at most until `deadline` for any one of them.
    /// Returns how many threads it left running.
    pub(crate) fn join_executors(&self, deadline: Instant) -> usize {
        let threads = std::mem::take(&mut *self.threads.lock());
        let mut left = 0;
        for (t, in_code) in threads {
            loop {
                if t.is_finished() {
                    let _ = t.join();
                    break;
                }
                // Inside task code it was let go of: not waited for. Once
                // out of it, its bookkeeping (a settle) is waited for.
                let id = t.thread().id();
                let running_abandoned = in_code.load(Ordering::Acquire)
                    && self.state.lock().abandoned.iter().any(|a| a.thread == id);
                if running_abandoned || Instant::now() >= deadline {
                    left += 1;
                    break;
                }
                std::thread::park_timeout(Duration::from_millis(1));
            }
        }
        left
    }

    /// What a policy sees of this node, read without the state lock (see
    /// [`Gauge`]).
    pub(crate) fn view(&self) -> NodeView {
        let g = &self.gauge;
        NodeView {
            id: self.id,
            load: self.load(),
            speed: self.speed(),
            slots: self.spec.slots.max(1),
            capacity: self.spec.capacity,
            free: self.spec.capacity.saturating_sub(&g.held()),
            queued: g.queued.load(Ordering::Relaxed) + self.inbox.len.load(Ordering::Relaxed),
            running: g.running.load(Ordering::Relaxed),
            available: g.accepting.load(Ordering::Acquire),
        }
    }

    pub(crate) fn metrics(&self) -> (NodeMetrics, hdrhistogram::Histogram<u64>) {
        let st = self.state.lock();
        let c = &self.counters;
        let m = NodeMetrics {
            id: Some(self.id),
            name: self.name(),
            load: self.load(),
            queued: self.queued(&st) as u64,
            running: st.slots.iter().filter(|s| s.entry.is_some()).count() as u64,
            completed: c.completed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            restarts: c.restarts.load(Ordering::Relaxed),
            migrations_in: c.migrations_in.load(Ordering::Relaxed),
            migrations_out: c.migrations_out.load(Ordering::Relaxed),
            stale_results: c.stale.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
            speed: self.speed(),
            available: st.accepting,
            retired: st.retired,
        };
        (m, st.latency.clone())
    }

    /// Releases the ledger slots of jobs this executor completed and
    /// claimed (counted as completed already, see `RunEnv::completed`).
    fn flush_completed(&self, done: &mut Vec<u64>, dead: &mut Vec<JobRef>) {
        if !done.is_empty() {
            // Counted before they leave the ledger: `completed − settled`
            // never undercounts what the ledger still holds, so the live
            // count read from both never understates (shutdown waits on it).
            let n = done.len() as u64;
            self.counters.settled.fetch_add(n, Ordering::Relaxed);
            self.ledger.release_all(done, dead);
        }
    }

    fn send_event(&self, event: NodeEvent) {
        let recipient = self.events.lock().clone();
        if let Some(r) = recipient {
            r.do_send(event);
        }
    }
}

/// Starts executors for a new incarnation of `shared` and its control actor
/// on `arbiter`. Returns the actor's address.
pub(crate) fn start_node(
    shared: &Arc<NodeShared>,
    arbiter: &ArbiterHandle,
    events: Recipient<NodeEvent>,
) -> std::io::Result<Addr<NodeActor>> {
    *shared.events.lock() = Some(events.clone());
    let generation = shared.reopen();
    for slot in 0..shared.spec.slots.max(1) {
        spawn_executor(Arc::clone(shared), slot, generation)?;
    }
    let node = Arc::clone(shared);
    let addr = NodeActor::start_in_arbiter(arbiter, move |_| NodeActor {
        shared: node,
        generation,
        events,
        stop_requested: false,
        crashed: false,
    });
    *shared.actor.lock() = Some(addr.clone());
    Ok(addr)
}

fn spawn_executor(shared: Arc<NodeShared>, slot: usize, generation: u64) -> std::io::Result<()> {
    let node = Arc::clone(&shared);
    let in_code = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&in_code);
    let handle = std::thread::Builder::new()
        .name(format!("allot-{}-x{slot}", shared.id))
        .spawn(move || {
            node.hooks.executor_started(node.id);
            executor_loop(&node, slot, generation, &flag);
            node.hooks.executor_stopped(node.id);
        })?;
    let mut threads = shared.threads.lock();
    // Threads that have ended need no join: let go of their handles.
    threads.retain(|(t, _)| !t.is_finished());
    threads.push((handle, in_code));
    Ok(())
}

/// Emulates relative speed on one machine: the fastest node runs at the
/// machine's pace, and a node at half its speed owes as much idle time as it
/// worked. The debt is paid in sleeps of at least a millisecond (shorter
/// sleeps overshoot).
struct Throttle {
    debt: Duration,
}

impl Throttle {
    /// Returns whether it slept.
    fn charge(&mut self, node: &NodeShared, generation: u64, worked: Duration) -> bool {
        let reference = f64::from_bits(node.reference_speed.load(Ordering::Relaxed));
        let own = node.speed();
        if own >= reference || own <= 0.0 {
            return false;
        }
        // Slower than `MAX_SLOWDOWN` × the reference runs at that pace: a
        // speed of 1e-300 (or a reference of 1e300) must not overflow.
        let owed = (reference / own - 1.0).min(MAX_SLOWDOWN - 1.0);
        self.debt = self.debt.saturating_add(worked.mul_f64(owed));
        if self.debt >= Duration::from_millis(1) {
            // In pieces, so that an executor whose incarnation ends (a
            // restart, a shutdown) stops paying and exits.
            const PIECE: Duration = Duration::from_millis(10);
            let start = Instant::now();
            while node.generation_is(generation) {
                let left = self.debt.saturating_sub(start.elapsed());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(PIECE));
            }
            self.debt = self.debt.saturating_sub(start.elapsed());
            return true;
        }
        false
    }
}

/// The most a node's speed throttle slows it: a node slower than this
/// fraction of the fastest node (or slowed by a fault factor beyond it)
/// runs at `1 / MAX_SLOWDOWN` of the fastest's pace.
pub(crate) const MAX_SLOWDOWN: f64 = 1e3;

/// Jobs pushed into a node's queue under one hold of its lock.
const PUSH_RUN: usize = 128;
/// How far down its queue an executor prefetches (see `JobCore::prefetch`):
/// a few tasks' time ahead of the first touch.
const PREFETCH_AHEAD: usize = 4;

/// Completions an executor settles with the ledger at once.
const SETTLE_BATCH: usize = 64;
/// How long an idle executor waits for work before it frees the finished
/// jobs kept for submitters (see `Ledger::bury`).
const DEAD_LINGER: Duration = Duration::from_millis(1);
/// With jobs queued, how often an executor looks at the inbox (ns): once
/// per task for tasks this long or longer, so new urgent work is ordered
/// in within one task; for a flood of short ones, less often than per
/// task, because each look takes the inbox's line from a pusher in the
/// middle of its run.
const INBOX_LOOK_NANOS: u64 = 10_000;

struct Finished {
    cost_units: u64,
    demand: Resources,
    latency_us: Option<u64>,
    feedback: Option<Feedback>,
}

/// `in_code` is raised while the executor runs task code: a shutdown waits
/// for an executor outside it (its bookkeeping may settle a task), never
/// for one inside abandoned code.
fn executor_loop(node: &Arc<NodeShared>, slot: usize, generation: u64, in_code: &AtomicBool) {
    let mut finished: Option<Finished> = None;
    // One clock read per task: the end of one attempt starts the next.
    let mut now = clock::now_nanos();
    let mut looked = now;
    // Completions leave the ledger in batches: one lock per cohort per flush.
    let mut done: Vec<u64> = Vec::with_capacity(SETTLE_BATCH);
    // Jobs the ledger lets go of pass through here (see `Ledger::bury`).
    let mut dead: Vec<JobRef> = Vec::new();
    let mut swept = false;
    let mut spun = false;
    let (mut unload, mut unloads) = (0u64, 0usize);
    let mut throttle = Throttle {
        debt: Duration::ZERO,
    };
    let me = std::thread::current().id();
    loop {
        let (job, attempt, count) = {
            let mut st = lock_spinning(&node.state);
            if let Some(f) = finished.take() {
                if st.generation == generation && !st.slots[slot].abandoned {
                    st.slots[slot].entry = None;
                    st.running_demand = st.running_demand.saturating_sub(&f.demand);
                    // The load counter is shared with submitters: give back
                    // finished cost in batches, always under this lock and
                    // within this incarnation (eviction resets the counter).
                    unload += f.cost_units;
                    unloads += 1;
                    if unloads >= SETTLE_BATCH {
                        node.signal
                            .load
                            .fetch_sub(std::mem::take(&mut unload), Ordering::Relaxed);
                        unloads = 0;
                    }
                    if let Some(us) = f.latency_us {
                        st.latency.saturating_record(us.max(1));
                    }
                    if let Some(fb) = f.feedback {
                        st.feedback.push(fb);
                    }
                } else {
                    // Let go of while it ran: its code has returned.
                    st.abandoned.retain(|a| a.thread != me);
                }
            }
            loop {
                if st.generation != generation || st.slots[slot].abandoned {
                    if st.generation == generation {
                        st.slots[slot].vacant = true;
                    }
                    drop(st);
                    node.flush_completed(&mut done, &mut dead);
                    return;
                }
                if st.queue.is_empty() || now.wrapping_sub(looked) >= INBOX_LOOK_NANOS {
                    looked = now;
                    if node.inbox.len.load(Ordering::Relaxed) > 0 {
                        node.absorb(&mut st);
                    }
                }
                if let Some(job) = st.queue.pop() {
                    if let Some(ahead) = st.queue.peek(PREFETCH_AHEAD) {
                        ahead.core().prefetch();
                    }
                    swept = false;
                    spun = false;
                    let core = job.core();
                    let attempt = core.attempt();
                    if core.transition(Phase::Queued, attempt, Phase::Running, attempt) {
                        // Every writer holds the state lock: no read-modify-write.
                        let count = node.started.load(Ordering::Relaxed) + 1;
                        node.started.store(count, Ordering::Relaxed);
                        st.running_demand = st.running_demand.saturating_add(&core.spec.demand());
                        st.slots[slot].entry = Some(RunningEntry {
                            slot: core.ledger_slot.load(Ordering::Acquire),
                            task: core.id,
                            thread: me,
                            attempt,
                            started: now,
                            timeout: core.spec.timeout(),
                            cost_units: core.cost_units(),
                            demand: core.spec.demand(),
                        });
                        node.gauge.publish(&st);
                        // Raised under the lock that lists the attempt: an
                        // eviction that lists it as abandoned sees it raised.
                        in_code.store(true, Ordering::Relaxed);
                        break (job, attempt, count);
                    }
                    node.signal
                        .load
                        .fetch_sub(core.cost_units(), Ordering::Relaxed);
                    node.ledger.reap_if_cancelled(core);
                    continue;
                }
                // Out of work: what views read may have changed since the
                // last publish (a finished task), and the lock is let go
                // below.
                node.gauge.publish(&st);
                if unloads > 0 {
                    node.signal
                        .load
                        .fetch_sub(std::mem::take(&mut unload), Ordering::Relaxed);
                    unloads = 0;
                }
                if !spun && !st.spinner && node.watch_idle.load(Ordering::Relaxed) {
                    // Work often comes back within microseconds (the next
                    // run of a batch, the next single submission): watch
                    // for a push a while before parking, so neither side
                    // pays a futex wake. One executor per node does this,
                    // and only when executors do not outnumber cores; then
                    // it looks at the queue again, under the lock, before
                    // waiting.
                    spun = true;
                    st.spinner = true;
                    MutexGuard::unlocked(&mut st, || {
                        spin_until(|| node.inbox.len.load(Ordering::Acquire) != 0)
                    });
                    st.spinner = false;
                    continue;
                }
                if !done.is_empty() {
                    // About to sleep: settle what we finished first, so the
                    // ledger never waits on a sleeping executor. Not before
                    // the watch: a stream of single submissions keeps an
                    // executor idle between tasks, and settling each on its
                    // own would take a ledger lock per task, on lines the
                    // submitter writes next.
                    drop(st);
                    node.flush_completed(&mut done, &mut dead);
                    st = lock_spinning(&node.state);
                    continue;
                }
                // Finished jobs no submitter came back for are freed here
                // once per idle spell, but only after a short wait with no
                // work: a submitter that comes back within it (the next
                // burst after it waited for the last) frees them itself,
                // where its allocator reuses the memory at once.
                let linger = !swept && node.ledger.has_dead();
                // Waits unless a push landed meanwhile (`park` says why
                // none is missed).
                let lingered = node.park(&mut st, linger.then_some(DEAD_LINGER));
                if lingered {
                    drop(st);
                    node.ledger.free_dead();
                    // Once per idle spell: others' later frees wait for a
                    // submitter or their own executor's idling.
                    swept = true;
                    st = lock_spinning(&node.state);
                }
                // Waited: the next task's start is timed from here.
                now = clock::now_nanos();
            }
        };
        let core = job.core();
        let actions = node.fault_actions(&job, attempt, count);
        if actions != Actions::default() {
            if actions.flood > 0 {
                node.flood(actions.flood);
            }
            if actions.crash {
                node.actor_fault(ActorFault::Crash);
            }
            if actions.panic_actor {
                node.actor_fault(ActorFault::Panic);
            }
            if let Some(d) = actions.hang {
                node.hang(generation, d);
            }
        }
        let started = if actions.hang.is_some() {
            clock::now_nanos()
        } else {
            now
        };
        let outcome = job.run(node.id, attempt, node.env(actions.panic_task));
        in_code.store(false, Ordering::Release);
        now = clock::now_nanos();
        let mut latency_us = None;
        match outcome {
            RunOutcome::Completed => {
                if let Some(slot) = node.ledger.claim(core) {
                    done.push(slot);
                }
                if done.len() >= SETTLE_BATCH {
                    node.flush_completed(&mut done, &mut dead);
                }
                latency_us = Some(now.saturating_sub(core.submitted_nanos()) / 1_000);
            }
            RunOutcome::Stale => {
                node.counters.stale.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = %node.id, task = %core.id, attempt, "late result discarded");
                node.ledger.reap_if_cancelled(core);
            }
            RunOutcome::Failed(failure) => {
                handle_failure(node, &job, attempt, failure);
            }
        }
        if throttle.charge(node, generation, clock::between(started, now)) {
            now = clock::now_nanos();
        }
        let feedback =
            (latency_us.is_some() && node.feedback_on.load(Ordering::Relaxed)).then(|| Feedback {
                node: node.id,
                kind: core.spec.kind().clone(),
                cost: core.spec.cost(),
                elapsed: clock::between(started, now),
            });
        finished = Some(Finished {
            cost_units: core.cost_units(),
            demand: core.spec.demand(),
            latency_us,
            feedback,
        });
    }
}

fn handle_failure(node: &NodeShared, job: &JobRef, attempt: u32, failure: AttemptFailure) {
    let core = job.core();
    tracing::debug!(node = %node.id, task = %core.id, attempt, %failure, "attempt failed");
    let count_failed = || {
        if node.ledger.settle(core, Settled::Failed) {
            node.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    };
    match after_failure(
        &**job,
        Phase::Running,
        attempt,
        Some(node.id),
        failure,
        count_failed,
    ) {
        AfterFailure::Retry => {
            node.ledger.note_retry();
            node.send_event(NodeEvent::Retry(JobRef::clone(job)));
        }
        AfterFailure::Failed => {}
        AfterFailure::Superseded => {
            node.ledger.reap_if_cancelled(core);
        }
    }
}

/// Runs `job` here and now on the calling thread, if it has not started:
/// how a joining parent helps its own subtasks instead of blocking a slot.
/// Returns whether it ran it.
pub(crate) fn run_inline(node: &NodeShared, job: &JobRef) -> bool {
    let core = job.core();
    let attempt = core.attempt();
    let claimed = core.transition(Phase::Queued, attempt, Phase::Running, attempt)
        || core.transition(Phase::Pending, attempt, Phase::Running, attempt);
    if !claimed {
        return false;
    }
    node.beats.fetch_add(1, Ordering::Relaxed);
    match job.run(node.id, attempt, node.env(false)) {
        RunOutcome::Completed => {
            if node.ledger.settle_completed(core) {
                node.counters.settled.fetch_add(1, Ordering::Relaxed);
            }
        }
        RunOutcome::Stale => {
            node.counters.stale.fetch_add(1, Ordering::Relaxed);
            node.ledger.reap_if_cancelled(core);
        }
        RunOutcome::Failed(failure) => handle_failure(node, job, attempt, failure),
    }
    node.beats.fetch_add(1, Ordering::Relaxed);
    true
}

/// Counts a failure decided outside the node (node loss, timeout) against it.
pub(crate) fn count_failed(node: &NodeShared) {
    node.counters.failed.fetch_add(1, Ordering::Relaxed);
}

/// The node's control actor.
pub(crate) struct NodeActor {
    shared: Arc<NodeShared>,
    generation: u64,
    events: Recipient<NodeEvent>,
    stop_requested: bool,
    crashed: bool,
}

impl std::fmt::Debug for NodeActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeActor")
            .field("node", &self.shared.id)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(node = %self.shared.id, generation = self.generation, "node.start");
    }
}

impl Drop for NodeActor {
    fn drop(&mut self) {
        if self.stop_requested {
            return;
        }
        let reason = if std::thread::panicking() {
            DownReason::Panicked
        } else if self.crashed {
            DownReason::Crashed
        } else {
            DownReason::Stopped
        };
        self.events.do_send(NodeEvent::Down {
            node: self.shared.id,
            generation: self.generation,
            reason,
        });
    }
}

/// Heartbeat: answered by the actor, reporting on its executors.
#[derive(Message)]
#[rtype(result = "Pong")]
pub(crate) struct Ping;

/// The answer to [`Ping`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pong {
    pub(crate) generation: u64,
    /// How long the longest-running current attempt has run.
    pub(crate) oldest_running: Option<Duration>,
}

impl<A: Actor, M: Message<Result = Pong>> actix::dev::MessageResponse<A, M> for Pong {
    fn handle(self, _ctx: &mut A::Context, tx: Option<actix::dev::OneshotSender<M::Result>>) {
        if let Some(tx) = tx {
            let _ = tx.send(self);
        }
    }
}

impl Handler<Ping> for NodeActor {
    type Result = Pong;

    fn handle(&mut self, _msg: Ping, _ctx: &mut Self::Context) -> Pong {
        let now = clock::now_nanos();
        let st = self.shared.state.lock();
        let oldest_running = st
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .map(|e| clock::between(e.started, now))
            .max();
        Pong {
            generation: self.generation,
            oldest_running,
        }
    }
}

/// Control: stop this incarnation because the supervisor asked.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopNode;

impl Handler<StopNode> for NodeActor {
    type Result = ();

    fn handle(&mut self, _msg: StopNode, ctx: &mut Self::Context) {
        self.stop_requested = true;
        ctx.stop();
    }
}

/// An injected fault in the actor itself.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum ActorFault {
    /// `panic!` inside this handler.
    Panic,
    /// Stop without having been asked (a normal exit).
    Stop,
    /// Crash: stop abnormally, without a panic.
    Crash,
}

impl Handler<ActorFault> for NodeActor {
    type Result = ();

    fn handle(&mut self, msg: ActorFault, ctx: &mut Self::Context) {
        match msg {
            ActorFault::Panic => panic!(
                "{} in {} actor",
                crate::fault::INJECTED_PANIC,
                self.shared.id
            ),
            ActorFault::Stop => ctx.stop(),
            ActorFault::Crash => {
                self.crashed = true;
                ctx.stop();
            }
        }
    }
}

/// A control message that does nothing: what a mailbox flood is made of.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Noise;

impl Handler<Noise> for NodeActor {
    type Result = ();

    fn handle(&mut self, _msg: Noise, _ctx: &mut Self::Context) {}
}

/// Migration request: give up to `max_tasks` queued tasks worth up to
/// `max_cost`.
#[derive(Message)]
#[rtype(result = "Vec<JobRef>")]
pub(crate) struct TakeQueued {
    pub(crate) max_tasks: usize,
    pub(crate) max_cost: f64,
}

impl Handler<TakeQueued> for NodeActor {
    type Result = MessageResult<TakeQueued>;

    fn handle(&mut self, msg: TakeQueued, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.shared.take_queued(msg.max_tasks, msg.max_cost))
    }
}

/// Marks queued jobs taken from a node `Pending` again (no attempt used).
pub(crate) fn requeue_evicted(ledger: &Ledger, jobs: Vec<JobRef>) -> Vec<JobRef> {
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let core = job.core();
        let attempt = core.attempt();
        if core.transition(Phase::Queued, attempt, Phase::Pending, attempt) {
            out.push(job);
        } else {
            ledger.reap_if_cancelled(core);
        }
    }
    out
}

#[cfg(all(test, loom))]
mod loom_models;
