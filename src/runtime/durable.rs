//! The runtime's side of the journal (feature `journal`): opening it at
//! build, journalling submissions at admission, and recovering what an
//! earlier process left ([`RecoveredTask`]).

use super::handle::RuntimeHandle;
use super::recovered::RecoveredTask;
use crate::error::{AttemptError, AttemptFailure, BuildError, CancelReason, Refusal, TaskError};
use crate::ids::TaskId;
use crate::job::{finished_job, DurableOutcome, ErasedJob, JobCore};
use crate::journal::{Accepted, Entry, Journal};
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
        batch.push((
            id,
            Accepted {
                name: name.to_owned(),
                args: args.to_vec(),
                spec: job.core().spec.unpack(),
            },
        ));
        fresh.push((job.core(), id));
    }
    if batch.is_empty() {
        return Ok(());
    }
    journal.accept(&batch).map_err(Refusal::Journal)?;
    for (core, id) in fresh {
        tie(journal, core, id);
    }
    Ok(())
}

fn tie(journal: &Arc<Journal>, core: &JobCore, key: u64) {
    let sink: Arc<dyn crate::job::DurableSink> = Arc::clone(journal) as _;
    core.make_durable(sink, key);
}

/// Gives back what the journal holds: finished tasks as handles to their
/// recorded outcomes, unfinished ones submitted again (under their ids in
/// the journal).
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
                tie(journal, inner.core(), e.id);
                out.push(RecoveredTask {
                    id,
                    name: e.accepted.name,
                    finished: true,
                    handle: TaskHandle { inner },
                });
            }
            None => {
                let Ok(mut task) = registry.task_by_name(&e.accepted.name, e.accepted.args) else {
                    // `open` checked every name.
                    continue;
                };
                task.set_spec(e.accepted.spec);
                tie(journal, task.job.core(), e.id);
                // Waits for room under `queue_capacity` rather than drop a
                // journalled task from what is given back.
                match handle.submit_wait(task) {
                    Ok(h) => out.push(RecoveredTask {
                        id,
                        name: e.accepted.name,
                        finished: false,
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
