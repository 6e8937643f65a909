//! The type-erased job behind every task: its state machine, its result cell
//! and the decision taken after a failed attempt.
//!
//! A job's state is one `AtomicU64` holding `(attempt << 3) | phase`. Every
//! change is a compare-and-swap from an expected `(phase, attempt)`, so of two
//! racing parties (a node finishing, the supervisor moving the job after a
//! node failure, a caller cancelling) exactly one wins, and a result from a
//! superseded attempt cannot complete the task.

use crate::error::Refusal;
use crate::error::{AttemptError, AttemptFailure, TaskError};
use crate::ids::{NodeId, TaskId};
use crate::queue::OrderKey;
use crate::spec::{BoxError, PackedSpec, TaskSpec, TaskStatus};
use crate::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use crate::sync::Mutex;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::time::Instant;

const PHASE_BITS: u32 = 3;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;

/// Fixed-point scale of cost in load counters: micro-units.
pub(crate) const COST_SCALE: f64 = 1_000_000.0;
/// The most one task adds to its node's load counter: a cost of 1e7 (a
/// cost of 1e300 counts as that). 2^20 such tasks on one node still sum
/// without wrapping the counter.
pub(crate) const MAX_COST_UNITS: u64 = 10_000_000 * COST_SCALE as u64;

/// Where a job is; the low bits of its state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending = 0,
    Queued = 1,
    Running = 2,
    Completed = 3,
    Failed = 4,
    Cancelled = 5,
}

impl Phase {
    pub(crate) fn of(state: u64) -> Phase {
        match state & PHASE_MASK {
            0 => Phase::Pending,
            1 => Phase::Queued,
            2 => Phase::Running,
            3 => Phase::Completed,
            4 => Phase::Failed,
            _ => Phase::Cancelled,
        }
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed | Phase::Cancelled)
    }
}

pub(crate) fn attempt_of(state: u64) -> u32 {
    (state >> PHASE_BITS) as u32
}

fn pack(phase: Phase, attempt: u32) -> u64 {
    (u64::from(attempt) << PHASE_BITS) | phase as u64
}

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

/// What a running attempt can see about itself, and how it forks subtasks
/// and joins them ([`spawn`](TaskContext::spawn), [`join`](TaskContext::join)).
pub struct TaskContext<'a> {
    pub(crate) core: &'a JobCore,
    pub(crate) node: NodeId,
    pub(crate) attempt: u32,
    /// The node's heartbeat counter.
    pub(crate) beats: Option<&'a AtomicU64>,
    pub(crate) host: Option<&'a dyn Host>,
}

