//! The ledger: every task that has not reached a terminal state, and the
//! totals of those that have.
//!
//! Accepted jobs are kept in *cohorts*, one per submitted batch, in sharded
//! slabs. Single submissions join their thread's *open cohort* (one per
//! shard, the thread keeping to one shard), so that a stream of them costs
//! what a batch does: no cohort made per task, and executors release their
//! completions in runs, one lock per run. Each job stores its
//! *slot*: its cohort and its place in it. A job leaves the ledger exactly
//! once: whoever settles it first swaps its slot for [`SETTLED`]
//! ([`Ledger::claim`]); only that party counts it and takes it out of its
//! place, and executors do that for a whole run of completions at once. A
//! settled job is let go as soon as its settlement is released, and a
//! cohort's chunks when its last job is, so a straggler keeps nothing of
//! its batch alive but the 16-byte places of the others.
//!
//! So the data path touches no shared ledger memory per task: one swap on
//! the job's own word when it ends, one lock per cohort per flush.

use crate::job::{JobCore, JobRef, Phase};
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex};

mod graveyard;
mod history;
mod slab;
#[cfg(test)]
mod tests;

pub(crate) use graveyard::{Graveyard, Reaper, DEAD_CAP};
pub(crate) use history::{outcome_of, Batch, History, Kept, Record, Sample, RATE_WINDOW};
use slab::*;

/// A job's ledger slot once it has been settled (and before admission).
pub(crate) const SETTLED: u64 = u64::MAX;

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
    /// Admitted jobs not yet settled.
    pub(crate) live: u64,
}

