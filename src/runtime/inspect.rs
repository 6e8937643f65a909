//! The state API on [`RuntimeHandle`]: tasks by state, one task in detail
//! with why it is not running, the nodes, events and rates.
//!
//! Live tasks are read where they are (the ledger, the node queues and
//! slots, the supervisor's backoff notes), finished ones from the records
//! the runtime retains ([`Builder::retain_finished`](crate::Builder::retain_finished)).
//! Nothing here is on the data path: a query takes each lock it reads for
//! one pass, one shard or node at a time.

use super::handle::RuntimeHandle;
use crate::clock;
use crate::error::CancelReason;
use crate::ids::{NodeId, TaskId};
use crate::inspect::{
    Attempt, AttemptOutcome, Cursor, EventRecord, NodeOffer, NodeStatus, QueryError, Rates,
    StateCounts, TaskDetail, TaskPage, TaskQuery, TaskState, TaskSummary, Why,
};
use crate::job::{JobRef, Phase};
use crate::ledger::{Kept, RATE_WINDOW};
use crate::node::NodeShared;
use crate::resources::Resources;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BinaryHeap;
use std::sync::Arc;

/// A task on its way into a page: live (read from its job) or finished
/// (from its record).
enum Found {
    Live(JobRef, TaskState),
    Done(TaskSummary),
}

struct Candidate(u64, Found);

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

/// The `limit + 1` smallest ids seen (the extra one says a next page
/// exists), as a max-heap.
struct Smallest {
    keep: usize,
    heap: BinaryHeap<Candidate>,
    ids: FxHashSet<u64>,
}

impl Smallest {
    fn wants(&self, id: u64) -> bool {
        !self.ids.contains(&id)
            && (self.heap.len() < self.keep || self.heap.peek().is_some_and(|top| id < top.0))
    }

    fn offer(&mut self, id: u64, found: impl FnOnce() -> Found) {
        if !self.wants(id) {
            return;
        }
        self.heap.push(Candidate(id, found()));
        self.ids.insert(id);
        if self.heap.len() > self.keep {
            if let Some(out) = self.heap.pop() {
                self.ids.remove(&out.0);
            }
        }
    }
}

fn state_of(phase: Phase, backing_off: bool) -> TaskState {
    match phase {
        Phase::Pending if backing_off => TaskState::BackingOff,
        Phase::Pending => TaskState::Pending,
        Phase::Queued => TaskState::Queued,
        Phase::Running => TaskState::Running,
        Phase::Completed => TaskState::Completed,
        Phase::Failed => TaskState::Failed,
        Phase::Cancelled => TaskState::Cancelled,
    }
}

fn summary_of_record(r: Kept<'_>) -> TaskSummary {
    TaskSummary {
        id: TaskId(r.id()),
        state: r.state(),
        kind: r.kind().clone(),
        name: r.name().map(str::to_owned),
        node: r.node(),
        attempt: r.attempt(),
        submitted: clock::to_system(r.submitted()),
        ended: Some(clock::to_system(r.ended())),
    }
}

fn summary_of_job(job: &JobRef, state: TaskState, node: Option<NodeId>) -> TaskSummary {
    let core = job.core();
    TaskSummary {
        id: core.id,
        state,
        kind: core.spec.kind().clone(),
        name: job.name().map(str::to_owned),
        node,
        attempt: core.attempt(),
        submitted: clock::to_system(core.submitted_nanos()),
        ended: None,
    }
}

/// How far a node's capacity is from `demand`: the smallest ratio of
/// capacity to demand over the resources asked for (1 or more: it fits).
fn closeness(capacity: &Resources, demand: &Resources) -> f64 {
    [
        (capacity.cpu_milli, demand.cpu_milli),
        (capacity.memory_mib, demand.memory_mib),
        (capacity.gpu_milli, demand.gpu_milli),
        (capacity.bandwidth_mbps, demand.bandwidth_mbps),
    ]
    .into_iter()
    .filter(|&(_, d)| d > 0)
    .map(|(c, d)| c as f64 / d as f64)
    .fold(f64::INFINITY, f64::min)
}

