//! [`JobCore`], the plain part of every job, and the type-erased
//! interface the layers above run jobs through ([`ErasedJob`], [`RunEnv`],
//! the fork-join [`Host`]).

use super::state::{attempt_of, pack, Phase, COST_SCALE, MAX_COST_UNITS};
use crate::error::Refusal;
use crate::error::{AttemptError, AttemptFailure, TaskError};
use crate::ids::{NodeId, TaskId};
use crate::queue::OrderKey;
use crate::spec::{PackedSpec, TaskStatus};
use crate::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use crate::sync::Mutex;
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::task::Waker;

/// What fork-join needs from the runtime, in this layer's terms (as tokio's
/// `task::Schedule` is what a task needs from its scheduler): the runtime
/// implements it for each node, and [`TaskContext`] reaches it through the
/// attempt it runs.
pub(crate) trait Host: Send + Sync + 'static {
    /// Submits `jobs` (built, not yet submitted, in order) as one batch,
    /// whole or not at all. On success `jobs` holds them submitted; on
    /// refusal `jobs` is as it was, for the caller to hand back.
    fn submit(&self, jobs: &mut Vec<JobRef>) -> Result<(), Rejection>;

    /// Runs `job` on the calling executor if no node has started it;
    /// whether it ran.
    fn run_here(&self, job: &JobRef) -> bool;
}

/// Why a [`Host`] refused a batch.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// Not under the queue's bound now.
    Full,
    /// The task at `index` was refused for good.
    Refused { index: usize, reason: Refusal },
}

/// Bits of [`JobCore`]'s flags: which parts of the cold state exist.
pub(super) const HAS_CHILDREN: u8 = 1;
pub(super) const HAS_WAITER: u8 = 2;
pub(super) const HAS_ERROR: u8 = 4;
pub(super) const TAKEN: u8 = 8;
/// Submitted without a handle: its value is dropped where it is made.
pub(super) const DETACHED: u8 = 16;
/// Journalled: its end is reported to the sink in its cold state.
pub(super) const DURABLE: u8 = 32;

/// What few jobs need, allocated the first time one of them does: the
/// errors of failed attempts, forked subtasks, a waiting handle's waker,
/// and a failed outcome.
#[derive(Default)]
pub(super) struct Cold {
    pub(super) errors: Vec<AttemptError>,
    /// Subtasks forked by each attempt, cancelled when that attempt ends.
    pub(super) children: Vec<(u32, JobRef)>,
    pub(super) waker: Option<Waker>,
    pub(super) error: Option<TaskError>,
    /// A journalled task's journal and key.
    pub(super) durable: Option<(Arc<dyn super::durable::DurableSink>, u64)>,
    /// A journalled task's first attempt in this process: a task given
    /// back by the journal continues the count of its earlier process.
    pub(super) durable_from: u32,
}

/// The plain part of every job.
///
/// Kept small on purpose (64 bytes): a job is allocated by the submitting
/// thread and usually freed by an executor, and allocations of up to 120
/// bytes take the allocator's lock-free path on both sides (see
/// `docs/performance.md`). Rarely used state lives in a lazily boxed
/// [`Cold`].
pub(crate) struct JobCore {
    pub(crate) state: AtomicU64,
    pub(crate) id: TaskId,
    /// When it was submitted, from [`clock::now_nanos`](crate::clock::now_nanos).
    pub(super) submitted: u64,
    pub(crate) spec: PackedSpec,
    /// Where the ledger keeps this job: `(shard << 32) | index`.
    pub(crate) ledger_slot: AtomicU64,
    pub(super) flags: AtomicU8,
    pub(super) cold: Mutex<Option<Box<Cold>>>,
}

impl fmt::Debug for JobCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobCore")
            .field("id", &self.id)
            .field("phase", &self.phase())
            .field("attempt", &self.attempt())
            .finish_non_exhaustive()
    }
}

impl JobCore {
    /// A job not yet submitted: no id, no submission time.
    pub(crate) fn unsubmitted(spec: PackedSpec) -> Self {
        JobCore {
            state: AtomicU64::new(pack(Phase::Pending, 0)),
            id: TaskId(u64::MAX),
            submitted: 0,
            spec,
            ledger_slot: AtomicU64::new(u64::MAX),
            flags: AtomicU8::new(0),
            cold: Mutex::new(None),
        }
    }

