//! [`TaskInner`]: a job with its result type and its work: running an
//! attempt, delivering its value or error.

use super::cell::ResultCell;
use super::context::TaskContext;
use super::core::{ErasedJob, JobCore, RunEnv, RunOutcome, DETACHED, DURABLE};
use super::durable::DurableOutcome;
use super::remote::{RemoteCall, RemoteForm, RemoteLink, RemoteReply};
use super::state::Phase;
use crate::error::{AttemptFailure, TaskError};
use crate::ids::NodeId;
use crate::spec::{BoxError, PackedSpec};
use crate::sync::atomic::{AtomicU64, Ordering};
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// How a job's closure is called; lets a job own its closure inline.
pub(crate) trait Work<T>: Send + Sync + 'static {
    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError>;

    /// The wire form of a named task; `None` for a closure, which cannot
    /// leave its process.
    fn remote(&self) -> Option<&dyn RemoteForm<T>> {
        None
    }
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

    fn remote(&self) -> Option<&dyn RemoteForm<T>> {
        self.0.remote()
    }
}

/// A job whose result type is known.
pub(crate) trait TypedJob<T>: ErasedJob {
    fn cell(&self) -> &ResultCell<T>;

    /// Takes the outcome, waiting until `deadline` (forever if `None`).
    /// A journalled task's record goes once its outcome is taken.
    fn take_outcome(&self, deadline: Option<Instant>) -> Option<Result<T, TaskError>> {
        let out = self.cell().take(self.core(), deadline);
        // (Only a build with the journal can have journalled tasks: the
        // common path does not look.)
        #[cfg(feature = "journal")]
        if out.is_some() {
            self.core().report_read();
        }
        out
    }

    fn poll_outcome(&self, waker: &Waker) -> Poll<Result<T, TaskError>> {
        let out = self.cell().poll(self.core(), waker);
        #[cfg(feature = "journal")]
        if out.is_ready() {
            self.core().report_read();
        }
        out
    }

    fn is_ready(&self) -> bool {
        self.cell().is_ready(self.core())
    }

    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError>;

    fn remote(&self) -> Option<&dyn RemoteForm<T>>;
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

    fn remote(&self) -> Option<&dyn RemoteForm<T>> {
        self.work.remote()
    }
}

impl<T: Send + 'static, W: Work<T>> TaskInner<T, W> {
    /// Ends attempt `attempt` with `value`, unless it was superseded.
    fn complete(&self, attempt: u32, value: T, completed: Option<&AtomicU64>) -> RunOutcome {
        if self
            .core
            .transition(Phase::Running, attempt, Phase::Completed, attempt)
        {
            // One load of the flags for both questions: this is every
            // task's path.
            let flags = self.core.flags.load(Ordering::Acquire);
            if flags & DURABLE != 0 {
                self.core.report_durable(|| {
                    match self.work.remote().and_then(|f| f.encode(&value)) {
                        Some(bytes) => DurableOutcome::Value(bytes),
                        None => DurableOutcome::Failed("the value does not encode".into()),
                    }
                });
                if flags & DETACHED != 0 {
                    // No handle will ever read it: its records go now.
                    self.core.report_read();
                }
            }
            if let Some(c) = completed {
                c.fetch_add(1, Ordering::Relaxed);
            }
            if flags & DETACHED != 0 {
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

    /// Runs attempt `attempt` in another process through `link`.
    fn run_remote(
        &self,
        attempt: u32,
        link: &dyn RemoteLink,
        completed: Option<&AtomicU64>,
    ) -> RunOutcome {
        let Some(form) = self.work.remote() else {
            return RunOutcome::Failed(AttemptFailure::Error(
                "a closure task cannot run on a remote node: submit a named task \
                 (allot::Registry) or pin the closure to a local node"
                    .into(),
            ));
        };
        let reply = link.call(RemoteCall {
            // The lasting id: a recovered task takes the results its
            // earlier incarnation's attempts sent while its coordinator
            // was down.
            task: self
                .core
                .durable_key()
                .map_or(self.core.id, crate::ids::TaskId),
            attempt,
            name: form.name(),
            args: form.args(),
            timeout: self.core.spec.timeout(),
            abandoned: &|| self.core.phase() != Phase::Running || self.core.attempt() != attempt,
        });
        // Subtasks cannot be forked remotely; nothing to end but the
        // bookkeeping a local attempt does.
        self.core.end_children(Some(attempt));
        match reply {
            RemoteReply::Value(bytes) => match form.decode(&bytes) {
                Ok(value) => self.complete(attempt, value, completed),
                Err(e) => RunOutcome::Failed(AttemptFailure::Error(
                    format!("the result of `{}` does not decode: {e}", form.name()).into(),
                )),
            },
            RemoteReply::Error(msg) => RunOutcome::Failed(AttemptFailure::Error(msg.into())),
            RemoteReply::Panicked(msg) => RunOutcome::Failed(AttemptFailure::Panicked(msg)),
            RemoteReply::TimedOut => RunOutcome::Failed(AttemptFailure::TimedOut),
            RemoteReply::Lost => RunOutcome::Failed(AttemptFailure::NodeLost),
            RemoteReply::Abandoned => RunOutcome::Stale,
        }
    }
}

/// The work of a job that was finished before it was built (a journalled
/// task's recorded outcome): it never runs.
pub(crate) struct Finished;

impl Work<Vec<u8>> for Finished {
    fn call(&self, _ctx: &TaskContext<'_>) -> Result<Vec<u8>, BoxError> {
        Err("a recovered outcome does not run".into())
    }
}

/// A job already ended with `outcome`, as task `id`, for a handle to hand
/// out: no runtime holds it.
#[cfg_attr(not(feature = "journal"), allow(dead_code))]
pub(crate) fn finished_job(
    id: crate::ids::TaskId,
    spec: PackedSpec,
    outcome: Result<Vec<u8>, TaskError>,
) -> Arc<dyn TypedJob<Vec<u8>>> {
    let mut core = JobCore::unsubmitted(spec);
    core.submit(id, crate::clock::now_nanos(), false);
    core.state
        .store(super::state::pack(Phase::Running, 0), Ordering::Relaxed);
    let job = TaskInner::new(core, Finished);
    match outcome {
        Ok(v) => {
            job.complete(0, v, None);
        }
        Err(e) => {
            if job.core.transition(Phase::Running, 0, Phase::Failed, 0) {
                job.core.deliver_error(e);
            }
        }
    }
    Arc::new(job)
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
        // (Only a build with the journal can have journalled tasks: the
        // common path does not look.)
        #[cfg(feature = "journal")]
        if self.core.has(DURABLE) {
            self.core
                .report_dispatched(env.node_name, env.remote.is_some(), attempt);
        }
        if let Some(link) = env.remote {
            return self.run_remote(attempt, link, env.completed);
        }
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
            Ok(Ok(value)) => self.complete(attempt, value, env.completed),
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

    fn durable_form(&self) -> Option<(&str, &[u8])> {
        self.work.remote().map(|f| (f.name(), f.args()))
    }

    fn handed_back(self: Arc<Self>) -> Box<dyn Any + Send> {
        let spec = self.core.spec.clone();
        let typed: Arc<dyn TypedJob<T>> = self;
        let back: HandedBack<T> = (spec, typed);
        Box::new(back)
    }
}
