//! What each task of a workload runs: calibrated work and a seeded chance
//! of failing with its own error ([`kinds::compute`]), as a closure on
//! local nodes or as the named task `allot.compute` on remote ones.

use crate::compute::Work;
use crate::kinds::{self, ComputeArgs};
use crate::workload::model::KindSpec;
use allot::{Task, TaskError, TaskHandle};
use std::time::Instant;

/// What a workload task returns.
#[derive(Debug)]
pub(super) struct Done {
    pub(super) at: Instant,
    pub(super) attempt: u32,
}

/// An accepted task's outcome, to wait for.
#[derive(Debug)]
pub(super) enum Pending {
    /// A local task: it stamps its own end.
    Local(TaskHandle<Done>),
    /// A remote task: a watcher stamps its end as its result arrives
    /// (`None` if the watcher is gone, which a run does not let happen).
    Remote(tokio::sync::oneshot::Receiver<Result<Done, TaskError>>),
}

impl Pending {
    /// Blocks until the task ends.
    pub(super) fn wait(self) -> Option<Result<Done, TaskError>> {
        match self {
            Pending::Local(h) => Some(h.wait()),
            Pending::Remote(rx) => rx.blocking_recv().ok(),
        }
    }
}

/// Builds the run's tasks and follows them once accepted.
pub(super) trait Source {
    /// What its tasks return.
    type Out: Send + 'static;
    /// Task `index`, of kind `kind`, with cost `cost`; why not, if it
    /// cannot be built.
    fn make(&self, kind: &KindSpec, index: u64, cost: f64) -> Result<Task<Self::Out>, String>;
    /// What the collector waits on for an accepted task.
    fn follow(&self, handle: TaskHandle<Self::Out>) -> Pending;
}

/// How big each task's work is.
#[derive(Debug)]
pub(super) struct Sizing {
    pub(super) work: Work,
    /// The fastest nominal node speed (the one that runs at this machine's pace).
    pub(super) fastest: f64,
    pub(super) seed: u64,
}

impl Sizing {
    /// The arguments of task `index`, of kind `kind`, with cost `cost`.
    pub(super) fn args(&self, kind: &KindSpec, index: u64, cost: f64) -> ComputeArgs {
        ComputeArgs {
            index,
            products: self.work.products(cost, self.fastest),
            error_rate: kind.error_rate,
            seed: self.seed,
        }
    }
}

/// Closures on local nodes.
#[derive(Debug)]
pub(super) struct LocalTasks(pub(super) Sizing);

impl Source for LocalTasks {
    type Out = Done;

    fn make(&self, kind: &KindSpec, index: u64, cost: f64) -> Result<Task<Done>, String> {
        let args = self.0.args(kind, index, cost);
        Ok(Task::with_spec(kind.spec(cost), move |ctx| {
            let attempt = kinds::compute(ctx, args)?;
            Ok::<_, String>(Done {
                at: Instant::now(),
                attempt,
            })
        }))
    }

    fn follow(&self, handle: TaskHandle<Done>) -> Pending {
        Pending::Local(handle)
    }
}