/// Why a task waiting at the supervisor (and not backing off) waits.
/// `joinable`: nodes may join later (cluster mode), so a task no node in
/// service fits waits for one.
fn why_pending(nodes: &[Arc<NodeShared>], joinable: bool, demand: Resources) -> Why {
    let in_service: Vec<&Arc<NodeShared>> = nodes.iter().filter(|n| !n.is_retired()).collect();
    let available: Vec<&&Arc<NodeShared>> =
        in_service.iter().filter(|n| n.is_available()).collect();
    if available.iter().any(|n| demand.fits_in(&n.spec.capacity)) {
        return Why::AwaitingPlacement;
    }
    let restarting: Vec<NodeId> = in_service
        .iter()
        .filter(|n| !n.is_available() && demand.fits_in(&n.spec.capacity))
        .map(|n| n.id)
        .collect();
    if available.is_empty() && !restarting.is_empty() {
        return Why::WaitingForRestart { nodes: restarting };
    }
    if joinable && restarting.is_empty() {
        return Why::AwaitingWorker { demand };
    }
    let best = in_service
        .iter()
        .max_by(|a, b| {
            let key =
                |n: &Arc<NodeShared>| (n.is_available(), closeness(&n.spec.capacity, &demand));
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        })
        .map(|n| NodeOffer {
            node: n.id,
            name: n.name().to_owned(),
            capacity: n.spec.capacity,
            available: n.is_available(),
        });
    Why::Unplaceable {
        demand,
        best,
        restarting,
    }
}

impl RuntimeHandle {
    /// The tasks in every state, exact: live ones counted where they
    /// are, finished ones by the ledger's totals (whatever the runtime
    /// has forgotten of them).
    pub fn state_counts(&self) -> StateCounts {
        let plane = &self.shared.plane;
        let t = plane.ledger.totals();
        let mut queued = 0;
        let mut running = 0;
        let mut completed = 0;
        let mut unsettled = 0;
        for n in &plane.nodes {
            let s = n.status();
            queued += s.queued;
            running += s.running;
            completed += s.completed;
            unsettled += n.unsettled();
        }
        let history = plane.ledger.history();
        let backing_off = history.backing_off_count() as u64;
        let live = t.live.saturating_sub(unsettled);
        StateCounts {
            pending: live.saturating_sub(queued + running + backing_off),
            queued,
            running,
            backing_off,
            completed,
            failed: t.failed,
            cancelled: t.cancelled,
            retained: history.retained() as u64,
            forgotten: history.forgotten(),
        }
    }

