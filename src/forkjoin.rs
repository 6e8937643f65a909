//! Fork-join from inside a running task: [`TaskContext::spawn`] submits
//! subtasks, [`TaskContext::join`] waits for them while running those that
//! have not started on the joining executor itself.
//!
//! Helping is what keeps fork-join free of deadlock: even when every
//! executor of every node is inside a `join`, each joiner runs its own
//! unstarted subtasks, so every subtask eventually runs.
//!
//! Subtasks belong to the parent's *attempt*: when that attempt ends —
//! returns, fails, is cancelled, or is superseded because its node was lost
//! — its unfinished subtasks are cancelled
//! ([`CancelReason::ParentEnded`](crate::CancelReason::ParentEnded)). A
//! retried parent forks afresh, so no subtask result is used twice and none
//! is left behind.

use crate::error::{Refusal, SubmitBatchError, SubmitError, TaskError};
use crate::job::{Host, JobRef, TaskContext};
use crate::node::{run_inline, NodeShared};
use crate::runtime::{RuntimeHandle, Shared, TaskHandle};
use crate::task::Task;
use std::any::Any;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How long a joiner waits on one subtask before looking again for
/// subtasks it can run itself.
const JOIN_POLL: Duration = Duration::from_millis(1);

/// The runtime as seen from one node's running tasks.
pub(crate) struct ForkJoinHost {
    pub(crate) shared: Weak<Shared>,
    pub(crate) node: usize,
}

impl Host for ForkJoinHost {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl TaskContext<'_> {
    fn runtime(&self) -> Option<(RuntimeHandle, Arc<NodeShared>)> {
        let host = self.host?.as_any().downcast_ref::<ForkJoinHost>()?;
        let handle = RuntimeHandle::from_shared(host.shared.upgrade()?);
        let node = Arc::clone(handle.node_shared(host.node));
        Some((handle, node))
    }

    fn adopt(&self, child: JobRef) {
        self.core.add_child(self.attempt, child);
        if self.is_abandoned() {
            // The attempt ended while we forked: take the child with it.
            self.core.end_children(Some(self.attempt));
        }
    }

    /// Submits a subtask of this attempt. It is scheduled like any task;
    /// wait for it with [`join`](Self::join) (which also runs it here if no
    /// node has started it yet).
    ///
    /// # Errors
    ///
    /// As [`RuntimeHandle::submit`], and
    /// [`Refusal::ParentAbandoned`] when this attempt was already
    /// abandoned. The task comes back in every case.
    pub fn spawn<U: Send + 'static>(
        &self,
        task: Task<U>,
    ) -> Result<TaskHandle<U>, SubmitError<Task<U>>> {
        let Some((runtime, _)) = self.runtime() else {
            return Err(SubmitError::Refused {
                task,
                reason: Refusal::ShuttingDown,
            });
        };
        if self.is_abandoned() {
            return Err(SubmitError::Refused {
                task,
                reason: Refusal::ParentAbandoned,
            });
        }
        let handle = runtime.submit(task)?;
        self.adopt(handle.job_ref());
        Ok(handle)
    }

    /// Submits many subtasks at once (accepted whole or refused whole).
    ///
    /// # Errors
    ///
    /// As [`RuntimeHandle::submit_batch`]; a batch from an abandoned attempt
    /// is refused whole with [`Refusal::ParentAbandoned`].
    pub fn spawn_batch<U: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<U>>,
    ) -> Result<Vec<TaskHandle<U>>, SubmitBatchError<Task<U>>> {
        let tasks: Vec<Task<U>> = tasks.into_iter().collect();
        let Some((runtime, _)) = self.runtime() else {
            return Err(SubmitBatchError::whole(
                tasks.into_iter(),
                Refusal::ShuttingDown,
            ));
        };
        if self.is_abandoned() {
            return Err(SubmitBatchError::whole(
                tasks.into_iter(),
                Refusal::ParentAbandoned,
            ));
        }
        let handles = runtime.submit_batch(tasks)?;
        for h in &handles {
            self.adopt(h.job_ref());
        }
        Ok(handles)
    }

    /// Waits for subtasks and returns their outcomes in order. Subtasks that
    /// no node has started yet run right here, on this attempt's executor,
    /// so a join never holds a slot idle waiting for work that cannot start.
    pub fn join<U: Send + 'static>(
        &self,
        handles: Vec<TaskHandle<U>>,
    ) -> Vec<Result<U, TaskError>> {
        let node = self.runtime().map(|(_, node)| node);
        let n = handles.len();
        let mut out: Vec<Option<Result<U, TaskError>>> = (0..n).map(|_| None).collect();
        let mut waiting: Vec<Option<TaskHandle<U>>> = handles.into_iter().map(Some).collect();
        let mut left = n;
        while left > 0 {
            let mut progressed = false;
            for i in 0..n {
                let Some(h) = waiting[i].as_ref() else {
                    continue;
                };
                if !h.is_finished() {
                    let ran = node
                        .as_ref()
                        .is_some_and(|node| run_inline(node, &h.job_ref()));
                    progressed |= ran;
                    if !ran {
                        continue;
                    }
                }
                if let Some(h) = waiting[i].take() {
                    out[i] = Some(h.wait());
                    left -= 1;
                    progressed = true;
                }
            }
            if left > 0 && !progressed {
                // Every remaining subtask runs elsewhere: wait a little on
                // one (woken when it ends), then look again.
                self.heartbeat();
                if let Some(i) = waiting.iter().position(Option::is_some) {
                    if let Some(r) = waiting[i].as_mut().and_then(|h| h.wait_timeout(JOIN_POLL)) {
                        waiting[i] = None;
                        out[i] = Some(r);
                        left -= 1;
                    }
                }
            }
        }
        out.into_iter()
            .map(|o| o.expect("every subtask ended"))
            .collect()
    }

    /// Forks `tasks` and joins them: [`spawn_batch`](Self::spawn_batch) then
    /// [`join`](Self::join).
    ///
    /// # Errors
    ///
    /// As `spawn_batch`.
    pub fn fork_join<U: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<U>>,
    ) -> Result<Vec<Result<U, TaskError>>, SubmitBatchError<Task<U>>> {
        let handles = self.spawn_batch(tasks)?;
        Ok(self.join(handles))
    }
}
