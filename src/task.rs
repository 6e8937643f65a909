//! [`Task`]: a spec plus a closure that can run again, built in one
//! allocation that becomes the runtime's job on submission.

use crate::job::{FnWork, JobCore, TaskContext, TaskInner, TypedJob};
use crate::resources::Resources;
use crate::spec::{BoxError, TaskKind, TaskSpec};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A unit of work: a [`TaskSpec`] plus a closure that can run again.
///
/// The closure gets a [`TaskContext`] and returns `Result<T, E>`. It may run
/// more than once: after its node is lost, after a timeout, or after its own
/// error when [`retry_on_error`](Task::retry_on_error) is set.
///
/// A `Task` is built in one allocation, which the runtime keeps as its job
/// when the task is submitted; a refused task comes back whole.
///
/// # Examples
///
/// ```
/// use allot::{Task, TaskKind};
///
/// let task = Task::new(|ctx| Ok::<_, std::io::Error>(ctx.attempt()))
///     .kind(TaskKind::Inference)
///     .cost(0.5)
///     .priority(3);
/// assert_eq!(task.spec().priority, 3);
/// ```
pub struct Task<T> {
    pub(crate) job: Arc<dyn TypedJob<T>>,
}

impl<T: 'static> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("spec", &self.job.core().spec)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Task<T> {
    /// A task running `work`, with the default [`TaskSpec`].
    pub fn new<F, E>(work: F) -> Self
    where
        F: Fn(&TaskContext<'_>) -> Result<T, E> + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        Task::with_spec(TaskSpec::default(), work)
    }

    /// A task running `work` with the given spec.
    pub fn with_spec<F, E>(spec: TaskSpec, work: F) -> Self
    where
        F: Fn(&TaskContext<'_>) -> Result<T, E> + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        Task {
            job: Arc::new(TaskInner::new(
                JobCore::unsubmitted(spec),
                FnWork::new(work),
            )),
        }
    }
}

impl<T: 'static> Task<T> {
    /// The plain-data part.
    pub fn spec(&self) -> &TaskSpec {
        &self.job.core().spec
    }

    /// Mutable access to the plain-data part.
    pub fn spec_mut(&mut self) -> &mut TaskSpec {
        &mut Arc::get_mut(&mut self.job)
            .expect("a task is not shared before it is submitted")
            .core_mut()
            .spec
    }

    /// Sets the kind.
    pub fn kind(mut self, kind: TaskKind) -> Self {
        self.spec_mut().kind = kind;
        self
    }

    /// Sets the estimated cost (seconds on a speed-1.0 node).
    pub fn cost(mut self, cost: f64) -> Self {
        self.spec_mut().cost = cost;
        self
    }

    /// Sets the resource demand.
    pub fn demand(mut self, demand: Resources) -> Self {
        self.spec_mut().demand = demand;
        self
    }

    /// Sets the priority (larger first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.spec_mut().priority = priority;
        self
    }

    /// Sets the deadline, relative to submission.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.spec_mut().deadline = Some(deadline);
        self
    }

    /// Sets how many retries follow a failed attempt.
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.spec_mut().max_retries = max_retries;
        self
    }

    /// Opts in to retrying the task's own errors and panics.
    pub fn retry_on_error(mut self, retry: bool) -> Self {
        self.spec_mut().retry_on_error = retry;
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.spec_mut().timeout = Some(timeout);
        self
    }
}
