//! The ledger: every task that has not reached a terminal state, and the
//! totals of those that have.
//!
//! Live jobs sit in shards keyed by task id. A job leaves the ledger exactly
//! once, by [`Ledger::settle`]; the totals count only settles that found the
//! job, so a racing second settle of the same task counts nothing.

use crate::ids::TaskId;
use crate::job::JobRef;
use crate::sync::Mutex;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARDS: usize = 64;

/// How a task left the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    Failed,
    Cancelled,
}

#[derive(Debug, Default)]
pub(crate) struct LedgerTotals {
    pub(crate) submitted: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) retried: u64,
    pub(crate) live: u64,
}

pub(crate) struct Ledger {
    shards: Box<[Mutex<FxHashMap<u64, JobRef>>]>,
    next_id: AtomicU64,
    submitted: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    retried: AtomicU64,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("totals", &self.totals())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    pub(crate) fn new() -> Self {
        Ledger {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(FxHashMap::default()))
                .collect(),
            next_id: AtomicU64::new(0),
            submitted: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        }
    }

    /// Reserves `n` consecutive task ids.
    pub(crate) fn reserve_ids(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }

    fn shard(&self, id: TaskId) -> &Mutex<FxHashMap<u64, JobRef>> {
        &self.shards[(id.0 as usize) % SHARDS]
    }

    /// Records newly accepted jobs.
    pub(crate) fn admit<'a>(&self, jobs: impl ExactSizeIterator<Item = &'a JobRef>) {
        let n = jobs.len() as u64;
        for job in jobs {
            let id = job.core().id;
            self.shard(id).lock().insert(id.0, JobRef::clone(job));
        }
        self.submitted.fetch_add(n, Ordering::Relaxed);
    }

    /// Removes a job that reached a terminal state. Returns whether it was
    /// still live (and so counted now).
    pub(crate) fn settle(&self, id: TaskId, how: Settled) -> bool {
        let removed = self.shard(id).lock().remove(&id.0).is_some();
        if removed {
            let counter = match how {
                Settled::Failed => &self.failed,
                Settled::Cancelled => &self.cancelled,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        removed
    }

    /// Like [`settle`](Self::settle) for a completion, but leaves the count
    /// to the caller (nodes count completions per node to avoid a shared
    /// counter on the hot path).
    pub(crate) fn settle_completed_uncounted(&self, id: TaskId) -> bool {
        self.shard(id).lock().remove(&id.0).is_some()
    }

    pub(crate) fn note_retry(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Number of live (unfinished) tasks.
    pub(crate) fn live(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Removes and returns every live job, in id order.
    pub(crate) fn drain_live(&self) -> Vec<JobRef> {
        let mut all: Vec<JobRef> = Vec::new();
        for shard in self.shards.iter() {
            all.extend(shard.lock().drain().map(|(_, j)| j));
        }
        all.sort_by_key(|j| j.core().id);
        all
    }

    /// Totals; `completed` here excludes completions counted per node.
    pub(crate) fn totals(&self) -> LedgerTotals {
        LedgerTotals {
            submitted: self.submitted.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            live: self.live() as u64,
        }
    }

    pub(crate) fn add_cancelled(&self, n: u64) {
        self.cancelled.fetch_add(n, Ordering::Relaxed);
    }
}

impl Ledger {
    /// Totals without the live count (no locks); for the submit path.
    pub(crate) fn totals_fast(&self) -> LedgerTotals {
        LedgerTotals {
            submitted: self.submitted.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            live: 0,
        }
    }

    /// Counts a job removed by a drain that had meanwhile ended.
    pub(crate) fn count_terminal(&self, phase: crate::job::Phase) {
        use crate::job::Phase;
        let counter = match phase {
            Phase::Completed => &self.completed,
            Phase::Failed => &self.failed,
            _ => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
