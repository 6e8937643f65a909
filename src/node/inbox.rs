//! Pushing work into a node and waking its executors: the inbox, the
//! discipline queue behind the state lock, parking (the protocol is in
//! the module docs of [`node`](super)).

use super::messages::NodeEvent;
use super::shared::{NodeShared, NodeState};
use crate::job::{JobRef, Phase};
use crate::sync::atomic::Ordering;
use crate::sync::{lock_spinning, MutexGuard};
use std::time::Duration;

impl NodeShared {
    /// Pushes jobs (each `Pending`) into the inbox, a run at a time, and
    /// wakes a waiting executor once per run. Hands the jobs back if the
    /// node is not accepting.
    pub(crate) fn push_batch<I: IntoIterator<Item = JobRef>>(&self, jobs: I) -> Result<(), I> {
        self.push_runs(jobs, false)
    }

    /// [`push_batch`](Self::push_batch) for jobs just submitted, which no
    /// one else can reach yet: each is marked `Queued` with a plain store
    /// ([`JobCore::queue_fresh`]) as it goes in, not a compare-and-swap.
    /// Jobs handed back, or sent back to the supervisor, are still
    /// `Pending`.
    pub(crate) fn push_fresh<I: IntoIterator<Item = JobRef>>(&self, jobs: I) -> Result<(), I> {
        self.push_runs(jobs, true)
    }

    pub(super) fn push_runs<I: IntoIterator<Item = JobRef>>(
        &self,
        jobs: I,
        fresh: bool,
    ) -> Result<(), I> {
        let mut inbox = lock_spinning(&self.inbox.mutex);
        if !inbox.accepting {
            return Err(jobs);
        }
        let mut jobs = jobs.into_iter().peekable();
        loop {
            // A run at a time, so an executor trading for the inbox's jobs
            // is not held off for a whole large batch.
            let mut added = 0u64;
            let mut pushed = 0usize;
            for job in jobs.by_ref().take(PUSH_RUN) {
                let core = job.core();
                let queued = if fresh {
                    core.queue_fresh();
                    true
                } else {
                    let attempt = core.attempt();
                    core.transition(Phase::Pending, attempt, Phase::Queued, attempt)
                };
                if queued {
                    added += core.cost_units();
                    inbox.jobs.push(job);
                    pushed += 1;
                } else {
                    // Cancelled (or claimed by a joining parent) on its way here.
                    self.ledger.reap_if_cancelled(core);
                }
            }
            self.inbox.len.store(inbox.jobs.len(), Ordering::SeqCst);
            drop(inbox);
            self.signal.load.fetch_add(added, Ordering::Relaxed);
            if pushed > 0 {
                self.signal(pushed);
            }
            if jobs.peek().is_none() {
                return Ok(());
            }
            inbox = lock_spinning(&self.inbox.mutex);
            if !inbox.accepting {
                // Went down between runs: the rest goes back to the
                // supervisor, still pending.
                drop(inbox);
                let rest: Vec<JobRef> = jobs.collect();
                self.send_event(NodeEvent::Redispatch(rest));
                return Ok(());
            }
        }
    }

    /// After a push of `n` jobs: tells a watching executor, and wakes
    /// waiting ones (one for one job, all for more).
    pub(super) fn signal(&self, n: usize) {
        // The inbox's length is stored first, then `parked` read with a
        // read-modify-write (adding nothing), which reads the latest count:
        // either it sees an executor that counted itself, or that
        // executor's own read-modify-write comes later, reads ours, and so
        // sees the length (see `park`). A plain `SeqCst` load would do as
        // well, but a model checker that takes `SeqCst` loads for acquire
        // loads (loom) could not tell.
        if self.signal.parked.fetch_add(0, Ordering::SeqCst) == 0 {
            return;
        }
        // Taking the lock means a waiter that counted itself is waiting.
        drop(self.state.lock());
        if n == 1 {
            self.cv.notify_one();
        } else {
            self.cv.notify_all();
        }
    }