impl fmt::Debug for TaskContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("id", &self.core.id)
            .field("node", &self.node)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl TaskContext<'_> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.core.id
    }

    /// The node running this attempt.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Which attempt this is: 0 for the first run, 1 for the first retry, …
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The task's spec (rebuilt from the job's compact copy).
    pub fn spec(&self) -> TaskSpec {
        self.core.spec.unpack()
    }

    /// Reports that this attempt is alive and making progress. A long task
    /// should call it more often than the runtime's
    /// [`hang_timeout`](crate::SupervisionConfig::hang_timeout), or its node
    /// is declared hung and replaced.
    pub fn heartbeat(&self) {
        if let Some(p) = self.beats {
            p.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether this attempt's result will be thrown away: the task was
    /// cancelled, timed out, or moved elsewhere after its node was lost.
    /// Long tasks should check it now and then and return early.
    pub fn is_abandoned(&self) -> bool {
        let state = self.core.state.load(Ordering::Acquire);
        Phase::of(state) != Phase::Running || attempt_of(state) != self.attempt
    }
}

/// Bits of [`JobCore`]'s flags: which parts of the cold state exist.
const HAS_CHILDREN: u8 = 1;
const HAS_WAITER: u8 = 2;
const HAS_ERROR: u8 = 4;
const TAKEN: u8 = 8;
/// Submitted without a handle: its value is dropped where it is made.
const DETACHED: u8 = 16;

/// What few jobs need, allocated the first time one of them does: the
/// errors of failed attempts, forked subtasks, a waiting handle's waker,
/// and a failed outcome.
#[derive(Default)]
struct Cold {
    errors: Vec<AttemptError>,
    /// Subtasks forked by each attempt, cancelled when that attempt ends.
    children: Vec<(u32, JobRef)>,
    waker: Option<Waker>,
    error: Option<TaskError>,
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
    submitted: u64,
    pub(crate) spec: PackedSpec,
    /// Where the ledger keeps this job: `(shard << 32) | index`.
    pub(crate) ledger_slot: AtomicU64,
    flags: AtomicU8,
    cold: Mutex<Option<Box<Cold>>>,
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

    fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// The cold state, created if need be, with `flag` raised under its lock.
    fn with_cold<R>(&self, flag: u8, f: impl FnOnce(&mut Cold) -> R) -> R {
        let mut guard = self.cold.lock();
        let cold = guard.get_or_insert_with(Box::default);
        let r = f(cold);
        if flag != 0 {
            self.flags.fetch_or(flag, Ordering::AcqRel);
        }
        r
    }

    /// Registers the waker to call when the outcome arrives.
    fn register_waker(&self, waker: &Waker) {
        self.with_cold(HAS_WAITER, |c| match &c.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => c.waker = Some(waker.clone()),
        });
    }

    fn clear_waker(&self) {
        if self.has(HAS_WAITER) {
            if let Some(c) = self.cold.lock().as_mut() {
                c.waker = None;
            }
        }
    }

    /// Wakes a registered waiter, if any.
    fn wake_waiter(&self) {
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
        let waker = self.with_cold(HAS_ERROR, |c| {
            debug_assert!(c.error.is_none(), "outcome delivered twice");
            c.error = Some(error);
            c.waker.take()
        });
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn take_error(&self) -> Option<TaskError> {
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
    fn try_cancel(&self) -> bool {
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

    fn end_children_slow(&self, attempt: Option<u32>) {
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

    fn push_error(&self, error: AttemptError) {
        self.with_cold(0, |c| c.errors.push(error));
    }

    fn take_errors(&self) -> Vec<AttemptError> {
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

/// What an attempt runs with besides its job.
#[derive(Clone, Copy, Default)]
pub(crate) struct RunEnv<'a> {
    /// The node's heartbeat counter.
    pub(crate) beats: Option<&'a AtomicU64>,
    /// The node's count of completed tasks, raised before the value is
    /// delivered: a caller that has the value sees the task counted (and
    /// its place in the submission bound freed).
    pub(crate) completed: Option<&'a AtomicU64>,
    /// The runtime, for fork-join.
    pub(crate) host: Option<&'a dyn Host>,
    /// Panic instead of running the task code (fault injection).
    pub(crate) inject_panic: bool,
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
}

pub(crate) type JobRef = Arc<dyn ErasedJob>;

impl fmt::Debug for dyn ErasedJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core().fmt(f)
    }
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
    node: Option<NodeId>,
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
        node,
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

/// Wakes a thread blocked in [`ResultCell::take`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static THREAD_WAKER: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
}

/// Looks at a result cell before parking on it.
const SPIN_ROUNDS: u32 = 12;

/// Where a task's value waits for its handle. A failed outcome and the
/// waiter's waker live in the job's cold state, so the cell is just the
/// value behind a one-byte lock.
pub(crate) struct ResultCell<T> {
    value: Mutex<Option<T>>,
}

impl<T> ResultCell<T> {
    pub(crate) fn new() -> Self {
        ResultCell {
            value: Mutex::new(None),
        }
    }

    fn put(&self, core: &JobCore, value: T) {
        {
            let mut v = self.value.lock();
            debug_assert!(v.is_none() && !core.has(TAKEN), "outcome delivered twice");
            *v = Some(value);
        }
        core.wake_waiter();
    }

    /// Takes the outcome, waiting until `deadline` (forever if `None`).
    ///
    /// # Panics
    ///
    /// If the outcome was already taken.
    pub(crate) fn take(
        &self,
        core: &JobCore,
        deadline: Option<Instant>,
    ) -> Option<Result<T, TaskError>> {
        // Results often arrive within a microsecond or two when tasks are
        // short: look a few times before paying for a park and an unpark.
        for round in 0..SPIN_ROUNDS {
            if let Some(v) = self.try_take(core) {
                return Some(v);
            }
            if round < SPIN_ROUNDS / 2 {
                for _ in 0..(1 << round.min(6)) {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
        loop {
            THREAD_WAKER.with(|w| core.register_waker(w));
            if let Some(v) = self.try_take(core) {
                return Some(v);
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        core.clear_waker();
                        // One last look: it may have arrived meanwhile.
                        return self.try_take(core);
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        }
    }

    fn try_take(&self, core: &JobCore) -> Option<Result<T, TaskError>> {
        assert!(!core.has(TAKEN), "task outcome already taken");
        let value = self.value.lock().take();
        let out = match value {
            Some(v) => Some(Ok(v)),
            None => core.take_error().map(Err),
        };
        if out.is_some() {
            core.flags.fetch_or(TAKEN, Ordering::AcqRel);
        }
        out
    }

    pub(crate) fn poll(&self, core: &JobCore, waker: &Waker) -> Poll<Result<T, TaskError>> {
        if let Some(v) = self.try_take(core) {
            return Poll::Ready(v);
        }
        core.register_waker(waker);
        match self.try_take(core) {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }

    pub(crate) fn is_ready(&self, core: &JobCore) -> bool {
        self.value.lock().is_some() || core.has(HAS_ERROR)
    }
}

/// How a job's closure is called; lets a job own its closure inline.
pub(crate) trait Work<T>: Send + Sync + 'static {
    fn call(&self, ctx: &TaskContext<'_>) -> Result<T, BoxError>;
}

/// A user closure returning `Result<T, E>`.
pub(crate) struct FnWork<F, E> {
    f: F,
    _error: PhantomData<fn() -> E>,
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
    work: W,
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

fn panic_message(payload: &(dyn Any + Send)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CancelReason;

    fn job(retry_on_error: bool, max_retries: u32) -> Arc<dyn TypedJob<u32>> {
        let spec = TaskSpec {
            retry_on_error,
            max_retries,
            ..TaskSpec::default()
        };
        let mut core = JobCore::unsubmitted(PackedSpec::new(spec));
        core.submit(TaskId(0), 0, false);
        let work = FnWork::new(|ctx: &TaskContext<'_>| Ok::<_, BoxError>(ctx.attempt()));
        Arc::new(TaskInner::new(core, work))
    }

    #[test]
    fn a_superseded_attempt_cannot_complete_the_task() {
        let j = job(false, 3);
        assert!(j.core().transition(Phase::Pending, 0, Phase::Queued, 0));
        assert!(j.core().transition(Phase::Queued, 0, Phase::Running, 0));
        // The supervisor moves it after a node loss.
        assert_eq!(
            after_failure(
                &*j,
                Phase::Running,
                0,
                None,
                AttemptFailure::NodeLost,
                || {}
            ),
            AfterFailure::Retry
        );
        assert!(matches!(
            j.run(NodeId(0), 0, RunEnv::default()),
            RunOutcome::Stale
        ));
        assert_eq!(j.core().attempt(), 1);
        assert!(!j.is_ready());
    }

    #[test]
    fn own_errors_fail_at_once_unless_opted_in() {
        let j = job(false, 3);
        j.core().transition(Phase::Pending, 0, Phase::Running, 0);
        let f = AttemptFailure::Error("boom".into());
        assert_eq!(
            after_failure(&*j, Phase::Running, 0, None, f, || {}),
            AfterFailure::Failed
        );
        let out = j.take_outcome(None).unwrap();
        assert!(matches!(out, Err(TaskError::Failed { ref attempts }) if attempts.len() == 1));

        let j = job(true, 1);
        j.core().transition(Phase::Pending, 0, Phase::Running, 0);
        let f = AttemptFailure::Panicked("p".into());
        assert_eq!(
            after_failure(&*j, Phase::Running, 0, None, f, || {}),
            AfterFailure::Retry
        );
        j.core().transition(Phase::Pending, 1, Phase::Running, 1);
        let f = AttemptFailure::TimedOut;
        assert_eq!(
            after_failure(&*j, Phase::Running, 1, None, f, || {}),
            AfterFailure::Failed
        );
        match j.take_outcome(None).unwrap() {
            Err(TaskError::Failed { attempts }) => assert_eq!(attempts.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn cancel_wins_once_and_only_before_a_terminal_state() {
        let j = job(false, 0);
        assert!(cancel(&*j, CancelReason::Caller));
        assert!(!cancel(&*j, CancelReason::Caller));
        assert!(!fail_now(
            &*j,
            TaskError::Unschedulable { reason: "x".into() }
        ));
        assert!(j.take_outcome(None).unwrap().unwrap_err().is_cancelled());
    }

    #[test]
    fn take_times_out_without_a_value() {
        let j = job(false, 0);
        let d = Instant::now() + std::time::Duration::from_millis(5);
        assert!(j.take_outcome(Some(d)).is_none());
    }
}
