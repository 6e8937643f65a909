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

use crate::ids::NodeId;
use crate::inspect::{Attempt, AttemptOutcome, EventRecord, TaskState};
use crate::spec::PackedSpec;
use crate::supervision::SupervisorEvent;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// A finished task, retained: 88 bytes, plus its spec's boxed fields when
/// it has any that differ from the defaults (see `PackedSpec`) and its
/// earlier attempts when it had some.
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

impl Record {
    pub(crate) fn node(&self) -> Option<NodeId> {
        (self.node != u32::MAX).then_some(NodeId(self.node as usize))
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
    shards: Box<[Mutex<VecDeque<Record>>]>,
    next: AtomicUsize,
    forgotten: AtomicU64,
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
            shards: (0..SHARDS).map(|_| Mutex::new(VecDeque::new())).collect(),
            next: AtomicUsize::new(0),
            forgotten: AtomicU64::new(0),
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

    /// Keeps finished records (empties `records`), one shard lock, the
    /// oldest of that shard forgotten past the bound.
    pub(crate) fn keep(&self, records: &mut Vec<Record>) {
        if records.is_empty() || self.retain == 0 {
            records.clear();
            return;
        }
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut q = self.shards[shard].lock();
        let mut forgotten = 0;
        for r in records.drain(..) {
            if q.len() >= self.per_shard {
                q.pop_front();
                forgotten += 1;
            }
            q.push_back(r);
        }
        drop(q);
        if forgotten > 0 {
            self.forgotten.fetch_add(forgotten, Ordering::Relaxed);
        }
    }

    /// Finished records retained now.
    pub(crate) fn retained(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Finished records forgotten to keep within the bound.
    pub(crate) fn forgotten(&self) -> u64 {
        self.forgotten.load(Ordering::Relaxed)
    }

    /// Calls `f` with every retained record, one shard locked at a time.
    pub(crate) fn scan(&self, mut f: impl FnMut(&Record)) {
        for shard in self.shards.iter() {
            for r in shard.lock().iter() {
                f(r);
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
    fn a_retained_record_takes_88_bytes_inline() {
        assert!(
            std::mem::size_of::<Record>() <= 88,
            "{}",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn retention_bounds_the_records_and_counts_what_it_forgets() {
        let h = History::new(64);
        let mut batch = Vec::new();
        for id in 0..1_000 {
            batch.push(record(id));
            if batch.len() == 10 {
                h.keep(&mut batch);
            }
        }
        assert_eq!(h.retained(), 64);
        assert_eq!(h.forgotten(), 1_000 - 64);
        let mut newest = 0;
        h.scan(|r| newest = newest.max(r.id));
        assert_eq!(newest, 999);
    }

    #[test]
    fn without_retention_nothing_is_kept() {
        let h = History::new(0);
        let mut batch = vec![record(1)];
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
}
