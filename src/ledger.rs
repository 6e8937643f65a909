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
use crate::sync::{thread_local, Condvar, Mutex};
use std::sync::Arc;

const SHARDS: usize = 16;

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

/// Jobs per chunk of a cohort: a chunk (992 bytes) stays below glibc's
/// large-request size (1 KiB), whose every allocation first consolidates
/// the small free chunks that executors return, a cost per task.
const CHUNK: usize = 62;

/// Empty chunks kept for reuse (about 1 MiB): enough for the chunks of
/// the batches in flight in a flood, so executors rarely free one.
const SPARE_CAP: usize = 1024;

/// At most this many finished jobs wait for a submitter to free them
/// ([`Ledger::bury`]); beyond it, executors free them as they go.
pub(crate) const DEAD_CAP: usize = 4096;

/// The jobs of one submission, in chunks of at most [`CHUNK`]; a settled
/// job's place is emptied.
type Chunks = Vec<Vec<Option<JobRef>>>;

/// The most places an open cohort of single submissions takes (16 chunks,
/// ~16 KiB of places a straggler can keep alive); then another opens.
const OPEN_MAX: usize = 16 * CHUNK;

/// The jobs of one submission, or of a run of single submissions.
struct Cohort {
    jobs: Chunks,
    /// Places taken: jobs admitted so far.
    places: usize,
    /// Of the jobs admitted, how many are not yet settled.
    unsettled: usize,
    generation: u32,
}

impl Cohort {
    /// Where the job admitted at `place` is kept (emptied once it settles).
    fn place_mut(&mut self, place: usize) -> Option<&mut Option<JobRef>> {
        self.jobs.get_mut(place / CHUNK)?.get_mut(place % CHUNK)
    }
}

#[derive(Default)]
struct Slab {
    cohorts: Vec<Option<Cohort>>,
    free: Vec<u32>,
    /// The cohort single submissions join, while it has room and jobs.
    open: Option<u32>,
    /// Unsettled jobs over all cohorts here.
    live: usize,
    next_generation: u32,
}

#[cfg(not(loom))]
thread_local! {
    /// The shard this thread's single submissions go to (`usize::MAX`:
    /// not chosen yet).
    static HOME_SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

// Loom's thread-locals (one per model thread, new in every execution) take
// no `const` initialiser.
#[cfg(loom)]
thread_local! {
    static HOME_SHARD: std::cell::Cell<usize> = std::cell::Cell::new(usize::MAX);
}

/// Bits of a slot: `generation (15) | place (20) | index (24) | shard (4)`.
/// The top bit stays clear, so no slot equals [`SETTLED`].
const SHARD_BITS: u32 = 4;
const INDEX_BITS: u32 = 24;
const PLACE_BITS: u32 = 20;
const GENERATION_MASK: u32 = (1 << 15) - 1;

/// The most jobs in one cohort; a larger batch becomes several cohorts.
const COHORT_MAX: usize = 1 << PLACE_BITS;

/// A job's slot, without its place: the same for its whole cohort.
const COHORT_MASK: u64 = !(((1u64 << PLACE_BITS) - 1) << (SHARD_BITS + INDEX_BITS));

fn pack_slot(shard: usize, index: u32, generation: u32, place: usize) -> u64 {
    debug_assert!(shard < SHARDS && index < (1 << INDEX_BITS) && place < COHORT_MAX);
    (u64::from(generation & GENERATION_MASK) << (SHARD_BITS + INDEX_BITS + PLACE_BITS))
        | ((place as u64) << (SHARD_BITS + INDEX_BITS))
        | (u64::from(index) << SHARD_BITS)
        | shard as u64
}

/// `(shard, index, generation, place)`.
fn unpack_slot(slot: u64) -> (usize, usize, u32, usize) {
    (
        (slot & ((1 << SHARD_BITS) - 1)) as usize,
        ((slot >> SHARD_BITS) & ((1 << INDEX_BITS) - 1)) as usize,
        (slot >> (SHARD_BITS + INDEX_BITS + PLACE_BITS)) as u32,
        ((slot >> (SHARD_BITS + INDEX_BITS)) & ((1 << PLACE_BITS) - 1)) as usize,
    )
}

impl Slab {
    /// Makes room for a new cohort: its index and generation.
    fn new_cohort(&mut self) -> (u32, u32) {
        let generation = self.next_generation;
        self.next_generation = (generation + 1) & GENERATION_MASK;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.cohorts.push(None);
                (self.cohorts.len() - 1) as u32
            }
        };
        (index, generation)
    }

    /// Takes the settled jobs at `places` out of the cohort at `index`
    /// (into `dead`). Returns the cohort's chunks when none is left
    /// unsettled, to recycle outside the lock.
    fn release(
        &mut self,
        index: usize,
        generation: u32,
        places: impl Iterator<Item = usize>,
        dead: &mut Vec<JobRef>,
    ) -> Chunks {
        let Some(Some(cohort)) = self.cohorts.get_mut(index) else {
            return Chunks::new();
        };
        if cohort.generation != generation {
            // Drained (shutdown) and the slot reused: nothing of ours here.
            return Chunks::new();
        }
        let mut n = 0;
        for place in places {
            let job = cohort.place_mut(place).and_then(Option::take);
            // Each place is released once: its job's claim was unique.
            debug_assert!(job.is_some(), "a place released twice");
            dead.extend(job);
            n += 1;
        }
        let n = n.min(cohort.unsettled);
        cohort.unsettled -= n;
        self.live -= n;
        if cohort.unsettled == 0 {
            let gone = self.cohorts[index].take().expect("checked above");
            self.free.push(index as u32);
            if self.open == Some(index as u32) {
                // Caught up with: the next single submission opens another.
                self.open = None;
            }
            return gone.jobs;
        }
        Chunks::new()
    }
}