    /// An executor with nothing to do waits for a push (the state lock
    /// held, released while it waits), for at most `linger` if given.
    /// Returns whether the wait timed out.
    ///
    /// It counts itself as waiting, then looks at the inbox once more: a
    /// pusher that pushed before our count sees it and takes the state lock
    /// to wake us (which it cannot get until we wait); one that pushed
    /// after is seen here. Each side writes its word and then reads the
    /// other's, so neither look can miss the other's write: `parked` is
    /// written and read with read-modify-writes (see [`signal`](Self::signal)),
    /// the inbox length stored and loaded `SeqCst`.
    pub(super) fn park(
        &self,
        st: &mut MutexGuard<'_, NodeState>,
        linger: Option<Duration>,
    ) -> bool {
        self.signal.parked.fetch_add(1, Ordering::SeqCst);
        let mut timed_out = false;
        if self.inbox.len.load(Ordering::SeqCst) == 0 {
            match linger {
                Some(d) => timed_out = self.cv.wait_for(st, d).timed_out(),
                None => self.cv.wait(st),
            }
        }
        self.signal.parked.fetch_sub(1, Ordering::SeqCst);
        timed_out
    }

    /// Moves the inbox's jobs into the queue (the state lock held). With
    /// jobs queued already it does not wait for a pusher mid-run.
    pub(super) fn absorb(&self, st: &mut NodeState) {
        {
            let mut inbox = if st.queue.is_empty() {
                lock_spinning(&self.inbox.mutex)
            } else {
                match self.inbox.mutex.try_lock() {
                    Some(inbox) => inbox,
                    None => return,
                }
            };
            if inbox.jobs.is_empty() {
                return;
            }
            // Trade buffers: the inbox keeps an emptied one's capacity.
            std::mem::swap(&mut inbox.jobs, &mut st.spare);
            self.inbox.len.store(0, Ordering::SeqCst);
        }
        st.queue.append_with(&mut st.spare, |j| j.core().key());
    }

    /// Gives back the memory of a burst when the node has nothing queued:
    /// the queue's buffer and the spare one traded with the inbox shrink to
    /// [`KEEP_BUFFER`] jobs once they hold more than [`SHRINK_ABOVE`]. The
    /// inbox's own buffer is not touched (that would take the inbox lock
    /// on every park, a line the next push writes): buffers go round
    /// inbox → spare → queue → spare, so a large one the inbox holds is
    /// shrunk at the idle after the next absorb. Costs a few reallocations
    /// when the next burst of that size comes; keeps a node's memory from
    /// staying at its largest burst.
    pub(super) fn shrink_buffers(st: &mut NodeState) {
        st.queue.shrink_if_idle(SHRINK_ABOVE, KEEP_BUFFER);
        if st.spare.is_empty() && st.spare.capacity() > SHRINK_ABOVE {
            st.spare.shrink_to(KEEP_BUFFER);
        }
    }

    /// Jobs queued here, in the queue and the inbox.
    pub(super) fn queued(&self, st: &NodeState) -> usize {
        st.queue.len() + self.inbox.len.load(Ordering::Relaxed)
    }

    /// Takes up to `max_tasks` not-yet-started jobs, least urgent first, until
    /// their cost reaches `max_cost` (cost units). They come back `Pending`.
    pub(crate) fn take_queued(&self, max_tasks: usize, max_cost: f64) -> Vec<JobRef> {
        let budget = (max_cost * crate::job::COST_SCALE) as u64;
        let mut taken = Vec::new();
        let mut st = self.state.lock();
        if !st.accepting {
            return taken;
        }
        self.absorb(&mut st);
        let mut cost = 0u64;
        // Leave the most urgent task for this node's next free slot.
        while taken.len() < max_tasks && cost < budget && st.queue.len() > 1 {
            let Some(job) = st.queue.pop_last() else {
                break;
            };
            let core = job.core();
            let attempt = core.attempt();
            self.signal
                .load
                .fetch_sub(core.cost_units(), Ordering::Relaxed);
            if core.transition(Phase::Queued, attempt, Phase::Pending, attempt) {
                cost += core.cost_units();
                taken.push(job);
            } else {
                self.ledger.reap_if_cancelled(core);
            }
        }
        self.gauge.publish(&st);
        taken
    }
}

/// Jobs pushed into a node's queue under one hold of its lock.
pub(super) const PUSH_RUN: usize = 128;

/// A node buffer holding more than this many jobs (256 KiB of references)
/// when the node goes idle is shrunk (see `NodeShared::shrink_buffers`).
pub(super) const SHRINK_ABOVE: usize = 16_384;
/// What a shrunk buffer keeps: a run of pushes' worth and more.
pub(super) const KEEP_BUFFER: usize = 4_096;
