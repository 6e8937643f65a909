//! The job's unit tests.

use super::*;
use crate::error::{AttemptFailure, CancelReason, TaskError};
use crate::ids::{NodeId, TaskId};
use crate::spec::{BoxError, PackedSpec, TaskSpec};
use std::sync::Arc;
use std::time::Instant;

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
