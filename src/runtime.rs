//! What users touch: [`Builder`], [`Runtime`], [`RuntimeHandle`],
//! [`TaskHandle`].
//!
//! actix stays inside: the runtime starts its own actix system on a
//! background thread, and no actix type appears in this API.

use crate::balancer::{Balancer, BalancerConfig, StopBalancer};
use crate::clock;
use crate::config::{
    RuntimeConfig, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_NODE_COUNT, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_RETRY_BACKOFF_MAX, DEFAULT_RETRY_BACKOFF_MIN, DEFAULT_RNG_SEED,
};
use crate::dispatch::{Backlog, Dispatcher};
use crate::error::{
    BuildError, CancelReason, Infeasibility, InjectError, Refusal, SubmitBatchError, SubmitError,
    SubmitTimeoutError, SubmitWaitError, TaskError,
};
use crate::fault::{self, Fault, FaultPlan};
use crate::forkjoin::ForkJoinHost;
use crate::hooks::Hooks;
use crate::ids::{NodeId, TaskId};
use crate::job::{self, ErasedJob, HandedBack, JobCore, JobRef, Rerun, TaskInner, TypedJob};
use crate::ledger::{Ledger, DEAD_CAP};
use crate::metrics::{AbandonReason, AbandonedAttempt, LatencySummary, Metrics, Totals};
use crate::node::{NodeDirectory, NodeShared, NodeSpec};
use crate::policy::{Policy, PolicyKind};
use crate::queue::Discipline;
use crate::resources::Resources;
use crate::spec::{TaskSpec, TaskStatus};
use crate::supervision::{Health, SupervisionConfig, SupervisorEvent};
use crate::supervisor::{
    Drain, HealthCell, Inbound, Inject, ScheduleSpeed, Stop, Supervisor, SupervisorConfig,
    SupervisorParts,
};
use crate::sync::{Mutex, RwLock};
use crate::task::Task;
use actix::prelude::*;
use crossbeam_channel::Sender;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type PolicyFactory = Arc<dyn Fn(u64) -> Box<dyn Policy> + Send + Sync>;

#[derive(Clone)]
enum PolicySource {
    Kind(PolicyKind),
    Custom(PolicyFactory),
}

impl fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Kind(k) => write!(f, "{k}"),
            PolicySource::Custom(_) => f.write_str("custom"),
        }
    }
}

/// Configures and starts a [`Runtime`].
///
/// Setters take `&mut self`, so one builder can start several runtimes.
///
/// # Examples
///
/// ```
/// use allot::{Discipline, NodeSpec, PolicyKind, Resources, Runtime, Task};
///
/// let runtime = Runtime::builder()
///     .nodes(vec![NodeSpec::new(Resources::cpu(4_000)); 2])
///     .policy(PolicyKind::RoundRobin)
///     .discipline(Discipline::Sjf)
///     .rng_seed(7)
///     .build()
///     .unwrap();
/// let handle = runtime.handle();
/// let task = handle.submit(Task::new(|_| Ok::<_, String>(6 * 7))).unwrap();
/// assert_eq!(task.wait().unwrap(), 42);
/// runtime.shutdown();
/// ```
///
/// # Default
///
/// [`DEFAULT_NODE_COUNT`] default nodes, [`PolicyKind::LeastLoaded`],
/// [`Discipline::Fcfs`], [`DEFAULT_RNG_SEED`], [`DEFAULT_QUEUE_CAPACITY`],
/// [`DEFAULT_HEARTBEAT_INTERVAL`], retry backoff from
/// [`DEFAULT_RETRY_BACKOFF_MIN`] to [`DEFAULT_RETRY_BACKOFF_MAX`], and the
/// default [`BalancerConfig`].
#[derive(Clone, Debug)]
pub struct Builder {
    nodes: Vec<NodeSpec>,
    policy: PolicySource,
    discipline: Discipline,
    rng_seed: u64,
    queue_capacity: usize,
    heartbeat_interval: Duration,
    retry_backoff: (Duration, Duration),
    balancer: BalancerConfig,
    supervision: SupervisionConfig,
    fault_plan: Option<FaultPlan>,
    hooks: Hooks,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            nodes: vec![NodeSpec::default(); DEFAULT_NODE_COUNT],
            policy: PolicySource::Kind(PolicyKind::default()),
            discipline: Discipline::default(),
            rng_seed: DEFAULT_RNG_SEED,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            retry_backoff: (DEFAULT_RETRY_BACKOFF_MIN, DEFAULT_RETRY_BACKOFF_MAX),
            balancer: BalancerConfig::default(),
            supervision: SupervisionConfig::default(),
            fault_plan: None,
            hooks: Hooks::default(),
        }
    }
}

impl Builder {
    /// A builder with every default.
    pub fn new() -> Self {
        Builder::default()
    }

    /// A builder set from a [`RuntimeConfig`] (a config file's contents).
    /// Settings are checked by [`build`](Builder::build).
    pub fn from_config(config: &RuntimeConfig) -> Self {
        let mut b = Builder::new();
        b.nodes(config.nodes.iter().cloned())
            .policy(config.policy)
            .discipline(config.discipline)
            .rng_seed(config.rng_seed)
            .queue_capacity(config.queue_capacity)
            .heartbeat_interval(config.heartbeat_interval)
            .retry_backoff(config.retry_backoff_min, config.retry_backoff_max)
            .balancer(config.balancer.clone())
            .supervision(config.supervision.clone());
        if let Some(plan) = &config.fault_plan {
            b.fault_plan(plan.clone());
        }
        b
    }

    /// Replaces the node list.
    pub fn nodes(&mut self, nodes: impl IntoIterator<Item = NodeSpec>) -> &mut Self {
        self.nodes = nodes.into_iter().collect();
        self
    }

    /// The allocation policy, by kind.
    pub fn policy(&mut self, policy: PolicyKind) -> &mut Self {
        self.policy = PolicySource::Kind(policy);
        self
    }

    /// A custom allocation policy, made from the runtime's seed.
    pub fn policy_with<F>(&mut self, make: F) -> &mut Self
    where
        F: Fn(u64) -> Box<dyn Policy> + Send + Sync + 'static,
    {
        self.policy = PolicySource::Custom(Arc::new(make));
        self
    }

    /// The queue discipline of the pending queue and of every node queue.
    pub fn discipline(&mut self, discipline: Discipline) -> &mut Self {
        self.discipline = discipline;
        self
    }

    /// The seed for every random choice (allocation, balancing, faults).
    pub fn rng_seed(&mut self, seed: u64) -> &mut Self {
        self.rng_seed = seed;
        self
    }

    /// Most tasks in flight (accepted and not finished); beyond it `submit`
    /// returns [`SubmitError::Full`].
    pub fn queue_capacity(&mut self, capacity: usize) -> &mut Self {
        self.queue_capacity = capacity;
        self
    }

    /// How often the supervisor checks nodes and timeouts.
    pub fn heartbeat_interval(&mut self, interval: Duration) -> &mut Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Backoff before a retry: `min · 2^(n−1)` for the n-th retry, at most `max`.
    pub fn retry_backoff(&mut self, min: Duration, max: Duration) -> &mut Self {
        self.retry_backoff = (min, max);
        self
    }

    /// Balancer settings.
    pub fn balancer(&mut self, config: BalancerConfig) -> &mut Self {
        self.balancer = config;
        self
    }