    /// A page of tasks, in id order, filtered by `query`.
    ///
    /// Live tasks are always listed; finished ones while the runtime
    /// retains their records ([`Builder::retain_finished`](crate::Builder::retain_finished)).
    /// A page costs one pass over the live tasks (and the retained
    /// records, when finished ones may match), one ledger shard locked at
    /// a time: `docs/performance.md` has the times at a million tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime, Task, TaskQuery, TaskState};
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes([NodeSpec::new(Resources::cpu(1_000))])
    ///     .retain_finished(1_000)
    ///     .build()?;
    /// let h = runtime.handle();
    /// for t in h.submit_batch((0..10).map(|i| Task::new(move |_| Ok::<_, String>(i))))? {
    ///     t.wait()?;
    /// }
    /// let mut query = TaskQuery { state: Some(TaskState::Completed), limit: 4, ..TaskQuery::default() };
    /// let mut seen = 0;
    /// loop {
    ///     let page = h.tasks(&query)?;
    ///     seen += page.tasks.len();
    ///     match page.next {
    ///         Some(next) => query.after = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(seen, 10);
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`QueryError::Limit`] for a page size of 0 or above
    /// [`TaskQuery::MAX_LIMIT`].
    pub fn tasks(&self, query: &TaskQuery) -> Result<TaskPage, QueryError> {
        if query.limit == 0 || query.limit > TaskQuery::MAX_LIMIT {
            return Err(QueryError::Limit(query.limit));
        }
        let plane = &self.shared.plane;
        let after = query.after.map_or(0, |c| c.0 .0.saturating_add(1));
        let history = plane.ledger.history();
        let backoff: FxHashSet<u64> = history.backing_off_ids().into_iter().collect();
        let mut running: FxHashMap<u64, NodeId> = FxHashMap::default();
        for n in &plane.nodes {
            for (task, _, _) in n.running_tasks() {
                running.insert(task.0, n.id);
            }
        }
        // With a node asked for, its queue says which queued tasks are its.
        let on_node: Option<FxHashSet<u64>> = query.node.and_then(|id| {
            let node = plane.nodes.get(id.0)?;
            let mut ids = FxHashSet::default();
            node.scan_queued(|j| {
                ids.insert(j.core().id.0);
                true
            });
            Some(ids)
        });
        let mut page = Smallest {
            keep: query.limit + 1,
            heap: BinaryHeap::new(),
            ids: FxHashSet::default(),
        };
        // Retained records first: a task both there and still in the ledger
        // (settled, not yet released) is listed from its record.
        if query.state.is_none_or(TaskState::is_terminal) {
            history.scan(|r| {
                if r.id() < after
                    || query.state.is_some_and(|s| s != r.state())
                    || query.node.is_some_and(|n| r.node() != Some(n))
                    || query.kind.as_ref().is_some_and(|k| k != r.kind())
                    || query.name.as_deref().is_some_and(|n| r.name() != Some(n))
                {
                    return;
                }
                page.offer(r.id(), || Found::Done(summary_of_record(r)));
            });
        }
        {
            plane.ledger.scan(|job| {
                let core = job.core();
                let id = core.id.0;
                if id < after || !page.wants(id) {
                    return;
                }
                // A finished task still here (its settlement not yet
                // released) is listed too: its record may not be kept yet.
                let state = state_of(core.phase(), backoff.contains(&id));
                if query.state.is_some_and(|s| s != state)
                    || query.kind.as_ref().is_some_and(|k| k != core.spec.kind())
                    || query.name.as_deref().is_some_and(|n| job.name() != Some(n))
                {
                    return;
                }
                if let Some(node) = query.node {
                    let here = match state {
                        TaskState::Running => running.get(&id) == Some(&node),
                        TaskState::Queued => on_node.as_ref().is_some_and(|s| s.contains(&id)),
                        _ => false,
                    };
                    if !here {
                        return;
                    }
                }
                page.offer(id, || Found::Live(JobRef::clone(job), state));
            });
        }
        let mut found = page.heap.into_sorted_vec();
        let more = found.len() > query.limit;
        found.truncate(query.limit);
        // Queued tasks on the page: which node, in one pass over the queues
        // that stops when all are found.
        let mut queued: FxHashSet<u64> = found
            .iter()
            .filter(|c| matches!(c.1, Found::Live(_, TaskState::Queued)))
            .map(|c| c.0)
            .collect();
        let mut queued_on: FxHashMap<u64, NodeId> = FxHashMap::default();
        for n in &plane.nodes {
            if queued.is_empty() {
                break;
            }
            if let Some(id) = query.node {
                if id != n.id {
                    continue;
                }
            }
            n.scan_queued(|j| {
                let id = j.core().id.0;
                if queued.remove(&id) {
                    queued_on.insert(id, n.id);
                }
                !queued.is_empty()
            });
        }
        let next = more
            .then(|| found.last().map(|c| Cursor(TaskId(c.0))))
            .flatten();
        let tasks = found
            .into_iter()
            .map(|Candidate(id, f)| match f {
                Found::Done(s) => s,
                Found::Live(job, state) => {
                    let node = running.get(&id).or(queued_on.get(&id)).copied();
                    summary_of_job(&job, state, node)
                }
            })
            .collect();
        Ok(TaskPage { tasks, next })
    }

    /// The live job with id `id`, if it is in the ledger.
    fn find_live(&self, id: TaskId) -> Option<JobRef> {
        let mut out = None;
        self.shared.plane.ledger.scan(|j| {
            if out.is_none() && j.core().id == id {
                out = Some(JobRef::clone(j));
            }
        });
        out
    }

    /// One task in detail: its spec, its attempts and, for a task that
    /// has not ended and is not simply running, why. `None` for a task
    /// that has ended and whose record is not retained (or never was).
    /// A task that has just ended is shown from what its job says until
    /// its record is kept (its executor keeps records in runs of up to 64,
    /// and before it idles).
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime, Task, Why};
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes([NodeSpec::new(Resources::cpu(1_000)).slots(1)])
    ///     .build()?;
    /// let h = runtime.handle();
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let rx = std::sync::Mutex::new(rx);
    /// let blocker = h.submit(Task::new(move |_| rx.lock().unwrap().recv().map_err(|e| e.to_string())))?;
    /// let behind = h.submit(Task::new(|_| Ok::<_, String>(())))?;
    /// // The blocker occupies the only slot once it runs.
    /// while h.task(blocker.id()).map(|d| d.summary.state) != Some(allot::TaskState::Running) {
    ///     std::thread::yield_now();
    /// }
    /// let why = h.task(behind.id()).and_then(|d| d.why);
    /// assert!(matches!(why, Some(Why::Queued { position: 0, .. })), "{why:?}");
    /// tx.send(()).unwrap();
    /// blocker.wait()?;
    /// behind.wait()?;
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn task(&self, id: TaskId) -> Option<TaskDetail> {
        let plane = &self.shared.plane;
        let history = plane.ledger.history();
        if let Some(job) = self.find_live(id) {
            let core = job.core();
            let phase = core.phase();
            if !phase.is_terminal() {
                let backoff = history.backoff_of(id.0);
                let state = state_of(phase, backoff.is_some());
                let mut attempts = if history.is_recording() {
                    history.attempts_of(id.0)
                } else {
                    core.attempt_errors()
                };
                let mut node = attempts.last().and_then(|a| a.node);
                let mut why = None;
                match state {
                    TaskState::Running => {
                        for n in &plane.nodes {
                            if let Some((_, attempt, started)) =
                                n.running_tasks().into_iter().find(|r| r.0 == id)
                            {
                                node = Some(n.id);
                                attempts.push(Attempt {
                                    number: attempt,
                                    node,
                                    started: Some(clock::to_system(started)),
                                    ended: None,
                                    outcome: AttemptOutcome::Running,
                                    error: None,
                                });
                                break;
                            }
                        }
                        let unfinished = core.unfinished_children();
                        if unfinished > 0 {
                            why = Some(Why::WaitingForChildren { unfinished });
                        }
                    }
                    TaskState::Queued => {
                        for n in &plane.nodes {
                            if let Some((position, length)) = n.locate(id) {
                                node = Some(n.id);
                                why = Some(Why::Queued {
                                    node: n.id,
                                    position,
                                    length,
                                });
                                break;
                            }
                        }
                    }
                    TaskState::BackingOff => {
                        if let Some((until, attempt)) = backoff {
                            why = Some(Why::BackingOff {
                                until: clock::to_system(until),
                                attempt,
                            });
                        }
                    }
                    _ => {
                        why = Some(why_pending(
                            &plane.nodes.snapshot(),
                            plane.joinable,
                            core.spec.demand(),
                        ))
                    }
                }
                return Some(TaskDetail {
                    summary: summary_of_job(&job, state, node),
                    spec: core.spec.unpack(),
                    attempts,
                    why,
                });
            }
        }
        let mut detail = None;
        history.scan(|r| {
            if r.id() == id.0 {
                let mut attempts: Vec<Attempt> =
                    r.attempts().map(<[_]>::to_vec).unwrap_or_default();
                if r.state() == TaskState::Completed {
                    attempts.push(Attempt {
                        number: r.attempt(),
                        node: r.node(),
                        started: (r.started() > 0).then(|| clock::to_system(r.started())),
                        ended: Some(clock::to_system(r.ended())),
                        outcome: AttemptOutcome::Completed,
                        error: None,
                    });
                }
                detail = Some(TaskDetail {
                    summary: summary_of_record(r),
                    spec: r.spec(),
                    attempts,
                    why: None,
                });
            }
        });
        if detail.is_none() {
            // Finished, its record not kept (yet, or at all): what its job
            // still says.
            if let Some(job) = self.find_live(id) {
                let core = job.core();
                let state = state_of(core.phase(), false);
                let mut attempts = core.attempt_errors();
                if state == TaskState::Completed {
                    attempts.push(Attempt {
                        number: core.attempt(),
                        node: None,
                        started: None,
                        ended: None,
                        outcome: AttemptOutcome::Completed,
                        error: None,
                    });
                }
                detail = Some(TaskDetail {
                    summary: summary_of_job(&job, state, None),
                    spec: core.spec.unpack(),
                    attempts,
                    why: None,
                });
            }
        }
        detail
    }

    /// Cancels the task with id `id` if it has not ended (as
    /// [`TaskHandle::cancel`](crate::TaskHandle::cancel) does); whether
    /// this call cancelled it.
    pub fn cancel(&self, id: TaskId) -> bool {
        self.find_live(id)
            .is_some_and(|job| crate::job::cancel(&*job, CancelReason::Caller))
    }

    /// Every node now: capacity, what is held and free, load, queue,
    /// counters, health, GPU fragmentation.
    pub fn node_status(&self) -> Vec<NodeStatus> {
        self.shared.plane.nodes.iter().map(|n| n.status()).collect()
    }

    /// The supervisor's last events (up to 1 000), oldest first, with
    /// their times.
    pub fn events(&self) -> Vec<EventRecord> {
        self.shared.plane.ledger.history().events()
    }

    /// Completions, failures and retries per second over the last ten
    /// seconds (or since the start, if sooner), from counters the
    /// supervisor samples at each heartbeat tick.
    pub fn rates(&self) -> Rates {
        let plane = &self.shared.plane;
        let now = clock::now_nanos();
        let t = plane.ledger.totals_fast();
        let completed: u64 = plane.nodes.iter().map(|n| n.completed()).sum();
        let Some(base) = plane.ledger.history().sample_before(now, RATE_WINDOW) else {
            return Rates::default();
        };
        let window = clock::between(base.at, now);
        let secs = window.as_secs_f64();
        if secs <= 0.0 {
            return Rates::default();
        }
        let per = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
        Rates {
            window,
            completed: per(completed, base.completed),
            failed: per(t.failed, base.failed),
            retried: per(t.retried, base.retried),
        }
    }
}
