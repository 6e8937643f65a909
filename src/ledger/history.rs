//! What the state API remembers beyond the live ledger: finished tasks
//! (up to a retention bound), the timed attempts of tasks that failed
//! once, retries waiting out their backoff, supervisor events and samples
//! of the counters for rates.
//!
//! Per-task records are kept only when the runtime retains finished tasks
//! ([`History::is_recording`]); otherwise an executor does nothing more
//! per task than test one flag it read at start. The rest is written on
//! rare paths (a retry, a node event, the supervisor's tick) and always
//! kept.
//!
//! A kept record is split in two: a plain 48-byte [`Slot`] (no heap
//! parts, nothing to drop) in a ring of fixed size per shard, overwritten
//! in place once the ring is full, and, only for the few tasks that have
//! them, its heap parts (a spec's boxed fields, a name, earlier attempts,
//! the start of an attempt of 4.29 s or more) in a map beside the ring, by
//! ring position. So keeping a record of a plain task writes 48 bytes and
//! reads nothing of the record it replaces (moving the old record out to
//! drop it read a cold line per task, the retained path's largest cost).
//!
//! An executor builds the slots of its completions in place in a
//! [`Batch`] and hands the batch over with its next flush: one shard lock
//! and a slice copy per flush. Each batch goes round the shards from its
//! own start, and each shard counts what it forgets, so that executors
//! share no counter on this path.

use crate::ids::NodeId;
use crate::inspect::{Attempt, AttemptOutcome, EventRecord, TaskState};
use crate::spec::{PackedSpec, SpecExtra, TaskKind, TaskSpec, UNSPECIFIED};
use crate::supervision::SupervisorEvent;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::Mutex;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Shards of the finished records: writers (an executor's flush) go round
/// them, and a scan locks one at a time.
const SHARDS: usize = 16;
/// Supervisor events kept.
pub(crate) const EVENTS_KEPT: usize = 1_000;
/// The window rates are over.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Counter samples kept: one per supervisor tick, over the rate window and
/// a little more (ticks are 100 ms by default).
const SAMPLES_KEPT: usize = 256;

/// A finished task, as an executor (or a failure) hands it over: kept as
/// a [`Slot`] and, when it has any, its [`Rare`] parts.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) id: u64,
    /// From [`clock::now_nanos`](crate::clock::now_nanos), as the rest.
    pub(crate) submitted: u64,
    /// When its last attempt started (0: not known).
    pub(crate) started: u64,
    pub(crate) ended: u64,
    pub(crate) spec: PackedSpec,
    pub(crate) name: Option<Arc<str>>,
    /// The node of its last attempt; `u32::MAX` for none.
    pub(crate) node: u32,
    pub(crate) attempt: u32,
    pub(crate) state: TaskState,
    /// Its attempts before the last, with the last's error if it failed.
    /// Boxed: one word in every record instead of a vector's three, for
    /// the few tasks that had a failed attempt.
    #[allow(clippy::box_collection)]
    pub(crate) attempts: Option<Box<Vec<Attempt>>>,
}

/// A retained record's plain part: 48 bytes, `Copy`, overwritten in
/// place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    id: u64,
    submitted: u64,
    ended: u64,
    cost: f64,
    /// Nanoseconds from its last attempt's start to its end;
    /// [`RUN_UNKNOWN`] when the start is not known, [`RUN_LONG`] when it
    /// is kept in the [`Rare`] parts (an attempt of 4.29 s or more).
    run: u32,
    node: u32,
    attempt: u32,
    state: TaskState,
    /// Whether [`Rare`] parts are kept beside it.
    rare: bool,
}

/// How many slots ahead of the last a batch warms the cache for.
const AHEAD: usize = 2;

/// [`Slot::run`] when the attempt's start is not known.
const RUN_UNKNOWN: u32 = u32::MAX;
/// [`Slot::run`] when the attempt's start is in its [`Rare`] parts.
const RUN_LONG: u32 = u32::MAX - 1;

