//! `allot run --nats`: the workload's tasks as `allot.compute` named tasks
//! on the nodes of `allot worker` processes. The coordinator has no local
//! nodes; policy, discipline, supervision, faults and the task mix apply
//! as they do locally.

use super::task::{Done, Pending, Sizing, Source};
use crate::error::CliError;
use crate::kinds::{self, ComputeArgs};
use crate::locate::FieldPath;
use crate::nats::Settings;
use crate::workload::file::Loaded;
use crate::workload::model::KindSpec;
use allot::{FaultPlan, InjectError, NamedFn, Runtime, RuntimeConfig, Task, TaskHandle};
use std::time::Instant;

/// `allot.compute` tasks, whose ends a watcher stamps as their results
/// arrive (the collector waits for them in submission order).
pub(super) struct RemoteTasks {
    sizing: Sizing,
    compute: NamedFn<ComputeArgs, u32>,
    /// Awaits each accepted task's handle.
    watcher: tokio::runtime::Runtime,
}

impl std::fmt::Debug for RemoteTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTasks")
            .field("sizing", &self.sizing)
            .finish_non_exhaustive()
    }
}

impl RemoteTasks {
    /// Tasks sized by `sizing`, with their watcher started.
    ///
    /// # Errors
    ///
    /// When the watcher's thread does not start.
    pub(super) fn new(sizing: Sizing) -> Result<RemoteTasks, CliError> {
        let watcher = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("allot-run-watch")
            .build()
            .map_err(|e| CliError::Other(format!("cannot start the result watcher: {e}")))?;
        Ok(RemoteTasks {
            sizing,
            compute: kinds::builtins().1.compute,
            watcher,
        })
    }
}

impl Source for RemoteTasks {
    type Out = u32;

    fn make(&self, kind: &KindSpec, index: u64, cost: f64) -> Result<Task<u32>, String> {
        let mut task = self
            .compute
            .task(&self.sizing.args(kind, index, cost))
            .map_err(|e| format!("refused: {e}"))?;
        task.set_spec(kind.spec(cost));
        Ok(task)
    }

    fn follow(&self, handle: TaskHandle<u32>) -> Pending {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.watcher.spawn(async move {
            let outcome = handle.await.map(|attempt| Done {
                at: Instant::now(),
                attempt,
            });
            // The collector may have stopped waiting (it never does
            // before the run's end).
            let _ = tx.send(outcome);
        });
        Pending::Remote(rx)
    }
}

/// The runtime settings of a coordinator: the workload's, without its
/// nodes (the workers bring theirs). A note on stderr says so when the
/// workload names nodes.
pub(super) fn runtime_config(loaded: &Loaded) -> RuntimeConfig {
    let mut config = loaded.workload.runtime.clone();
    if loaded.workload.nodes.is_some() || config.nodes != RuntimeConfig::default().nodes {
        eprintln!(
            "note: {}: the workload's nodes are ignored with --nats; the workers' nodes run \
             its tasks",
            loaded.path.display()
        );
    }
    config.nodes = Vec::new();
    config
}

/// Starts the coordinator of `settings`: waits for its workers, then adds
/// the fault plan (its nodes are the workers', known only now). Fills
/// `config.nodes` with the workers' nodes, for the report.
///
/// # Errors
///
/// A one-line error naming the flag or what could not be reached; a
/// fault naming a node the workers do not have, pointed at in the file.
pub(super) fn start(
    loaded: &Loaded,
    config: &mut RuntimeConfig,
    settings: &Settings,
    dashboard: &dyn Fn(&mut allot::Builder),
) -> Result<Runtime, CliError> {
    settings.check()?;
    let mut without_faults = config.clone();
    let plan: Option<FaultPlan> = without_faults.fault_plan.take();
    let mut builder = Runtime::builder_from(&without_faults);
    builder.cluster(settings.config.clone());
    dashboard(&mut builder);
    let runtime = builder.build().map_err(|e| match settings.build_error(e) {
        Ok(cli) => cli,
        Err(e) => super::build_error(loaded, e),
    })?;
    config.nodes = runtime.handle().nodes();
    if let Some(plan) = &plan {
        match runtime.handle().inject_plan(plan) {
            Ok(()) => {}
            Err(e @ InjectError::InvalidPlan { index, .. }) => {
                runtime.shutdown();
                let field = FieldPath::parse("runtime.fault_plan.faults").index(index);
                return Err(loaded.error_at(&field, format!("runtime refused: {e}")));
            }
            Err(e) => {
                runtime.shutdown();
                return Err(CliError::Other(format!("cannot add the fault plan: {e}")));
            }
        }
    }
    Ok(runtime)
}