/// The record of every accepted task.
pub(crate) struct Ledger {
    shards: Box<[Mutex<Slab>]>,
    /// Emptied chunks, reused.
    spare: Mutex<Vec<Vec<Option<JobRef>>>>,
    /// Settled jobs whose last reference was the ledger's, waiting for a
    /// submitter to free them (see [`graveyard`]).
    graveyard: Graveyard,
    next_shard: AtomicUsize,
    next_id: AtomicU64,
    submitted: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    retried: AtomicU64,
    waiters: AtomicUsize,
    space: Condvar,
    space_lock: Mutex<()>,
    /// What the state API remembers beyond the live jobs. Boxed: the
    /// ledger's own fields keep the layout they had without it.
    history: Box<History>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("totals", &self.totals())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Ledger::retaining(0)
    }

    /// A ledger that also keeps the records of up to about `retain`
    /// finished tasks for the state API (see [`History`]).
    pub(crate) fn retaining(retain: usize) -> Self {
        Ledger {
            history: Box::new(History::new(retain)),
            shards: (0..SHARDS).map(|_| Mutex::new(Slab::default())).collect(),
            spare: Mutex::new(Vec::new()),
            graveyard: Graveyard::default(),
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

    /// What the state API remembers beyond the live jobs.
    pub(crate) fn history(&self) -> &History {
        &self.history
    }

    /// Every job in the ledger (not settled, or settled and not yet
    /// released), one shard locked at a time: for the state API.
    pub(crate) fn scan(&self, mut f: impl FnMut(&JobRef)) {
        for shard in self.shards.iter() {
            let slab = shard.lock();
            for cohort in slab.cohorts.iter().flatten() {
                for job in cohort.jobs.iter().flatten().flatten() {
                    f(job);
                }
            }
        }
    }

    /// Keeps the record of a task that failed or was cancelled (when
    /// finished tasks are retained).
    fn record_end(&self, core: &JobCore, how: Settled) {
        if !self.history.is_recording() {
            return;
        }
        let attempts = self.history.take_attempts(core.id.0);
        let last = attempts.as_ref().and_then(|a| a.last());
        let node = last.and_then(|a| a.node).map_or(u32::MAX, |n| n.0 as u32);
        let started = last
            .and_then(|a| a.started)
            .map_or(0, crate::clock::from_system);
        self.history.keep_one(Record {
            id: core.id.0,
            submitted: core.submitted_nanos(),
            started,
            ended: crate::clock::now_nanos(),
            spec: core.spec.clone(),
            // The name given with `Task::name` (a named task's function
            // name is not in its core).
            name: core.spec.name().cloned(),
            node,
            attempt: core.attempt(),
            state: match how {
                Settled::Failed => crate::inspect::TaskState::Failed,
                Settled::Cancelled => crate::inspect::TaskState::Cancelled,
            },
            attempts: attempts.map(Box::new),
        });
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

    /// Ids from here on start at `first` (a journal's ids continue across
    /// restarts); called before any task is submitted.
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    pub(crate) fn start_ids_at(&self, first: u64) {
        self.next_id.fetch_max(first, Ordering::Relaxed);
    }

    /// Reserves `n` consecutive task ids.
    pub(crate) fn reserve_ids(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }

    /// Records newly accepted jobs as one cohort (several for a batch of
    /// more than a million), under one lock each; cohorts rotate over the
    /// shards. A single job joins its thread's open cohort
    /// ([`admit_single`](Self::admit_single)).
    pub(crate) fn admit(&self, jobs: impl Iterator<Item = JobRef>) {
        let mut jobs = jobs.peekable();
        if jobs.size_hint() == (1, Some(1)) {
            if let Some(job) = jobs.next() {
                self.admit_single(job);
            }
            return;
        }
        while jobs.peek().is_some() {
            let mut chunks = Chunks::new();
            let mut n = 0;
            while n < COHORT_MAX && jobs.peek().is_some() {
                let mut chunk = match jobs.size_hint() {
                    // A small batch: a small vector of its own, no trip to
                    // the shared pool.
                    (_, Some(max)) if max < CHUNK / 4 => Vec::with_capacity(max),
                    _ => {
                        let mut c = self.spare.lock().pop().unwrap_or_default();
                        c.reserve_exact(CHUNK);
                        c
                    }
                };
                chunk.extend(jobs.by_ref().take(CHUNK.min(COHORT_MAX - n)).map(Some));
                n += chunk.len();
                chunks.push(chunk);
            }
            self.admit_cohort(chunks, n);
        }
    }

    /// Records one newly accepted job in the open cohort of this thread's
    /// shard, opening one if there is none (or it is full).
    ///
    /// Why: a cohort of its own per single submission meant, per task, a
    /// free index and a cohort entry that an executor had written last (two
    /// cache misses on the submitter) and one ledger lock per completion on
    /// the executor. Joined in one cohort, a thread's single submissions
    /// take consecutive places, so executors release them in runs and the
    /// submitter writes lines no one else touched since.
    pub(crate) fn admit_single(&self, job: JobRef) {
        let shard = HOME_SHARD.with(|home| {
            let mut s = home.get();
            if s == usize::MAX {
                s = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
                home.set(s);
            }
            s
        });
        let mut guard = self.shards[shard].lock();
        let slab = &mut *guard;
        let index = match slab.open {
            Some(i) => i,
            None => {
                let (i, generation) = slab.new_cohort();
                slab.cohorts[i as usize] = Some(Cohort {
                    jobs: Chunks::new(),
                    places: 0,
                    unsettled: 0,
                    generation,
                });
                slab.open = Some(i);
                i
            }
        };
        let cohort = slab.cohorts[index as usize]
            .as_mut()
            .expect("the open cohort is kept until it is closed");
        let place = cohort.places;
        if place.is_multiple_of(CHUNK) {
            let mut chunk = self.spare.lock().pop().unwrap_or_default();
            chunk.reserve_exact(CHUNK);
            cohort.jobs.push(chunk);
        }
        let slot = pack_slot(shard, index, cohort.generation, place);
        job.core().ledger_slot.store(slot, Ordering::Release);
        cohort
            .jobs
            .last_mut()
            .expect("a chunk with room")
            .push(Some(job));
        cohort.places += 1;
        cohort.unsettled += 1;
        if cohort.places == OPEN_MAX {
            slab.open = None;
        }
        slab.live += 1;
        drop(guard);
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    fn admit_cohort(&self, chunks: Chunks, n: usize) {
        if n == 0 {
            return;
        }
        let shard = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut slab = self.shards[shard].lock();
        let (index, generation) = slab.new_cohort();
        for (place, job) in chunks.iter().flatten().flatten().enumerate() {
            let slot = pack_slot(shard, index, generation, place);
            job.core().ledger_slot.store(slot, Ordering::Release);
        }
        slab.cohorts[index as usize] = Some(Cohort {
            jobs: chunks,
            places: n,
            unsettled: n,
            generation,
        });
        slab.live += n;
        drop(slab);
        self.submitted.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Keeps a few of a gone cohort's (emptied) chunks for reuse.
    fn recycle(&self, mut chunks: Chunks) {
        if chunks.is_empty() {
            return;
        }
        chunks.retain(|c| c.capacity() >= CHUNK);
        for chunk in &mut chunks {
            chunk.clear();
        }
        if chunks.is_empty() {
            return;
        }
        let mut spare = self.spare.lock();
        let room = SPARE_CAP.saturating_sub(spare.len());
        spare.extend(chunks.into_iter().take(room));
    }

    /// Takes the right to settle a job: true for exactly one caller, and
    /// only for an admitted job. Returns the job's cohort slot, to
    /// [`release`](Ledger::release) now or later.
    pub(crate) fn claim(&self, core: &JobCore) -> Option<u64> {
        let slot = core.ledger_slot.swap(SETTLED, Ordering::AcqRel);
        (slot != SETTLED).then_some(slot)
    }

    /// The job at `slot` (as it was when the job was admitted), if it is
    /// still in the ledger: not yet settled, or claimed and not yet
    /// released.
    pub(crate) fn get(&self, slot: u64) -> Option<JobRef> {
        if slot == SETTLED {
            return None;
        }
        let (shard, index, generation, place) = unpack_slot(slot);
        let mut slab = self.shards.get(shard)?.lock();
        let cohort = slab.cohorts.get_mut(index)?.as_mut()?;
        if cohort.generation != generation {
            return None;
        }
        cohort.place_mut(place)?.clone()
    }

    /// Takes the claimed job at `slot` out of its cohort and lets go of it.
    pub(crate) fn release(&self, slot: u64) {
        let (shard, index, generation, place) = unpack_slot(slot);
        let mut dead = Vec::new();
        let gone =
            self.shards[shard]
                .lock()
                .release(index, generation, std::iter::once(place), &mut dead);
        self.recycle(gone);
        // Settled one at a time (a failure, a cancel): rare, freed here.
        drop(dead);
        self.notify_space();
    }

    /// See [`Graveyard::bury`].
    pub(crate) fn bury(&self, dead: &mut Vec<JobRef>) {
        self.graveyard.bury(dead);
    }

    /// See [`Graveyard::exhume`].
    pub(crate) fn exhume(&self, max: usize, into: &mut Vec<JobRef>) {
        self.graveyard.exhume(max, into);
    }

    /// Whether finished jobs wait to be freed.
    pub(crate) fn has_dead(&self) -> bool {
        !self.graveyard.is_empty()
    }

    /// See [`Graveyard::free_all`].
    pub(crate) fn free_dead(&self) {
        self.graveyard.free_all();
    }

    /// Settles a failed or cancelled job. True if this call did it (and
    /// counted it).
    pub(crate) fn settle(&self, core: &JobCore, how: Settled) -> bool {
        let Some(slot) = self.claim(core) else {
            return false;
        };
        // Recorded before it leaves: a finished task is always in the
        // ledger or its record (or both), never neither.
        self.record_end(core, how);
        self.release(slot);
        let counter = match how {
            Settled::Failed => &self.failed,
            Settled::Cancelled => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Settles one completed job (its node counts it). True if this call
    /// did it.
    pub(crate) fn settle_completed(&self, core: &JobCore) -> bool {
        match self.claim(core) {
            Some(slot) => {
                self.release(slot);
                true
            }
            None => false,
        }
    }

    pub(crate) fn reap_if_cancelled(&self, core: &JobCore) {
        if core.phase() == Phase::Cancelled {
            self.settle(core, Settled::Cancelled);
        }
    }

    /// Takes claimed jobs out of their cohorts, one lock per run of the
    /// same cohort, and [`bury`](Self::bury)s them through the caller's
    /// buffer `dead`. Empties `slots` and `dead`.
    pub(crate) fn release_all(&self, slots: &mut Vec<u64>, dead: &mut Vec<JobRef>) {
        let mut i = 0;
        while i < slots.len() {
            let cohort = slots[i] & COHORT_MASK;
            let run = slots[i..]
                .iter()
                .take_while(|&&s| s & COHORT_MASK == cohort)
                .count();
            let (shard, index, generation, _) = unpack_slot(slots[i]);
            let places = slots[i..i + run].iter().map(|&s| unpack_slot(s).3);
            let gone = self.shards[shard]
                .lock()
                .release(index, generation, places, dead);
            self.recycle(gone);
            i += run;
        }
        slots.clear();
        self.bury(dead);
        self.notify_space();
    }

    pub(crate) fn note_retry(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Admitted jobs not yet settled.
    pub(crate) fn live(&self) -> usize {
        self.shards.iter().map(|s| s.lock().live).sum()
    }

    /// Empties the ledger, claiming every job not yet settled: the caller
    /// now settles them. In id order.
    pub(crate) fn drain_live(&self) -> Vec<JobRef> {
        let mut all: Vec<JobRef> = Vec::new();
        for shard in self.shards.iter() {
            let cohorts: Vec<Cohort> = {
                let mut slab = shard.lock();
                slab.free.clear();
                slab.open = None;
                slab.live = 0;
                std::mem::take(&mut slab.cohorts)
                    .into_iter()
                    .flatten()
                    .collect()
            };
            for c in cohorts {
                all.extend(
                    c.jobs
                        .into_iter()
                        .flatten()
                        .flatten()
                        .filter(|j| self.claim(j.core()).is_some()),
                );
            }
        }
        all.sort_by_key(|j| j.core().id);
        all
    }

    /// Totals, with the live count (takes every shard lock).
    pub(crate) fn totals(&self) -> LedgerTotals {
        LedgerTotals {
            live: self.live() as u64,
            ..self.totals_fast()
        }
    }

    /// Totals without the live count: counters only, no lock. Completions
    /// are counted by the nodes (see `RunEnv::completed`).
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

    /// Counts a job claimed by a drain that had meanwhile ended. A
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
