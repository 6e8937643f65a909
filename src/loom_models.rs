//! Loom models of the lock-free core: every interleaving (up to a bound on
//! preemptions) of a few threads racing on a job's state word, its result
//! cell and the ledger. Built only with `RUSTFLAGS="--cfg loom"`:
//!
//! ```text
//! RUSTFLAGS="--cfg loom -C debug-assertions" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --lib loom_
//! ```
//!
//! (`-C debug-assertions` arms the result cell's "outcome delivered twice"
//! and the ledger's "a place released twice" checks in the release build.)
//!
//! Each party runs the calls the runtime makes on its path, in the same
//! order: an executor runs the attempt and handles its outcome as
//! `executor_loop` does, the supervisor decides a failed attempt as
//! `fail_attempt` does, a caller cancels as `TaskHandle::cancel` does. The
//! park/wake protocol of a node's inbox is modelled beside the node
//! (`src/node/loom_models.rs`).
//!
//! `LOOM_MAX_PREEMPTIONS` overrides the bound (default
//! [`PREEMPTIONS`]).
//!
//! An executor claims only jobs it was handed after their admission, as in
//! the runtime: loom 0.7 lets a read-modify-write race a plain store to the
//! same word wrongly (tokio-rs/loom#254), so a claim racing the admission's
//! store of the slot would report a false failure.

use crate::error::{AttemptFailure, CancelReason, TaskError};
use crate::ids::{NodeId, TaskId};
use crate::job::{
    after_failure, cancel, AfterFailure, FnWork, JobCore, JobRef, Phase, RunEnv, RunOutcome,
    TaskContext, TaskInner, TypedJob,
};
use crate::ledger::{Ledger, Settled};
use crate::spec::{BoxError, PackedSpec, TaskSpec};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::Mutex;
use loom::thread;
use std::future::poll_fn;
use std::sync::Arc;

/// Preemptions explored per execution unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise. At 3 every broken protocol tried so far failed a model, and
/// all models take about 35 s in release mode on 2 cores (4: about 6½
/// minutes).
pub(crate) const PREEMPTIONS: usize = 3;