    /// How failed nodes are restarted.
    pub fn supervision(&mut self, config: SupervisionConfig) -> &mut Self {
        self.supervision = config;
        self
    }
    /// Runs `f` on every executor thread as it starts, before it runs any
    /// task, with the node it works for: to pin it to a core, pick a
    /// device, or set up what a model library keeps per thread. Executors
    /// start with their node, again when the node restarts, and when one
    /// abandoned with a hung or timed-out task is replaced. A panic in `f`
    /// is logged and goes no further.
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime};
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes(vec![NodeSpec::new(Resources::cpu(2_000)); 2])
    ///     .on_executor_start(|node| {
    ///         let thread = std::thread::current();
    ///         eprintln!("{} works for {node}", thread.name().unwrap_or("?"));
    ///     })
    ///     .build()?;
    /// runtime.shutdown();
    /// # Ok::<(), allot::BuildError>(())
    /// ```
    ///
    /// # Default
    ///
    /// None.
    pub fn on_executor_start<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn(NodeId) + Send + Sync + 'static,
    {
        self.hooks.executor_start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on every executor thread just before it exits (its node
    /// stopped, restarted or shut down), with the node it worked for. An
    /// executor abandoned inside a task that never returns never gets
    /// here. A panic in `f` is logged and goes no further.
    ///
    /// # Default
    ///
    /// None.
    pub fn on_executor_stop<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn(NodeId) + Send + Sync + 'static,
    {
        self.hooks.executor_stop = Some(Arc::new(f));
        self
    }

    /// Runs `f` for each [`SupervisorEvent`]: a node down (with why), a
    /// node restarted, a node retired. It runs on the supervisor's thread,
    /// in the order the supervisor acts, so keep it short and do not wait
    /// on the runtime in it (`shutdown` from here would wait for the
    /// supervisor itself). A panic in `f` is logged and goes no further.
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{Fault, NodeId, NodeSpec, Resources, Runtime, SupervisorEvent};
    ///
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let runtime = Runtime::builder()
    ///     .nodes(vec![NodeSpec::new(Resources::cpu(2_000)); 2])
    ///     .on_supervisor_event(move |e| drop(tx.lock().unwrap().send(e.clone())))
    ///     .build()?;
    /// runtime.handle().inject(Fault::CrashNode { node: NodeId(1) })?;
    /// assert!(matches!(rx.recv()?, SupervisorEvent::NodeDown { node: NodeId(1), .. }));
    /// assert!(matches!(rx.recv()?, SupervisorEvent::NodeRestarted { node: NodeId(1), restarts: 1 }));
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Default
    ///
    /// None.
    pub fn on_supervisor_event<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn(&SupervisorEvent) + Send + Sync + 'static,
    {
        self.hooks.supervisor_event = Some(Arc::new(f));
        self
    }

    /// Faults to inject while running (fault-injection runs and tests).
    pub fn fault_plan(&mut self, plan: FaultPlan) -> &mut Self {
        self.fault_plan = Some(plan);
        self
    }

    fn validate(&self) -> Result<(), BuildError> {
        let bad = |field: &'static str, reason: String| {
            Err(BuildError::InvalidConfig {
                field,
                index: None,
                reason,
            })
        };
        let bad_node = |field: &'static str, index: usize, reason: String| {
            Err(BuildError::InvalidConfig {
                field,
                index: Some(index),
                reason,
            })
        };
        if self.nodes.is_empty() {
            return bad("nodes", "at least one node is required".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !(n.speed.is_finite() && n.speed > 0.0) {
                return bad_node(
                    "nodes.speed",
                    i,
                    format!("must be finite and > 0, got {}", n.speed),
                );
            }
            if n.slots == 0 {
                return bad_node("nodes.slots", i, "must be at least 1".into());
            }
        }
        if self.queue_capacity == 0 {
            return bad("queue_capacity", "must be at least 1".into());
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval > MAX_INTERVAL {
            return bad(
                "heartbeat_interval",
                format!(
                    "must be in (0, {MAX_INTERVAL:?}], got {:?}",
                    self.heartbeat_interval
                ),
            );
        }
        if self.retry_backoff.1 > crate::supervision::MAX_BACKOFF {
            return bad(
                "retry_backoff",
                format!(
                    "max must be at most {:?}, got {:?}",
                    crate::supervision::MAX_BACKOFF,
                    self.retry_backoff.1
                ),
            );
        }
        if self.retry_backoff.0 > self.retry_backoff.1 {
            return bad(
                "retry_backoff",
                format!(
                    "min {:?} exceeds max {:?}",
                    self.retry_backoff.0, self.retry_backoff.1
                ),
            );
        }
        let b = &self.balancer;
        if !(b.high.is_finite() && b.high > 0.0 && b.high <= 1.0) {
            return bad(
                "balancer.high",
                format!("must be in (0, 1], got {}", b.high),
            );
        }
        if !(b.low.is_finite() && b.low >= 0.0 && b.low < b.high) {
            return bad(
                "balancer.low",
                format!("must be in [0, high), got {}", b.low),
            );
        }
        if b.enabled && (b.interval.is_zero() || b.interval > MAX_INTERVAL) {
            return bad(
                "balancer.interval",
                format!("must be in (0, {MAX_INTERVAL:?}], got {:?}", b.interval),
            );
        }
        if let Err((field, reason)) = self.supervision.validate() {
            return bad(field, reason);
        }
        if let Some(plan) = &self.fault_plan {
            if let Err((i, reason)) = plan.validate(self.nodes.len()) {
                return bad("fault_plan.faults", format!("entry {i}: {reason}"));
            }
        }
        Ok(())
    }

    /// Starts the runtime: its actix system, node actors and executors,
    /// supervisor and balancer, on background threads.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidConfig`] naming the bad setting, or
    /// [`BuildError::Spawn`] if a thread cannot start.
    pub fn build(&mut self) -> Result<Runtime, BuildError> {
        self.validate()?;
        let needed = self
            .nodes
            .iter()
            .fold(2usize, |n, s| n.saturating_add(s.slots).saturating_add(1));
        if let Some(limit) = crate::threads::available() {
            if needed > limit {
                return Err(BuildError::TooManyThreads { needed, limit });
            }
        }
        let ledger = Arc::new(Ledger::new());
        let nodes: Vec<Arc<NodeShared>> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                Arc::new(NodeShared::new(
                    NodeId(i),
                    spec.clone(),
                    self.discipline,
                    Arc::clone(&ledger),
                    self.hooks.clone(),
                ))
            })
            .collect();
        let policy = match &self.policy {
            PolicySource::Kind(k) => k.build(self.rng_seed),
            PolicySource::Custom(f) => f(self.rng_seed),
        };
        let fastest = nodes.iter().map(|n| n.spec.speed).fold(f64::MIN, f64::max);
        // Idle executors watch for work before parking only when every
        // executor can have a core of its own: with more executors than
        // cores a watcher holds back one that has work.
        let executors: usize = nodes.iter().map(|n| n.spec.slots.max(1)).sum();
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        for n in &nodes {
            n.set_reference_speed(fastest);
            n.set_watch_idle(executors <= cores);
            if policy.wants_feedback() {
                n.enable_feedback();
            }
        }
        let dispatcher = Arc::new(Mutex::new(Dispatcher::new(policy)));
        let backlog = Arc::new(Backlog::default());
        let (inbox_tx, inbox_rx) = crossbeam_channel::unbounded();
        let drain_scheduled = Arc::new(AtomicBool::new(false));
        let restarts = Arc::new(AtomicU64::new(0));
        let rounds = Arc::new(AtomicU64::new(0));
        let directory: NodeDirectory = Arc::new(Mutex::new(vec![None; nodes.len()]));
        let config = SupervisorConfig {
            heartbeat_interval: self.heartbeat_interval,
            retry_backoff_min: self.retry_backoff.0,
            retry_backoff_max: self.retry_backoff.1,
            supervision: self.supervision.clone(),
            rng_seed: self.rng_seed,
        };
        let epoch = Instant::now();
        crate::clock::init();
        let health = Arc::new(HealthCell::default());
        let mut speed_changes = Vec::new();
        let mut fault_index = 0;
        if let Some(plan) = &self.fault_plan {
            let (per_node, speed) = fault::compile(plan, self.rng_seed, nodes.len(), 0);
            for (n, f) in nodes.iter().zip(&per_node) {
                n.add_faults(f);
            }
            speed_changes = speed;
            fault_index = plan.faults.len() as u64;
        }
        let thread_health = Arc::clone(&health);
        let balancer_config = self.balancer.clone();
        let discipline = self.discipline;
        let hooks = self.hooks.clone();

        let (started_tx, started_rx) = crossbeam_channel::bounded(1);
        let thread_nodes = nodes.clone();
        let thread_ledger = Arc::clone(&ledger);
        let thread_dispatcher = Arc::clone(&dispatcher);
        let thread_backlog = Arc::clone(&backlog);
        let thread_drain = Arc::clone(&drain_scheduled);
        let thread_restarts = Arc::clone(&restarts);
        let thread_rounds = Arc::clone(&rounds);
        let thread = std::thread::Builder::new()
            .name("allot-system".into())
            .spawn(move || {
                let system = System::new();
                // `Arbiter::new` panics when its thread cannot start: that
                // is a build error, not a crash.
                let count = thread_nodes.len();
                let arbiters = std::panic::catch_unwind(|| {
                    (0..count).map(|_| Arbiter::new()).collect::<Vec<Arbiter>>()
                });
                let Ok(arbiters) = arbiters else {
                    return;
                };
                let handles = arbiters.iter().map(Arbiter::handle).collect();
                let parts = SupervisorParts {
                    nodes: thread_nodes.clone(),
                    arbiters: handles,
                    directory: Arc::clone(&directory),
                    ledger: thread_ledger,
                    dispatcher: thread_dispatcher,
                    backlog: thread_backlog,
                    discipline,
                    inbox: inbox_rx,
                    drain_scheduled: thread_drain,
                    restarts: thread_restarts,
                    health: thread_health,
                    config,
                    epoch,
                    speed_changes,
                    hooks,
                };
                let (supervisor, balancer) = system.block_on(async move {
                    let supervisor = Supervisor::new(parts).start();
                    let balancer = Balancer::new(
                        thread_nodes,
                        directory,
                        supervisor.clone().recipient(),
                        balancer_config,
                        thread_rounds,
                    )
                    .start();
                    // Nodes start in the supervisor's `started`, which runs
                    // before it handles any message: once this is answered,
                    // every node accepts work, and `build` can return.
                    let _ = supervisor.send(Drain).await;
                    (supervisor, balancer)
                });
                let _ = started_tx.send((supervisor, balancer, System::current()));
                if let Err(e) = system.run() {
                    tracing::error!(error = %e, "actix system ended with an error");
                }
                for arbiter in arbiters {
                    arbiter.stop();
                    let _ = arbiter.join();
                }
            })
            .map_err(BuildError::Spawn)?;
        let (supervisor, balancer, system) = started_rx.recv().map_err(|_| {
            BuildError::Spawn(std::io::Error::other("runtime thread exited during start"))
        })?;
        let shared = Arc::new(Shared {
            ledger,
            nodes,
            inbox: inbox_tx,
            drain_scheduled,
            dispatcher,
            backlog,
            supervisor,
            balancer,
            system,
            state: RwLock::new(RunState::Running),
            health,
            rng_seed: self.rng_seed,
            fault_index: AtomicU64::new(fault_index),
            queue_capacity: self.queue_capacity as u64,
            finished_floor: AtomicU64::new(0),
            restarts,
            rounds,
            thread: Mutex::new(Some(thread)),
        });
        for (j, node) in shared.nodes.iter().enumerate() {
            node.set_host(Arc::new(ForkJoinHost {
                shared: Arc::downgrade(&shared),
                node: j,
            }));
        }
        tracing::info!(
            nodes = shared.nodes.len(),
            seed = self.rng_seed,
            "runtime.start"
        );
        Ok(Runtime {
            handle: RuntimeHandle { shared },
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunState {
    Running,
    Draining,
    Stopped,
}

impl Shared {
    fn all_retired(&self) -> bool {
        self.nodes.iter().all(|n| n.is_retired())
    }
}

pub(crate) struct Shared {
    ledger: Arc<Ledger>,
    nodes: Vec<Arc<NodeShared>>,
    inbox: Sender<Inbound>,
    drain_scheduled: Arc<AtomicBool>,
    dispatcher: Arc<Mutex<Dispatcher>>,
    backlog: Arc<Backlog>,
    supervisor: Addr<Supervisor>,
    balancer: Addr<Balancer>,
    system: System,
    state: RwLock<RunState>,
    health: Arc<HealthCell>,
    rng_seed: u64,
    /// Fault indices used so far (plans injected later get new ones).
    fault_index: AtomicU64,
    queue_capacity: u64,
    /// A lower bound on finished tasks (completed, failed, cancelled),
    /// refreshed only when the cheap bound says the queue may be full.
    finished_floor: AtomicU64,
    restarts: Arc<AtomicU64>,
    rounds: Arc<AtomicU64>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A running allot runtime. Dropping it is [`shutdown_now`](Runtime::shutdown_now)
/// with the unfinished tasks discarded (their handles see
/// [`TaskError::Cancelled`]).
#[derive(Debug)]
pub struct Runtime {
    handle: RuntimeHandle,
}

impl Runtime {
    /// A [`Builder`] with every default.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A [`Builder`] set from a [`RuntimeConfig`].
    pub fn builder_from(config: &RuntimeConfig) -> Builder {
        Builder::from_config(config)
    }

    /// A handle for submitting work; clone it freely, send it anywhere.
    pub fn handle(&self) -> &RuntimeHandle {
        &self.handle
    }

    /// Drains every task, then stops. See [`RuntimeHandle::shutdown`].
    pub fn shutdown(self) -> Metrics {
        self.handle.shutdown()
    }

    /// Stops now and hands back every unfinished task. See
    /// [`RuntimeHandle::shutdown_now`].
    pub fn shutdown_now(self) -> ShutdownReport {
        self.handle.shutdown_now()
    }

    /// Drains for at most `timeout`, then stops and hands back what is
    /// unfinished. See [`RuntimeHandle::shutdown_timeout`].
    pub fn shutdown_timeout(self, timeout: Duration) -> ShutdownReport {
        self.handle.shutdown_timeout(timeout)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        drop(self.handle.shutdown_now());
    }
}

/// Cancels one task from anywhere: see [`TaskHandle::cancel_handle`].
///
/// Holding one keeps the task's record (not its result) alive; dropping it
/// does nothing to the task.
#[derive(Clone)]
pub struct CancelHandle {
    job: JobRef,
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("id", &self.job.core().id)
            .field("status", &self.job.core().status())
            .finish()
    }
}

impl CancelHandle {
    /// Cancels the task if it has not finished, exactly as
    /// [`TaskHandle::cancel`] does. Returns whether this call cancelled it.
    pub fn cancel(&self) -> bool {
        job::cancel(&*self.job, CancelReason::Caller)
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.job.core().id
    }

    /// Whether the task has reached a terminal state.
    pub fn is_finished(&self) -> bool {
        self.job.core().phase().is_terminal()
    }
}

/// The longest heartbeat or balancer interval accepted: timers past it
/// would, in effect, never fire.
const MAX_INTERVAL: Duration = Duration::from_secs(3_600);

/// How long a shutdown waits for the executor threads it ended to exit.
/// Executors not running task code exit within microseconds; those running
/// abandoned code are not waited for at all.
const EXECUTOR_EXIT_GRACE: Duration = Duration::from_secs(5);

/// What [`shutdown_now`](RuntimeHandle::shutdown_now) and
/// [`shutdown_timeout`](RuntimeHandle::shutdown_timeout) leave behind.
///
/// `unfinished` are the tasks they cancelled, handed back whole; `abandoned`
/// the attempts whose code was still running when the runtime stopped and
/// which it did not wait for (a thread cannot be killed). Every executor
/// thread not running such code has exited when the call returns.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Tasks cancelled by the shutdown, in submission order.
    pub unfinished: Vec<UnfinishedTask>,
    /// Attempts still running code the runtime let go of, in task id order
    /// (the same list as [`Metrics::abandoned`] at that moment).
    pub abandoned: Vec<AbandonedAttempt>,
}

impl ShutdownReport {
    /// Whether nothing was cancelled and no code was left running.
    pub fn is_clean(&self) -> bool {
        self.unfinished.is_empty() && self.abandoned.is_empty()
    }
}

/// Submits tasks and controls a [`Runtime`]. `Clone + Send + Sync`; usable
/// from plain threads and from async code (no call here blocks except
/// [`shutdown`](RuntimeHandle::shutdown)).
#[derive(Clone)]
pub struct RuntimeHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeHandle")
            .field("nodes", &self.shared.nodes.len())
            .finish_non_exhaustive()
    }
}

