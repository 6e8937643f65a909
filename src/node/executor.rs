//! The executor threads: pick a job, run it, account for it, park.

use super::messages::ActorFault;
use super::messages::NodeEvent;
use super::shared::{NodeShared, NodeState, RunningEntry};
use crate::clock;
use crate::error::AttemptFailure;
use crate::fault::Actions;
use crate::job::{after_failure, AfterFailure, JobRef, Phase, RunOutcome};
use crate::ledger::{Batch, Record, Settled};
use crate::policy::Feedback;
use crate::resources::Resources;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{lock_spinning, spin_until, MutexGuard};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) fn spawn_executor(
    shared: Arc<NodeShared>,
    slot: usize,
    generation: u64,
) -> std::io::Result<()> {
    let node = Arc::clone(&shared);
    let in_code = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&in_code);
    let handle = std::thread::Builder::new()
        .name(format!("allot-{}-x{slot}", shared.id))
        .spawn(move || {
            node.hooks.executor_started(node.id);
            executor_loop(&node, slot, generation, &flag);
            node.hooks.executor_stopped(node.id);
        })?;
    let mut threads = shared.threads.lock();
    // Threads that have ended need no join: let go of their handles.
    threads.retain(|(t, _)| !t.is_finished());
    threads.push((handle, in_code));
    Ok(())
}

/// Emulates relative speed on one machine: the fastest node runs at the
/// machine's pace, and a node at half its speed owes as much idle time as it
/// worked. The debt is paid in sleeps of at least a millisecond (shorter
/// sleeps overshoot).
pub(super) struct Throttle {
    pub(super) debt: Duration,
}

impl Throttle {
    /// Returns whether it slept.
    pub(super) fn charge(&mut self, node: &NodeShared, generation: u64, worked: Duration) -> bool {
        let reference = f64::from_bits(node.reference_speed.load(Ordering::Relaxed));
        let own = node.speed();
        if own >= reference || own <= 0.0 {
            return false;
        }
        // Slower than `MAX_SLOWDOWN` × the reference runs at that pace: a
        // speed of 1e-300 (or a reference of 1e300) must not overflow.
        let owed = (reference / own - 1.0).min(MAX_SLOWDOWN - 1.0);
        self.debt = self.debt.saturating_add(worked.mul_f64(owed));
        if self.debt >= Duration::from_millis(1) {
            // In pieces, so that an executor whose incarnation ends (a
            // restart, a shutdown) stops paying and exits.
            const PIECE: Duration = Duration::from_millis(10);
            let start = Instant::now();
            while node.generation_is(generation) {
                let left = self.debt.saturating_sub(start.elapsed());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(PIECE));
            }
            self.debt = self.debt.saturating_sub(start.elapsed());
            return true;
        }
        false
    }
}

/// The most a node's speed throttle slows it: a node slower than this
/// fraction of the fastest node (or slowed by a fault factor beyond it)
/// runs at `1 / MAX_SLOWDOWN` of the fastest's pace.
pub(crate) const MAX_SLOWDOWN: f64 = 1e3;

/// How far down its queue an executor prefetches (see `JobCore::prefetch`):
/// a few tasks' time ahead of the first touch.
pub(super) const PREFETCH_AHEAD: usize = 4;

/// Completions an executor settles with the ledger at once.
pub(super) const SETTLE_BATCH: usize = 64;
/// How long an idle executor waits for work before it frees the finished
/// jobs kept for submitters (see `Ledger::bury`).
pub(super) const DEAD_LINGER: Duration = Duration::from_millis(1);
/// With jobs queued, how often an executor looks at the inbox (ns): once
/// per task for tasks this long or longer, so new urgent work is ordered
/// in within one task; for a flood of short ones, less often than per
/// task, because each look takes the inbox's line from a pusher in the
/// middle of its run.
pub(super) const INBOX_LOOK_NANOS: u64 = 10_000;

pub(super) struct Finished {
    pub(super) cost_units: u64,
    pub(super) demand: Resources,
    pub(super) latency_us: Option<u64>,
    pub(super) feedback: Option<Feedback>,
}

/// A job claimed for this slot: its attempt number and the node's count
/// of starts (what count-triggered faults key on).
struct Picked {
    job: JobRef,
    attempt: u32,
    count: u64,
}

