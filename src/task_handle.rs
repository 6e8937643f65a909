//! The caller's side of a submitted task: [`TaskHandle`] (wait, poll,
//! `.await`, cancel) and [`CancelHandle`].

use crate::clock;
use crate::error::{CancelReason, TaskError};
use crate::ids::TaskId;
use crate::job::{self, JobRef, TypedJob};
use crate::spec::TaskStatus;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

/// The caller's side of one submitted task: wait for it, poll it, cancel it.
///
/// `Send + Sync`. Implements [`Future`], so `.await` works in any executor.
/// Dropping the handle does not cancel the task.
pub struct TaskHandle<T> {
    pub(crate) inner: Arc<dyn TypedJob<T>>,
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

/// Cancels one task from anywhere: see [`TaskHandle::cancel_handle`].
///
/// Holding one keeps the task's record (not its result) alive; dropping it
/// does nothing to the task.
#[derive(Clone)]
pub struct CancelHandle {
    pub(crate) job: JobRef,
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