/// The record of every accepted task.
pub(crate) struct Ledger {
    shards: Box<[Mutex<Slab>]>,
    /// Emptied chunks, reused.
    spare: Mutex<Vec<Vec<Option<JobRef>>>>,
    /// Settled jobs whose last reference was the ledger's, waiting for the
    /// next batch submission to free them (see [`Ledger::exhume`]).
    dead: Mutex<Vec<JobRef>>,
    /// `dead.len()`, read without the lock.
    dead_hint: AtomicUsize,
    next_shard: AtomicUsize,
    next_id: AtomicU64,
    submitted: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    retried: AtomicU64,
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

impl Ledger {
    pub(crate) fn new() -> Self {
        Ledger {
            shards: (0..SHARDS).map(|_| Mutex::new(Slab::default())).collect(),
            spare: Mutex::new(Vec::new()),
            dead: Mutex::new(Vec::new()),
            dead_hint: AtomicUsize::new(0),
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

    /// Keeps the jobs in `dead` that only the ledger still holds, for a
    /// submitter to free ([`exhume`](Self::exhume)), up to [`DEAD_CAP`];
    /// lets go of the others here. Empties `dead`.
    ///
    /// Why: a job is allocated by the thread that builds the task and, in a
    /// fire-and-forget flood, last held by the ledger, which lets go of it
    /// on an executor. Freed there, every job's memory crosses to the
    /// executor's allocator cache and back; freed by the submitter just
    /// before it builds the next task, the memory is reused while hot.
    pub(crate) fn bury(&self, dead: &mut Vec<JobRef>) {
        // A count of one is ours alone: no one can clone it meanwhile.
        dead.retain(|j| Arc::strong_count(j) == 1);
        if dead.is_empty() {
            return;
        }
        let mut kept = self.dead.lock();
        let room = DEAD_CAP.saturating_sub(kept.len()).min(dead.len());
        kept.extend(dead.drain(..room));
        self.dead_hint.store(kept.len(), Ordering::Relaxed);
        drop(kept);
        // No room: freed here after all.
        dead.clear();
    }

    /// Moves up to `max` finished jobs, held by no one else, into `into`:
    /// the caller frees them (see [`bury`](Self::bury)).
    pub(crate) fn exhume(&self, max: usize, into: &mut Vec<JobRef>) {
        if max == 0 || self.dead_hint.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut kept = self.dead.lock();
        let k = max.min(kept.len());
        let from = kept.len() - k;
        into.extend(kept.drain(from..));
        self.dead_hint.store(kept.len(), Ordering::Relaxed);
    }

    /// Whether finished jobs wait to be freed.
    pub(crate) fn has_dead(&self) -> bool {
        self.dead_hint.load(Ordering::Relaxed) > 0
    }

    /// Frees every finished job waiting (an executor about to idle).
    pub(crate) fn free_dead(&self) {
        if !self.has_dead() {
            return;
        }
        let dead = std::mem::take(&mut *self.dead.lock());
        self.dead_hint.store(0, Ordering::Relaxed);
        drop(dead);
    }

    /// Settles a failed or cancelled job. True if this call did it (and
    /// counted it).
    pub(crate) fn settle(&self, core: &JobCore, how: Settled) -> bool {
        let Some(slot) = self.claim(core) else {
            return false;
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TaskId;
    use crate::job::{FnWork, TaskContext, TaskInner};
    use crate::spec::{BoxError, PackedSpec};
    use std::sync::Arc;

    fn jobs(n: usize) -> Vec<JobRef> {
        (0..n)
            .map(|i| {
                let mut core = crate::job::JobCore::unsubmitted(PackedSpec::default_spec());
                core.submit(TaskId(i as u64), 0, false);
                let work = FnWork::new(|_: &TaskContext<'_>| Ok::<_, BoxError>(()));
                Arc::new(TaskInner::new(core, work)) as JobRef
            })
            .collect()
    }

    #[test]
    fn a_job_is_settled_once_and_its_cohort_leaves_with_its_last_job() {
        let ledger = Ledger::new();
        let batch = jobs(3);
        ledger.admit(batch.iter().cloned());
        assert_eq!(ledger.live(), 3);
        assert!(ledger.settle(batch[0].core(), Settled::Failed));
        assert!(!ledger.settle(batch[0].core(), Settled::Failed), "twice");
        assert!(!ledger.settle_completed(batch[0].core()), "twice");
        let mut slots: Vec<u64> = batch[1..]
            .iter()
            .filter_map(|j| ledger.claim(j.core()))
            .collect();
        assert_eq!(slots.len(), 2);
        assert_eq!(ledger.live(), 2, "claimed, not yet released");
        ledger.release_all(&mut slots, &mut Vec::new());
        assert_eq!(ledger.live(), 0);
        assert_eq!(ledger.totals().failed, 1);
        // The cohort let go of its jobs: ours are the only references.
        assert!(batch.iter().all(|j| Arc::strong_count(j) == 1));
    }

    #[test]
    fn a_settled_job_leaves_its_cohort_at_once_and_the_cohort_with_its_last() {
        let ledger = Ledger::new();
        let batch = jobs(200);
        ledger.admit(batch.iter().cloned());
        // Settled out of order, some one at a time and some in runs.
        for j in batch.iter().skip(1).step_by(2) {
            assert!(ledger.settle_completed(j.core()));
        }
        let mut slots: Vec<u64> = batch
            .iter()
            .step_by(2)
            .skip(1)
            .filter_map(|j| ledger.claim(j.core()))
            .collect();
        ledger.release_all(&mut slots, &mut Vec::new());
        assert_eq!(ledger.live(), 1);
        assert_eq!(Arc::strong_count(&batch[0]), 2, "still held");
        assert!(batch[1..].iter().all(|j| Arc::strong_count(j) == 1));
        assert!(ledger.settle_completed(batch[0].core()));
        assert_eq!(ledger.live(), 0);
        assert_eq!(Arc::strong_count(&batch[0]), 1);
    }

    #[test]
    fn a_job_is_found_by_its_slot_until_it_is_released() {
        let ledger = Ledger::new();
        let batch = jobs(130);
        ledger.admit(batch.iter().cloned());
        let single = jobs(1);
        ledger.admit(single.iter().cloned());
        for j in batch.iter().chain(&single) {
            let slot = j.core().ledger_slot.load(Ordering::Acquire);
            let found = ledger.get(slot).expect("admitted");
            assert!(Arc::ptr_eq(&found, j));
        }
        let slot = batch[70].core().ledger_slot.load(Ordering::Acquire);
        let claimed = ledger.claim(batch[70].core()).expect("first claim");
        assert!(ledger.get(slot).is_some(), "claimed, not yet released");
        ledger.release(claimed);
        assert!(ledger.get(slot).is_none(), "released");
        assert!(ledger.get(SETTLED).is_none());
        let slot = single[0].core().ledger_slot.load(Ordering::Acquire);
        assert!(ledger.settle_completed(single[0].core()));
        assert!(ledger.get(slot).is_none(), "a single job, settled");
    }

    #[test]
    fn slots_keep_shard_index_generation_and_place_apart() {
        for (shard, index, generation, place) in [
            (0, 0, 0, 0),
            (
                SHARDS - 1,
                (1 << INDEX_BITS) - 1,
                GENERATION_MASK,
                COHORT_MAX - 1,
            ),
            (3, 12_345, 77, 61),
        ] {
            let slot = pack_slot(shard, index, generation, place);
            assert_ne!(slot, SETTLED);
            assert_eq!(
                unpack_slot(slot),
                (shard, index as usize, generation, place)
            );
            assert_eq!(
                slot & COHORT_MASK,
                pack_slot(shard, index, generation, 0),
                "the cohort part leaves the place out"
            );
        }
    }

    #[test]
    fn a_drain_claims_only_unsettled_jobs_and_late_releases_are_harmless() {
        let ledger = Ledger::new();
        let a = jobs(4);
        ledger.admit(a.iter().cloned());
        let early = ledger.claim(a[0].core()).expect("first claim");
        assert!(ledger.settle(a[1].core(), Settled::Cancelled));
        let drained = ledger.drain_live();
        assert_eq!(drained.len(), 2);
        assert_eq!(ledger.live(), 0);
        // New cohorts, one per shard, so one reuses the drained slot under
        // a new generation; the stale release must not touch it.
        let b: Vec<Vec<JobRef>> = (0..SHARDS).map(|_| jobs(2)).collect();
        for c in &b {
            ledger.admit(c.iter().cloned());
        }
        ledger.release(early);
        assert_eq!(ledger.live(), 2 * SHARDS);
    }

    #[test]
    fn only_jobs_the_ledger_alone_holds_wait_for_a_submitter_and_no_more_than_the_cap() {
        let ledger = Ledger::new();
        let shared = jobs(3);
        let mut dead: Vec<JobRef> = shared.to_vec();
        dead.extend(jobs(DEAD_CAP + 5));
        ledger.bury(&mut dead);
        assert!(dead.is_empty());
        // The shared ones were let go (ours are the only references left);
        // of the others, the cap.
        assert!(shared.iter().all(|j| Arc::strong_count(j) == 1));
        assert!(ledger.has_dead());
        let mut got = Vec::new();
        ledger.exhume(10, &mut got);
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|j| Arc::strong_count(j) == 1));
        ledger.exhume(usize::MAX, &mut got);
        assert_eq!(got.len(), DEAD_CAP);
        assert!(!ledger.has_dead());
        ledger.exhume(1, &mut got);
        assert_eq!(got.len(), DEAD_CAP);
    }

    #[test]
    fn a_threads_single_submissions_share_an_open_cohort_that_settles_and_drains_like_any() {
        let ledger = Ledger::new();
        let a = jobs(3);
        for j in &a {
            ledger.admit(std::iter::once(JobRef::clone(j)));
        }
        assert_eq!(ledger.live(), 3);
        assert!(a.iter().all(|j| Arc::strong_count(j) == 2));
        let slots: Vec<u64> = a
            .iter()
            .map(|j| j.core().ledger_slot.load(Ordering::Acquire))
            .collect();
        assert!(
            slots
                .iter()
                .all(|s| s & COHORT_MASK == slots[0] & COHORT_MASK),
            "one cohort"
        );
        let places: Vec<usize> = slots.iter().map(|&s| unpack_slot(s).3).collect();
        assert_eq!(places, [0, 1, 2], "consecutive places");
        assert!(ledger.settle_completed(a[0].core()));
        assert_eq!(ledger.live(), 2);
        assert_eq!(Arc::strong_count(&a[0]), 1, "let go when it settled");
        let drained = ledger.drain_live();
        assert_eq!(drained.len(), 2);
        assert!(Arc::ptr_eq(&drained[0], &a[1]) && Arc::ptr_eq(&drained[1], &a[2]));
        assert_eq!(ledger.live(), 0);
        // After a drain a new cohort opens; the drained slots find nothing.
        let b = jobs(1);
        ledger.admit(std::iter::once(JobRef::clone(&b[0])));
        assert!(slots.iter().all(|&s| ledger.get(s).is_none()));
        assert_eq!(ledger.live(), 1);
    }

    #[test]
    fn an_open_cohort_closes_when_full_or_caught_up_with() {
        let ledger = Ledger::new();
        let a = jobs(OPEN_MAX + 1);
        for j in &a {
            ledger.admit(std::iter::once(JobRef::clone(j)));
        }
        let cohort = |j: &JobRef| j.core().ledger_slot.load(Ordering::Acquire) & COHORT_MASK;
        assert_eq!(cohort(&a[0]), cohort(&a[OPEN_MAX - 1]));
        assert_ne!(cohort(&a[OPEN_MAX - 1]), cohort(&a[OPEN_MAX]), "full");
        // Released in one run of the cohort.
        let mut slots: Vec<u64> = a[..OPEN_MAX]
            .iter()
            .filter_map(|j| ledger.claim(j.core()))
            .collect();
        ledger.release_all(&mut slots, &mut Vec::new());
        assert_eq!(ledger.live(), 1);
        assert!(a[..OPEN_MAX].iter().all(|j| Arc::strong_count(j) == 1));
        // Every job of the second cohort settled: the next opens a third.
        assert!(ledger.settle_completed(a[OPEN_MAX].core()));
        let b = jobs(1);
        ledger.admit(std::iter::once(JobRef::clone(&b[0])));
        assert_ne!(cohort(&b[0]), cohort(&a[OPEN_MAX]), "caught up with");
        assert_eq!(
            unpack_slot(b[0].core().ledger_slot.load(Ordering::Acquire)).3,
            0
        );
        assert_eq!(ledger.live(), 1);
    }
}
