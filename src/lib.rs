//! allot: an actor-based, in-process runtime that allocates and executes
//! AI-model tasks across worker nodes.
//!
//! Start a [`Runtime`], submit [`Task`]s through its [`RuntimeHandle`], and
//! wait on the [`TaskHandle`]s that come back:
//!
//! ```
//! use allot::{NodeSpec, Resources, Runtime, Task, TaskKind};
//!
//! // Two nodes; the second has a GPU.
//! let runtime = Runtime::builder()
//!     .nodes([
//!         NodeSpec::new(Resources::cpu(4_000)).name("cpu"),
//!         NodeSpec::new(Resources::cpu(8_000).with_gpu_milli(1_000)).name("gpu").speed(2.0),
//!     ])
//!     .build()?;
//! let handle = runtime.handle();
//!
//! // A task is a closure that may run more than once (retries), plus metadata.
//! let tasks = (0..100u64).map(|i| {
//!     Task::new(move |_ctx| Ok::<_, std::io::Error>(i * i))
//!         .kind(TaskKind::Inference)
//!         .cost(0.001)
//! });
//! let handles = handle.submit_batch(tasks)?;
//! let sum: u64 = handles.into_iter().map(|h| h.wait().unwrap()).sum();
//! assert_eq!(sum, (0..100u64).map(|i| i * i).sum::<u64>());
//!
//! // A task that needs a GPU can only go to the GPU node...
//! let on_gpu = handle.submit(
//!     Task::new(|ctx| Ok::<_, String>(ctx.node())).demand(Resources::cpu(1_000).with_gpu_milli(500)),
//! )?;
//! assert_eq!(on_gpu.wait()?.0, 1);
//! // ...and one that no node can fit is handed back at once.
//! let err = handle
//!     .submit(Task::new(|_| Ok::<_, String>(())).demand(Resources::cpu(1_000).with_gpu_milli(4_000)))
//!     .unwrap_err();
//! assert!(matches!(err.reason(), Some(allot::Refusal::Infeasible(_))));
//!
//! // A task can fork subtasks and join them; `join` runs subtasks that no
//! // node has started yet on its own executor, so it never deadlocks.
//! let total = handle.submit(Task::new(|ctx| {
//!     let parts = ctx
//!         .fork_join((1..=4u64).map(|k| Task::new(move |_| Ok::<_, String>(k * 10))))
//!         .map_err(|e| e.to_string())?;
//!     Ok::<_, String>(parts.into_iter().map(|r| r.unwrap()).sum::<u64>())
//! }))?;
//! assert_eq!(total.wait()?, 100);
//!
//! let metrics = runtime.shutdown();
//! assert_eq!(metrics.totals.completed, 106);
//! assert_eq!(metrics.totals.unaccounted(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Configuring the runtime
//!
//! A [`Builder`] takes the nodes (each a [`NodeSpec`]: its capacity as
//! [`Resources`], a name, a speed, executor slots), the allocation
//! [`PolicyKind`], the queue [`Discipline`], a seed, the queue bound and
//! the supervision settings; each setting is checked at
//! [`build`](Builder::build), which names the one at fault.
//! [`RuntimeConfig`] is the same as a serde value, for config files.
//!
//! ```
//! use allot::{Discipline, NodeSpec, PolicyKind, Resources, Runtime, SupervisionConfig};
//! use std::time::Duration;
//!
//! let runtime = Runtime::builder()
//!     .nodes([
//!         NodeSpec::new(Resources::cpu(8_000)).name("cpu").slots(4),
//!         NodeSpec::new(Resources::cpu(8_000).with_gpu_milli(2_000)).name("gpu").speed(3.0),
//!     ])
//!     .policy(PolicyKind::BestFit)
//!     .discipline(Discipline::Priority)
//!     .queue_capacity(100_000)
//!     .supervision(SupervisionConfig {
//!         max_restarts: 5,
//!         restart_period: Duration::from_secs(10),
//!         ..SupervisionConfig::default()
//!     })
//!     .rng_seed(7)
//!     .build()?;
//! assert_eq!(runtime.handle().nodes()[1].name, "gpu");
//!
//! // A bad setting is refused, naming the field and the node.
//! let err = Runtime::builder()
//!     .nodes([NodeSpec::new(Resources::cpu(1_000)).speed(f64::NAN)])
//!     .build()
//!     .unwrap_err();
//! assert!(err.to_string().contains("nodes[0].speed"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Submitting, and what comes back
//!
//! The submit methods follow one naming rule (see [`RuntimeHandle`] and
//! `docs/api.md`): one task or a `_batch`, handles returned, appended
//! (`_into`) or none (`_detached`), pinned to a node (`_to`), or waiting
//! out backpressure (`submit_wait`). Each operation has its own error type,
//! and every one hands back what it did not accept.
//!
//! ```
//! use allot::{NodeId, NodeSpec, Refusal, Resources, Runtime, SubmitError, Task};
//!
//! let runtime = Runtime::builder()
//!     .nodes([NodeSpec::new(Resources::cpu(1_000))])
//!     .queue_capacity(1)
//!     .build()?;
//! let h = runtime.handle();
//! // Pinned to a node that does not exist: refused for good, task back.
//! let task = Task::new(|_| Ok::<_, String>(1)).priority(3);
//! match h.submit_to(NodeId(9), task) {
//!     Err(SubmitError::Refused { task, reason: Refusal::UnknownNode { .. } }) => {
//!         assert_eq!(task.spec().priority, 3);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // `submit_wait` waits for room instead of refusing a full queue.
//! let first = h.submit_wait(Task::new(|_| Ok::<_, String>(1)))?;
//! let second = h.submit_wait(Task::new(|_| Ok::<_, String>(2)))?;
//! assert_eq!(first.wait()? + second.wait()?, 3);
//! runtime.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Waiting from async code
//!
//! A [`TaskHandle`] is a [`Future`](std::future::Future): `.await` it in
//! any executor. No call on a [`RuntimeHandle`] blocks but `submit_wait`
//! and the `shutdown` family.
//!
//! ```
//! use allot::{NodeSpec, Resources, Runtime, Task};
//!
//! let runtime = Runtime::builder()
//!     .nodes([NodeSpec::new(Resources::cpu(2_000))])
//!     .build()?;
//! let h = runtime.handle().clone();
//! let executor = tokio::runtime::Builder::new_current_thread().build()?;
//! let sum = executor.block_on(async move {
//!     let a = h.submit(Task::new(|_| Ok::<_, String>(20)))?;
//!     let b = h.submit(Task::new(|_| Ok::<_, String>(22)))?;
//!     Ok::<_, Box<dyn std::error::Error>>(a.await? + b.await?)
//! })?;
//! assert_eq!(sum, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Policies
//!
//! [`PolicyKind`] selects a built-in policy by name (the same names as in
//! config files and on the command line); [`Builder::policy_with`] plugs in
//! your own [`Policy`]. Policies are plain Rust: the runtime, the benches
//! and the simulators in [`sim`] run the same code. `docs/policies.md`
//! compares them; `examples/custom_policy.rs` writes one.
//!
//! ```
//! use allot::PolicyKind;
//!
//! let kind: PolicyKind = "fragmentation-aware".parse()?;
//! assert_eq!(kind.to_string(), "fragmentation-aware");
//! assert!(PolicyKind::ALL.len() > 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Faults and supervision
//!
//! Nodes are supervised the Erlang/OTP way ([`SupervisionConfig`]: restart
//! strategy, intensity, backoff, escalation); a failed node's tasks run
//! elsewhere, exactly once in the ledger. Faults come from a seeded,
//! serialisable [`FaultPlan`] given at build, or are injected while running
//! ([`RuntimeHandle::inject`]); `examples/chaos.rs` runs thousands.
//!
//! ```
//! use allot::{Fault, FaultPlan, FaultSpec, NodeId, NodeSpec, Resources, Runtime, Task};
//!
//! let runtime = Runtime::builder()
//!     .nodes(vec![NodeSpec::new(Resources::cpu(1_000)); 2])
//!     // Node 0 crashes at its 5th task; 1 % of attempts panic.
//!     .fault_plan(
//!         FaultPlan::new(42)
//!             .with(FaultSpec::CrashNode { node: NodeId(0), after_tasks: 5 })
//!             .with(FaultSpec::PanicTask { p: 0.01 }),
//!     )
//!     .build()?;
//! let h = runtime.handle();
//! let tasks = h.submit_batch((0..200).map(|i| Task::new(move |_| Ok::<_, String>(i))))?;
//! h.inject(Fault::SlowNode { node: NodeId(1), factor: 0.5 })?;
//! // Each handle resolves once: a value, or the error of a task whose
//! // attempts all panicked.
//! let ok = tasks.into_iter().filter_map(|t| t.wait().ok()).count();
//! let m = runtime.shutdown();
//! assert_eq!(m.totals.completed, ok as u64);
//! // Every task ended exactly once, whatever failed on the way.
//! assert_eq!(m.totals.unaccounted(), 0);
//! assert_eq!(m.totals.completed + m.totals.failed, 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Metrics
//!
//! [`RuntimeHandle::metrics`] is a snapshot at any time: per-node
//! [`NodeMetrics`] (by the node's name), the ledger's [`Totals`], latency
//! percentiles, the runtime's [`Health`] and any attempts it has let go
//! of. Every node also logs through `tracing` (span and event names are
//! `area.event`, with the node's name in the `node` field).
//!
//! ```
//! use allot::{NodeSpec, Resources, Runtime, Task};
//!
//! let runtime = Runtime::builder()
//!     .nodes([NodeSpec::new(Resources::cpu(1_000)).name("trainer")])
//!     .build()?;
//! let h = runtime.handle();
//! for t in h.submit_batch((0..50).map(|i| Task::new(move |_| Ok::<_, String>(i))))? {
//!     t.wait()?;
//! }
//! let m = h.metrics();
//! assert_eq!(m.nodes[0].name, "trainer");
//! assert_eq!(m.nodes[0].completed, 50);
//! assert_eq!(m.latency.count, 50);
//! runtime.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Further reading
//!
//! In the repository: `docs/semantics.md` (the guarantees: ordering,
//! delivery, restarts, migration, shutdown, each with the test that checks
//! it), `docs/api.md` (the rules of this API), `docs/architecture.md`
//! (layers and the data path), `docs/guide.md` (the `allot` command),
//! `docs/policies.md`, `docs/performance.md` and `docs/reliability.md`.
//! actix is an implementation detail: no actix type appears in this API.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod balancer;
mod clock;
mod cluster_error;
mod config;
#[cfg(feature = "dashboard")]
mod dashboard;
mod dispatch;
mod drift;
mod durations;
mod error;
mod fault;
mod forkjoin;
mod hooks;
mod ids;
mod inspect;
mod job;
#[cfg(feature = "journal")]
mod journal;
mod journal_error;
mod journal_retention;
mod ledger;
#[cfg(all(test, loom))]
mod loom_models;
mod metrics;
mod named;
mod node;
mod plane;
pub mod policy;
mod queue;
mod resources;
mod runtime;
pub mod sim;
mod spec;
mod supervision;
mod supervisor;
mod sync;
mod task;
mod task_handle;
mod threads;
mod transport;
#[cfg(feature = "cluster")]
mod worker;

