//! The ledger's storage: sharded slabs of cohorts, and the slot a job
//! keeps (shard, cohort index, generation, place) packed in one word.

use crate::job::JobRef;
#[cfg(loom)]
use crate::sync::thread_local;

/// Shards of the ledger (each a slab behind its own lock).
pub(super) const SHARDS: usize = 16;

/// Jobs per chunk of a cohort: a chunk (992 bytes) stays below glibc's
/// large-request size (1 KiB), whose every allocation first consolidates
/// the small free chunks that executors return, a cost per task.
pub(super) const CHUNK: usize = 62;

/// Empty chunks kept for reuse (about 1 MiB): enough for the chunks of
/// the batches in flight in a flood, so executors rarely free one.
pub(super) const SPARE_CAP: usize = 1024;

/// The jobs of one submission, in chunks of at most [`CHUNK`]; a settled
/// job's place is emptied.
pub(super) type Chunks = Vec<Vec<Option<JobRef>>>;

/// The most places an open cohort of single submissions takes (16 chunks,
/// ~16 KiB of places a straggler can keep alive); then another opens.
pub(super) const OPEN_MAX: usize = 16 * CHUNK;

/// The jobs of one submission, or of a run of single submissions.
pub(super) struct Cohort {
    pub(super) jobs: Chunks,
    /// Places taken: jobs admitted so far.
    pub(super) places: usize,
    /// Of the jobs admitted, how many are not yet settled.
    pub(super) unsettled: usize,
    pub(super) generation: u32,
}

impl Cohort {
    /// Where the job admitted at `place` is kept (emptied once it settles).
    pub(super) fn place_mut(&mut self, place: usize) -> Option<&mut Option<JobRef>> {
        self.jobs.get_mut(place / CHUNK)?.get_mut(place % CHUNK)
    }
}

#[derive(Default)]
pub(super) struct Slab {
    pub(super) cohorts: Vec<Option<Cohort>>,
    pub(super) free: Vec<u32>,
    /// The cohort single submissions join, while it has room and jobs.
    pub(super) open: Option<u32>,
    /// Unsettled jobs over all cohorts here.
    pub(super) live: usize,
    pub(super) next_generation: u32,
}

#[cfg(not(loom))]
thread_local! {
    /// The shard this thread's single submissions go to (`usize::MAX`:
    /// not chosen yet).
    pub(super) static HOME_SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

// Loom's thread-locals (one per model thread, new in every execution) take
// no `const` initialiser.
#[cfg(loom)]
thread_local! {
    pub(super) static HOME_SHARD: std::cell::Cell<usize> = std::cell::Cell::new(usize::MAX);
}

/// Bits of a slot: `generation (15) | place (20) | index (24) | shard (4)`.
/// The top bit stays clear, so no slot equals [`SETTLED`].
pub(super) const SHARD_BITS: u32 = 4;
pub(super) const INDEX_BITS: u32 = 24;
pub(super) const PLACE_BITS: u32 = 20;
pub(super) const GENERATION_MASK: u32 = (1 << 15) - 1;

/// The most jobs in one cohort; a larger batch becomes several cohorts.
pub(super) const COHORT_MAX: usize = 1 << PLACE_BITS;

/// A job's slot, without its place: the same for its whole cohort.
pub(super) const COHORT_MASK: u64 = !(((1u64 << PLACE_BITS) - 1) << (SHARD_BITS + INDEX_BITS));

pub(super) fn pack_slot(shard: usize, index: u32, generation: u32, place: usize) -> u64 {
    debug_assert!(shard < SHARDS && index < (1 << INDEX_BITS) && place < COHORT_MAX);
    (u64::from(generation & GENERATION_MASK) << (SHARD_BITS + INDEX_BITS + PLACE_BITS))
        | ((place as u64) << (SHARD_BITS + INDEX_BITS))
        | (u64::from(index) << SHARD_BITS)
        | shard as u64
}

/// `(shard, index, generation, place)`.
pub(super) fn unpack_slot(slot: u64) -> (usize, usize, u32, usize) {
    (
        (slot & ((1 << SHARD_BITS) - 1)) as usize,
        ((slot >> SHARD_BITS) & ((1 << INDEX_BITS) - 1)) as usize,
        (slot >> (SHARD_BITS + INDEX_BITS + PLACE_BITS)) as u32,
        ((slot >> (SHARD_BITS + INDEX_BITS)) & ((1 << PLACE_BITS) - 1)) as usize,
    )
}

impl Slab {
    /// Makes room for a new cohort: its index and generation.
    pub(super) fn new_cohort(&mut self) -> (u32, u32) {
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
    pub(super) fn release(
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
