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
use crate::job::{JobRef, Rejection, TaskContext, TypedJob};
use crate::task::Task;
use crate::task_handle::TaskHandle;
use std::sync::Arc;
use std::time::Duration;

/// How long a joiner waits on one subtask before looking again for
/// subtasks it can run itself.
const JOIN_POLL: Duration = Duration::from_millis(1);

/// A submitted job as a handle of its result type.
fn handle_of<U: Send + 'static>(job: JobRef) -> TaskHandle<U> {
    TaskHandle { inner: typed(job) }
}

/// A refused job as the task it was.
fn task_of<U: Send + 'static>(job: JobRef) -> Task<U> {
    Task { job: typed(job) }
}

fn typed<U: Send + 'static>(job: JobRef) -> Arc<dyn TypedJob<U>> {
    *job.into_typed()
        .downcast::<Arc<dyn TypedJob<U>>>()
        .expect("a batch holds tasks of one type")
}

impl TaskContext<'_> {
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
    /// As [`RuntimeHandle::submit`](crate::RuntimeHandle::submit), and
    /// [`Refusal::ParentAbandoned`] when this attempt was already
    /// abandoned. The task comes back in every case.
    pub fn spawn<U: Send + 'static>(
        &self,
        task: Task<U>,
    ) -> Result<TaskHandle<U>, SubmitError<Task<U>>> {
        match self.spawn_batch(std::iter::once(task)) {
            Ok(mut handles) => Ok(handles.pop().expect("one handle per task")),
            Err(SubmitBatchError::Full(mut tasks)) => {
                Err(SubmitError::Full(tasks.pop().expect("the task comes back")))
            }
            Err(SubmitBatchError::Refused {
                mut tasks, reason, ..
            }) => Err(SubmitError::Refused {
                task: tasks.pop().expect("the task comes back"),
                reason,
            }),
        }
    }

    /// Submits many subtasks at once (accepted whole or refused whole).
    ///
    /// # Errors
    ///
    /// As [`RuntimeHandle::submit_batch`](crate::RuntimeHandle::submit_batch);
    /// a batch from an abandoned attempt is refused whole with
    /// [`Refusal::ParentAbandoned`].
    pub fn spawn_batch<U: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<U>>,
    ) -> Result<Vec<TaskHandle<U>>, SubmitBatchError<Task<U>>> {
        let tasks = tasks.into_iter();
        let Some(host) = self.host else {
            return Err(SubmitBatchError::whole(tasks, Refusal::ShuttingDown));
        };
        if self.is_abandoned() {
            return Err(SubmitBatchError::whole(tasks, Refusal::ParentAbandoned));
        }
        let mut jobs: Vec<JobRef> = tasks.map(|t| t.job as JobRef).collect();
        match host.submit(&mut jobs) {
            Ok(()) => {
                for job in &jobs {
                    self.adopt(JobRef::clone(job));
                }
                Ok(jobs.into_iter().map(handle_of).collect())
            }
            Err(Rejection::Full) => Err(SubmitBatchError::Full(
                jobs.into_iter().map(task_of).collect(),
            )),
            Err(Rejection::Refused { index, reason }) => Err(SubmitBatchError::Refused {
                tasks: jobs.into_iter().map(task_of).collect(),
                index,
                reason,
            }),
        }
    }

    /// Waits for subtasks and returns their outcomes in order. Subtasks that
    /// no node has started yet run right here, on this attempt's executor,
    /// so a join never holds a slot idle waiting for work that cannot start.
    pub fn join<U: Send + 'static>(
        &self,
        handles: Vec<TaskHandle<U>>,
    ) -> Vec<Result<U, TaskError>> {
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
                    let ran = self.host.is_some_and(|host| host.run_here(&h.job_ref()));
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