impl RuntimeHandle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        RuntimeHandle { shared }
    }

    pub(crate) fn node_shared(&self, j: usize) -> &Arc<NodeShared> {
        &self.shared.nodes[j]
    }

    /// Submits one task.
    ///
    /// # Errors
    ///
    /// Hands the task back in a [`SubmitError`]: `Full` when
    /// [`Builder::queue_capacity`] tasks are in flight, `ShuttingDown`,
    /// `Infeasible` when no node could ever fit its demand, or `Invalid`
    /// naming a bad spec field.
    pub fn submit<T: Send + 'static>(
        &self,
        task: Task<T>,
    ) -> Result<TaskHandle<T>, SubmitError<Task<T>>> {
        self.admit_one(task, None)
    }

    /// Submits a task whose first placement is on `node` (soft affinity:
    /// after a failure it may run anywhere). Skips the policy and the
    /// supervisor's queue when the node is available.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit); `Infeasible` also when `node` does not
    /// exist or cannot fit the task.
    pub fn submit_to<T: Send + 'static>(
        &self,
        node: NodeId,
        task: Task<T>,
    ) -> Result<TaskHandle<T>, SubmitError<Task<T>>> {
        self.admit_one(task, Some(node))
    }

    /// Submits many tasks at once: accepted whole or refused whole. This is
    /// the fast path: one message to the supervisor, one allocation, one
    /// push per node.
    ///
    /// # Errors
    ///
    /// A [`SubmitBatchError`] holding every task, the index of the first one
    /// that could not be accepted and why.
    pub fn submit_batch<T: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<Vec<TaskHandle<T>>, SubmitBatchError<Task<T>>> {
        self.admit(tasks.into_iter(), None)
    }

    /// Submits many tasks without handles: fire and forget. Each still
    /// ends in exactly one terminal state, counted in [`metrics`](Self::metrics),
    /// and its value is dropped. Cheaper than [`submit_batch`](Self::submit_batch)
    /// by the vector of handles.
    ///
    /// # Errors
    ///
    /// As [`submit_batch`](Self::submit_batch): every task is handed back.
    pub fn submit_batch_detached<T: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        self.admit_detached(tasks.into_iter(), None)
    }

    /// [`submit_batch_detached`](Self::submit_batch_detached) with every
    /// task's first placement on `node`.
    ///
    /// # Errors
    ///
    /// As [`submit_batch_to`](Self::submit_batch_to).
    pub fn submit_batch_detached_to<T: Send + 'static>(
        &self,
        node: NodeId,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        self.admit_detached(tasks.into_iter(), Some(node))
    }

    /// [`submit_batch`](Self::submit_batch), appending the handles to
    /// `handles` instead of returning a new vector: for callers that submit
    /// batch after batch and keep (or reuse) one buffer. Returns how many
    /// handles it appended.
    ///
    /// # Errors
    ///
    /// As [`submit_batch`](Self::submit_batch); `handles` is then as it was.
    pub fn submit_batch_into<T: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<T>>,
        handles: &mut Vec<TaskHandle<T>>,
    ) -> Result<usize, SubmitBatchError<Task<T>>> {
        let before = handles.len();
        self.admit_into(tasks.into_iter(), None, handles)?;
        Ok(handles.len() - before)
    }

    /// Submits many tasks whose first placement is on `node`.
    ///
    /// # Errors
    ///
    /// As [`submit_batch`](Self::submit_batch).
    pub fn submit_batch_to<T: Send + 'static>(
        &self,
        node: NodeId,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<Vec<TaskHandle<T>>, SubmitBatchError<Task<T>>> {
        self.admit(tasks.into_iter(), Some(node))
    }

    #[inline]
    fn check<T: 'static>(&self, task: &Task<T>, pin: Option<NodeId>) -> Result<(), Refusal> {
        let spec = &task.job.core().spec;
        spec.validate().map_err(Refusal::Invalid)?;
        if pin.is_none() && spec.has_no_demand() && !self.shared.all_retired() {
            // Fits anywhere: skip the per-node scan on the common path.
            return Ok(());
        }
        self.check_fit(spec.demand(), pin)
    }

    fn check_fit(&self, demand: Resources, pin: Option<NodeId>) -> Result<(), Refusal> {
        let nodes = &self.shared.nodes;
        let usable = |n: &Arc<NodeShared>| !n.is_retired() && demand.fits_in(&n.spec.capacity);
        let fits = match pin {
            Some(n) => nodes.get(n.0).is_some_and(usable),
            None => nodes.iter().any(usable),
        };
        if fits {
            return Ok(());
        }
        let reason = match pin.map(|n| (n, nodes.get(n.0))) {
            Some((node, None)) => {
                return Err(Refusal::UnknownNode {
                    node,
                    nodes: nodes.len(),
                })
            }
            Some((n, Some(node))) if node.is_retired() => return Err(Refusal::NodeRetired(n)),
            Some((_, Some(node))) => excess(&demand, &node.spec.capacity),
            None => {
                // The largest of each resource among nodes still in service.
                let cap =
                    nodes
                        .iter()
                        .filter(|n| !n.is_retired())
                        .fold(Resources::ZERO, |acc, n| {
                            let c = n.spec.capacity;
                            Resources::new(
                                acc.cpu_milli.max(c.cpu_milli),
                                acc.memory_mib.max(c.memory_mib),
                                acc.gpu_milli.max(c.gpu_milli),
                                acc.bandwidth_mbps.max(c.bandwidth_mbps),
                            )
                        });
                excess(&demand, &cap)
            }
        };
        Err(Refusal::Infeasible(reason))
    }

    /// Whether `n` more tasks fit under `queue_capacity`. Reads the
    /// per-node completion counters (written by executors on every task)
    /// only when a stale lower bound on finished tasks says they might not.
    fn has_room(&self, n: u64) -> bool {
        let cap = self.shared.queue_capacity;
        let submitted = self.shared.ledger.totals_fast().submitted;
        let floor = self.shared.finished_floor.load(Ordering::Relaxed);
        if submitted.saturating_sub(floor) + n <= cap {
            return true;
        }
        let t = self.shared.ledger.totals_fast();
        let done: u64 = self.shared.nodes.iter().map(|n| n.completed()).sum();
        let finished = done + t.failed + t.cancelled;
        self.shared
            .finished_floor
            .fetch_max(finished, Ordering::Relaxed);
        t.submitted.saturating_sub(finished) + n <= cap
    }

    /// Whether submissions are refused: shutting down, or stopped by
    /// escalation.
    fn is_closed(&self, state: &RunState) -> bool {
        *state != RunState::Running || self.shared.health.get() == Health::Stopped
    }

    fn admit_one<T: Send + 'static>(
        &self,
        task: Task<T>,
        pin: Option<NodeId>,
    ) -> Result<TaskHandle<T>, SubmitError<Task<T>>> {
        if self.shared.ledger.has_dead() {
            // Frees finished jobs the ledger kept (`Ledger::bury`), before
            // the state lock (their drops run the caller's code): the next
            // task built on this thread reuses the memory while it is hot.
            // Two, so a stream of single submissions keeps up with its
            // executors.
            let mut dead = Reaper::take();
            self.shared.ledger.exhume(2, &mut dead.0);
        }
        let state = self.shared.state.read();
        if self.is_closed(&state) {
            return Err(SubmitError::Refused {
                task,
                reason: Refusal::ShuttingDown,
            });
        }
        if let Err(reason) = self.check(&task, pin) {
            return Err(SubmitError::Refused { task, reason });
        }
        if !self.has_room(1) {
            return Err(SubmitError::Full(task));
        }
        let id = TaskId(self.shared.ledger.reserve_ids(1));
        let inner = self.stamp(id, crate::clock::now_nanos(), task);
        let job: JobRef = Arc::clone(&inner) as JobRef;
        self.shared
            .ledger
            .admit(std::iter::once(JobRef::clone(&job)));
        match pin {
            Some(node) => self.push_fresh(node, std::iter::once(job)),
            None => self.place(std::iter::once(job)),
        }
        drop(state);
        Ok(TaskHandle { inner })
    }

    /// Gives an accepted task its id, order key and submission time.
    fn stamp<T: Send + 'static>(
        &self,
        id: TaskId,
        now_nanos: u64,
        task: Task<T>,
    ) -> Arc<dyn TypedJob<T>> {
        let mut job = task.job;
        unsubmitted_core(&mut job).submit(id, now_nanos, false);
        job
    }

    fn admit<T: Send + 'static>(
        &self,
        tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
    ) -> Result<Vec<TaskHandle<T>>, SubmitBatchError<Task<T>>> {
        // The vector of handles: the only per-batch allocation on this path.
        let mut handles = Vec::with_capacity(tasks.size_hint().0);
        self.admit_into(tasks, pin, &mut handles)?;
        Ok(handles)
    }

    /// Appends the batch's handles to `out`, which is left as it was on
    /// refusal.
    fn admit_into<T: Send + 'static>(
        &self,
        tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
        out: &mut Vec<TaskHandle<T>>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        if self.is_closed(&self.shared.state.read()) {
            return Err(SubmitBatchError::whole(tasks, Refusal::ShuttingDown));
        }
        let base = out.len();
        out.reserve(tasks.size_hint().0);
        let unwrap = |h: TaskHandle<T>| Task { job: h.inner };
        // Checked as they are collected, straight into handles, before the
        // state lock is taken (see `collect_batch`).
        self.collect_batch(tasks, pin, out, |inner| TaskHandle { inner }, unwrap)?;
        let state = self.shared.state.read();
        if self.is_closed(&state) {
            return Err(SubmitBatchError::whole(
                out.drain(base..).map(unwrap),
                Refusal::ShuttingDown,
            ));
        }
        let added = &mut out[base..];
        self.stamp_batch(
            added.iter_mut().map(|h| unsubmitted_core(&mut h.inner)),
            false,
        );
        self.enqueue(added.iter().map(|h| Arc::clone(&h.inner) as JobRef), pin);
        drop(state);
        Ok(())
    }

    /// Appends a batch to `out` (through `wrap`), checking each task, and
    /// checks that it fits under the bound. Frees finished jobs the ledger
    /// kept for a submitter (`Ledger::bury`) as it goes. On refusal every
    /// task goes back (through `unwrap`), in order, with the index of the
    /// first bad one, and `out` is as it was.
    ///
    /// Runs the caller's code (the iterator, and the drops of finished
    /// closures), so callers call it before they take the state lock: that
    /// code may call back into the runtime, even `shutdown`, which takes
    /// the lock for writing (and a read lock taken again on one thread
    /// waits behind a waiting writer).
    fn collect_batch<T: Send + 'static, J>(
        &self,
        mut tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
        out: &mut Vec<J>,
        wrap: impl Fn(Arc<dyn TypedJob<T>>) -> J,
        unwrap: impl Fn(J) -> Task<T>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        let base = out.len();
        let mut dead = Reaper::take();
        self.shared
            .ledger
            .exhume(tasks.size_hint().0.min(DEAD_CAP), &mut dead.0);
        loop {
            // A finished job freed just before the next task is built: its
            // memory is reused while it is hot in this thread's cache.
            drop(dead.0.pop());
            let Some(task) = tasks.next() else { break };
            if let Err(reason) = self.check(&task, pin) {
                let index = out.len() - base;
                let mut all: Vec<Task<T>> = out.drain(base..).map(&unwrap).collect();
                all.push(task);
                all.extend(tasks);
                return Err(SubmitBatchError::Refused {
                    tasks: all,
                    index,
                    reason,
                });
            }
            out.push(wrap(task.job));
        }
        if out.len() > base && !self.has_room((out.len() - base) as u64) {
            return Err(SubmitBatchError::Full(
                out.drain(base..).map(&unwrap).collect(),
            ));
        }
        Ok(())
    }

    /// Gives accepted jobs consecutive ids and one submission time, and
    /// marks them `detached` (no handles) or not.
    fn stamp_batch<'a>(
        &self,
        cores: impl ExactSizeIterator<Item = &'a mut JobCore>,
        detached: bool,
    ) {
        let first = self.shared.ledger.reserve_ids(cores.len() as u64);
        let now = crate::clock::now_nanos();
        for (k, core) in cores.enumerate() {
            core.submit(TaskId(first + k as u64), now, detached);
        }
    }

    /// Records stamped jobs in the ledger (one cohort) and sends them on
    /// their way: into `pin`'s queue, or placed.
    fn enqueue(&self, refs: impl ExactSizeIterator<Item = JobRef> + Clone, pin: Option<NodeId>) {
        self.shared.ledger.admit(refs.clone());
        match pin {
            Some(node) => self.push_fresh(node, refs),
            None => self.place(refs),
        }
    }

    /// Pushes a just-submitted batch into `node`; a refused batch goes to
    /// the supervisor, still `Pending`.
    ///
    /// Why no compare-and-swap per job is needed to mark it `Queued`: until
    /// the push, no one else can reach these jobs. Their handles are not
    /// returned yet, `shutdown_now` drains the ledger only after taking the
    /// state lock the caller reads under, and no queue holds them. The
    /// same holds for a batch the submitter places itself (`place`).
    fn push_fresh(&self, node: NodeId, jobs: impl Iterator<Item = JobRef>) {
        if let Err(back) = self.shared.nodes[node.0].push_fresh(jobs) {
            self.send_to_supervisor(back.collect());
        }
    }

    fn admit_detached<T: Send + 'static>(
        &self,
        tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        thread_local! {
            /// The batch being admitted: its buffer is kept for the next.
            static SCRATCH: std::cell::RefCell<Vec<JobRef>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.admit_detached_into(tasks, pin, &mut scratch),
            // Re-entered (from a task's drop?): a fresh buffer.
            Err(_) => self.admit_detached_into(tasks, pin, &mut Vec::new()),
        })
    }

    fn admit_detached_into<T: Send + 'static>(
        &self,
        tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
        jobs: &mut Vec<JobRef>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        debug_assert!(jobs.is_empty());
        if self.is_closed(&self.shared.state.read()) {
            return Err(SubmitBatchError::whole(tasks, Refusal::ShuttingDown));
        }
        // Back to typed tasks on refusal: the same allocations, boxed once
        // each.
        let typed = |j: JobRef| Task {
            job: *j
                .into_typed()
                .downcast::<Arc<dyn TypedJob<T>>>()
                .expect("a batch holds tasks of one type"),
        };
        // Before the state lock is taken (see `collect_batch`).
        self.collect_batch(tasks, pin, jobs, |j| j as JobRef, typed)?;
        if jobs.is_empty() {
            return Ok(());
        }
        let state = self.shared.state.read();
        if self.is_closed(&state) {
            return Err(SubmitBatchError::whole(
                jobs.drain(..).map(typed),
                Refusal::ShuttingDown,
            ));
        }
        self.stamp_batch(jobs.iter_mut().map(unsubmitted_core), true);
        // The ledger gets clones; the queues get these references.
        self.shared.ledger.admit(jobs.iter().cloned());
        match pin {
            Some(node) => self.push_fresh(node, jobs.drain(..)),
            None => self.place(jobs.drain(..)),
        }
        drop(state);
        Ok(())
    }

    /// Places jobs just submitted (`Pending`, in order, reachable by no one
    /// else yet) on nodes: here and now when nothing waits at the
    /// supervisor and no one else is placing, through the supervisor
    /// otherwise (and for whatever cannot be placed now).
    fn place(&self, jobs: impl Iterator<Item = JobRef>) {
        thread_local! {
            /// The batch being placed: its buffer is kept for the next one.
            static BATCH: std::cell::RefCell<Vec<JobRef>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let direct = if self.shared.backlog.is_empty() {
            self.shared.dispatcher.try_lock()
        } else {
            None
        };
        let jobs: Vec<JobRef> = match direct {
            Some(mut d) => BATCH.with(|b| {
                let Ok(mut batch) = b.try_borrow_mut() else {
                    // Re-entered (a policy that submits?): no scratch.
                    let mut batch: Vec<JobRef> = jobs.collect();
                    let mut held = Vec::new();
                    d.place(
                        &self.shared.nodes,
                        &self.shared.ledger,
                        &mut batch,
                        &mut held,
                        true,
                    );
                    return held;
                };
                batch.extend(jobs);
                let mut held = Vec::new();
                d.place(
                    &self.shared.nodes,
                    &self.shared.ledger,
                    &mut batch,
                    &mut held,
                    true,
                );
                held
            }),
            None => jobs.collect(),
        };
        if !jobs.is_empty() {
            self.send_to_supervisor(jobs);
        }
    }

    fn send_to_supervisor(&self, jobs: Inbound) {
        let n = jobs.len();
        // Counted before it is visible, so no submitter places around it.
        self.shared.backlog.add(n);
        // The receiver lives as long as the supervisor; if it is gone the
        // runtime is stopping and shutdown settles these from the ledger.
        let _ = self.shared.inbox.send(jobs);
        if !self.shared.drain_scheduled.swap(true, Ordering::SeqCst) {
            self.shared.supervisor.do_send(Drain);
        }
    }

    /// Injects a fault now.
    ///
    /// # Errors
    ///
    /// [`InjectError`] for an unknown node, a bad parameter, or a runtime
    /// that is shutting down.
    pub fn inject(&self, fault: Fault) -> Result<(), InjectError> {
        let node = match &fault {
            Fault::PanicNode { node } | Fault::StopNode { node } | Fault::CrashNode { node } => {
                *node
            }
            Fault::SlowNode { node, factor } => {
                if !(factor.is_finite() && *factor > 0.0) {
                    return Err(InjectError::InvalidParameter {
                        field: "factor",
                        value: *factor,
                    });
                }
                *node
            }
        };
        if node.0 >= self.shared.nodes.len() {
            return Err(InjectError::UnknownNode(node));
        }
        if *self.shared.state.read() == RunState::Stopped {
            return Err(InjectError::ShuttingDown);
        }
        tracing::info!(?fault, "fault.inject");
        self.shared.supervisor.do_send(Inject(fault));
        Ok(())
    }

    /// Adds a fault plan to the running runtime. Count triggers count each
    /// node's tasks since the runtime started; time triggers count from the
    /// runtime's start too (a time already past fires at once).
    ///
    /// # Errors
    ///
    /// [`InjectError::InvalidPlan`] naming the first bad entry, or
    /// [`InjectError::ShuttingDown`].
    pub fn inject_plan(&self, plan: &FaultPlan) -> Result<(), InjectError> {
        let n = self.shared.nodes.len();
        plan.validate(n)
            .map_err(|(index, reason)| InjectError::InvalidPlan { index, reason })?;
        if *self.shared.state.read() == RunState::Stopped {
            return Err(InjectError::ShuttingDown);
        }
        let base = self
            .shared
            .fault_index
            .fetch_add(plan.faults.len() as u64, Ordering::Relaxed);
        let (per_node, speed) = fault::compile(plan, self.shared.rng_seed, n, base);
        for (node, f) in self.shared.nodes.iter().zip(&per_node) {
            node.add_faults(f);
        }
        if !speed.is_empty() {
            self.shared.supervisor.do_send(ScheduleSpeed(speed));
        }
        tracing::info!(faults = plan.faults.len(), "fault.plan");
        Ok(())
    }

    /// The runtime's health: `Degraded` once a node is retired, `Stopped`
    /// after an escalation stopped it.
    pub fn health(&self) -> Health {
        self.shared.health.get()
    }

    /// Like [`submit`](Self::submit), but while the queue is full it blocks
    /// until there is room (backpressure instead of an error).
    ///
    /// # Errors
    ///
    /// A [`SubmitWaitError`] with the task and the [`Refusal`].
    pub fn submit_wait<T: Send + 'static>(
        &self,
        task: Task<T>,
    ) -> Result<TaskHandle<T>, SubmitWaitError<Task<T>>> {
        let mut task = task;
        loop {
            match self.admit_one(task, None) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(t)) => {
                    task = t;
                    self.shared.ledger.wait_for_space(Duration::from_millis(5));
                }
                Err(SubmitError::Refused { task, reason }) => {
                    return Err(SubmitWaitError { task, reason })
                }
            }
        }
    }

    /// Like [`submit_wait`](Self::submit_wait), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`SubmitTimeoutError::Timeout`] once `timeout` has passed with the
    /// queue still full, or `Refused` with the [`Refusal`].
    pub fn submit_wait_timeout<T: Send + 'static>(
        &self,
        task: Task<T>,
        timeout: Duration,
    ) -> Result<TaskHandle<T>, SubmitTimeoutError<Task<T>>> {
        // A deadline past the clock's range is no deadline.
        let deadline = clock::deadline_after(timeout);
        let mut task = task;
        loop {
            match self.admit_one(task, None) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(t)) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(SubmitTimeoutError::Timeout(t));
                    }
                    task = t;
                    let left = deadline.map_or(Duration::MAX, |d| d - now);
                    let wait = left.min(Duration::from_millis(5));
                    self.shared.ledger.wait_for_space(wait);
                }
                Err(SubmitError::Refused { task, reason }) => {
                    return Err(SubmitTimeoutError::Refused { task, reason })
                }
            }
        }
    }

    /// The nodes' specs, in id order.
    pub fn nodes(&self) -> Vec<NodeSpec> {
        self.shared.nodes.iter().map(|n| n.spec.clone()).collect()
    }

    /// A snapshot of every counter. Reads shared counters; sends no message.
    pub fn metrics(&self) -> Metrics {
        let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2)
            .expect("valid histogram bounds");
        // The ledger first: a task counted complete below was submitted
        // before this read, so `in_flight` never overstates.
        let t = self.shared.ledger.totals();
        let unsettled: u64 = self.shared.nodes.iter().map(|n| n.unsettled()).sum();
        let mut nodes = Vec::with_capacity(self.shared.nodes.len());
        for n in &self.shared.nodes {
            let (m, h) = n.metrics();
            let _ = hist.add(h);
            nodes.push(m);
        }
        let node_completed: u64 = nodes.iter().map(|m| m.completed).sum();
        let totals = Totals {
            submitted: t.submitted,
            completed: node_completed,
            failed: t.failed,
            cancelled: t.cancelled,
            retried: t.retried,
            in_flight: t
                .submitted
                .saturating_sub(node_completed + t.failed + t.cancelled),
            // The ledger holds completed tasks until their node settles
            // them in a batch; they are no longer in flight.
            live: t.live.saturating_sub(unsettled),
            restarts: self.shared.restarts.load(Ordering::Relaxed),
            migrations: nodes.iter().map(|m| m.migrations_in).sum(),
        };
        let now = clock::now_nanos();
        let mut abandoned: Vec<AbandonedAttempt> = self
            .shared
            .nodes
            .iter()
            .flat_map(|n| n.abandoned(now))
            .collect();
        abandoned.sort_by_key(|a| a.task);
        Metrics {
            nodes,
            totals,
            latency: LatencySummary::from_histogram(&hist),
            balancer_rounds: self.shared.rounds.load(Ordering::Relaxed),
            health: self.shared.health.get(),
            abandoned,
        }
    }

    /// Tasks accepted and not ended, as the ledger counts them: its entries
    /// less the completions executors hold for a batched release (an
    /// executor let go of may hold them for as long as its code runs).
    /// What [`Totals::live`] reports and what `shutdown` waits for. Never
    /// understates: the ledger is read first, and a node counts a release
    /// before it makes it.
    fn live(&self) -> u64 {
        let entries = self.shared.ledger.live() as u64;
        let unsettled: u64 = self.shared.nodes.iter().map(|n| n.unsettled()).sum();
        entries.saturating_sub(unsettled)
    }

    /// Stops accepting tasks, waits until every accepted task has reached a
    /// terminal state, then stops every actor and thread. Returns the final
    /// metrics. Calling it again returns at once.
    ///
    /// Blocks the calling thread; do not call it from inside a task.
    pub fn shutdown(&self) -> Metrics {
        let report = self.drain_then_stop(None);
        debug_assert!(
            report.unfinished.is_empty() || *self.shared.state.read() == RunState::Stopped
        );
        self.metrics()
    }

    /// [`shutdown`](Self::shutdown) with a bound on the wait: stops
    /// accepting tasks, waits up to `timeout` for every accepted task to
    /// reach a terminal state, then does what
    /// [`shutdown_now`](Self::shutdown_now) does with whatever is left: each
    /// unfinished task is cancelled ([`CancelReason::Shutdown`]) and handed
    /// back, in submission order. Returns them (none if everything ended in
    /// time); [`metrics`](Self::metrics) still answers afterwards.
    ///
    /// Blocks the calling thread for at most about `timeout` (plus the time
    /// the actor threads take to stop); do not call it from inside a task.
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes([NodeSpec::new(Resources::cpu(1_000))])
    ///     .build()?;
    /// let task = runtime.handle().submit(Task::new(|_| Ok::<_, String>(2 + 2)))?;
    /// let report = runtime.shutdown_timeout(Duration::from_secs(10));
    /// assert!(report.is_clean());
    /// assert_eq!(task.wait()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> ShutdownReport {
        // A timeout too long to represent waits as `shutdown` does.
        self.drain_then_stop(clock::deadline_after(timeout))
    }

    /// Stops accepting tasks, waits until none is live (or `deadline`, or
    /// a stop by someone else), then stops.
    fn drain_then_stop(&self, deadline: Option<Instant>) -> ShutdownReport {
        {
            let mut st = self.shared.state.write();
            if *st == RunState::Running {
                *st = RunState::Draining;
            }
        }
        // Woken as tasks leave the ledger; the timeout covers a wake-up
        // that raced with going to sleep.
        const LOOK_AGAIN: Duration = Duration::from_millis(5);
        let ledger = &self.shared.ledger;
        while self.live() > 0 && *self.shared.state.read() == RunState::Draining {
            let wait = match deadline {
                None => LOOK_AGAIN,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(LOOK_AGAIN),
                    _ => break,
                },
            };
            ledger.wait_for_space(wait);
        }
        self.shutdown_now()
    }

    /// Stops now. Every task not yet finished is cancelled (its handle sees
    /// [`TaskError::Cancelled`] with [`CancelReason::Shutdown`]) and handed
    /// back, in submission order. Attempts still running are abandoned; their
    /// results are ignored.
    pub fn shutdown_now(&self) -> ShutdownReport {
        {
            let mut st = self.shared.state.write();
            if *st == RunState::Stopped {
                return ShutdownReport::default();
            }
            *st = RunState::Stopped;
        }
        let ledger = &self.shared.ledger;
        let mut out = Vec::new();
        for job in ledger.drain_live() {
            if job::cancel(&*job, CancelReason::Shutdown) {
                out.push(UnfinishedTask { job });
            } else {
                // It reached a terminal state while we drained: count it here,
                // since whoever finished it found it gone from the ledger.
                ledger.count_terminal(job.core().phase());
            }
        }
        ledger.add_cancelled(out.len() as u64);
        self.shared.balancer.do_send(StopBalancer);
        self.shared.supervisor.do_send(Stop);
        self.shared.system.stop();
        let thread = self.shared.thread.lock().take();
        if let Some(t) = thread {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        // The supervisor may have stopped before its `Stop`: end every
        // node's incarnation here too (a second eviction finds nothing),
        // so that every executor not running abandoned code exits, and
        // wait for those.
        for node in &self.shared.nodes {
            drop(node.evict_all(AbandonReason::Shutdown));
        }
        let deadline = Instant::now() + EXECUTOR_EXIT_GRACE;
        let inside = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("allot-"));
        let left: usize = if inside {
            // Called from a task: this executor cannot wait for itself.
            0
        } else {
            self.shared
                .nodes
                .iter()
                .map(|n| n.join_executors(deadline))
                .sum()
        };
        let abandoned = self.metrics().abandoned;
        if !abandoned.is_empty() {
            let tasks: Vec<TaskId> = abandoned.iter().map(|a| a.task).collect();
            tracing::warn!(
                count = abandoned.len(),
                ?tasks,
                threads = left,
                "runtime.abandoned"
            );
        }
        tracing::info!(
            unfinished = out.len(),
            abandoned = abandoned.len(),
            "runtime.stop"
        );
        ShutdownReport {
            unfinished: out,
            abandoned,
        }
    }
}