/// A retained record's heap parts, kept only for a task that has some.
#[derive(Debug, Default)]
struct Rare {
    extra: Option<Box<SpecExtra>>,
    name: Option<Arc<str>>,
    #[allow(clippy::box_collection)]
    attempts: Option<Box<Vec<Attempt>>>,
    /// The last attempt's start, when it does not fit [`Slot::run`].
    started: Option<u64>,
}

impl Record {
    fn split(self) -> (Slot, Option<Rare>) {
        let (cost, extra) = self.spec.into_parts();
        let run = run_of(self.started, self.ended);
        let started = (run == RUN_LONG).then_some(self.started);
        let rare = (extra.is_some()
            || self.name.is_some()
            || self.attempts.is_some()
            || started.is_some())
        .then_some(Rare {
            extra,
            name: self.name,
            attempts: self.attempts,
            started,
        });
        let slot = Slot {
            id: self.id,
            submitted: self.submitted,
            ended: self.ended,
            cost,
            run,
            node: self.node,
            attempt: self.attempt,
            state: self.state,
            rare: rare.is_some(),
        };
        (slot, rare)
    }
}

/// [`Slot::run`] for an attempt from `started` (0: not known) to `ended`.
fn run_of(started: u64, ended: u64) -> u32 {
    if started == 0 {
        return RUN_UNKNOWN;
    }
    match u32::try_from(ended.saturating_sub(started)) {
        Ok(run) if run < RUN_LONG => run,
        _ => RUN_LONG,
    }
}

/// Finished records on their way to the [`History`], built where they
/// end: the plain parts in order, and the heap parts of the few that have
/// any by their place in it. An executor fills one between flushes.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    slots: Vec<Slot>,
    rare: Vec<(usize, Rare)>,
    /// The shard its next keep goes to: each batch goes round them from
    /// its own start, so that writers share no counter.
    shard: usize,
}

impl Batch {
    /// Adds a record.
    pub(crate) fn push(&mut self, record: Record) {
        let (slot, rare) = record.split();
        if let Some(rare) = rare {
            self.rare.push((self.slots.len(), rare));
        }
        self.slots.push(slot);
    }

    /// Adds the record of a completed first attempt that has nothing on
    /// the heap (the common case: no name, default kind and resources) and
    /// ran for less than 4.29 s; `false` (nothing added) otherwise, for
    /// [`push`](Self::push) to take.
    #[inline]
    pub(crate) fn push_plain(
        &mut self,
        id: u64,
        submitted: u64,
        started: u64,
        ended: u64,
        cost: f64,
        node: u32,
    ) -> bool {
        let run = run_of(started, ended);
        if run == RUN_LONG {
            return false;
        }
        self.slots.push(Slot {
            id,
            submitted,
            ended,
            cost,
            run,
            node,
            attempt: 0,
            state: TaskState::Completed,
            rare: false,
        });
        self.warm(AHEAD);
        true
    }

    /// Asks for the line of the slot `ahead` places past the last to be
    /// brought into the cache: the batch's memory is a chunk the history
    /// let go of, long untouched, and a store that misses is waited for at
    /// the executor's next atomic operation (measured: most of what
    /// retaining cost before this hint).
    #[inline]
    fn warm(&mut self, ahead: usize) {
        #[cfg(all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse"
        ))]
        if let Some(slot) = self.slots.spare_capacity_mut().get(ahead) {
            safe_arch::prefetch_et0(slot);
        }
        #[cfg(not(all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse"
        )))]
        let _ = ahead;
    }

    /// Whether it holds no record.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Records in it.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.rare.clear();
    }
}

/// One retained record, as a scan shows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kept<'a> {
    slot: &'a Slot,
    rare: Option<&'a Rare>,
}