/// One executor thread of one incarnation of a node, and what it carries
/// from task to task. Its life is [`run`](Executor::run): [`pick`]
/// (Executor::pick) a job under the state lock, [`execute`](Executor::execute)
/// it outside the lock, and when there is nothing to pick, [`idle`]
/// (Executor::idle): watch, settle, then park (the park/wake protocol is in
/// the module docs of [`node`](super)).
struct Executor<'a> {
    node: &'a Arc<NodeShared>,
    slot: usize,
    generation: u64,
    /// A remote node's link, read once: attempts go through it.
    remote: Option<&'a dyn crate::job::RemoteLink>,
    /// Raised while the executor runs task code: a shutdown waits for an
    /// executor outside it (its bookkeeping may settle a task), never for
    /// one inside abandoned code.
    in_code: &'a AtomicBool,
    me: std::thread::ThreadId,
    /// The attempt that just ended, accounted at the next pick (under the
    /// lock that pick takes anyway).
    finished: Option<Finished>,
    /// One clock read per task: the end of one attempt starts the next.
    now: u64,
    /// When the inbox was last looked at.
    looked: u64,
    /// Completions leave the ledger in batches: one lock per cohort per
    /// flush.
    done: Vec<u64>,
    /// Jobs the ledger lets go of pass through here (see `Ledger::bury`).
    dead: Vec<JobRef>,
    /// Whether this idle spell has freed the ledger's dead jobs.
    swept: bool,
    /// Whether this idle spell has watched for a push.
    spun: bool,
    /// Finished cost not yet taken off the load counter, and how many
    /// tasks it sums.
    unload: u64,
    unloads: usize,
    throttle: Throttle,
    /// Set when finished tasks are recorded for the state API (read
    /// once); boxed, so that an executor that does not record carries one
    /// word for it.
    recorder: Option<Box<Recorder>>,
}

/// An executor's records of completions, kept with its next flush.
struct Recorder {
    records: Batch,
    /// The last named task's name, shared by its records.
    name: Option<Arc<str>>,
}

/// Runs executor `slot` of incarnation `generation` until the incarnation
/// ends or the slot is let go of.
pub(super) fn executor_loop(
    node: &Arc<NodeShared>,
    slot: usize,
    generation: u64,
    in_code: &AtomicBool,
) {
    let now = clock::now_nanos();
    Executor {
        node,
        remote: node.remote_link(),
        slot,
        generation,
        in_code,
        me: std::thread::current().id(),
        finished: None,
        now,
        looked: now,
        done: Vec::with_capacity(SETTLE_BATCH),
        dead: Vec::new(),
        swept: false,
        spun: false,
        unload: 0,
        unloads: 0,
        throttle: Throttle {
            debt: Duration::ZERO,
        },
        recorder: node.ledger.history().is_recording().then(|| {
            Box::new(Recorder {
                records: node.ledger.history().batch(),
                name: None,
            })
        }),
    }
    .run();
}

