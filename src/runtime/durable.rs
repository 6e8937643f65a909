//! The runtime's side of the journal (feature `journal`): opening it at
//! build, journalling submissions at admission, and recovering what an
//! earlier process left ([`RecoveredTask`]).

use super::handle::RuntimeHandle;
use super::recovered::RecoveredTask;
use crate::error::{AttemptError, AttemptFailure, BuildError, CancelReason, Refusal, TaskError};
use crate::ids::TaskId;
use crate::job::DurableSink;
use crate::job::{finished_job, DurableOutcome, ErasedJob, JobCore};
use crate::journal::{encode_submission, Dispatched, Entry, Journal};
use crate::journal_error::JournalError;
use crate::journal_retention::JournalRetention;
use crate::named::Registry;
use crate::spec::PackedSpec;
use crate::task_handle::TaskHandle;
use std::path::Path;
use std::sync::Arc;

/// Opens the journal at `path` (forgetting the unread results past
/// `retention`); checks that `registry` can run every unfinished task in
/// it.
pub(super) fn open(
    path: &Path,
    retention: &JournalRetention,
    registry: &Registry,
) -> Result<(Arc<Journal>, Vec<Entry>), BuildError> {
    let (journal, entries) = Journal::open(path, retention).map_err(BuildError::Journal)?;
    if let Some(e) = entries
        .iter()
        .find(|e| e.outcome.is_none() && !registry.contains(&e.accepted.name))
    {
        return Err(BuildError::Journal(JournalError::UnknownFunction {
            path: path.to_owned(),
            name: e.accepted.name.clone(),
        }));
    }
    Ok((journal, entries))
}

/// The first task id after every journalled one: ids continue across
/// restarts, so an id names one task for good.
pub(super) fn next_id(entries: &[Entry]) -> u64 {
    entries.last().map_or(0, |e| e.id + 1)
}

/// A closure cannot be journalled: refused (`Refusal::NotDurable`).
pub(super) fn check(journal: Option<&Arc<Journal>>, job: &dyn ErasedJob) -> Result<(), Refusal> {
    match journal {
        Some(_) if job.durable_form().is_none() && !job.core().is_durable() => {
            Err(Refusal::NotDurable)
        }
        _ => Ok(()),
    }
}

/// Commits jobs about to be stamped with ids `first..` to the journal,
/// then ties each to it; returns once they are on disk. Jobs journalled
/// already (recovered ones) are skipped.
pub(super) fn commit<'a>(
    journal: &Arc<Journal>,
    first: u64,
    jobs: impl Iterator<Item = &'a dyn ErasedJob>,
) -> Result<(), Refusal> {
    let mut batch = Vec::new();
    let mut fresh = Vec::new();
    for (k, job) in jobs.enumerate() {
        if job.core().is_durable() {
            continue;
        }
        let Some((name, args)) = job.durable_form() else {
            return Err(Refusal::NotDurable);
        };
        let id = first + k as u64;
        // Encoded here, on the submitter's thread, not the writer's.
        batch.push((id, encode_submission(name, args, &job.core().spec.unpack())));
        fresh.push((job.core(), id));
    }
    if batch.is_empty() {
        return Ok(());
    }
    journal.accept(batch).map_err(Refusal::Journal)?;
    for (core, id) in fresh {
        tie(journal, core, id, 0);
    }
    Ok(())
}

fn tie(journal: &Arc<Journal>, core: &JobCore, key: u64, first_attempt: u32) {
    let sink: Arc<dyn crate::job::DurableSink> = Arc::clone(journal) as _;
    core.make_durable(sink, key, first_attempt);
}

/// The error of a journalled attempt that was under way (or had failed
/// unrecorded) when its process ended: its node was lost with it.
fn lost_attempt(d: &Dispatched) -> AttemptError {
    AttemptError {
        attempt: d.attempt,
        node: None,
        node_name: Some(d.node.as_str().into()),
        failure: AttemptFailure::NodeLost,
    }
}