impl Kept<'_> {
    pub(crate) fn id(&self) -> u64 {
        self.slot.id
    }

    pub(crate) fn state(&self) -> TaskState {
        self.slot.state
    }

    /// From [`clock::now_nanos`](crate::clock::now_nanos), as the rest.
    pub(crate) fn submitted(&self) -> u64 {
        self.slot.submitted
    }

    /// When its last attempt started (0: not known).
    pub(crate) fn started(&self) -> u64 {
        match self.slot.run {
            RUN_UNKNOWN => 0,
            RUN_LONG => self.rare.and_then(|r| r.started).unwrap_or(0),
            run => self.slot.ended - u64::from(run),
        }
    }

    pub(crate) fn ended(&self) -> u64 {
        self.slot.ended
    }

    pub(crate) fn attempt(&self) -> u32 {
        self.slot.attempt
    }

    /// The node of its last attempt.
    pub(crate) fn node(&self) -> Option<NodeId> {
        (self.slot.node != u32::MAX).then_some(NodeId(self.slot.node as usize))
    }

    pub(crate) fn kind(&self) -> &TaskKind {
        self.rare
            .and_then(|r| r.extra.as_deref())
            .map_or(&UNSPECIFIED, |e| &e.kind)
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.rare.and_then(|r| r.name.as_deref())
    }

    pub(crate) fn spec(&self) -> TaskSpec {
        PackedSpec::unpack_parts(self.slot.cost, self.rare.and_then(|r| r.extra.as_deref()))
    }

    /// Its attempts before the last, with the last's error if it failed.
    pub(crate) fn attempts(&self) -> Option<&[Attempt]> {
        self.rare
            .and_then(|r| r.attempts.as_deref())
            .map(Vec::as_slice)
    }
}

/// Records per chunk of a shard's ring: an executor's batch at least
/// half this size is handed over whole, as a chunk.
const CHUNK: usize = 64;

/// One shard's records: chunks, oldest first, the first of which may be
/// partly forgotten; the rare parts by task id.
#[derive(Debug, Default)]
struct Shard {
    chunks: VecDeque<Vec<Slot>>,
    /// How many of the first chunk's records are forgotten.
    skip: usize,
    /// Records retained.
    len: usize,
    /// Records forgotten (counted here, under the lock, rather than in one
    /// counter every writer would share).
    forgotten: u64,
    rare: FxHashMap<u64, Rare>,
    /// A chunk let go of, given to the next batch handed over whole.
    spare: Option<Vec<Slot>>,
}

impl Shard {
    /// Forgets the oldest records down to `cap`.
    fn trim(&mut self, cap: usize) {
        while self.len > cap {
            let excess = self.len - cap;
            let Some(front) = self.chunks.front() else {
                return;
            };
            let left = front.len() - self.skip;
            let n = excess.min(left);
            if !self.rare.is_empty() {
                for s in &front[self.skip..self.skip + n] {
                    if s.rare {
                        self.rare.remove(&s.id);
                    }
                }
            }
            self.len -= n;
            self.forgotten += n as u64;
            if n == left {
                self.skip = 0;
                let mut chunk = self.chunks.pop_front().unwrap_or_default();
                if chunk.capacity() >= CHUNK {
                    chunk.clear();
                    self.spare = Some(chunk);
                }
            } else {
                self.skip += n;
            }
        }
    }
}

/// Counter readings at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    pub(crate) at: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) retried: u64,
}

/// See the module docs.
pub(crate) struct History {
    retain: usize,
    per_shard: usize,
    shards: Box<[Mutex<Shard>]>,
    /// Where the next [`batch`](History::batch) starts.
    next: AtomicUsize,
    /// Timed attempts of live tasks that failed at least once (recording
    /// only), taken into their record when they end.
    attempts: Mutex<FxHashMap<u64, Vec<Attempt>>>,
    /// Retries waiting out their backoff: task id → (placed again at, attempt).
    backoff: Mutex<FxHashMap<u64, (u64, u32)>>,
    events: Mutex<VecDeque<EventRecord>>,
    samples: Mutex<VecDeque<Sample>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("retain", &self.retain)
            .finish_non_exhaustive()
    }
}