pub use balancer::BalancerConfig;
pub use config::RuntimeConfig;
#[cfg(feature = "dashboard")]
pub use dashboard::DashboardConfig;
pub use error::{
    AttemptError, AttemptFailure, BuildError, CancelReason, Infeasibility, InjectError, Refusal,
    SubmitBatchError, SubmitError, SubmitTimeoutError, SubmitWaitError, TaskError,
};
pub use fault::{is_injected_panic, Fault, FaultPlan, FaultSpec};
pub use ids::{NodeId, TaskId};
pub use inspect::{
    Attempt, AttemptOutcome, BadCursor, Cursor, EventRecord, NodeHealth, NodeOffer, NodeStatus,
    QueryError, Rates, StateCounts, TaskDetail, TaskPage, TaskQuery, TaskState, TaskSummary,
    UnknownState, Why,
};
pub use job::TaskContext;
pub use journal_error::JournalError;
pub use journal_retention::JournalRetention;
pub use metrics::{
    AbandonReason, AbandonedAttempt, ClusterMetrics, LatencySummary, Metrics, NodeMetrics, Totals,
    WorkerMetrics,
};
pub use named::{CallError, CodecError, NamedFn, Registry, RegistryError};
pub use node::NodeSpec;
pub use policy::{Policy, PolicyKind};
pub use queue::{Discipline, UnknownDiscipline};
pub use resources::Resources;
#[cfg(feature = "journal")]
pub use runtime::RecoveredTask;
pub use runtime::{Builder, Runtime, RuntimeHandle, ShutdownReport, UnfinishedTask};
pub use spec::{BoxError, SpecError, TaskKind, TaskSpec, TaskStatus};
pub use supervision::{
    DownReason, Escalation, Health, RestartPolicy, RestartStrategy, SupervisionConfig,
    SupervisorEvent,
};
pub use task::Task;

/// Cluster mode: remote nodes in worker processes, over NATS JetStream.
///
/// A coordinator is an ordinary [`Runtime`] built with
/// [`Builder::cluster`]; a worker is the same binary running a `Worker`
/// (this module, feature `cluster`) with the same [`Registry`].
/// `docs/cluster.md` tells
/// the whole story: guarantees, failures, configuration. The
/// configuration types are always here (config files name them); the
/// transport needs the `cluster` feature.
pub mod cluster {
    #[cfg(feature = "cluster")]
    pub use crate::transport::WireError;
    pub use crate::transport::{ClusterConfig, ClusterError, TlsConfig};
    #[cfg(feature = "cluster")]
    pub use crate::worker::{Worker, WorkerHandle, WorkerReport};
}
pub use task_handle::{CancelHandle, TaskHandle};

/// What most files that use allot need.
pub mod prelude {
    pub use crate::{
        NodeId, NodeSpec, Resources, Runtime, RuntimeHandle, Task, TaskContext, TaskError,
        TaskHandle, TaskKind,
    };
}
