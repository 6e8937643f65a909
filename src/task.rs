//! [`Task`]: a spec plus a closure that can run again, built in one
//! allocation that becomes the runtime's job on submission.

use crate::job::{FnWork, JobCore, TaskContext, TaskInner, TypedJob};
use crate::resources::Resources;
use crate::spec::{BoxError, PackedSpec, SpecExtra, TaskKind, TaskSpec};
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
        Task::packed(PackedSpec::default_spec(), work)
    }

    /// A task running `work` with the given spec.
    pub fn with_spec<F, E>(spec: TaskSpec, work: F) -> Self
    where
        F: Fn(&TaskContext<'_>) -> Result<T, E> + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        Task::packed(PackedSpec::new(spec), work)
    }

    fn packed<F, E>(spec: PackedSpec, work: F) -> Self
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
    pub fn spec(&self) -> TaskSpec {
        self.job.core().spec.unpack()
    }

    fn packed_mut(&mut self) -> &mut PackedSpec {
        &mut Arc::get_mut(&mut self.job)
            .expect("a task is not shared before it is submitted")
            .core_mut()
            .spec
    }

    fn edit(mut self, f: impl FnOnce(&mut SpecExtra)) -> Self {
        self.packed_mut().edit(f);
        self
    }

    /// Starts the task at attempt `attempt` instead of 0: a worker running
    /// attempt `attempt` of a coordinator's task, so that its code sees the
    /// coordinator's attempt number.
    #[allow(dead_code)]
    pub(crate) fn first_attempt(mut self, attempt: u32) -> Self {
        Arc::get_mut(&mut self.job)
            .expect("a task is not shared before it is submitted")
            .core_mut()
            .set_attempt(attempt);
        self
    }

    /// Replaces the whole spec (a [`name`](Task::name) given stays).
    pub fn set_spec(&mut self, spec: TaskSpec) {
        let name = self.packed_mut().name().cloned();
        let mut packed = PackedSpec::new(spec);
        if name.is_some() {
            packed.edit(|e| e.name = name);
        }
        *self.packed_mut() = packed;
    }

    /// Names the task: the state API lists it under this name
    /// ([`TaskSummary::name`](crate::TaskSummary::name)), its
    /// [`TaskQuery::name`](crate::TaskQuery::name) filter and the
    /// dashboard's `name=` find it, and its `task.attempt` spans carry it.
    /// For a named task ([`Registry`](crate::Registry)) it replaces the
    /// function's name there; the function run stays the same.
    ///
    /// A name is not part of the [`TaskSpec`]: it costs a task nothing
    /// until it is set, then one shared string (clone the `Arc` to give
    /// many tasks one name without copying it).
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime, Task, TaskQuery};
    /// use std::sync::Arc;
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes([NodeSpec::new(Resources::cpu(1_000))])
    ///     .retain_finished(100)
    ///     .build()?;
    /// let h = runtime.handle();
    /// let name: Arc<str> = "embed".into();
    /// for t in h.submit_batch((0..3).map(|i| Task::new(move |_| Ok::<_, String>(i)).name(name.clone())))? {
    ///     t.wait()?;
    /// }
    /// h.submit(Task::new(|_| Ok::<_, String>(9)))?.wait()?;
    /// let page = h.tasks(&TaskQuery { name: Some("embed".into()), ..TaskQuery::default() })?;
    /// assert_eq!(page.tasks.len(), 3);
    /// assert_eq!(page.tasks[0].name.as_deref(), Some("embed"));
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(self, name: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        self.edit(|e| e.name = Some(name))
    }

    /// Sets the kind.
    pub fn kind(self, kind: TaskKind) -> Self {
        self.edit(|e| e.kind = kind)
    }

    /// Sets the estimated cost (seconds on a speed-1.0 node).
    pub fn cost(mut self, cost: f64) -> Self {
        self.packed_mut().set_cost(cost);
        self
    }

    /// Sets the resource demand.
    pub fn demand(self, demand: Resources) -> Self {
        self.edit(|e| e.demand = demand)
    }

    /// Sets the priority (larger first).
    pub fn priority(self, priority: i32) -> Self {
        self.edit(|e| e.priority = priority)
    }

    /// Sets the deadline, relative to submission.
    pub fn deadline(self, deadline: Duration) -> Self {
        self.edit(|e| e.deadline = Some(deadline))
    }

    /// Sets how many retries follow a failed attempt.
    pub fn max_retries(self, max_retries: u32) -> Self {
        self.edit(|e| e.max_retries = max_retries)
    }

    /// Opts in to retrying the task's own errors and panics.
    pub fn retry_on_error(self, retry: bool) -> Self {
        self.edit(|e| e.retry_on_error = retry)
    }

    /// Sets the per-attempt timeout.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.edit(|e| e.timeout = Some(timeout))
    }
}
