//! Submission: the planned tasks in batches or paced by arrival time, with
//! backpressure and a bound on the tasks not yet tallied.

use super::collect::{Accepted, Collector};
use super::plan::{Planned, Planner};
use super::task::Source;
use crate::workload::model::KindSpec;
use allot::{Refusal, RuntimeHandle, SubmitWaitError, Task};
use std::collections::VecDeque;
use std::time::Instant;

/// Why a refused task was refused, for the report.
fn refusal_reason<T>(e: &SubmitWaitError<T>) -> String {
    match &e.reason {
        Refusal::Infeasible(reason) => format!("refused: infeasible ({reason})"),
        Refusal::ShuttingDown => "refused: runtime stopped".to_owned(),
        other => format!("refused: {other}"),
    }
}

/// Most tasks submitted and not yet tallied: past it the submitter waits
/// for the oldest to end before submitting more, so that a run's memory
/// does not grow with `tasks.count` (measured, debug build, zero-cost
/// tasks: 19 MB peak resident memory for 1 000 000 and for 2 000 000
/// tasks, 22 MB for 50 000 000).
pub(crate) const MAX_PENDING: u64 = 1 << 13;

/// Submits the planned tasks as they are drawn: in batches as fast as
/// possible, or paced by arrival time. Backpressure (`Full`) waits for
/// room; a task the runtime refuses (a node retired meanwhile, the runtime
/// stopped by escalation) is counted as refused, and the run goes on. At
/// most `pending_max` accepted tasks wait to be tallied.
pub(super) struct Submitter<'a, S: Source> {
    pub(super) handle: &'a RuntimeHandle,
    pub(super) source: &'a S,
    pub(super) kinds: &'a [KindSpec],
    pub(super) pending: VecDeque<Accepted>,
    pub(super) pending_max: usize,
    pub(super) tally: Collector,
    /// Index of the next task.
    pub(super) next: u64,
}

impl<S: Source> Submitter<'_, S> {
    fn one_by_one(&mut self, tasks: Vec<(usize, Task<S::Out>)>) {
        for (kind, task) in tasks {
            let at = Instant::now();
            match self.handle.submit_wait(task) {
                Ok(handle) => self.pending.push_back(Accepted {
                    kind,
                    at,
                    pending: self.source.follow(handle),
                }),
                Err(e) => {
                    tracing::debug!(kind = self.kinds[kind].label(), error = %e, "run.task_refused");
                    self.tally.refused(kind, refusal_reason(&e));
                }
            }
        }
    }

    fn batch(&mut self, planned: &[Planned]) {
        let first = self.next;
        self.next += planned.len() as u64;
        let mut kinds: Vec<usize> = Vec::with_capacity(planned.len());
        let mut tasks: Vec<Task<S::Out>> = Vec::with_capacity(planned.len());
        for (p, i) in planned.iter().zip(first..) {
            match self.source.make(&self.kinds[p.kind], i, p.cost) {
                Ok(task) => {
                    kinds.push(p.kind);
                    tasks.push(task);
                }
                Err(why) => self.tally.refused(p.kind, why),
            }
        }
        let at = Instant::now();
        match self.handle.submit_batch(tasks) {
            Ok(handles) => {
                for (handle, kind) in handles.into_iter().zip(kinds) {
                    let pending = self.source.follow(handle);
                    self.pending.push_back(Accepted { kind, at, pending });
                }
            }
            // Full, or one bad task: go one by one, waiting for room.
            Err(e) => self.one_by_one(kinds.into_iter().zip(e.into_inner()).collect()),
        }
        while self.pending.len() > self.pending_max {
            if let Some(a) = self.pending.pop_front() {
                self.tally.ended(&self.kinds[a.kind], a);
            }
        }
    }

    pub(super) fn run(&mut self, plan: Planner<'_>, batch: usize, paced: bool, start: Instant) {
        let mut plan = plan.peekable();
        let mut chunk: Vec<Planned> = Vec::with_capacity(batch);
        if !paced {
            loop {
                chunk.clear();
                chunk.extend(plan.by_ref().take(batch));
                if chunk.is_empty() {
                    return;
                }
                self.batch(&chunk);
            }
        }
        while let Some(first) = plan.peek() {
            let now = start.elapsed();
            if first.at > now {
                // Pacing an open-loop arrival process: wait for the next
                // arrival time.
                std::thread::sleep(first.at - now);
                continue;
            }
            // Every task due now, in batches.
            chunk.clear();
            while let Some(p) = plan.next_if(|p| p.at <= now) {
                chunk.push(p);
                if chunk.len() == batch {
                    self.batch(&chunk);
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                self.batch(&chunk);
            }
        }
    }

    /// Tallies every task still pending.
    pub(super) fn finish(mut self) -> Collector {
        while let Some(a) = self.pending.pop_front() {
            self.tally.ended(&self.kinds[a.kind], a);
        }
        self.tally
    }
}
