//! [`NodeShared`]: the state a node's actor, its executors, the supervisor
//! and submitters share, and what placement and metrics read of it.

use super::messages::{ActorFault, NodeEvent};
use super::spec::NodeSpec;
use crate::fault::{Actions, NodeFaults};
use crate::hooks::Hooks;
use crate::ids::{NodeId, TaskId};
use crate::job::{Host, JobRef, RemoteLink, RunEnv};
use crate::ledger::Ledger;
use crate::metrics::{AbandonReason, NodeMetrics};
use crate::policy::{Feedback, NodeView};
use crate::queue::{Discipline, DisciplineQueue};
use crate::resources::Resources;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex};
use actix::prelude::*;
use crossbeam_utils::CachePadded;
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// An attempt running in a slot. It names the job by its ledger slot
/// instead of holding a reference: the rare paths that need the job
/// (eviction, timeouts) look it up in the ledger, and the executor does
/// not touch the job's reference count to start and finish it.
#[derive(Debug)]
pub(super) struct RunningEntry {
    /// The job's ledger slot when it started ([`Ledger::get`]).
    pub(super) slot: u64,
    pub(super) task: TaskId,
    /// The executor running it: an abandoned attempt is listed by it
    /// until that executor returns.
    pub(super) thread: ThreadId,
    pub(super) attempt: u32,
    /// From [`clock::now_nanos`].
    pub(super) started: u64,
    pub(super) timeout: Option<Duration>,
    pub(super) cost_units: u64,
    pub(super) demand: Resources,
}

#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) entry: Option<RunningEntry>,
    /// Its executor was given up on (a timed-out or cancelled task); it
    /// exits when it returns.
    pub(super) abandoned: bool,
    /// Its abandoned executor has exited: a replacement may take the slot
    /// (so the slot list does not grow with every timeout).
    pub(super) vacant: bool,
}

/// An attempt the runtime let go of, listed until its executor returns.
#[derive(Debug)]
pub(super) struct Abandoned {
    pub(super) task: TaskId,
    pub(super) attempt: u32,
    pub(super) reason: AbandonReason,
    /// From [`clock::now_nanos`].
    pub(super) started: u64,
    pub(super) thread: ThreadId,
}

pub(super) struct NodeState {
    pub(super) generation: u64,
    pub(super) accepting: bool,
    pub(super) retired: bool,
    pub(super) queue: DisciplineQueue<JobRef>,
    /// The emptied buffer traded for the inbox's full one (see `absorb`).
    pub(super) spare: Vec<JobRef>,
    pub(super) slots: Vec<Slot>,
    /// An idle executor is watching for pushes before it parks.
    pub(super) spinner: bool,
    pub(super) running_demand: Resources,
    pub(super) latency: hdrhistogram::Histogram<u64>,
    /// Completions for a learning policy, drained by the supervisor.
    pub(super) feedback: Vec<Feedback>,
    /// Attempts whose executors were let go of and still run their code.
    pub(super) abandoned: Vec<Abandoned>,
}

