//! [`TaskInner`]: a job with its result type and its work: running an
//! attempt, delivering its value or error.

use super::cell::ResultCell;
use super::context::TaskContext;
use super::core::{ErasedJob, JobCore, RunEnv, RunOutcome, DETACHED};
use super::state::Phase;
use crate::error::{AttemptFailure, TaskError};
use crate::ids::NodeId;
use crate::spec::{BoxError, PackedSpec};
use crate::sync::atomic::Ordering;
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// How a job's closure is called; lets a job own its closure inline.
pub(crate) trait Work<T>: Send + Sync + 'static {
    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError>;
}

/// A user closure returning `Result<T, E>`.
pub(crate) struct FnWork<F, E> {
    pub(super) f: F,
    pub(super) _error: PhantomData<fn() -> E>,
}

impl<F, E> FnWork<F, E> {
    pub(crate) fn new(f: F) -> Self {
        FnWork {
            f,
            _error: PhantomData,
        }
    }
}

impl<T, F, E> Work<T> for FnWork<F, E>
where
    F: Fn(&TaskContext<'_>) -> Result<T, E> + Send + Sync + 'static,
    E: Into<BoxError> + 'static,
{
    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError> {
        (self.f)(ctx).map_err(Into::into)
    }
}

/// The closure of another job: a handed-back task submitted again.
pub(crate) struct Rerun<T>(pub(crate) Arc<dyn TypedJob<T>>);

impl<T: Send + 'static> Work<T> for Rerun<T> {
    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError> {
        self.0.call(ctx)
    }
}

/// A job whose result type is known.
pub(crate) trait TypedJob<T>: ErasedJob {
    fn cell(&self) -> &ResultCell<T>;

    /// Takes the outcome, waiting until `deadline` (forever if `None`).
    fn take_outcome(&self, deadline: Option<Instant>) -> Option<Result<T, TaskError>> {
        self.cell().take(self.core(), deadline)
    }

    fn poll_outcome(&self, waker: &Waker) -> Poll<Result<T, TaskError>> {
        self.cell().poll(self.core(), waker)
    }

    fn is_ready(&self) -> bool {
        self.cell().is_ready(self.core())
    }

    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError>;
}

/// A job that yields a `T` by running `W`: one allocation holds the spec,
/// the state, the result cell and the closure.
pub(crate) struct TaskInner<T, W> {
    pub(crate) core: JobCore,
    pub(crate) cell: ResultCell<T>,
    pub(super) work: W,
}

impl<T: Send + 'static, W: Work<T>> TaskInner<T, W> {
    pub(crate) fn new(core: JobCore, work: W) -> Self {
        TaskInner {
            core,
            cell: ResultCell::new(),
            work,
        }
    }
}

impl<T: Send + 'static, W: Work<T>> TypedJob<T> for TaskInner<T, W> {
    fn cell(&self) -> &ResultCell<T> {
        &self.cell
    }

    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError> {
        self.work.call(ctx)
    }
}

/// What `ErasedJob::handed_back` boxes: enough to rebuild a `Task<T>`.
pub(crate) type HandedBack<T> = (PackedSpec, Arc<dyn TypedJob<T>>);

pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl<T: Send + 'static, W: Work<T>> ErasedJob for TaskInner<T, W> {
    fn core(&self) -> &JobCore {
        &self.core
    }

    fn run(&self, node: NodeId, attempt: u32, env: RunEnv<'_>) -> RunOutcome {
        let ctx = TaskContext {
            core: &self.core,
            node,
            attempt,
            beats: env.beats,
            node_name: env.node_name,
            host: env.host,
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            if env.inject_panic {
                panic!(
                    "{} in task code ({} attempt {attempt})",
                    crate::fault::INJECTED_PANIC,
                    self.core.id
                );
            }
            self.work.call(&ctx)
        }));
        // Subtasks this attempt did not wait for end with it.
        self.core.end_children(Some(attempt));
        match result {
            Ok(Ok(value)) => {
                if self
                    .core
                    .transition(Phase::Running, attempt, Phase::Completed, attempt)
                {
                    if let Some(c) = env.completed {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    if self.core.has(DETACHED) {
                        // No handle will ever ask for it.
                        drop(value);
                    } else {
                        self.cell.put(&self.core, value);
                    }
                    RunOutcome::Completed
                } else {
                    RunOutcome::Stale
                }
            }
            Ok(Err(e)) => RunOutcome::Failed(AttemptFailure::Error(e)),
            Err(payload) => RunOutcome::Failed(AttemptFailure::Panicked(panic_message(&*payload))),
        }
    }

    fn deliver_error(&self, error: TaskError) {
        self.core.deliver_error(error);
    }

    fn into_typed(self: Arc<Self>) -> Box<dyn Any + Send> {
        let typed: Arc<dyn TypedJob<T>> = self;
        Box::new(typed)
    }

    fn core_mut(&mut self) -> &mut JobCore {
        &mut self.core
    }

    fn handed_back(self: Arc<Self>) -> Box<dyn Any + Send> {
        let spec = self.core.spec.clone();
        let typed: Arc<dyn TypedJob<T>> = self;
        let back: HandedBack<T> = (spec, typed);
        Box::new(back)
    }
}
