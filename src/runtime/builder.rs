//! [`Builder`]: the settings, their validation, and `build`, which wires
//! the parts and starts them.

use crate::balancer::BalancerConfig;
use crate::config::RuntimeConfig;
use crate::dispatch::Dispatcher;
use crate::error::BuildError;
use crate::fault::{self, FaultPlan};
use crate::hooks::Hooks;
use crate::ids::NodeId;

use super::core::{Core, RunState};
use super::fork_host::ForkJoinHost;
use super::handle::RuntimeHandle;
use super::instance::Runtime;
use super::system;
use crate::ledger::Ledger;
use crate::node::{NodeShared, NodeSpec};
use crate::plane::Plane;
use crate::policy::{Policy, PolicyKind};
use crate::queue::Discipline;
use crate::supervision::{SupervisionConfig, SupervisorEvent};
use crate::supervisor::SupervisorConfig;
use crate::sync::{Mutex, RwLock};
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

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

impl Runtime {
    /// A [`Builder`] with every default.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A [`Builder`] set from a [`RuntimeConfig`].
    pub fn builder_from(config: &RuntimeConfig) -> Builder {
        Builder::from_config(config)
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
/// [`RuntimeConfig::DEFAULT_NODE_COUNT`] default nodes, [`PolicyKind::LeastLoaded`],
/// [`Discipline::Fcfs`], [`RuntimeConfig::DEFAULT_RNG_SEED`], [`RuntimeConfig::DEFAULT_QUEUE_CAPACITY`],
/// [`RuntimeConfig::DEFAULT_HEARTBEAT_INTERVAL`], retry backoff from
/// [`RuntimeConfig::DEFAULT_RETRY_BACKOFF_MIN`] to [`RuntimeConfig::DEFAULT_RETRY_BACKOFF_MAX`], and the
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
    cluster: Option<crate::transport::ClusterConfig>,
    journal: Option<std::path::PathBuf>,
    journal_retention: crate::journal_retention::JournalRetention,
    registry: Option<crate::named::Registry>,
    retain_finished: Option<usize>,
    #[cfg(feature = "dashboard")]
    dashboard: Option<crate::dashboard::DashboardConfig>,
}

/// A node of another process: its spec, its link, its prefetch, and the
/// figures its worker's heartbeats report.
type RemoteNode = (
    NodeSpec,
    Arc<dyn crate::job::RemoteLink>,
    usize,
    Arc<crate::node::Reported>,
);

/// The workers whose nodes the build took, each with its node count (in
/// the order of their nodes).
#[cfg(feature = "cluster")]
type Members = Vec<(String, usize)>;

impl Default for Builder {
    fn default() -> Self {
        Builder {
            nodes: vec![NodeSpec::default(); RuntimeConfig::DEFAULT_NODE_COUNT],
            policy: PolicySource::Kind(PolicyKind::default()),
            discipline: Discipline::default(),
            rng_seed: RuntimeConfig::DEFAULT_RNG_SEED,
            queue_capacity: RuntimeConfig::DEFAULT_QUEUE_CAPACITY,
            heartbeat_interval: RuntimeConfig::DEFAULT_HEARTBEAT_INTERVAL,
            retry_backoff: (
                RuntimeConfig::DEFAULT_RETRY_BACKOFF_MIN,
                RuntimeConfig::DEFAULT_RETRY_BACKOFF_MAX,
            ),
            balancer: BalancerConfig::default(),
            supervision: SupervisionConfig::default(),
            fault_plan: None,
            hooks: Hooks::default(),
            cluster: None,
            journal: None,
            journal_retention: Default::default(),
            registry: None,
            retain_finished: None,
            #[cfg(feature = "dashboard")]
            dashboard: None,
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
        if let Some(cluster) = &config.cluster {
            b.cluster(cluster.clone());
        }
        if let Some(path) = &config.journal {
            b.journal(path.clone());
        }
        if let Some(retention) = &config.journal_retention {
            b.journal_retention(*retention);
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
    /// returns [`SubmitError::Full`](crate::SubmitError::Full).
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

    /// Keeps the records of up to about `n` finished tasks for the state
    /// API ([`RuntimeHandle::tasks`], [`RuntimeHandle::task`]): id, spec,
    /// node, times, every attempt. The oldest are forgotten first; the
    /// counts ([`RuntimeHandle::state_counts`]) stay exact whatever is
    /// forgotten. A record takes 48 bytes, plus, for a task that has
    /// them, its spec fields that differ from the defaults (about 100
    /// bytes more), its name and its failed attempts
    /// (`docs/performance.md` has the measure).
    ///
    /// With 0, finished tasks are not recorded at all and executors do no
    /// work for the state API; live tasks are listed either way.
    ///
    /// # Default
    ///
    /// [`Builder::DEFAULT_RETAIN_FINISHED`] (0).
    pub fn retain_finished(&mut self, n: usize) -> &mut Self {
        self.retain_finished = Some(n);
        self
    }

    /// Finished tasks retained for the state API by default: none.
    pub const DEFAULT_RETAIN_FINISHED: usize = 0;

    /// Finished tasks retained when the dashboard is on and
    /// [`retain_finished`](Self::retain_finished) was not set.
    #[cfg(feature = "dashboard")]
    pub const DASHBOARD_RETAIN_FINISHED: usize = 100_000;

    /// Serves the dashboard at `addr` (feature `dashboard`): a page and
    /// JSON endpoints over the state API, and `/metrics` for Prometheus
    /// (`docs/dashboard.md`). Give a loopback address (`127.0.0.1:PORT`)
    /// unless other machines should reach it; port 0 lets the system pick
    /// one ([`RuntimeHandle::dashboard_addr`] tells which). Unless
    /// [`retain_finished`](Self::retain_finished) says otherwise, the
    /// runtime then keeps [`Builder::DASHBOARD_RETAIN_FINISHED`] finished
    /// tasks for it to show.
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime};
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes([NodeSpec::new(Resources::cpu(1_000))])
    ///     .dashboard("127.0.0.1:0".parse()?)
    ///     .build()?;
    /// let addr = runtime.handle().dashboard_addr().expect("serving");
    /// assert!(addr.ip().is_loopback() && addr.port() != 0);
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Default
    ///
    /// Off.
    #[cfg(feature = "dashboard")]
    pub fn dashboard(&mut self, addr: std::net::SocketAddr) -> &mut Self {
        self.dashboard.get_or_insert_with(Default::default).addr = addr;
        self
    }

    /// The bearer token the dashboard asks of whoever cancels a task
    /// (reading needs none). Without one, the dashboard cannot cancel.
    /// Turns the dashboard on at its default address if
    /// [`dashboard`](Self::dashboard) was not called.
    ///
    /// # Default
    ///
    /// None.
    #[cfg(feature = "dashboard")]
    pub fn dashboard_token(&mut self, token: impl Into<String>) -> &mut Self {
        self.dashboard.get_or_insert_with(Default::default).token = Some(token.into());
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

    /// Makes this runtime a cluster coordinator: `build` connects to NATS,
    /// waits for [`ClusterConfig::workers`](crate::cluster::ClusterConfig::workers)
    /// workers to join, and adds their nodes after the local ones (named
    /// `worker/node`). Remote nodes run named tasks
    /// ([`Registry`](crate::Registry)); see `docs/cluster.md`. With a
    /// cluster, the local node list may be empty.
    ///
    /// # Default
    ///
    /// None: every node is local. Without the `cluster` feature, `build`
    /// refuses a cluster with [`BuildError::InvalidConfig`] (field
    /// `cluster`).
    pub fn cluster(&mut self, config: crate::transport::ClusterConfig) -> &mut Self {
        self.cluster = Some(config);
        self
    }

    /// Journals named tasks' submissions, attempts and outcomes in the
    /// file at `path` (created if need be): once `submit` returns `Ok`,
    /// the task survives a crash of this process, and a runtime built on
    /// the same journal runs again every task that had not finished, its
    /// attempt count (and retry budget) continued from the journal's
    /// (`RuntimeHandle::recovered`, feature `journal`, gives their handles back). Needs
    /// [`registry`](Self::registry); closure tasks are refused
    /// ([`Refusal::NotDurable`](crate::Refusal::NotDurable)). See
    /// `docs/semantics.md`. Without the `journal` feature, `build` refuses
    /// it (field `journal`).
    ///
    /// # Default
    ///
    /// None: nothing survives the process.
    pub fn journal(&mut self, path: impl Into<std::path::PathBuf>) -> &mut Self {
        self.journal = Some(path.into());
        self
    }

    /// How long the [`journal`](Self::journal) keeps finished results no
    /// caller has read: past the age or size limit, the oldest are
    /// forgotten (their records removed, in a journalled change), so a
    /// runtime built on the journal later no longer gives them back. A
    /// result read is forgotten at once whatever this says; unfinished
    /// tasks are never forgotten. See [`JournalRetention`](crate::JournalRetention)
    /// and `docs/semantics.md`. Without a journal, `build` refuses a limit
    /// (field `journal_retention`).
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{JournalRetention, Runtime};
    /// use std::time::Duration;
    ///
    /// let mut b = Runtime::builder();
    /// b.journal("app.journal").journal_retention(JournalRetention {
    ///     max_age: Some(Duration::from_secs(7 * 86_400)),
    ///     max_bytes: Some(256 << 20),
    /// });
    /// ```
    ///
    /// # Default
    ///
    /// No limit ([`JournalRetention::default`](crate::JournalRetention)):
    /// an unread result is kept until read.
    pub fn journal_retention(
        &mut self,
        retention: crate::journal_retention::JournalRetention,
    ) -> &mut Self {
        self.journal_retention = retention;
        self
    }

    /// The functions this runtime's named tasks may call: what a journal
    /// runs again after a restart.
    ///
    /// # Default
    ///
    /// None.
    pub fn registry(&mut self, registry: crate::named::Registry) -> &mut Self {
        self.registry = Some(registry);
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
        if let Some(c) = &self.cluster {
            if !cfg!(feature = "cluster") {
                return bad(
                    "cluster",
                    "this build of allot has no cluster mode (cargo feature `cluster`)".into(),
                );
            }
            if let Err((field, reason)) = c.validate() {
                return bad(field, reason);
            }
        }
        if self.journal.is_none() && !self.journal_retention.is_unlimited() {
            return bad(
                "journal_retention",
                "a retention limit needs Builder::journal".into(),
            );
        }
        if self.journal.is_some() {
            if !cfg!(feature = "journal") {
                return bad(
                    "journal",
                    "this build of allot has no journal (cargo feature `journal`)".into(),
                );
            }
            if self.registry.is_none() {
                return bad(
                    "registry",
                    "a journal needs Builder::registry, to run its tasks again".into(),
                );
            }
        }
        // A coordinator may start before its workers: its tasks wait.
        if self.nodes.is_empty() && self.cluster.is_none() {
            return bad("nodes", "at least one node is required".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Err((field, reason)) = n.validate() {
                return bad_node(field, i, reason);
            }
        }
        if self.queue_capacity == 0 {
            return bad("queue_capacity", "must be at least 1".into());
        }
        let max = crate::durations::MAX_INTERVAL;
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval > max {
            return bad(
                "heartbeat_interval",
                format!("must be in (0, {max:?}], got {:?}", self.heartbeat_interval),
            );
        }
        if self.retry_backoff.1 > SupervisionConfig::MAX_BACKOFF {
            return bad(
                "retry_backoff",
                format!(
                    "max must be at most {:?}, got {:?}",
                    SupervisionConfig::MAX_BACKOFF,
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
        if let Err((field, reason)) = self.balancer.validate() {
            return bad(field, reason);
        }
        if let Err((field, reason)) = self.supervision.validate() {
            return bad(field, reason);
        }
        // With a cluster, the plan can name remote nodes: checked once
        // they have joined (`build`).
        if self.cluster.is_none() {
            self.validate_plan(self.nodes.len())?;
        }
        Ok(())
    }

    fn validate_plan(&self, nodes: usize) -> Result<(), BuildError> {
        if let Some(plan) = &self.fault_plan {
            if let Err((i, reason)) = plan.validate(nodes) {
                return Err(BuildError::InvalidConfig {
                    field: "fault_plan.faults",
                    index: None,
                    reason: format!("entry {i}: {reason}"),
                });
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
        #[cfg(feature = "journal")]
        let journal = match (&self.journal, &self.registry) {
            (Some(path), Some(registry)) => Some(super::durable::open(
                path,
                &self.journal_retention,
                registry,
            )?),
            _ => None,
        };
        // A coordinator keeps the session its journal holds, and its
        // recovered tasks take the results the workers sent while it was
        // down.
        #[cfg(all(feature = "cluster", feature = "journal"))]
        let recovery = journal
            .as_ref()
            .map(|(j, entries)| crate::transport::Recovery {
                session: j.session(),
                unfinished: entries
                    .iter()
                    .filter(|e| e.outcome.is_none())
                    .map(|e| e.id)
                    .collect(),
            });
        #[cfg(all(feature = "cluster", not(feature = "journal")))]
        let recovery = None;
        #[cfg(feature = "cluster")]
        let (cluster, remote, members) = self.join_cluster(recovery)?;
        #[cfg(not(feature = "cluster"))]
        let remote: Vec<RemoteNode> = Vec::new();
        self.validate_plan(self.nodes.len() + remote.len())?;
        // A remote node's executors are its slots and its prefetch.
        let needed = self
            .nodes
            .iter()
            .map(|s| (s, 0))
            .chain(remote.iter().map(|r| (&r.0, r.2)))
            .fold(2usize, |n, (s, prefetch)| {
                n.saturating_add(s.slots.max(1))
                    .saturating_add(prefetch)
                    .saturating_add(1)
            });
        if let Some(limit) = crate::threads::available() {
            if needed > limit {
                return Err(BuildError::TooManyThreads { needed, limit });
            }
        }
        crate::clock::init();
        let (plane, reference_speed) = self.plane(remote);
        let (speed_changes, fault_index) = match &self.fault_plan {
            Some(plan) => {
                let (per_node, speed) = fault::compile(plan, self.rng_seed, plane.nodes.len(), 0);
                for (n, f) in plane.nodes.iter().zip(&per_node) {
                    n.add_faults(f);
                }
                (speed, plan.faults.len() as u64)
            }
            None => (Vec::new(), 0),
        };
        let (inbox_tx, inbox_rx) = crossbeam_channel::unbounded();
        let started = system::start(system::Parts {
            plane: Arc::clone(&plane),
            inbox: inbox_rx,
            discipline: self.discipline,
            config: SupervisorConfig {
                heartbeat_interval: self.heartbeat_interval,
                retry_backoff_min: self.retry_backoff.0,
                retry_backoff_max: self.retry_backoff.1,
                supervision: self.supervision.clone(),
                rng_seed: self.rng_seed,
            },
            balancer: self.balancer.clone(),
            speed_changes,
            hooks: self.hooks.clone(),
        })?;
        let shared = Arc::new(Core {
            plane,
            inbox: inbox_tx,
            supervisor: started.supervisor,
            balancer: started.balancer,
            system: started.system,
            state: RwLock::new(RunState::Running),
            rng_seed: self.rng_seed,
            fault_index: AtomicU64::new(fault_index),
            queue_capacity: self.queue_capacity as u64,
            finished_floor: AtomicU64::new(0),
            thread: Mutex::new(Some(started.thread)),
            #[cfg(feature = "cluster")]
            cluster,
            #[cfg(feature = "journal")]
            journal: journal.as_ref().map(|(j, _)| Arc::clone(j)),
            #[cfg(feature = "journal")]
            recovered: Mutex::new(Vec::new()),
            #[cfg(feature = "dashboard")]
            dashboard: Mutex::new(None),
        });
        for (j, node) in shared.plane.nodes.iter().enumerate() {
            node.set_host(Arc::new(ForkJoinHost {
                shared: Arc::downgrade(&shared),
                node: j,
            }));
        }
        #[cfg(feature = "cluster")]
        if let (Some(cluster), Some(config)) = (&shared.cluster, &self.cluster) {
            self.admit_late_workers(&shared, cluster, config, members, reference_speed);
        }
        #[cfg(not(feature = "cluster"))]
        let _ = reference_speed;
        tracing::info!(
            nodes = shared.plane.nodes.len(),
            seed = self.rng_seed,
            "runtime.start"
        );
        let handle = RuntimeHandle { shared };
        #[cfg(feature = "journal")]
        if let (Some((j, entries)), Some(registry)) = (journal, &self.registry) {
            handle
                .shared
                .plane
                .ledger
                .start_ids_at(super::durable::next_id(&entries));
            let back = super::durable::recover(&handle, &j, registry, entries);
            *handle.shared.recovered.lock() = back;
        }
        #[cfg(feature = "dashboard")]
        if let Some(config) = &self.dashboard {
            match crate::dashboard::start(handle.clone(), config) {
                Ok(d) => *handle.shared.dashboard.lock() = Some(Box::new(d)),
                Err(source) => {
                    drop(handle.shutdown_now());
                    return Err(BuildError::Dashboard {
                        addr: config.addr,
                        source,
                    });
                }
            }
        }
        Ok(Runtime { handle })
    }

    /// With a cluster: connects, waits for its workers, and returns their
    /// nodes, and which workers they are of. Without: nothing.
    #[cfg(feature = "cluster")]
    #[allow(clippy::type_complexity)]
    fn join_cluster(
        &self,
        recovery: Option<crate::transport::Recovery>,
    ) -> Result<
        (
            Option<Arc<crate::transport::Cluster>>,
            Vec<RemoteNode>,
            Members,
        ),
        BuildError,
    > {
        use crate::transport::Cluster;
        let Some(config) = &self.cluster else {
            return Ok((None, Vec::new(), Vec::new()));
        };
        let cluster = Arc::new(
            Cluster::start(config, self.heartbeat_interval, recovery)
                .map_err(BuildError::Cluster)?,
        );
        let workers = cluster
            .await_workers(config.workers, config.join_timeout)
            .map_err(BuildError::Cluster)?;
        let mut out = Vec::new();
        let mut members = Vec::new();
        for (worker, specs) in workers {
            let specs = super::join::remote_specs(&worker, specs).map_err(BuildError::Cluster)?;
            if out.len() + specs.len() > config.max_nodes {
                return Err(BuildError::Cluster(
                    crate::cluster_error::ClusterError::TooManyNodes {
                        worker,
                        nodes: specs.len(),
                        taken: out.len(),
                        max_nodes: config.max_nodes,
                    },
                ));
            }
            members.push((worker.clone(), specs.len()));
            for (k, spec) in specs.into_iter().enumerate() {
                let (link, reported) = cluster.link(&worker, k);
                let link: Arc<dyn crate::job::RemoteLink> = link;
                out.push((spec, link, cluster.prefetch(), reported));
            }
        }
        tracing::info!(remote_nodes = out.len(), "cluster.joined");
        Ok((Some(cluster), out, members))
    }

    /// Hands the workers that join from now on to a [`Joiner`](super::join::Joiner).
    #[cfg(feature = "cluster")]
    fn admit_late_workers(
        &self,
        core: &Arc<Core>,
        cluster: &Arc<crate::transport::Cluster>,
        config: &crate::transport::ClusterConfig,
        members: Members,
        reference_speed: f64,
    ) {
        let local = self.nodes.len();
        let mut next = local;
        let members = members
            .into_iter()
            .map(|(worker, n)| {
                let ix: Vec<usize> = (next..next + n).collect();
                next += n;
                (worker, ix)
            })
            .collect();
        let recipe = super::join::NodeRecipe {
            discipline: self.discipline,
            hooks: self.hooks.clone(),
            prefetch: config.prefetch,
            reference_speed,
            feedback: core.plane.dispatcher.lock().wants_feedback(),
        };
        let joiner = super::join::Joiner::new(core, cluster, recipe, local, members);
        cluster.on_join(Box::new(move |worker, specs| joiner.join(worker, specs)));
    }

    /// The nodes, the ledger they share and the placement step, as one
    /// [`Plane`]; and the speed that runs at the machine's pace.
    fn plane(&self, remote: Vec<RemoteNode>) -> (Arc<Plane>, f64) {
        // Room for the remote nodes to come: `max_nodes` in all.
        #[cfg(feature = "cluster")]
        let room = self
            .cluster
            .as_ref()
            .map(|c| c.max_nodes.saturating_sub(remote.len()));
        #[cfg(not(feature = "cluster"))]
        let room = None;
        #[cfg(feature = "dashboard")]
        let default_retain = if self.dashboard.is_some() {
            Builder::DASHBOARD_RETAIN_FINISHED
        } else {
            Builder::DEFAULT_RETAIN_FINISHED
        };
        #[cfg(not(feature = "dashboard"))]
        let default_retain = Builder::DEFAULT_RETAIN_FINISHED;
        let ledger = Arc::new(Ledger::retaining(
            self.retain_finished.unwrap_or(default_retain),
        ));
        let local = self.nodes.iter().map(|spec| (spec.clone(), None));
        let remote = remote
            .into_iter()
            .map(|(spec, link, prefetch, reported)| (spec, Some((link, prefetch, reported))));
        let nodes: Vec<Arc<NodeShared>> = local
            .chain(remote)
            .enumerate()
            .map(|(i, (spec, link))| {
                let node = NodeShared::new(
                    NodeId(i),
                    spec,
                    self.discipline,
                    Arc::clone(&ledger),
                    self.hooks.clone(),
                );
                Arc::new(match link {
                    Some((link, prefetch, reported)) => node.with_remote(link, prefetch, reported),
                    None => node,
                })
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
        let executors: usize = nodes.iter().map(|n| n.executors()).sum();
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let feedback = policy.wants_feedback();
        for n in &nodes {
            n.set_reference_speed(fastest);
            n.set_watch_idle(executors <= cores);
            if feedback {
                n.enable_feedback();
            }
        }
        let plane = Plane::new(ledger, nodes, room, Dispatcher::new(policy));
        (Arc::new(plane), fastest)
    }
}