/// Runs `f` under loom with the bounded preemptions, and prints how many
/// executions it explored (seen with `--nocapture`).
#[allow(clippy::print_stderr, reason = "a test's report, not library output")]
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(PREEMPTIONS);
    }
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let name = std::thread::current().name().unwrap_or("model").to_owned();
    eprintln!(
        "{name}: {} executions explored",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// The value every modelled task returns.
const VALUE: u32 = 7;

/// A submitted job returning [`VALUE`], as its handle and as the runtime
/// holds it.
pub(crate) fn job(id: u64, max_retries: u32) -> (Arc<dyn TypedJob<u32>>, JobRef) {
    let spec = TaskSpec {
        max_retries,
        ..TaskSpec::default()
    };
    let mut core = JobCore::unsubmitted(PackedSpec::new(spec));
    core.submit(TaskId(id), 0, false);
    let work = FnWork::new(|_: &TaskContext<'_>| Ok::<u32, BoxError>(VALUE));
    let inner = Arc::new(TaskInner::new(core, work));
    (
        Arc::clone(&inner) as Arc<dyn TypedJob<u32>>,
        inner as JobRef,
    )
}

/// Admits `job` to the ledger and starts its attempt 0, as submission and
/// an executor's pick do.
fn admitted_and_running(ledger: &Ledger, job: &JobRef) {
    ledger.admit(std::iter::once(JobRef::clone(job)));
    let core = job.core();
    assert!(core.transition(Phase::Pending, 0, Phase::Queued, 0));
    assert!(core.transition(Phase::Queued, 0, Phase::Running, 0));
}

/// An executor ending attempt `attempt`: it runs it and handles the
/// outcome as `executor_loop` does (a completion claimed and released in a
/// run, as `flush_completed` does; a stale result reaped if cancelled).
/// True if this attempt completed the task.
fn executor_finishes(ledger: &Ledger, job: &JobRef, attempt: u32, completed: &AtomicU64) -> bool {
    let env = RunEnv {
        completed: Some(completed),
        ..RunEnv::default()
    };
    let core = job.core();
    match job.run(NodeId(0), attempt, env) {
        RunOutcome::Completed => {
            if let Some(slot) = ledger.claim(core) {
                ledger.release_all(&mut vec![slot], &mut Vec::new());
            }
            true
        }
        RunOutcome::Stale => {
            ledger.reap_if_cancelled(core);
            false
        }
        RunOutcome::Failed(f) => panic!("the modelled task cannot fail: {f}"),
    }
}

/// The supervisor deciding attempt `attempt`'s failure (a timeout, a node
/// loss), as its `fail_attempt` does.
fn supervisor_fails(ledger: &Ledger, job: &JobRef, failure: AttemptFailure) -> AfterFailure {
    let core = job.core();
    let counted = || {
        ledger.settle(core, Settled::Failed);
    };
    let decided = after_failure(&**job, Phase::Running, 0, None, failure, counted);
    match decided {
        AfterFailure::Retry => ledger.note_retry(),
        AfterFailure::Failed => {}
        AfterFailure::Superseded => ledger.reap_if_cancelled(core),
    }
    decided
}

/// Waits for the outcome the way `.await` on a handle does: poll, register
/// the waker, park until woken.
fn wait_for_outcome(handle: &Arc<dyn TypedJob<u32>>) -> Result<u32, TaskError> {
    loom::future::block_on(poll_fn(|cx| handle.poll_outcome(cx.waker())))
}

/// Who ended the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Winner {
    Completion,
    Cancel,
    Failure,
}

/// Checks that exactly one party won, that the outcome the waiter got is
/// the winner's and nothing else was delivered, and that the ledger
/// counted the task once and let go of it.
fn check_one_end(
    winners: &[Winner],
    outcome: &Result<u32, TaskError>,
    handle: &Arc<dyn TypedJob<u32>>,
    ledger: &Ledger,
    completed: &AtomicU64,
    job: &JobRef,
) {
    assert_eq!(
        winners.len(),
        1,
        "exactly one terminal transition: {winners:?}"
    );
    match (winners[0], outcome) {
        (Winner::Completion, Ok(v)) => {
            assert_eq!(*v, VALUE);
            // A delivered error would still be waiting; a second value
            // trips the cell's debug assertion.
            assert!(!handle.is_ready(), "an error delivered besides the value");
        }
        (Winner::Cancel, Err(TaskError::Cancelled(CancelReason::Caller))) => {}
        (Winner::Failure, Err(TaskError::Failed { attempts })) => {
            assert_eq!(attempts.len(), 1, "one failed attempt recorded");
        }
        (w, o) => panic!("{w:?} won but the outcome is {o:?}"),
    }
    let t = ledger.totals();
    assert_eq!(t.live, 0, "the task left the ledger");
    let ends = completed.load(Ordering::Relaxed) + t.failed + t.cancelled;
    assert_eq!(ends, 1, "counted once: {t:?}");
    let phase = job.core().phase();
    let expected = match winners[0] {
        Winner::Completion => Phase::Completed,
        Winner::Cancel => Phase::Cancelled,
        Winner::Failure => Phase::Failed,
    };
    assert_eq!(phase, expected);
    assert_eq!(Arc::strong_count(job), 2, "the ledger let go of the job");
}

/// (a) A running attempt completes while a caller cancels and the
/// supervisor times it out (no retries left), and the handle's owner waits
/// for the outcome meanwhile: one terminal state, its outcome delivered to
/// the waiter, the task counted once.
#[test]
fn loom_complete_cancel_and_timeout_race_to_one_end_and_one_outcome() {
    model(|| {
        let ledger = Arc::new(Ledger::new());
        let completed = Arc::new(AtomicU64::new(0));
        let (handle, job) = job(0, 0);
        admitted_and_running(&ledger, &job);

        let executor = {
            let (ledger, job, completed) = (ledger.clone(), job.clone(), completed.clone());
            thread::spawn(move || {
                executor_finishes(&ledger, &job, 0, &completed).then_some(Winner::Completion)
            })
        };
        let caller = {
            let (ledger, job) = (ledger.clone(), job.clone());
            thread::spawn(move || {
                let won = cancel(&*job, CancelReason::Caller);
                // The supervisor's tick settles a cancelled attempt it finds
                // still running (`NodeShared::take_abandoned`), racing the
                // executor's own reap of its stale result.
                ledger.reap_if_cancelled(job.core());
                won.then_some(Winner::Cancel)
            })
        };
        let supervisor = {
            let (ledger, job) = (ledger.clone(), job.clone());
            thread::spawn(move || {
                let decided = supervisor_fails(&ledger, &job, AttemptFailure::TimedOut);
                assert_ne!(decided, AfterFailure::Retry, "no retries left");
                (decided == AfterFailure::Failed).then_some(Winner::Failure)
            })
        };
        let outcome = wait_for_outcome(&handle);
        let winners: Vec<Winner> = [executor, caller, supervisor]
            .into_iter()
            .filter_map(|t| t.join().expect("no party panics"))
            .collect();
        // A cancelled job is reaped by whoever next meets it: here the
        // tick, the executor's stale result or the supervisor's superseded
        // decision.
        check_one_end(&winners, &outcome, &handle, &ledger, &completed, &job);
        drop(handle);
    });
}

/// (a) The node running attempt 0 is lost (one retry allowed) while the
/// attempt completes and a caller cancels: the old attempt completes the
/// task only if the supervisor has not moved it; a moved task runs attempt
/// 1, whose value is the one delivered; once ended, it ends once.
#[test]
fn loom_a_node_loss_retry_races_the_old_attempt_and_a_cancel() {
    model(|| {
        let ledger = Arc::new(Ledger::new());
        let completed = Arc::new(AtomicU64::new(0));
        let (handle, job) = job(0, 1);
        admitted_and_running(&ledger, &job);

        let executor = {
            let (ledger, job, completed) = (ledger.clone(), job.clone(), completed.clone());
            thread::spawn(move || executor_finishes(&ledger, &job, 0, &completed))
        };
        let caller = {
            let job = job.clone();
            thread::spawn(move || cancel(&*job, CancelReason::Caller))
        };
        let decided = supervisor_fails(&ledger, &job, AttemptFailure::NodeLost);
        let old_attempt_completed = executor.join().expect("the executor does not panic");
        let cancelled = caller.join().expect("the caller does not panic");

        let core = job.core();
        assert!(
            !(old_attempt_completed && decided == AfterFailure::Retry),
            "a moved attempt cannot complete the task"
        );
        let mut winners = Vec::new();
        if old_attempt_completed {
            winners.push(Winner::Completion);
        }
        if cancelled {
            winners.push(Winner::Cancel);
        }
        if decided == AfterFailure::Retry {
            // The retry: the supervisor pushes it again and an executor
            // runs attempt 1, unless the cancel got there first, in which
            // case the push reaps it.
            if core.transition(Phase::Pending, 1, Phase::Queued, 1) {
                assert!(!cancelled, "a cancelled task is not queued again");
                assert!(core.transition(Phase::Queued, 1, Phase::Running, 1));
                assert!(executor_finishes(&ledger, &job, 1, &completed));
                winners.push(Winner::Completion);
            } else {
                ledger.reap_if_cancelled(core);
            }
        }
        assert_ne!(
            decided,
            AfterFailure::Failed,
            "a node loss with a retry left"
        );
        let outcome = wait_for_outcome(&handle);
        check_one_end(&winners, &outcome, &handle, &ledger, &completed, &job);
        assert_eq!(
            ledger.totals().retried,
            u64::from(decided == AfterFailure::Retry)
        );
        drop(handle);
    });
}

/// (c) A thread's single submissions join its open cohort while an
/// executor settles the cohort's first job: the second joins the cohort if
/// it is still open, or opens another if the first left with its last job;
/// either way both are found by their slots until settled, settle once,
/// and the ledger ends empty, holding neither.
#[test]
fn loom_single_submissions_join_an_open_cohort_while_it_settles() {
    model(|| {
        let ledger = Arc::new(Ledger::new());
        let (_, a) = job(0, 0);
        let (_, b) = job(1, 0);
        // Where the submitter hands admitted jobs on (the node's inbox in
        // the runtime): an executor claims only jobs it was handed, so after
        // their admission.
        let handed: Arc<Mutex<Vec<JobRef>>> = Arc::new(Mutex::new(Vec::new()));

        let submitter = {
            let (ledger, handed, a, b) = (ledger.clone(), handed.clone(), a.clone(), b.clone());
            thread::spawn(move || {
                for job in [a, b] {
                    ledger.admit(std::iter::once(JobRef::clone(&job)));
                    handed.lock().push(job);
                }
            })
        };
        // The executor completes what it was handed, `a` at least, and
        // releases the completions in one run.
        let executor = {
            let (ledger, handed) = (ledger.clone(), handed.clone());
            thread::spawn(move || {
                let jobs = loop {
                    let jobs = std::mem::take(&mut *handed.lock());
                    if !jobs.is_empty() {
                        break jobs;
                    }
                    thread::yield_now();
                };
                let mut slots: Vec<u64> = jobs
                    .iter()
                    .map(|j| ledger.claim(j.core()).expect("the first claim"))
                    .collect();
                let claimed = slots.clone();
                ledger.release_all(&mut slots, &mut Vec::new());
                claimed
            })
        };
        submitter.join().expect("the submitter does not panic");
        let released = executor.join().expect("the executor does not panic");

        for &slot in &released {
            assert!(ledger.get(slot).is_none(), "gone once released");
        }
        if released.len() == 2 {
            assert_eq!(ledger.live(), 0);
            assert!(!ledger.settle(b.core(), Settled::Cancelled), "settled once");
        } else {
            assert_eq!(ledger.live(), 1, "b is still in the ledger");
            let b_slot = b.core().ledger_slot.load(Ordering::Acquire);
            let found = ledger.get(b_slot).expect("found by its slot");
            assert!(Arc::ptr_eq(&found, &b));
            drop(found);
            assert!(ledger.settle(b.core(), Settled::Cancelled));
            assert!(ledger.get(b_slot).is_none(), "gone once settled");
        }
        assert_eq!(ledger.live(), 0);
        assert!(ledger.drain_live().is_empty(), "nothing left to drain");
        drop(handed);
        assert_eq!(Arc::strong_count(&a), 1, "the ledger let go of a");
        assert_eq!(Arc::strong_count(&b), 1, "the ledger let go of b");
    });
}

/// (a, c) `shutdown_now` drains the ledger while an executor completes one
/// of the two tasks in it (the other is still queued): each task ends once,
/// either completed (counted by its node) or cancelled by the drain
/// (counted by the shutdown), never both, and the ledger ends empty.
#[test]
fn loom_a_shutdown_drain_races_a_completion_and_each_task_ends_once() {
    model(|| {
        let ledger = Arc::new(Ledger::new());
        let completed = Arc::new(AtomicU64::new(0));
        let (running_handle, running) = job(0, 0);
        let (queued_handle, queued) = job(1, 0);
        admitted_and_running(&ledger, &running);
        ledger.admit(std::iter::once(JobRef::clone(&queued)));
        assert!(queued
            .core()
            .transition(Phase::Pending, 0, Phase::Queued, 0));

        let executor = {
            let (ledger, job, completed) = (ledger.clone(), running.clone(), completed.clone());
            thread::spawn(move || executor_finishes(&ledger, &job, 0, &completed))
        };
        // As `RuntimeHandle::shutdown_now` does.
        let mut cancelled = 0;
        for job in ledger.drain_live() {
            if cancel(&*job, CancelReason::Shutdown) {
                cancelled += 1;
            } else {
                ledger.count_terminal(job.core().phase());
            }
        }
        ledger.add_cancelled(cancelled);
        let ran = executor.join().expect("the executor does not panic");

        let t = ledger.totals();
        assert_eq!(t.live, 0, "the ledger ends empty");
        assert_eq!(completed.load(Ordering::Relaxed), u64::from(ran));
        assert_eq!(
            t.cancelled,
            2 - u64::from(ran),
            "each task counted once: {t:?}"
        );
        assert_eq!(t.failed, 0);
        match wait_for_outcome(&running_handle) {
            Ok(v) => {
                assert!(ran && v == VALUE);
                assert!(
                    !running_handle.is_ready(),
                    "nothing delivered besides the value"
                );
            }
            Err(TaskError::Cancelled(CancelReason::Shutdown)) => assert!(!ran),
            other => panic!("unexpected outcome {other:?}"),
        }
        assert!(matches!(
            wait_for_outcome(&queued_handle),
            Err(TaskError::Cancelled(CancelReason::Shutdown))
        ));
    });
}