impl History {
    /// Keeps up to about `retain` finished tasks (0: none, and no per-task
    /// recording at all).
    pub(crate) fn new(retain: usize) -> Self {
        History {
            retain,
            per_shard: retain.div_ceil(SHARDS),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            next: AtomicUsize::new(0),
            attempts: Mutex::new(FxHashMap::default()),
            backoff: Mutex::new(FxHashMap::default()),
            events: Mutex::new(VecDeque::new()),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether finished tasks are recorded.
    pub(crate) fn is_recording(&self) -> bool {
        self.retain > 0
    }

    /// An empty batch, starting at the next shard in turn.
    pub(crate) fn batch(&self) -> Batch {
        Batch {
            shard: self.next.fetch_add(1, Ordering::Relaxed) % SHARDS,
            ..Batch::default()
        }
    }

    /// Keeps one finished record (a rare path: a failure, a cancel, a
    /// task run inline).
    pub(crate) fn keep_one(&self, record: Record) {
        if self.retain == 0 {
            return;
        }
        let mut batch = self.batch();
        batch.push(record);
        self.keep(&mut batch);
    }

    /// Keeps finished records (empties `batch`), one shard lock, the
    /// oldest of that shard forgotten past the bound: a batch of a few
    /// copied into the shard's newest chunk, a larger one handed over
    /// whole (the batch gets an empty chunk back); the old records are
    /// not read unless some of the shard's records have rare parts.
    pub(crate) fn keep(&self, batch: &mut Batch) {
        if batch.is_empty() || self.retain == 0 {
            batch.clear();
            return;
        }
        let shard = batch.shard;
        batch.shard = (shard + 1) % SHARDS;
        let mut q = self.shards[shard].lock();
        let q = &mut *q;
        for (i, rare) in batch.rare.drain(..) {
            q.rare.insert(batch.slots[i].id, rare);
        }
        let n = batch.slots.len();
        if n < CHUNK / 2 {
            // A few: copied into the newest chunk (or a new one).
            match q.chunks.back_mut() {
                Some(last) if last.capacity() - last.len() >= n => {
                    last.extend_from_slice(&batch.slots);
                }
                _ => {
                    let mut chunk = q.spare.take().unwrap_or_else(|| Vec::with_capacity(CHUNK));
                    chunk.extend_from_slice(&batch.slots);
                    q.chunks.push_back(chunk);
                }
            }
            batch.slots.clear();
        } else {
            // Handed over whole, not copied: the executor writes its next
            // records into a chunk the shard let go of.
            let fresh = q.spare.take().unwrap_or_else(|| Vec::with_capacity(CHUNK));
            q.chunks
                .push_back(std::mem::replace(&mut batch.slots, fresh));
            for ahead in 0..AHEAD {
                batch.warm(ahead);
            }
        }
        q.len += n;
        q.trim(self.per_shard);
    }

    /// Finished records retained now.
    pub(crate) fn retained(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len).sum()
    }

    /// Finished records forgotten to keep within the bound.
    pub(crate) fn forgotten(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().forgotten).sum()
    }