impl Executor<'_> {
    fn run(mut self) {
        while let Some(picked) = self.pick() {
            self.execute(picked);
        }
    }

    /// Releases the completions this executor claimed (and keeps their
    /// records, when recording).
    fn flush(&mut self) {
        // Records first: a finished task is always in the ledger, in the
        // records, or (for a moment) both, never in neither.
        if let Some(r) = &mut self.recorder {
            self.node.ledger.history().keep(&mut r.records);
        }
        self.node.flush_completed(&mut self.done, &mut self.dead);
    }

    /// The record of a completed attempt (recording only).
    #[inline]
    fn record_completion(&mut self, job: &JobRef, attempt: u32, started: u64) {
        let Some(r) = self.recorder.as_deref_mut() else {
            return;
        };
        let core = job.core();
        // The common case, nothing on the heap: straight into the batch.
        if !(attempt == 0
            && !core.spec.has_extra()
            && job.durable_form().is_none()
            && r.records.push_plain(
                core.id.0,
                core.submitted_nanos(),
                started,
                self.now,
                core.spec.cost(),
                self.node.id.0 as u32,
            ))
        {
            self.record_rare_completion(job, attempt, started);
        }
    }

    /// [`record_completion`](Self::record_completion) of a task with parts
    /// on the heap.
    #[cold]
    #[inline(never)]
    fn record_rare_completion(&mut self, job: &JobRef, attempt: u32, started: u64) {
        let Some(r) = self.recorder.as_deref_mut() else {
            return;
        };
        let core = job.core();
        let name = match core.spec.name() {
            Some(n) => Some(Arc::clone(n)),
            None => job.durable_form().map(|(n, _)| match &r.name {
                Some(last) if **last == *n => Arc::clone(last),
                _ => {
                    let fresh: Arc<str> = n.into();
                    r.name = Some(Arc::clone(&fresh));
                    fresh
                }
            }),
        };
        // Only a retried task has earlier attempts recorded: a first
        // attempt takes no lock here.
        let attempts = if attempt > 0 {
            self.node.ledger.history().take_attempts(core.id.0)
        } else {
            None
        };
        r.records.push(Record {
            id: core.id.0,
            submitted: core.submitted_nanos(),
            started,
            ended: self.now,
            spec: core.spec.clone(),
            name,
            node: self.node.id.0 as u32,
            attempt,
            state: crate::inspect::TaskState::Completed,
            attempts: attempts.map(Box::new),
        });
    }

    /// Accounts for the attempt that just ended, then takes the next job
    /// (parking while there is none). `None` once the incarnation has
    /// ended or this slot was let go of.
    fn pick(&mut self) -> Option<Picked> {
        let node = self.node;
        let mut st = lock_spinning(&node.state);
        self.account(&mut st);
        loop {
            if st.generation != self.generation || st.slots[self.slot].abandoned {
                if st.generation == self.generation {
                    st.slots[self.slot].vacant = true;
                }
                drop(st);
                self.flush();
                return None;
            }
            if st.queue.is_empty() || self.now.wrapping_sub(self.looked) >= INBOX_LOOK_NANOS {
                self.looked = self.now;
                if node.inbox.len.load(Ordering::Relaxed) > 0 {
                    node.absorb(&mut st);
                }
            }
            if let Some(picked) = self.claim(&mut st) {
                return Some(picked);
            }
            self.idle(&mut st);
        }
    }

    /// The finished attempt's share of the node's state: its slot, its
    /// demand, its cost (given back to the load counter in batches), its
    /// latency and the policy's feedback.
    fn account(&mut self, st: &mut NodeState) {
        let Some(f) = self.finished.take() else {
            return;
        };
        if st.generation == self.generation && !st.slots[self.slot].abandoned {
            st.slots[self.slot].entry = None;
            st.running_demand = st.running_demand.saturating_sub(&f.demand);
            // The load counter is shared with submitters: give back
            // finished cost in batches, always under this lock and
            // within this incarnation (eviction resets the counter).
            self.unload += f.cost_units;
            self.unloads += 1;
            if self.unloads >= SETTLE_BATCH {
                self.give_back_load();
            }
            if let Some(us) = f.latency_us {
                st.latency.saturating_record(us.max(1));
            }
            if let Some(fb) = f.feedback {
                st.feedback.push(fb);
            }
        } else {
            // Let go of while it ran: its code has returned.
            let me = self.me;
            st.abandoned.retain(|a| a.thread != me);
        }
    }

    fn give_back_load(&mut self) {
        self.node
            .signal
            .load
            .fetch_sub(std::mem::take(&mut self.unload), Ordering::Relaxed);
        self.unloads = 0;
    }

    /// Pops the most urgent queued job this slot can claim (`Queued` to
    /// `Running`), lists it as running and raises `in_code`. Jobs cancelled
    /// on the way are dropped from the queue.
    fn claim(&mut self, st: &mut NodeState) -> Option<Picked> {
        let node = self.node;
        while let Some(job) = st.queue.pop() {
            if let Some(ahead) = st.queue.peek(PREFETCH_AHEAD) {
                ahead.core().prefetch();
            }
            self.swept = false;
            self.spun = false;
            let core = job.core();
            let attempt = core.attempt();
            if core.transition(Phase::Queued, attempt, Phase::Running, attempt) {
                // Every writer holds the state lock: no read-modify-write.
                let count = node.started.load(Ordering::Relaxed) + 1;
                node.started.store(count, Ordering::Relaxed);
                st.running_demand = st.running_demand.saturating_add(&core.spec.demand());
                st.slots[self.slot].entry = Some(RunningEntry {
                    slot: core.ledger_slot.load(Ordering::Acquire),
                    task: core.id,
                    thread: self.me,
                    attempt,
                    started: self.now,
                    timeout: core.spec.timeout(),
                    cost_units: core.cost_units(),
                    demand: core.spec.demand(),
                });
                node.gauge.publish(st);
                // Raised under the lock that lists the attempt: an
                // eviction that lists it as abandoned sees it raised.
                self.in_code.store(true, Ordering::Relaxed);
                return Some(Picked {
                    job,
                    attempt,
                    count,
                });
            }
            node.signal
                .load
                .fetch_sub(core.cost_units(), Ordering::Relaxed);
            node.ledger.reap_if_cancelled(core);
        }
        None
    }

    /// Nothing to pick: publish what views read, then, one step per call
    /// (the caller looks at the queue again after each), watch for a push
    /// (step 1 of the protocol), settle finished tasks, or park (steps
    /// 2–3).
    fn idle(&mut self, st: &mut MutexGuard<'_, NodeState>) {
        let node = self.node;
        // What views read may have changed since the last publish (a
        // finished task), and the lock is let go below.
        node.gauge.publish(st);
        if self.unloads > 0 {
            self.give_back_load();
        }
        if !self.spun && !st.spinner && node.watch_idle.load(Ordering::Relaxed) {
            // Work often comes back within microseconds (the next run of a
            // batch, the next single submission): watch for a push a while
            // before parking, so neither side pays a futex wake. One
            // executor per node does this, and only when executors do not
            // outnumber cores.
            self.spun = true;
            st.spinner = true;
            MutexGuard::unlocked(st, || {
                spin_until(|| node.inbox.len.load(Ordering::Acquire) != 0)
            });
            st.spinner = false;
            return;
        }
        if !self.done.is_empty() {
            // About to sleep: settle what we finished first, so the ledger
            // never waits on a sleeping executor. Not before the watch: a
            // stream of single submissions keeps an executor idle between
            // tasks, and settling each on its own would take a ledger lock
            // per task, on lines the submitter writes next.
            MutexGuard::unlocked(st, || self.flush());
            return;
        }
        // Finished jobs no submitter came back for are freed here once per
        // idle spell, but only after a short wait with no work: a submitter
        // that comes back within it (the next burst after it waited for the
        // last) frees them itself, where its allocator reuses the memory at
        // once.
        let linger = !self.swept && node.ledger.has_dead();
        if !linger {
            // Going to sleep for good: a burst's buffers go back.
            NodeShared::shrink_buffers(st);
        }
        if node.park(st, linger.then_some(DEAD_LINGER)) {
            MutexGuard::unlocked(st, || node.ledger.free_dead());
            // Once per idle spell: others' later frees wait for a
            // submitter or their own executor's idling.
            self.swept = true;
        }
        // Waited: the next task's start is timed from here.
        self.now = clock::now_nanos();
    }

    /// Runs a picked attempt outside every lock: injected faults first,
    /// then the task's code, then its outcome (completion batched for the
    /// ledger, a failure handed to the supervision rules), the speed
    /// throttle, and what [`account`](Self::account) will need.
    fn execute(
        &mut self,
        Picked {
            job,
            attempt,
            count,
        }: Picked,
    ) {
        let node = self.node;
        let core = job.core();
        let _span = attempt_span(node, &job, attempt);
        let actions = node.fault_actions(&job, attempt, count);
        if actions != Actions::default() {
            if actions.flood > 0 {
                node.flood(actions.flood);
            }
            if actions.crash {
                node.actor_fault(ActorFault::Crash);
            }
            if actions.panic_actor {
                node.actor_fault(ActorFault::Panic);
            }
            if let Some(d) = actions.hang {
                node.hang(self.generation, d);
            }
            if let Some(f) = actions.speed {
                tracing::warn!(
                    node = node.name(),
                    node_id = node.id.0,
                    factor = f,
                    "fault.slow_node"
                );
                node.set_speed(node.spec.speed * f);
            }
        }
        let started = if actions.hang.is_some() {
            clock::now_nanos()
        } else {
            self.now
        };
        let mut env = node.env(actions.panic_task);
        env.remote = self.remote;
        let outcome = job.run(node.id, attempt, env);
        self.in_code.store(false, Ordering::Release);
        self.now = clock::now_nanos();
        let mut latency_us = None;
        match outcome {
            RunOutcome::Completed => {
                if let Some(slot) = node.ledger.claim(core) {
                    self.done.push(slot);
                    if self.recorder.is_some() {
                        self.record_completion(&job, attempt, started);
                    }
                }
                if self.done.len() >= SETTLE_BATCH {
                    self.flush();
                }
                latency_us = Some(self.now.saturating_sub(core.submitted_nanos()) / 1_000);
            }
            RunOutcome::Stale => {
                node.counters.stale.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = node.name(), node_id = node.id.0, task = %core.id, attempt, "attempt.stale");
                node.ledger.reap_if_cancelled(core);
            }
            RunOutcome::Failed(failure) => {
                handle_failure(node, &job, attempt, Some(started), failure);
            }
        }
        // A remote node's speed is the worker's own business.
        if self.remote.is_none()
            && self
                .throttle
                .charge(node, self.generation, clock::between(started, self.now))
        {
            self.now = clock::now_nanos();
        }
        let feedback =
            (latency_us.is_some() && node.feedback_on.load(Ordering::Relaxed)).then(|| Feedback {
                node: node.id,
                kind: core.spec.kind().clone(),
                cost: core.spec.cost(),
                elapsed: clock::between(started, self.now),
            });
        self.finished = Some(Finished {
            cost_units: core.cost_units(),
            demand: core.spec.demand(),
            latency_us,
            feedback,
        });
    }
}

