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
//! assert_eq!(sum, (0..100u64).map(|i| i * i).sum());
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
//! Failures are supervised the Erlang/OTP way ([`SupervisionConfig`]), and
//! faults can be injected from a seeded, serialisable [`FaultPlan`]; see
//! `examples/chaos.rs`. Allocation policies live in [`policy`]; the
//! simulator and trace loaders behind their evaluation in [`sim`].
//!
//! The guarantees (ordering, delivery, restarts, migration, shutdown) are in
//! `docs/semantics.md`; the design in `docs/architecture.md`. actix is an
//! implementation detail: no actix type appears in this API.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod balancer;
mod clock;
mod config;
mod dispatch;
mod drift;
mod durations;
mod error;
mod fault;
mod forkjoin;
mod hooks;
mod ids;
mod job;
mod ledger;
#[cfg(all(test, loom))]
mod loom_models;
mod metrics;
mod node;
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

pub use balancer::BalancerConfig;
pub use config::RuntimeConfig;
pub use error::{
    AttemptError, AttemptFailure, BuildError, CancelReason, Infeasibility, InjectError, Refusal,
    SubmitBatchError, SubmitError, SubmitTimeoutError, SubmitWaitError, TaskError,
};
pub use fault::{is_injected_panic, Fault, FaultPlan, FaultSpec};
pub use ids::{NodeId, TaskId};
pub use job::TaskContext;
pub use metrics::{AbandonReason, AbandonedAttempt, LatencySummary, Metrics, NodeMetrics, Totals};
pub use node::NodeSpec;
pub use policy::{Policy, PolicyKind};
pub use queue::{Discipline, UnknownDiscipline};
pub use resources::Resources;
pub use runtime::{Builder, Runtime, RuntimeHandle, ShutdownReport, UnfinishedTask};
pub use spec::{BoxError, SpecError, TaskKind, TaskSpec, TaskStatus};
pub use supervision::{
    DownReason, Escalation, Health, RestartPolicy, RestartStrategy, SupervisionConfig,
    SupervisorEvent,
};
pub use task::Task;
pub use task_handle::{CancelHandle, TaskHandle};

/// What most files that use allot need.
pub mod prelude {
    pub use crate::{
        NodeId, NodeSpec, Resources, Runtime, RuntimeHandle, Task, TaskContext, TaskError,
        TaskHandle, TaskKind,
    };
}