/// Gives back what the journal holds: finished tasks as handles to their
/// recorded outcomes, unfinished ones submitted again (under their ids in
/// the journal), their attempt count continued from the journal's: the
/// attempt last journalled as started counts as used (lost with its node,
/// the process), so a task whose retry budget it ended fails now with
/// that loss, not run again.
pub(super) fn recover(
    handle: &RuntimeHandle,
    journal: &Arc<Journal>,
    registry: &Registry,
    entries: Vec<Entry>,
) -> Vec<RecoveredTask> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let id = TaskId(e.id);
        let spec = PackedSpec::new(e.accepted.spec.clone());
        let node = e.dispatched.as_ref().map(|d| d.node.clone());
        // An attempt on a worker may still run there (cluster mode): the
        // task takes it up again under its number (the worker runs an
        // attempt once; a result it sent meanwhile is taken), not counted
        // twice. A local one was lost with the process.
        let attempts = e
            .dispatched
            .as_ref()
            .map_or(0, |d| d.attempt + u32::from(!d.remote));
        if let (None, Some(d)) = (&e.outcome, &e.dispatched) {
            if attempts > e.accepted.spec.max_retries {
                // Its budget ended with the attempt lost: it fails, and
                // the journal records it.
                let error = TaskError::Failed {
                    attempts: vec![lost_attempt(d)],
                };
                journal.finished(e.id, DurableOutcome::Failed(error.to_string()));
                let inner = finished_job(id, spec, Err(error));
                tie(journal, inner.core(), e.id, attempts);
                tracing::info!(task = e.id, attempts, "journal.recovered_budget_spent");
                out.push(RecoveredTask {
                    id,
                    name: e.accepted.name,
                    finished: true,
                    node,
                    attempts,
                    handle: TaskHandle { inner },
                });
                continue;
            }
        }
        match e.outcome {
            Some((outcome, _)) => {
                let result = match outcome {
                    DurableOutcome::Value(v) => Ok(v),
                    DurableOutcome::Failed(text) => Err(TaskError::Failed {
                        attempts: vec![AttemptError {
                            attempt: 0,
                            node: None,
                            node_name: None,
                            failure: AttemptFailure::Error(text.into()),
                        }],
                    }),
                    DurableOutcome::Cancelled => Err(TaskError::Cancelled(CancelReason::Caller)),
                };
                let inner = finished_job(id, spec, result);
                // Its record goes once the outcome is taken, as any task's.
                tie(journal, inner.core(), e.id, attempts);
                out.push(RecoveredTask {
                    id,
                    name: e.accepted.name,
                    finished: true,
                    node,
                    attempts,
                    handle: TaskHandle { inner },
                });
            }
            None => {
                let Ok(mut task) = registry.task_by_name(&e.accepted.name, e.accepted.args) else {
                    // `open` checked every name.
                    continue;
                };
                task.set_spec(e.accepted.spec);
                let task = task.first_attempt(attempts);
                if let Some(d) = e.dispatched.as_ref().filter(|d| !d.remote) {
                    task.job.core().add_earlier_attempt(lost_attempt(d));
                }
                tie(journal, task.job.core(), e.id, attempts);
                // Waits for room under `queue_capacity` rather than drop a
                // journalled task from what is given back.
                match handle.submit_wait(task) {
                    Ok(h) => out.push(RecoveredTask {
                        id,
                        name: e.accepted.name,
                        finished: false,
                        node,
                        attempts,
                        handle: h,
                    }),
                    Err(err) => {
                        // Refused for good (no node fits it): it stays in
                        // the journal for a runtime that can run it.
                        tracing::error!(task = e.id, error = %err, "journal.recover_refused");
                    }
                }
            }
        }
    }
    tracing::info!(tasks = out.len(), "journal.recovered");
    out
}

impl RuntimeHandle {
    /// The tasks the journal held when this runtime was built, each once:
    /// a second call returns none. See [`RecoveredTask`] and
    /// [`Builder::journal`](crate::Builder::journal).
    pub fn recovered(&self) -> Vec<RecoveredTask> {
        std::mem::take(&mut *self.shared.recovered.lock())
    }
}