/// The `task.attempt` span (level DEBUG) around one attempt: its fields
/// carry the names the dashboard's JSON gives them (`id`, `attempt`,
/// `kind`, `name`; `node` is the node's name, as in every other node
/// event and `/metrics`, and `node_id` its index, the JSON's `node`).
/// Entered, and left when the guard drops. With no subscriber taking
/// DEBUG there is no span at all (`None`) after one relaxed load of the
/// level filter: no field read, nothing to enter, leave or drop (a
/// disabled span from the macro would still call into `tracing`'s `log`
/// fallback on each, which the `dashboard` feature's actix-web turns on:
/// about 3 % of a no-op task's CPU).
#[inline]
fn attempt_span(
    node: &NodeShared,
    job: &JobRef,
    attempt: u32,
) -> Option<tracing::span::EnteredSpan> {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    if tracing::Level::DEBUG > STATIC_MAX_LEVEL || tracing::Level::DEBUG > LevelFilter::current() {
        return None;
    }
    let core = job.core();
    let span = tracing::debug_span!(
        "task.attempt",
        id = core.id.0,
        attempt,
        node = node.name(),
        node_id = node.id.0,
        kind = %core.spec.kind(),
        name = job.name(),
    );
    Some(span.entered())
}

pub(super) fn handle_failure(
    node: &NodeShared,
    job: &JobRef,
    attempt: u32,
    started: Option<u64>,
    failure: AttemptFailure,
) {
    let core = job.core();
    tracing::debug!(node = node.name(), node_id = node.id.0, task = %core.id, attempt, %failure, "attempt.failed");
    let history = node.ledger.history();
    if history.is_recording() {
        history.attempt_failed(
            core.id.0,
            crate::inspect::Attempt {
                number: attempt,
                node: Some(node.id),
                started: started.map(clock::to_system),
                ended: Some(clock::to_system(clock::now_nanos())),
                outcome: crate::ledger::outcome_of(&failure),
                error: Some(failure.to_string()),
            },
        );
    }
    let count_failed = || {
        if node.ledger.settle(core, Settled::Failed) {
            node.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    };
    match after_failure(
        &**job,
        Phase::Running,
        attempt,
        Some((node.id, node.label())),
        failure,
        count_failed,
    ) {
        AfterFailure::Retry => {
            node.ledger.note_retry();
            node.send_event(NodeEvent::Retry(JobRef::clone(job)));
        }
        AfterFailure::Failed => {}
        AfterFailure::Superseded => {
            node.ledger.reap_if_cancelled(core);
        }
    }
}

/// Runs `job` here and now on the calling thread, if it has not started:
/// how a joining parent helps its own subtasks instead of blocking a slot.
/// Returns whether it ran it.
pub(crate) fn run_inline(node: &NodeShared, job: &JobRef) -> bool {
    let core = job.core();
    let attempt = core.attempt();
    let claimed = core.transition(Phase::Queued, attempt, Phase::Running, attempt)
        || core.transition(Phase::Pending, attempt, Phase::Running, attempt);
    if !claimed {
        return false;
    }
    node.beats.fetch_add(1, Ordering::Relaxed);
    let _span = attempt_span(node, job, attempt);
    match job.run(node.id, attempt, node.env(false)) {
        RunOutcome::Completed => {
            if node.ledger.settle_completed(core) {
                node.counters.settled.fetch_add(1, Ordering::Relaxed);
                let history = node.ledger.history();
                if history.is_recording() {
                    let now = clock::now_nanos();
                    history.keep_one(Record {
                        id: core.id.0,
                        submitted: core.submitted_nanos(),
                        started: 0,
                        ended: now,
                        spec: core.spec.clone(),
                        name: job.name().map(Into::into),
                        node: node.id.0 as u32,
                        attempt,
                        state: crate::inspect::TaskState::Completed,
                        attempts: history.take_attempts(core.id.0).map(Box::new),
                    });
                }
            }
        }
        RunOutcome::Stale => {
            node.counters.stale.fetch_add(1, Ordering::Relaxed);
            node.ledger.reap_if_cancelled(core);
        }
        RunOutcome::Failed(failure) => handle_failure(node, job, attempt, None, failure),
    }
    node.beats.fetch_add(1, Ordering::Relaxed);
    true
}

/// Counts a failure decided outside the node (node loss, timeout) against it.
pub(crate) fn count_failed(node: &NodeShared) {
    node.counters.failed.fetch_add(1, Ordering::Relaxed);
}