    /// Sets the attempt number of a job not yet submitted (`Pending`).
    pub(crate) fn set_attempt(&mut self, attempt: u32) {
        self.state
            .store(pack(Phase::Pending, attempt), Ordering::Relaxed);
    }

    /// Stamps the job at submission (before anyone else can see it), with
    /// the time from [`clock::now_nanos`](crate::clock::now_nanos).
    pub(crate) fn submit(&mut self, id: TaskId, now_nanos: u64, detached: bool) {
        self.id = id;
        self.submitted = now_nanos;
        // A task handed back unfinished may come back with a handle. No one
        // else sees the job yet (`&mut self`): plain accesses (loom's atomics
        // have no `get_mut`).
        let flags = self.flags.load(Ordering::Relaxed);
        let flags = if detached {
            flags | DETACHED
        } else {
            flags & !DETACHED
        };
        self.flags.store(flags, Ordering::Relaxed);
    }

    /// Asks the CPU to start loading this job's lines into its cache: a
    /// hint with no effect on behaviour. An executor calls it for a job a
    /// few places down its queue; the job was written on the submitting
    /// core, and its first touch is otherwise a cache miss the executor
    /// waits for (about a fifth of its time per no-op task, measured).
    #[inline]
    pub(crate) fn prefetch(&self) {
        #[cfg(all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse"
        ))]
        {
            // The first and the last field: the core spans two lines.
            safe_arch::prefetch_t0(self);
            safe_arch::prefetch_t0(&self.flags);
        }
    }

    /// When it was submitted, from [`clock::now_nanos`](crate::clock::now_nanos).
    pub(crate) fn submitted_nanos(&self) -> u64 {
        self.submitted
    }

    /// The estimated cost in load-counter units, at most [`MAX_COST_UNITS`]
    /// (so that a node's load, a sum of them, cannot wrap).
    pub(crate) fn cost_units(&self) -> u64 {
        ((self.spec.cost() * COST_SCALE) as u64).min(MAX_COST_UNITS)
    }

    /// Where the job sorts in a queue.
    pub(crate) fn key(&self) -> OrderKey {
        OrderKey {
            seq: self.id.0,
            cost: self.spec.cost(),
            priority: self.spec.priority(),
            deadline_nanos: self.spec.deadline().map(|d| {
                self.submitted
                    .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            }),
        }
    }

    pub(super) fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// The cold state, created if need be, with `flag` raised under its lock.
    pub(super) fn with_cold<R>(&self, flag: u8, f: impl FnOnce(&mut Cold) -> R) -> R {
        let mut guard = self.cold.lock();
        let cold = guard.get_or_insert_with(Box::default);
        let r = f(cold);
        if flag != 0 {
            self.flags.fetch_or(flag, Ordering::AcqRel);
        }
        r
    }

    /// Journals this task's attempts and end under `key` in `sink`; its
    /// first attempt in this process is `first_attempt` (the journal's
    /// record of the attempts before it is durable).
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    pub(crate) fn make_durable(
        &self,
        sink: Arc<dyn super::durable::DurableSink>,
        key: u64,
        first_attempt: u32,
    ) {
        self.with_cold(DURABLE, |c| {
            c.durable = Some((sink, key));
            c.durable_from = first_attempt;
        });
    }

    /// Reports to its journal that attempt `attempt` of this (journalled)
    /// task starts on the node named `node`. A retried attempt waits until
    /// the record is durable, so that a crash never loses more than the
    /// record of a task's first attempt in this process: the retry budget
    /// holds across a restart.
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    pub(crate) fn report_dispatched(&self, node: &str, remote: bool, attempt: u32) {
        let tie = self
            .cold
            .lock()
            .as_ref()
            .and_then(|c| c.durable.clone().map(|d| (d, c.durable_from)));
        if let Some(((sink, key), from)) = tie {
            sink.dispatched(key, attempt, node, remote, attempt > from);
        }
    }

    /// Records attempt `error` of an earlier process (a journalled task
    /// given back): listed with the attempts of this one.
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    pub(crate) fn add_earlier_attempt(&self, error: AttemptError) {
        self.push_error(error);
    }

    /// Whether this task is journalled.
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    pub(crate) fn is_durable(&self) -> bool {
        self.has(DURABLE)
    }

    /// The id this task has in its journal, if it has one: a recovered
    /// task keeps it across restarts (its runtime id is new).
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    pub(crate) fn durable_key(&self) -> Option<u64> {
        if !self.has(DURABLE) {
            return None;
        }
        self.cold
            .lock()
            .as_ref()
            .and_then(|c| c.durable.as_ref().map(|d| d.1))
    }

    /// Reports this task's end to its journal, if it has one.
    pub(super) fn report_durable(&self, outcome: impl FnOnce() -> super::durable::DurableOutcome) {
        if self.has(DURABLE) {
            let sink = self.cold.lock().as_ref().and_then(|c| c.durable.clone());
            if let Some((sink, key)) = sink {
                sink.finished(key, outcome());
            }
        }
    }

    /// Tells a journalled task's journal that its caller took the outcome:
    /// its record can go.
    pub(super) fn report_read(&self) {
        if self.has(DURABLE) {
            let sink = self.cold.lock().as_ref().and_then(|c| c.durable.clone());
            if let Some((sink, key)) = sink {
                sink.forget(key);
            }
        }
    }

    /// Registers the waker to call when the outcome arrives.
    pub(super) fn register_waker(&self, waker: &Waker) {
        self.with_cold(HAS_WAITER, |c| match &c.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => c.waker = Some(waker.clone()),
        });
    }

    pub(super) fn clear_waker(&self) {
        if self.has(HAS_WAITER) {
            if let Some(c) = self.cold.lock().as_mut() {
                c.waker = None;
            }
        }
    }

    /// Wakes a registered waiter, if any.
    pub(super) fn wake_waiter(&self) {
        if self.has(HAS_WAITER) {
            let waker = self.cold.lock().as_mut().and_then(|c| c.waker.take());
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Delivers a failed outcome; only the winner of the terminal
    /// transition calls it.
    pub(crate) fn deliver_error(&self, error: TaskError) {
        // A shutdown's cancel is not the task's end: the journal runs it
        // again at the next open.
        if !matches!(
            error,
            TaskError::Cancelled(crate::error::CancelReason::Shutdown)
        ) {
            self.report_durable(|| match &error {
                TaskError::Cancelled(_) => super::durable::DurableOutcome::Cancelled,
                e => super::durable::DurableOutcome::Failed(e.to_string()),
            });
            if self.has(DETACHED) {
                // No handle will ever read it: its records go now.
                self.report_read();
            }
        }
        let waker = self.with_cold(HAS_ERROR, |c| {
            debug_assert!(c.error.is_none(), "outcome delivered twice");
            c.error = Some(error);
            c.waker.take()
        });
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(super) fn take_error(&self) -> Option<TaskError> {
        if !self.has(HAS_ERROR) {
            return None;
        }
        self.cold.lock().as_mut().and_then(|c| c.error.take())
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::of(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn attempt(&self) -> u32 {
        attempt_of(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn status(&self) -> TaskStatus {
        match self.phase() {
            Phase::Pending => TaskStatus::Pending,
            Phase::Queued => TaskStatus::Queued,
            Phase::Running => TaskStatus::Running,
            Phase::Completed => TaskStatus::Completed,
            Phase::Failed => TaskStatus::Failed,
            Phase::Cancelled => TaskStatus::Cancelled,
        }
    }

    /// Marks a job that no one else can reach yet (see
    /// `RuntimeHandle::push_fresh`) `Queued`: a plain store where others
    /// need a compare-and-swap.
    pub(crate) fn queue_fresh(&self) {
        let state = self.state.load(Ordering::Relaxed);
        debug_assert_eq!(Phase::of(state), Phase::Pending);
        self.state
            .store(pack(Phase::Queued, attempt_of(state)), Ordering::Release);
    }

    /// Compare-and-swap `(from, attempt)` to `(to, to_attempt)`.
    pub(crate) fn transition(&self, from: Phase, attempt: u32, to: Phase, to_attempt: u32) -> bool {
        self.state
            .compare_exchange(
                pack(from, attempt),
                pack(to, to_attempt),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Moves a non-terminal job to `Cancelled`. True for the one caller
    /// that did it.
    pub(super) fn try_cancel(&self) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let phase = Phase::of(cur);
            if phase.is_terminal() {
                return false;
            }
            let next = pack(Phase::Cancelled, attempt_of(cur));
            match self
                .state
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Records a subtask forked by attempt `attempt`.
    pub(crate) fn add_child(&self, attempt: u32, child: JobRef) {
        self.with_cold(HAS_CHILDREN, |c| c.children.push((attempt, child)));
    }

    /// Cancels the unfinished subtasks of attempts up to `attempt` (all when
    /// `None`): when an attempt ends, its children go with it, so no orphan
    /// result outlives the attempt that would have used it.
    #[inline]
    pub(crate) fn end_children(&self, attempt: Option<u32>) {
        if self.has(HAS_CHILDREN) {
            self.end_children_slow(attempt);
        }
    }

    pub(super) fn end_children_slow(&self, attempt: Option<u32>) {
        let ended: Vec<JobRef> = self.with_cold(0, |c| {
            let (gone, keep): (Vec<_>, Vec<_>) = c
                .children
                .drain(..)
                .partition(|(a, _)| attempt.is_none_or(|max| *a <= max));
            c.children = keep;
            gone.into_iter().map(|(_, j)| j).collect()
        });
        for child in ended {
            cancel(&*child, crate::error::CancelReason::ParentEnded);
        }
    }

    /// The failed attempts recorded so far, for the state API: number,
    /// node, outcome and error (the cold state's, untimed).
    pub(crate) fn attempt_errors(&self) -> Vec<crate::inspect::Attempt> {
        let guard = self.cold.lock();
        let Some(cold) = guard.as_ref() else {
            return Vec::new();
        };
        cold.errors
            .iter()
            .map(|e| crate::inspect::Attempt {
                number: e.attempt,
                node: e.node,
                started: None,
                ended: None,
                outcome: match &e.failure {
                    AttemptFailure::Error(_) => crate::inspect::AttemptOutcome::Failed,
                    AttemptFailure::Panicked(_) => crate::inspect::AttemptOutcome::Panicked,
                    AttemptFailure::TimedOut => crate::inspect::AttemptOutcome::TimedOut,
                    _ => crate::inspect::AttemptOutcome::NodeLost,
                },
                // An attempt of an earlier process (a task a journal gave
                // back) has no node id here: its node's name says where.
                error: Some(match (e.node, &e.node_name) {
                    (None, Some(_)) => e.to_string(),
                    _ => e.failure.to_string(),
                }),
            })
            .collect()
    }

    /// Subtasks forked by this task that have not ended.
    pub(crate) fn unfinished_children(&self) -> usize {
        if !self.has(HAS_CHILDREN) {
            return 0;
        }
        self.cold.lock().as_ref().map_or(0, |c| {
            c.children
                .iter()
                .filter(|(_, j)| !j.core().phase().is_terminal())
                .count()
        })
    }

    pub(super) fn push_error(&self, error: AttemptError) {
        self.with_cold(0, |c| c.errors.push(error));
    }

    pub(super) fn take_errors(&self) -> Vec<AttemptError> {
        self.with_cold(0, |c| std::mem::take(&mut c.errors))
    }
}

/// The outcome of running one attempt.
#[derive(Debug)]
pub(crate) enum RunOutcome {
    /// The task completed and its value was delivered.
    Completed,
    /// The value was thrown away: the attempt had been superseded.
    Stale,
    /// The attempt failed.
    Failed(AttemptFailure),
}

/// What an attempt runs with besides its job.
#[derive(Clone, Copy, Default)]
pub(crate) struct RunEnv<'a> {
    /// The node's heartbeat counter.
    pub(crate) beats: Option<&'a AtomicU64>,
    /// The node's count of completed tasks, raised before the value is
    /// delivered: a caller that has the value sees the task counted (and
    /// its place in the submission bound freed).
    pub(crate) completed: Option<&'a AtomicU64>,
    /// The node's name (see [`TaskContext::node_name`]).
    pub(crate) node_name: &'a str,
    /// The runtime, for fork-join.
    pub(crate) host: Option<&'a dyn Host>,
    /// Panic instead of running the task code (fault injection).
    pub(crate) inject_panic: bool,
    /// Set on a node in another process: the attempt is sent there.
    pub(crate) remote: Option<&'a dyn super::remote::RemoteLink>,
}

/// A job with its result type erased.
pub(crate) trait ErasedJob: Send + Sync + 'static {
    fn core(&self) -> &JobCore;
    /// Runs attempt `attempt` on `node`. The job must be `Running(attempt)`.
    /// With `inject_panic`, the attempt panics instead of running the task
    /// code (fault injection).
    fn run(&self, node: NodeId, attempt: u32, env: RunEnv<'_>) -> RunOutcome;
    /// Delivers an error; only the winner of the terminal transition calls it.
    fn deliver_error(&self, error: TaskError);
    /// The job's spec and typed self, boxed as a [`HandedBack<T>`].
    fn handed_back(self: Arc<Self>) -> Box<dyn Any + Send>;
    /// The same job as an `Arc<dyn TypedJob<T>>`, boxed: how a refused
    /// detached batch goes back to its caller as tasks.
    fn into_typed(self: Arc<Self>) -> Box<dyn Any + Send>;
    fn core_mut(&mut self) -> &mut JobCore;
    /// A named task's function name and encoded arguments: what a journal
    /// keeps to run it again. `None` for a closure.
    fn durable_form(&self) -> Option<(&str, &[u8])>;
}

impl dyn ErasedJob {
    /// The task's name as the state API shows it: the one given with
    /// `Task::name`, else a named task's function name; `None` for an
    /// unnamed closure.
    pub(crate) fn name(&self) -> Option<&str> {
        match self.core().spec.name() {
            Some(n) => Some(n),
            None => self.durable_form().map(|(n, _)| n),
        }
    }
}

pub(crate) type JobRef = Arc<dyn ErasedJob>;

impl fmt::Debug for dyn ErasedJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core().fmt(f)
    }
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// Now `Pending` with the next attempt number; hand to the supervisor.
    Retry,
    /// Now `Failed`; counted by `count_failed`, then the error was
    /// delivered.
    Failed,
    /// Someone else moved the job first; nothing to do.
    Superseded,
}

/// After attempt `attempt` failed in phase `from` (Running, or Queued when a
/// node was lost before it started): retry or fail for good. A task that
/// fails for good is counted (`count_failed`: settled in the ledger) before
/// its error is delivered, as a completion is counted before its value is:
/// a caller that has the error sees the task in the totals.
pub(crate) fn after_failure(
    job: &dyn ErasedJob,
    from: Phase,
    attempt: u32,
    node: Option<(NodeId, &Arc<str>)>,
    failure: AttemptFailure,
    count_failed: impl FnOnce(),
) -> AfterFailure {
    let core = job.core();
    let retryable = match failure {
        AttemptFailure::Error(_) | AttemptFailure::Panicked(_) => core.spec.retry_on_error(),
        AttemptFailure::TimedOut | AttemptFailure::NodeLost => true,
    };
    let error = AttemptError {
        attempt,
        node: node.map(|(id, _)| id),
        node_name: node.map(|(_, name)| Arc::clone(name)),
        failure,
    };
    if retryable && attempt < core.spec.max_retries() {
        if core.transition(from, attempt, Phase::Pending, attempt + 1) {
            core.push_error(error);
            core.end_children(Some(attempt));
            return AfterFailure::Retry;
        }
        return AfterFailure::Superseded;
    }
    if core.transition(from, attempt, Phase::Failed, attempt) {
        core.push_error(error);
        core.end_children(None);
        let attempts = core.take_errors();
        count_failed();
        job.deliver_error(TaskError::Failed { attempts });
        return AfterFailure::Failed;
    }
    AfterFailure::Superseded
}

/// Fails a non-terminal job for good with `error`, from whatever phase.
/// True if this call did it.
pub(crate) fn fail_now(job: &dyn ErasedJob, error: TaskError) -> bool {
    let core = job.core();
    let mut cur = core.state.load(Ordering::Acquire);
    loop {
        if Phase::of(cur).is_terminal() {
            return false;
        }
        let next = pack(Phase::Failed, attempt_of(cur));
        match core
            .state
            .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                core.end_children(None);
                job.deliver_error(error);
                return true;
            }
            Err(actual) => cur = actual,
        }
    }
}

/// Cancels a non-terminal job and delivers `Cancelled(reason)`. True if this
/// call did it.
pub(crate) fn cancel(job: &dyn ErasedJob, reason: crate::error::CancelReason) -> bool {
    if job.core().try_cancel() {
        job.core().end_children(None);
        job.deliver_error(TaskError::Cancelled(reason));
        true
    } else {
        false
    }
}