    /// Calls `f` with every retained record, one shard locked at a time.
    pub(crate) fn scan(&self, mut f: impl FnMut(Kept<'_>)) {
        for shard in self.shards.iter() {
            let q = shard.lock();
            let mut skip = q.skip;
            for chunk in &q.chunks {
                for slot in &chunk[skip..] {
                    let rare = if slot.rare {
                        q.rare.get(&slot.id)
                    } else {
                        None
                    };
                    f(Kept { slot, rare });
                }
                skip = 0;
            }
        }
    }

    /// Notes the end of a failed attempt of a task that goes on (recording
    /// only; up to `retain` tasks at a time).
    pub(crate) fn attempt_failed(&self, id: u64, attempt: Attempt) {
        if self.retain == 0 {
            return;
        }
        let mut map = self.attempts.lock();
        if map.len() >= self.retain && !map.contains_key(&id) {
            return;
        }
        map.entry(id).or_default().push(attempt);
    }

    /// The recorded failed attempts of a live task.
    pub(crate) fn attempts_of(&self, id: u64) -> Vec<Attempt> {
        self.attempts.lock().get(&id).cloned().unwrap_or_default()
    }

    /// Takes a task's recorded attempts as it ends.
    pub(crate) fn take_attempts(&self, id: u64) -> Option<Vec<Attempt>> {
        if self.retain == 0 {
            return None;
        }
        self.attempts.lock().remove(&id)
    }

    /// Notes a retry that waits until `until` (clock nanos) to be placed.
    pub(crate) fn backing_off(&self, id: u64, until: u64, attempt: u32) {
        self.backoff.lock().insert(id, (until, attempt));
    }

    /// The retry's backoff is over.
    pub(crate) fn backed_off(&self, id: u64) {
        self.backoff.lock().remove(&id);
    }

    /// When a task waiting out a backoff is placed again, and its attempt.
    pub(crate) fn backoff_of(&self, id: u64) -> Option<(u64, u32)> {
        self.backoff.lock().get(&id).copied()
    }

    /// Ids of the tasks waiting out a backoff.
    pub(crate) fn backing_off_ids(&self) -> Vec<u64> {
        self.backoff.lock().keys().copied().collect()
    }

    /// Tasks waiting out a backoff.
    pub(crate) fn backing_off_count(&self) -> usize {
        self.backoff.lock().len()
    }

    /// Keeps a supervisor event (the last [`EVENTS_KEPT`]).
    pub(crate) fn event(&self, at: u64, event: SupervisorEvent) {
        let mut q = self.events.lock();
        if q.len() >= EVENTS_KEPT {
            q.pop_front();
        }
        q.push_back(EventRecord {
            at: crate::clock::to_system(at),
            event,
        });
    }

    /// The events kept, oldest first.
    pub(crate) fn events(&self) -> Vec<EventRecord> {
        self.events.lock().iter().cloned().collect()
    }

    /// Keeps a sample of the counters.
    pub(crate) fn sample(&self, s: Sample) {
        let mut q = self.samples.lock();
        if q.len() >= SAMPLES_KEPT {
            q.pop_front();
        }
        q.push_back(s);
    }

    /// The oldest sample at most `window` before `now`, or the oldest one.
    pub(crate) fn sample_before(&self, now: u64, window: Duration) -> Option<Sample> {
        let from = now.saturating_sub(window.as_nanos() as u64);
        let q = self.samples.lock();
        q.iter().find(|s| s.at >= from).or(q.front()).copied()
    }
}

/// The outcome of a failed attempt, from its failure.
pub(crate) fn outcome_of(failure: &crate::error::AttemptFailure) -> AttemptOutcome {
    use crate::error::AttemptFailure as F;
    match failure {
        F::Error(_) => AttemptOutcome::Failed,
        F::Panicked(_) => AttemptOutcome::Panicked,
        F::TimedOut => AttemptOutcome::TimedOut,
        _ => AttemptOutcome::NodeLost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64) -> Record {
        Record {
            id,
            submitted: 0,
            started: 0,
            ended: 0,
            spec: PackedSpec::default_spec(),
            name: None,
            node: 0,
            attempt: 0,
            state: TaskState::Completed,
            attempts: None,
        }
    }

    #[test]
    fn a_retained_record_takes_48_bytes_inline() {
        assert!(
            std::mem::size_of::<Slot>() <= 48,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn rare_parts_follow_their_slot_and_go_when_it_is_overwritten() {
        let h = History::new(SHARDS * 4);
        let named = |id: u64| Record {
            name: Some(format!("t{id}").into()),
            ..record(id)
        };
        // One shard (the first keep goes to shard 0): eight records, every
        // other one named, in a ring of four.
        let mut batch = Batch::default();
        for id in 0..8 {
            batch.push(if id % 2 == 0 { named(id) } else { record(id) });
        }
        h.keep(&mut batch);
        let mut seen = Vec::new();
        h.scan(|k| seen.push((k.id(), k.name().map(str::to_owned))));
        seen.sort();
        assert_eq!(
            seen,
            [
                (4, Some("t4".to_owned())),
                (5, None),
                (6, Some("t6".to_owned())),
                (7, None)
            ]
        );
        assert_eq!(h.forgotten(), 4);
        assert_eq!(
            h.shards[0].lock().rare.len(),
            2,
            "the overwritten names are gone"
        );
    }

    #[test]
    fn retention_bounds_the_records_and_counts_what_it_forgets() {
        let h = History::new(64);
        let mut batch = Batch::default();
        for id in 0..1_000 {
            batch.push(record(id));
            if batch.len() == 10 {
                h.keep(&mut batch);
                assert!(batch.is_empty());
            }
        }
        assert_eq!(h.retained(), 64);
        assert_eq!(h.forgotten(), 1_000 - 64);
        let mut newest = 0;
        h.scan(|r| newest = newest.max(r.id()));
        assert_eq!(newest, 999);
    }

    #[test]
    fn without_retention_nothing_is_kept() {
        let h = History::new(0);
        let mut batch = Batch::default();
        batch.push(record(1));
        h.keep(&mut batch);
        assert!(batch.is_empty());
        assert_eq!(h.retained(), 0);
        h.attempt_failed(
            1,
            Attempt {
                number: 0,
                node: None,
                started: None,
                ended: None,
                outcome: AttemptOutcome::Failed,
                error: None,
            },
        );
        assert!(h.attempts_of(1).is_empty());
    }

    /// Every record's fields as a scan shows them, sorted by id.
    fn kept(h: &History) -> Vec<(u64, Option<String>, u64, u64)> {
        let mut seen = Vec::new();
        h.scan(|k| seen.push((k.id(), k.name().map(str::to_owned), k.started(), k.ended())));
        seen.sort();
        seen
    }

    /// Batches of `sizes`, every other record or so named, all to one
    /// shard of `per_shard`: after each, the newest `per_shard` are kept
    /// with their names, and no rare part outlives its record.
    fn keep_in_turn(per_shard: usize, sizes: &[usize]) {
        let h = History::new(SHARDS * per_shard);
        let named = |id: u64| Record {
            name: Some(format!("t{id}").into()),
            ..record(id)
        };
        let mut next = 0;
        let mut expected = Vec::new();
        for &size in sizes {
            let mut batch = Batch::default();
            for _ in 0..size {
                let id = next;
                next += 1;
                let r = if id % 3 != 1 { named(id) } else { record(id) };
                expected.push((id, r.name.as_deref().map(str::to_owned), 0, 0));
                batch.push(r);
            }
            // A new batch each time: every one to shard 0.
            h.keep(&mut batch);
            assert!(batch.is_empty());
            let newest = expected[expected.len().saturating_sub(per_shard)..].to_vec();
            assert_eq!(kept(&h), newest, "after the batch of {size}");
            let named_kept = newest.iter().filter(|k| k.1.is_some()).count();
            let rare_kept = h.shards[0].lock().rare.len();
            assert_eq!(rare_kept, named_kept, "no rare part outlives its record");
        }
        assert_eq!(h.forgotten(), next.saturating_sub(per_shard as u64));
        assert_eq!(h.retained(), expected.len().min(per_shard));
    }

    #[test]
    fn batches_small_and_whole_and_larger_than_the_ring_keep_the_newest() {
        keep_in_turn(4, &[3, 11, 2]);
        keep_in_turn(50, &[3, 40, 33, 2, 70, 1, 31, 32]);
        keep_in_turn(200, &[64, 64, 1, 64, 5, 64, 64, 64]);
    }

    #[test]
    fn start_times_are_exact_whatever_the_attempt_took() {
        // One keep, to one shard of eight.
        let h = History::new(SHARDS * 8);
        let base = 1_000_000_000_000;
        let mut batch = Batch::default();
        // Short, exactly at the limit of the slot, longer, unknown.
        for (id, run) in [(1, 5_000), (2, u64::from(RUN_LONG) - 1), (3, 1 << 40)] {
            batch.push(Record {
                started: base,
                ended: base + run,
                ..record(id)
            });
        }
        assert!(batch.push_plain(4, 0, base, base + 7, 1.0, 0));
        assert!(!batch.push_plain(5, 0, base, base + (1 << 33), 1.0, 0));
        batch.push(Record {
            started: 0,
            ended: base,
            ..record(6)
        });
        h.keep(&mut batch);
        let got: Vec<_> = kept(&h).into_iter().map(|k| (k.0, k.2, k.3)).collect();
        assert_eq!(
            got,
            [
                (1, base, base + 5_000),
                (2, base, base + u64::from(RUN_LONG) - 1),
                (3, base, base + (1 << 40)),
                (4, base, base + 7),
                (6, 0, base),
            ]
        );
    }
}
