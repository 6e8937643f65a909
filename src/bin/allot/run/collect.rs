//! The tally of a run, fed task by task as each ends.

use super::task::Pending;
use crate::report::{KindReport, Latencies, Percentiles};
use crate::workload::model::KindSpec;
use allot::{AttemptFailure, TaskError};
use std::collections::BTreeMap;
use std::time::Instant;

/// One accepted task.
pub(super) struct Accepted {
    pub(super) kind: usize,
    pub(super) at: Instant,
    pub(super) pending: Pending,
}

/// Per-kind tallies while collecting.
pub(super) struct Tally {
    pub(super) latencies: Latencies,
    pub(super) report: KindReport,
}

/// The tallies of the run, fed task by task as they end.
pub(super) struct Collector {
    pub(super) kinds: Vec<Tally>,
    pub(super) failures: BTreeMap<String, u64>,
}

impl Collector {
    pub(super) fn new(kinds: &[KindSpec]) -> Collector {
        Collector {
            kinds: kinds
                .iter()
                .map(|k| Tally {
                    latencies: Latencies::default(),
                    report: KindReport {
                        name: k.label().to_owned(),
                        kind: k.task_kind().to_string(),
                        weight: k.weight,
                        mean_cost_s: k.cost.mean(),
                        submitted: 0,
                        refused: 0,
                        completed: 0,
                        failed: 0,
                        cancelled: 0,
                        retries: 0,
                        latency: Percentiles::default(),
                        deadline_s: k.deadline.map(|d| d.as_secs_f64()),
                        deadline_missed: k.deadline.map(|_| 0),
                    },
                })
                .collect(),
            failures: BTreeMap::new(),
        }
    }

    pub(super) fn refused(&mut self, kind: usize, why: String) {
        self.kinds[kind].report.refused += 1;
        *self.failures.entry(why).or_default() += 1;
    }

    /// Waits for an accepted task to end and tallies it.
    pub(super) fn ended(&mut self, spec: &KindSpec, Accepted { kind, at, pending }: Accepted) {
        let t = &mut self.kinds[kind];
        t.report.submitted += 1;
        let Some(outcome) = pending.wait() else {
            t.report.failed += 1;
            if let Some(missed) = t.report.deadline_missed.as_mut() {
                *missed += 1;
            }
            *self
                .failures
                .entry("outcome lost by the coordinator".to_owned())
                .or_default() += 1;
            return;
        };
        match outcome {
            Ok(done) => {
                let latency = done.at.saturating_duration_since(at);
                t.report.completed += 1;
                t.report.retries += u64::from(done.attempt);
                t.latencies.record(latency);
                if let (Some(d), Some(missed)) = (spec.deadline, t.report.deadline_missed.as_mut())
                {
                    if latency > d {
                        *missed += 1;
                    }
                }
            }
            Err(e) => {
                if e.is_cancelled() {
                    t.report.cancelled += 1;
                } else {
                    t.report.failed += 1;
                }
                if let TaskError::Failed { attempts } = &e {
                    t.report.retries += attempts.len().saturating_sub(1) as u64;
                }
                if let Some(missed) = t.report.deadline_missed.as_mut() {
                    *missed += 1;
                }
                *self.failures.entry(failure_reason(&e)).or_default() += 1;
            }
        }
    }
}

fn failure_reason(e: &TaskError) -> String {
    match e {
        TaskError::Failed { .. } => match e.last_failure() {
            Some(AttemptFailure::Error(_)) => "task error",
            Some(AttemptFailure::Panicked(_)) => "task panicked",
            Some(AttemptFailure::TimedOut) => "timed out",
            Some(AttemptFailure::NodeLost) => "node lost",
            _ => "failed",
        }
        .to_owned(),
        TaskError::Cancelled(_) => "cancelled".to_owned(),
        TaskError::Unschedulable { .. } => "unschedulable".to_owned(),
        _ => "other".to_owned(),
    }
}