fn excess(demand: &Resources, capacity: &Resources) -> Infeasibility {
    let (resource, want, have) = demand.first_excess(capacity).unwrap_or(("resources", 0, 0));
    Infeasibility {
        resource,
        demand: want,
        largest_capacity: have,
    }
}

/// The caller's side of one submitted task: wait for it, poll it, cancel it.
///
/// `Send + Sync`. Implements [`Future`], so `.await` works in any executor.
/// Dropping the handle does not cancel the task.
pub struct TaskHandle<T> {
    inner: Arc<dyn TypedJob<T>>,
}

impl<T: 'static> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.inner.core().id)
            .field("status", &self.inner.core().status())
            .finish()
    }
}

impl<T: Send + 'static> TaskHandle<T> {
    pub(crate) fn job_ref(&self) -> JobRef {
        Arc::clone(&self.inner) as JobRef
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.inner.core().id
    }

    /// Where the task is now.
    pub fn status(&self) -> TaskStatus {
        self.inner.core().status()
    }

    /// Whether the outcome is ready to take without waiting.
    pub fn is_finished(&self) -> bool {
        self.inner.is_ready()
    }

    /// Cancels the task if it has not finished. A running attempt is not
    /// interrupted (it can see [`TaskContext::is_abandoned`](crate::TaskContext::is_abandoned));
    /// its result is discarded. Returns whether this call cancelled it.
    pub fn cancel(&self) -> bool {
        job::cancel(&*self.inner, CancelReason::Caller)
    }

    /// A handle that cancels this task and nothing else: `Clone + Send +
    /// Sync`, so another thread can cancel the task while this handle is
    /// being waited on (tokio's `abort_handle`).
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime, Task, TaskError};
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes([NodeSpec::new(Resources::cpu(1_000))])
    ///     .build()?;
    /// let task = runtime.handle().submit(Task::new(|ctx| {
    ///     // Runs until cancelled.
    ///     while !ctx.is_abandoned() {
    ///         std::thread::yield_now();
    ///     }
    ///     Ok::<_, String>(())
    /// }))?;
    /// let canceller = task.cancel_handle();
    /// let waiter = std::thread::spawn(move || task.wait());
    /// assert!(canceller.cancel());
    /// assert!(matches!(waiter.join().unwrap(), Err(TaskError::Cancelled(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            job: self.job_ref(),
        }
    }

    /// Blocks until the task ends; its value or why it has none.
    ///
    /// # Errors
    ///
    /// The [`TaskError`] the task ended with.
    pub fn wait(self) -> Result<T, TaskError> {
        self.inner
            .take_outcome(None)
            .expect("waiting without a deadline returns a value")
    }

    /// Blocks until the task ends or `timeout` passes; `None` on timeout.
    /// A timeout past the clock's range (such as `Duration::MAX`) waits as
    /// [`wait`](Self::wait) does.
    ///
    /// # Panics
    ///
    /// If the outcome was already taken by an earlier call.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<T, TaskError>> {
        match clock::deadline_after(timeout) {
            Some(deadline) => self.inner.take_outcome(Some(deadline)),
            None => Some(
                self.inner
                    .take_outcome(None)
                    .expect("waiting without a deadline returns a value"),
            ),
        }
    }
}

