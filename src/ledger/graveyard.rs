//! Recycling finished jobs: one home for how a finished job's memory gets
//! back to the thread that will reuse it.
//!
//! A job is allocated by the thread that builds the task (the submitter)
//! and, in a fire-and-forget flood, last held by the ledger, which lets go
//! of it on an executor. Freed there, every job's memory crosses to the
//! executor's allocator cache and back, and glibc's arena locks contend.
//! So:
//!
//! 1. an executor releasing a run of completions ([`Ledger::release_all`])
//!    [`bury`](Graveyard::bury)s the jobs only the ledger still holds, up
//!    to [`DEAD_CAP`] (past it, they are freed where they are);
//! 2. a submitter building a batch [`exhume`](Graveyard::exhume)s up to
//!    one per task into its [`Reaper`] and frees one just before it builds
//!    each next task, so the allocator hands the same memory straight back
//!    while it is hot; single submissions free two per task;
//! 3. an executor about to idle waits [`DEAD_LINGER`](crate::node) first,
//!    then [`free_all`](Graveyard::free_all)s what no submitter came back
//!    for, once per idle spell.
//!
//! [`Ledger::release_all`]: super::Ledger::release_all

use crate::job::JobRef;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::Mutex;
use std::sync::Arc;

/// At most this many finished jobs wait for a submitter to free them
/// ([`Graveyard::bury`]); beyond it, executors free them as they go.
pub(crate) const DEAD_CAP: usize = 4096;

/// Finished jobs held by no one but here, waiting for a submitter.
#[derive(Default)]
pub(crate) struct Graveyard {
    dead: Mutex<Vec<JobRef>>,
    /// `dead.len()`, read without the lock.
    hint: AtomicUsize,
}

impl Graveyard {
    /// Keeps the jobs in `dead` that only the caller still holds, up to
    /// [`DEAD_CAP`]; lets go of the others here. Empties `dead`.
    pub(crate) fn bury(&self, dead: &mut Vec<JobRef>) {
        // A count of one is ours alone: no one can clone it meanwhile.
        dead.retain(|j| Arc::strong_count(j) == 1);
        if dead.is_empty() {
            return;
        }
        let mut kept = self.dead.lock();
        let room = DEAD_CAP.saturating_sub(kept.len()).min(dead.len());
        kept.extend(dead.drain(..room));
        self.hint.store(kept.len(), Ordering::Relaxed);
        drop(kept);
        // No room: freed here after all.
        dead.clear();
    }

    /// Moves up to `max` finished jobs into `into`: the caller frees them.
    pub(crate) fn exhume(&self, max: usize, into: &mut Vec<JobRef>) {
        if max == 0 || self.hint.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut kept = self.dead.lock();
        let k = max.min(kept.len());
        let from = kept.len() - k;
        into.extend(kept.drain(from..));
        self.hint.store(kept.len(), Ordering::Relaxed);
    }

    /// Whether finished jobs wait to be freed.
    pub(crate) fn is_empty(&self) -> bool {
        self.hint.load(Ordering::Relaxed) == 0
    }

    /// Frees every finished job waiting (an executor about to idle).
    pub(crate) fn free_all(&self) {
        if self.is_empty() {
            return;
        }
        let dead = std::mem::take(&mut *self.dead.lock());
        self.hint.store(0, Ordering::Relaxed);
        drop(dead);
    }
}

std::thread_local! {
    /// Finished jobs a submitting thread frees while it builds a batch; the
    /// buffer is kept for the next.
    static REAPED: std::cell::Cell<Vec<JobRef>> = const { std::cell::Cell::new(Vec::new()) };
}

/// This thread's buffer of finished jobs to free (step 2); whatever is left
/// is freed when it drops (also when a batch is refused, or unwinds).
pub(crate) struct Reaper(pub(crate) Vec<JobRef>);

impl Reaper {
    /// This thread's buffer, empty.
    pub(crate) fn take() -> Self {
        Reaper(REAPED.try_with(std::cell::Cell::take).unwrap_or_default())
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        buf.clear();
        let _ = REAPED.try_with(|c| c.set(buf));
    }
}