impl NodeState {
    /// Lists the attempt in `entry` as abandoned for `reason`.
    pub(super) fn abandon(&mut self, entry: &RunningEntry, reason: AbandonReason) {
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
pub(super) struct NodeCounters {
    pub(super) failures: AtomicU64,
    /// Raised as each task completes, before its value is delivered.
    pub(super) completed: AtomicU64,
    /// Completed tasks since removed from the ledger (in batches).
    pub(super) settled: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) restarts: AtomicU64,
    pub(super) migrations_in: AtomicU64,
    pub(super) migrations_out: AtomicU64,
    pub(super) stale: AtomicU64,
    pub(super) timed_out: AtomicU64,
}

/// Where pushed jobs wait for the next holder of the state lock to move
/// them into the queue: pushers take only this lock, held for a few
/// pointer copies, so they never hold the state lock an executor needs
/// for every task.
pub(super) struct Inbox {
    /// Mirrors `NodeState::accepting` (both change under the state lock).
    pub(super) accepting: bool,
    /// `Queued` jobs, oldest first.
    pub(super) jobs: Vec<JobRef>,
}

/// The inbox and its length: one line, which a pusher takes once per run
/// (the length written in the same hold, no further line to fetch) and an
/// idle executor watches before it parks.
pub(super) struct InboxLine {
    /// Jobs in the inbox, written under its lock: read without it.
    pub(super) len: AtomicUsize,
    pub(super) mutex: Mutex<Inbox>,
}

/// What a placement needs of a node's state, published by each holder of
/// the state lock that changes it, so views are read without that lock
/// (the lock an executor takes for every task). Each field is exact as of
/// the last release of the lock; fields read together may be from
/// different moments.
#[derive(Debug, Default)]
pub(super) struct Gauge {
    /// Jobs in the discipline queue (not counting the inbox).
    pub(super) queued: AtomicUsize,
    /// Slots running a task.
    pub(super) running: AtomicUsize,
    /// Resources held by running tasks: CPU, memory, GPU, bandwidth.
    pub(super) held: [AtomicU64; 4],
    /// Whether the current incarnation accepts work.
    pub(super) accepting: AtomicBool,
}

impl Gauge {
    /// Copies what views read from `st` (the state lock held). Stores only
    /// what changed: a line no one else reads stays put.
    pub(super) fn publish(&self, st: &NodeState) {
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

    pub(super) fn held(&self) -> Resources {
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
pub(super) struct Signal {
    /// Estimated cost queued + running, in micro-units; read without locking.
    pub(super) load: AtomicU64,
    /// Executors waiting (or about to wait) on `cv`: changed under the
    /// state lock, read by pushers after they push, so one of the two
    /// always sees the other (see the park/wake protocol in `node/mod.rs`).
    pub(super) parked: AtomicUsize,
}

/// Everything about a node that outlives one incarnation of its actor.
pub(crate) struct NodeShared {
    pub(crate) id: NodeId,
    pub(crate) spec: NodeSpec,
    /// The configured name, or `node-<id>` (see [`name`](Self::name)).
    pub(super) label: std::sync::Arc<str>,
    pub(super) speed_bits: AtomicU64,
    /// Whether an idle executor watches the inbox before parking: only when
    /// the runtime has no more executors than the machine has cores.
    pub(super) watch_idle: AtomicBool,
    /// The load, written by pushers once per run and by executors in
    /// batches, read by placement; and the parked count.
    pub(super) signal: CachePadded<Signal>,
    /// Written by pushers once per job: a line of its own, so executors
    /// reading `signal` or taking `state` do not lose theirs to it.
    /// Lock order: `state`, then `inbox`.
    pub(super) inbox: CachePadded<InboxLine>,
    /// Taken by executors once per task.
    pub(super) state: CachePadded<Mutex<NodeState>>,
    /// What views read of the state, without its lock.
    pub(super) gauge: CachePadded<Gauge>,
    pub(super) cv: Condvar,
    pub(super) counters: NodeCounters,
    pub(super) ledger: Arc<Ledger>,
    pub(super) events: Mutex<Option<Recipient<NodeEvent>>>,
    /// The current incarnation's actor, for faults raised by executors.
    pub(super) actor: Mutex<Option<Recipient<ActorFault>>>,
    /// Tasks started here, across restarts: what fault triggers count.
    /// Written only under the state lock.
    pub(super) started: AtomicU64,
    pub(super) has_faults: AtomicBool,
    pub(super) faults: Mutex<Arc<NodeFaults>>,
    pub(super) retired: AtomicBool,
    /// Heartbeats from running tasks ([`TaskContext::heartbeat`]).
    pub(super) beats: AtomicU64,
    /// The runtime, for tasks that fork subtasks; set once after build.
    pub(super) host: std::sync::OnceLock<Arc<dyn Host>>,
    /// Whether to record completions for the policy.
    pub(super) feedback_on: AtomicBool,
    /// The fastest nominal speed in the runtime: nodes run at
    /// `speed / reference_speed` of the machine's pace.
    pub(super) reference_speed: AtomicU64,
    /// The user's executor thread hooks.
    pub(super) hooks: Hooks,
    /// Every executor thread started and not yet joined, with whether it
    /// is inside task code now.
    pub(super) threads: Mutex<Vec<(JoinHandle<()>, Arc<AtomicBool>)>>,
    /// Set for a node that runs in another process (cluster mode): its
    /// executors send attempts over this link instead of running them.
    pub(super) remote: Option<Remote>,
}

/// A remote node's link and how many attempts it keeps in flight.
#[derive(Debug)]
pub(super) struct Remote {
    pub(super) link: Arc<dyn RemoteLink>,
    /// Executors beside the node's slots: attempts handed to the worker
    /// ahead of a free slot there, so that its slots do not wait out a
    /// round trip.
    pub(super) prefetch: usize,
    /// What its worker last said of it: corrects the views.
    pub(super) reported: Arc<super::Reported>,
}

impl std::fmt::Debug for NodeShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeShared")
            .field("id", &self.id)
            .field("load", &self.signal.load.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

pub(super) fn new_histogram() -> hdrhistogram::Histogram<u64> {
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
        let label = if spec.name.is_empty() {
            id.to_string().into()
        } else {
            spec.name.as_str().into()
        };
        NodeShared {
            id,
            spec,
            label,
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
            remote: None,
        }
    }

    /// Makes this a node in another process, reached through `link`, with
    /// `prefetch` attempts in flight beyond its slots.
    /// `reported`: its worker's heartbeat figures.
    pub(crate) fn with_remote(
        mut self,
        link: Arc<dyn RemoteLink>,
        prefetch: usize,
        reported: Arc<super::Reported>,
    ) -> Self {
        self.remote = Some(Remote {
            link,
            prefetch,
            reported,
        });
        self
    }

    /// Whether this node runs in another process.
    pub(crate) fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// A remote node's link.
    pub(super) fn remote_link(&self) -> Option<&dyn RemoteLink> {
        self.remote.as_ref().map(|r| &*r.link)
    }

    /// For a remote node, how long its worker has been silent and whether
    /// it left; `None` for a local node.
    pub(crate) fn remote_status(&self) -> Option<(Duration, bool)> {
        self.remote
            .as_ref()
            .map(|r| (r.link.silent_for(), r.link.departed()))
    }

    /// Executor threads per incarnation: the slots, and for a remote
    /// node its prefetch.
    pub(crate) fn executors(&self) -> usize {
        self.spec
            .slots
            .max(1)
            .saturating_add(self.remote.as_ref().map_or(0, |r| r.prefetch))
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

    #[inline]
    pub(super) fn env(&self, inject_panic: bool) -> RunEnv<'_> {
        RunEnv {
            beats: Some(&self.beats),
            completed: Some(&self.counters.completed),
            node_name: &self.label,
            host: self.host.get().map(|h| &**h),
            inject_panic,
            // Set by a remote node's executor, which keeps its link at
            // hand (this field of the node is off the task path's lines).
            remote: None,
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
    #[inline]
    pub(super) fn fault_actions(&self, job: &JobRef, attempt: u32, count: u64) -> Actions {
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

    pub(super) fn actor_fault(&self, fault: ActorFault) {
        let addr = self.actor.lock().clone();
        if let Some(a) = addr {
            a.do_send(fault);
        }
    }

    pub(super) fn flood(&self, messages: u64) {
        let addr = self.actor.lock().clone();
        if let Some(a) = addr {
            for _ in 0..messages {
                a.do_send(ActorFault::Noise);
            }
        }
    }

    /// An injected hang: blocks this executor until `duration` passes or the
    /// incarnation `generation` ends.
    pub(super) fn hang(&self, generation: u64, duration: Option<Duration>) {
        tracing::warn!(
            node = self.name(),
            node_id = self.id.0,
            // Absent: until the node is replaced.
            duration_s = duration.map(|d| d.as_secs_f64()),
            "fault.hang"
        );
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

    /// The node's configured name, or `node-<id>` when it has none: what
    /// logs, metrics and errors call it.
    pub(crate) fn name(&self) -> &str {
        &self.label
    }

    /// [`name`](Self::name), shared (for errors that outlive the node).
    pub(crate) fn label(&self) -> &std::sync::Arc<str> {
        &self.label
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

    pub(super) fn generation_is(&self, generation: u64) -> bool {
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
}

impl NodeShared {
    /// What a policy sees of this node, read without the state lock (see
    /// [`Gauge`]).
    pub(crate) fn view(&self) -> NodeView {
        let g = &self.gauge;
        let queued = g.queued.load(Ordering::Relaxed) + self.inbox.len.load(Ordering::Relaxed);
        let running = g.running.load(Ordering::Relaxed);
        let (queued, running) = match &self.remote {
            None => (queued, running),
            Some(r) => r.reported.correct(queued, running),
        };
        NodeView {
            id: self.id,
            load: self.load(),
            speed: self.speed(),
            slots: self.spec.slots.max(1),
            capacity: self.spec.capacity,
            free: self.spec.capacity.saturating_sub(&g.held()),
            queued,
            running,
            available: g.accepting.load(Ordering::Acquire),
        }
    }

    pub(crate) fn metrics(&self) -> (NodeMetrics, hdrhistogram::Histogram<u64>) {
        let st = self.state.lock();
        let c = &self.counters;
        let queued = self.queued(&st);
        let running = st.slots.iter().filter(|s| s.entry.is_some()).count();
        let (queued, running) = match &self.remote {
            None => (queued, running),
            Some(r) => r.reported.correct(queued, running),
        };
        let m = NodeMetrics {
            id: Some(self.id),
            name: self.label.to_string(),
            load: self.load(),
            queued: queued as u64,
            running: running as u64,
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
    pub(super) fn flush_completed(&self, done: &mut Vec<u64>, dead: &mut Vec<JobRef>) {
        if !done.is_empty() {
            // Counted before they leave the ledger: `completed − settled`
            // never undercounts what the ledger still holds, so the live
            // count read from both never understates (shutdown waits on it).
            let n = done.len() as u64;
            self.counters.settled.fetch_add(n, Ordering::Relaxed);
            self.ledger.release_all(done, dead);
        }
    }

    pub(super) fn send_event(&self, event: NodeEvent) {
        let recipient = self.events.lock().clone();
        if let Some(r) = recipient {
            r.do_send(event);
        }
    }
}
