//! A node's incarnations: reopening, eviction, retirement, abandoned
//! attempts and joining executor threads.

use super::executor::spawn_executor;
use super::messages::ActorFault;
use super::shared::{Evicted, NodeShared, RunningEntry, Slot};
use crate::clock;
use crate::job::{JobRef, Phase};
use crate::ledger::Settled;
use crate::metrics::{AbandonReason, AbandonedAttempt};
use crate::resources::Resources;
use crate::sync::atomic::Ordering;
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl NodeShared {
    /// Stops the current incarnation: no more accepting, every queued and
    /// running job taken out, old executors told to exit.
    pub(crate) fn evict_all(&self, reason: AbandonReason) -> Evicted {
        let mut out = Evicted::default();
        let running: Vec<(u64, u32)>;
        {
            let mut st = self.state.lock();
            st.generation += 1;
            st.accepting = false;
            {
                // Closed and emptied in one hold: no push lands after.
                let mut inbox = self.inbox.mutex.lock();
                inbox.accepting = false;
                std::mem::swap(&mut inbox.jobs, &mut st.spare);
                self.inbox.len.store(0, Ordering::SeqCst);
            }
            // The queue's jobs came first, then the inbox's.
            out.queued = st.queue.drain_all();
            out.queued.append(&mut st.spare);
            let entries: Vec<RunningEntry> =
                st.slots.drain(..).filter_map(|slot| slot.entry).collect();
            // Their executors run on, let go of: listed until they return.
            for e in &entries {
                st.abandon(e, reason);
            }
            running = entries.iter().map(|e| (e.slot, e.attempt)).collect();
            st.running_demand = Resources::ZERO;
            self.signal.load.store(0, Ordering::Relaxed);
            self.gauge.publish(&st);
        }
        self.cv.notify_all();
        // A job settled meanwhile (cancelled, or completed and released)
        // is no longer in the ledger: nothing to take.
        out.running = running
            .into_iter()
            .filter_map(|(slot, attempt)| Some((self.ledger.get(slot)?, attempt)))
            .collect();
        out
    }

    /// Marks the node retired: it never accepts work again.
    pub(crate) fn retire(&self) {
        self.state.lock().retired = true;
        self.retired.store(true, Ordering::Release);
    }

    /// The current incarnation's actor address, for the supervisor to clear.
    pub(crate) fn actor_slot(&self) -> crate::sync::MutexGuard<'_, Option<Recipient<ActorFault>>> {
        self.actor.lock()
    }

    /// Opens a new incarnation; returns its generation. The caller starts
    /// the executors.
    pub(super) fn reopen(&self) -> u64 {
        let mut st = self.state.lock();
        st.accepting = true;
        self.inbox.mutex.lock().accepting = true;
        st.slots = (0..self.executors()).map(|_| Slot::default()).collect();
        if let Some(r) = &self.remote {
            r.link.restarted();
        }
        self.gauge.publish(&st);
        st.generation
    }

    /// Attempts the runtime lets go of, taken out of their slots, whose
    /// executors are abandoned (listed in [`abandoned`](Self::abandoned)
    /// until they return) and replaced: those that have run past their
    /// timeout, returned for the supervisor to fail, and those whose task
    /// was cancelled while they ran and that have run at least `linger`
    /// (a cancelled attempt about to return is left to return), settled
    /// here as cancelled.
    pub(crate) fn take_abandoned(
        self: &Arc<Self>,
        now: u64,
        linger: Duration,
    ) -> Vec<(JobRef, u32)> {
        // Cancelled attempts need their job's phase, which only the ledger
        // can give (a slot names its job by ledger slot): look them up
        // outside the state lock, then take the slots still running them.
        let long: Vec<(usize, u64, u32)> = {
            let st = self.state.lock();
            st.slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    let e = slot.entry.as_ref()?;
                    (clock::between(e.started, now) >= linger).then_some((i, e.slot, e.attempt))
                })
                .collect()
        };
        let mut cancelled: Vec<(usize, u64, u32, JobRef)> = long
            .into_iter()
            .filter_map(|(i, slot, attempt)| {
                let job = self.ledger.get(slot)?;
                (job.core().phase() == Phase::Cancelled).then_some((i, slot, attempt, job))
            })
            .collect();
        let mut late_jobs = Vec::new();
        let mut replacements = Vec::new();
        let generation;
        {
            let mut st = self.state.lock();
            generation = st.generation;
            if !st.accepting {
                return Vec::new();
            }
            let mut freed = Resources::ZERO;
            for i in 0..st.slots.len() {
                let reason = match &st.slots[i].entry {
                    Some(e)
                        if e.timeout
                            .is_some_and(|t| clock::between(e.started, now) > t) =>
                    {
                        AbandonReason::TimedOut
                    }
                    Some(e)
                        if cancelled
                            .iter()
                            .any(|c| c.0 == i && c.1 == e.slot && c.2 == e.attempt) =>
                    {
                        AbandonReason::Cancelled
                    }
                    _ => continue,
                };
                let slot = &mut st.slots[i];
                let e = slot.entry.take().expect("matched above");
                slot.abandoned = true;
                self.signal.load.fetch_sub(e.cost_units, Ordering::Relaxed);
                freed = freed.saturating_add(&e.demand);
                st.abandon(&e, reason);
                if reason == AbandonReason::TimedOut {
                    late_jobs.push((e.slot, e.attempt));
                    cancelled.retain(|c| c.0 != i);
                }
                replacements.push(i);
            }
            // Cancelled attempts whose slot was not taken here returned or
            // moved meanwhile: their executors settle them.
            cancelled.retain(|c| replacements.contains(&c.0));
            st.running_demand = st.running_demand.saturating_sub(&freed);
            // Each replacement takes a slot whose abandoned executor has
            // exited, or a new one.
            let wanted = replacements.len();
            replacements.clear();
            for (i, slot) in st.slots.iter_mut().enumerate() {
                if replacements.len() == wanted {
                    break;
                }
                if slot.vacant {
                    *slot = Slot::default();
                    replacements.push(i);
                }
            }
            while replacements.len() < wanted {
                replacements.push(st.slots.len());
                st.slots.push(Slot::default());
            }
            self.gauge.publish(&st);
        }
        for (_, _, _, job) in &cancelled {
            self.ledger.settle(job.core(), Settled::Cancelled);
        }
        // A job settled meanwhile is no longer in the ledger: its executor
        // is still replaced, but there is nothing to retry.
        let out: Vec<(JobRef, u32)> = late_jobs
            .into_iter()
            .filter_map(|(slot, attempt)| Some((self.ledger.get(slot)?, attempt)))
            .collect();
        self.counters
            .timed_out
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        for slot in replacements {
            if let Err(e) = spawn_executor(Arc::clone(self), slot, generation) {
                tracing::error!(node = self.name(), node_id = self.id.0, error = %e, "node.executor_replacement_failed");
            }
        }
        out
    }

    /// Attempts let go of whose code still runs, as of `now`.
    pub(crate) fn abandoned(&self, now: u64) -> Vec<AbandonedAttempt> {
        let st = self.state.lock();
        st.abandoned
            .iter()
            .map(|a| AbandonedAttempt {
                task: a.task,
                node: self.id,
                attempt: a.attempt,
                reason: a.reason,
                running_for: clock::between(a.started, now),
            })
            .collect()
    }

    /// After the last incarnation ended (shutdown): waits for every
    /// executor thread to exit, except those still running an abandoned
    /// attempt, and waits at most until `deadline` for any one of them.
    /// Returns how many threads it left running.
    pub(crate) fn join_executors(&self, deadline: Instant) -> usize {
        let threads = std::mem::take(&mut *self.threads.lock());
        let mut left = 0;
        for (t, in_code) in threads {
            loop {
                if t.is_finished() {
                    let _ = t.join();
                    break;
                }
                // Inside task code it was let go of: not waited for. Once
                // out of it, its bookkeeping (a settle) is waited for.
                let id = t.thread().id();
                let running_abandoned = in_code.load(Ordering::Acquire)
                    && self.state.lock().abandoned.iter().any(|a| a.thread == id);
                if running_abandoned || Instant::now() >= deadline {
                    left += 1;
                    break;
                }
                std::thread::park_timeout(Duration::from_millis(1));
            }
        }
        left
    }
}