impl<T: Send + 'static> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        self.inner.poll_outcome(cx.waker())
    }
}

/// A task that [`shutdown_now`](RuntimeHandle::shutdown_now) handed back.
pub struct UnfinishedTask {
    job: JobRef,
}

impl fmt::Debug for UnfinishedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnfinishedTask")
            .field("id", &self.job.core().id)
            .finish_non_exhaustive()
    }
}

impl UnfinishedTask {
    /// Its id in the stopped runtime.
    pub fn id(&self) -> TaskId {
        self.job.core().id
    }

    /// Its spec.
    pub fn spec(&self) -> TaskSpec {
        self.job.core().spec.unpack()
    }

    /// The task itself, ready to submit elsewhere, if its result type is `T`.
    ///
    /// # Errors
    ///
    /// `self` back when `T` is not the task's result type.
    pub fn into_task<T: Send + 'static>(self) -> Result<Task<T>, UnfinishedTask> {
        let job = JobRef::clone(&self.job);
        match job.handed_back().downcast::<HandedBack<T>>() {
            Ok(back) => {
                let (spec, source) = *back;
                let core = crate::job::JobCore::unsubmitted(spec);
                Ok(Task {
                    job: Arc::new(TaskInner::new(core, Rerun(source))),
                })
            }
            Err(_) => Err(self),
        }
    }
}

/// The core of a job not yet submitted, which no one else holds yet.
fn unsubmitted_core<J: ErasedJob + ?Sized>(job: &mut Arc<J>) -> &mut JobCore {
    Arc::get_mut(job)
        .expect("a task is not shared before it is submitted")
        .core_mut()
}

thread_local! {
    /// Finished jobs a submitting thread frees while it builds a batch; the
    /// buffer is kept for the next.
    static DEAD: std::cell::Cell<Vec<JobRef>> = const { std::cell::Cell::new(Vec::new()) };
}

/// This thread's buffer of finished jobs to free; whatever is left is freed
/// when it drops (also when a batch is refused, or unwinds).
struct Reaper(Vec<JobRef>);

impl Reaper {
    fn take() -> Self {
        Reaper(DEAD.try_with(std::cell::Cell::take).unwrap_or_default())
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        buf.clear();
        let _ = DEAD.try_with(|c| c.set(buf));
    }
}
