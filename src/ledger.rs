//! The ledger: every task that has not reached a terminal state, and the
//! totals of those that have.
//!
//! Live jobs sit in sharded slabs. Admission gives each job a slot (no
//! hashing: the slot's address is stored in the job), and a job leaves the
//! ledger exactly once, by [`Ledger::settle`]: the totals count only settles
//! that found the job still in its slot, so a racing second settle of the same
//! task counts nothing.

use crate::job::{JobCore, JobRef, Phase};
use crate::sync::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

const SHARDS: usize = 16;

/// How a task left the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    Failed,
    Cancelled,
}

#[derive(Debug, Default)]
pub(crate) struct LedgerTotals {
    pub(crate) submitted: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) retried: u64,
    pub(crate) live: u64,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Option<JobRef>>,
    free: Vec<u32>,
    live: usize,
}

impl Slab {
    /// The index the next [`insert`](Slab::insert) will use.
    fn next_index(&self) -> u32 {
        match self.free.last() {
            Some(&i) => i,
            None => self.slots.len() as u32,
        }
    }

    fn insert(&mut self, job: JobRef) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(job);
                i
            }
            None => {
                self.slots.push(Some(job));
                (self.slots.len() - 1) as u32
            }
        }
    }
}

pub(crate) struct Ledger {
    shards: Box<[Mutex<Slab>]>,
    next_shard: AtomicUsize,
    next_id: AtomicU64,
    submitted: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    retried: AtomicU64,
    /// Submitters waiting for room (`submit_wait`).
    waiters: AtomicUsize,
    space: Condvar,
    space_lock: Mutex<()>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("totals", &self.totals())
            .finish_non_exhaustive()
    }
}

fn pack_slot(shard: usize, index: u32) -> u64 {
    ((shard as u64) << 32) | u64::from(index)
}

impl Ledger {
    pub(crate) fn new() -> Self {
        Ledger {
            shards: (0..SHARDS).map(|_| Mutex::new(Slab::default())).collect(),
            next_shard: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            submitted: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            space: Condvar::new(),
            space_lock: Mutex::new(()),
        }
    }

    fn notify_space(&self) {
        if self.waiters.load(Ordering::Acquire) > 0 {
            let _g = self.space_lock.lock();
            self.space.notify_all();
        }
    }

    /// Blocks until some task leaves the ledger or `timeout` passes.
    pub(crate) fn wait_for_space(&self, timeout: std::time::Duration) {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        {
            let mut g = self.space_lock.lock();
            self.space.wait_for(&mut g, timeout);
        }
        self.waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// Reserves `n` consecutive task ids.
    pub(crate) fn reserve_ids(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }

    /// Records newly accepted jobs. A batch goes into one shard (one lock),
    /// and batches rotate over the shards; executors settle neighbouring jobs
    /// of one batch together, so they too take that shard's lock once per
    /// flush.
    pub(crate) fn admit(&self, jobs: impl ExactSizeIterator<Item = JobRef>) {
        let n = jobs.len();
        if n == 0 {
            return;
        }
        let shard = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut slab = self.shards[shard].lock();
        for job in jobs {
            job.core()
                .ledger_slot
                .store(pack_slot(shard, slab.next_index()), Ordering::Relaxed);
            slab.insert(job);
        }
        drop(slab);
        self.submitted.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Takes a job out of its slot; true if it was still there.
    fn remove(&self, core: &JobCore) -> bool {
        let slot = core.ledger_slot.load(Ordering::Relaxed);
        let (shard, index) = ((slot >> 32) as usize, slot as u32);
        let mut slab = self.shards[shard].lock();
        let cell = &mut slab.slots[index as usize];
        if cell.as_ref().is_some_and(|j| std::ptr::eq(j.core(), core)) {
            *cell = None;
            slab.free.push(index);
            slab.live -= 1;
            drop(slab);
            self.notify_space();
            true
        } else {
            false
        }
    }

    /// Removes a job that reached a terminal state and counts it. Returns
    /// whether it was still live (and so counted now).
    pub(crate) fn settle(&self, core: &JobCore, how: Settled) -> bool {
        let removed = self.remove(core);
        if removed {
            let counter = match how {
                Settled::Failed => &self.failed,
                Settled::Cancelled => &self.cancelled,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        removed
    }

    /// Removes one completed job; the caller counts it. True if it was live.
    pub(crate) fn settle_completed(&self, core: &JobCore) -> bool {
        self.remove(core)
    }

    /// Settles a job some holder let go of because its state moved on: only
    /// a cancellation is settled here. A job claimed by someone else (a
    /// joining parent runs its child inline) is theirs to settle.
    pub(crate) fn reap_if_cancelled(&self, core: &JobCore) {
        if core.phase() == Phase::Cancelled {
            self.settle(core, Settled::Cancelled);
        }
    }

    /// Settles many completions at once, one lock per shard; returns how
    /// many were still live. Empties `jobs`.
    pub(crate) fn settle_completed_batch(&self, jobs: &mut Vec<JobRef>) -> u64 {
        let mut removed = 0;
        let mut i = 0;
        while i < jobs.len() {
            let shard = (jobs[i].core().ledger_slot.load(Ordering::Relaxed) >> 32) as usize;
            let mut slab = self.shards[shard].lock();
            // Neighbouring jobs mostly share a shard: take each lock once
            // per run of them.
            while i < jobs.len() {
                let core = jobs[i].core();
                let slot = core.ledger_slot.load(Ordering::Relaxed);
                if (slot >> 32) as usize != shard {
                    break;
                }
                let index = slot as u32;
                let cell = &mut slab.slots[index as usize];
                if cell.as_ref().is_some_and(|j| Arc::ptr_eq(j, &jobs[i])) {
                    *cell = None;
                    slab.free.push(index);
                    slab.live -= 1;
                    removed += 1;
                }
                i += 1;
            }
        }
        jobs.clear();
        if removed > 0 {
            self.notify_space();
        }
        removed
    }

    pub(crate) fn note_retry(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Number of live (unfinished) tasks.
    pub(crate) fn live(&self) -> usize {
        self.shards.iter().map(|s| s.lock().live).sum()
    }

    /// Removes and returns every live job, in id order.
    pub(crate) fn drain_live(&self) -> Vec<JobRef> {
        let mut all: Vec<JobRef> = Vec::new();
        for shard in self.shards.iter() {
            let mut slab = shard.lock();
            all.extend(slab.slots.drain(..).flatten());
            slab.free.clear();
            slab.live = 0;
        }
        all.sort_by_key(|j| j.core().id);
        all
    }

    /// Totals but completions, which each node counts (see `RunEnv::completed`).
    pub(crate) fn totals(&self) -> LedgerTotals {
        LedgerTotals {
            live: self.live() as u64,
            ..self.totals_fast()
        }
    }

    /// Totals without the live count (no locks); for the submit path.
    pub(crate) fn totals_fast(&self) -> LedgerTotals {
        LedgerTotals {
            submitted: self.submitted.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            live: 0,
        }
    }

    pub(crate) fn add_cancelled(&self, n: u64) {
        self.cancelled.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a job removed by a drain that had meanwhile ended. A
    /// completed one was counted by its node when it completed.
    pub(crate) fn count_terminal(&self, phase: Phase) {
        let counter = match phase {
            Phase::Completed => return,
            Phase::Failed => &self.failed,
            _ => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
