//! Admission: checking submitted tasks, stamping them, recording them in
//! the ledger and sending them on their way (a node's inbox, the
//! submitter's own placement, or the supervisor).

use super::core::RunState;
use super::handle::RuntimeHandle;
use crate::error::{Infeasibility, Refusal, SubmitBatchError, SubmitError};
use crate::ids::{NodeId, TaskId};
use crate::job::{ErasedJob, JobCore, JobRef, Rejection, TypedJob};
use crate::ledger::{Reaper, DEAD_CAP};
use crate::node::NodeShared;
use crate::resources::Resources;
use crate::supervision::Health;
use crate::supervisor::{Drain, Inbound};
use crate::task::Task;
use crate::task_handle::TaskHandle;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl RuntimeHandle {
    #[inline]
    pub(super) fn check(&self, job: &dyn ErasedJob, pin: Option<NodeId>) -> Result<(), Refusal> {
        #[cfg(feature = "journal")]
        super::durable::check(self.shared.journal.as_ref(), job)?;
        self.check_core(job.core(), pin)
    }

    /// The checks every task passes, on its core (no call through the
    /// job's vtable: this is every submission's path).
    fn check_core(&self, core: &JobCore, pin: Option<NodeId>) -> Result<(), Refusal> {
        let spec = &core.spec;
        spec.validate().map_err(Refusal::Invalid)?;
        if pin.is_none() && spec.has_no_demand() && !self.shared.plane.all_retired() {
            // Fits anywhere: skip the per-node scan on the common path.
            return Ok(());
        }
        self.check_fit(spec.demand(), pin)
    }

    pub(super) fn check_fit(&self, demand: Resources, pin: Option<NodeId>) -> Result<(), Refusal> {
        let nodes = &self.shared.plane.nodes;
        let usable = |n: &Arc<NodeShared>| !n.is_retired() && demand.fits_in(&n.spec.capacity);
        let fits = match pin {
            Some(n) => nodes.get(n.0).is_some_and(usable),
            None => nodes.iter().any(usable),
        };
        if fits || (pin.is_none() && self.shared.plane.joinable) {
            // (Cluster mode: a worker with a node that fits may join.)
            return Ok(());
        }
        let reason = match pin.map(|n| (n, nodes.get(n.0))) {
            Some((node, None)) => {
                return Err(Refusal::UnknownNode {
                    node,
                    nodes: nodes.len(),
                })
            }
            Some((n, Some(node))) if node.is_retired() => return Err(Refusal::NodeRetired(n)),
            Some((_, Some(node))) => excess(&demand, &node.spec.capacity),
            None => {
                // The largest of each resource among nodes still in service.
                let cap =
                    nodes
                        .iter()
                        .filter(|n| !n.is_retired())
                        .fold(Resources::ZERO, |acc, n| {
                            let c = n.spec.capacity;
                            Resources::new(
                                acc.cpu_milli.max(c.cpu_milli),
                                acc.memory_mib.max(c.memory_mib),
                                acc.gpu_milli.max(c.gpu_milli),
                                acc.bandwidth_mbps.max(c.bandwidth_mbps),
                            )
                        });
                excess(&demand, &cap)
            }
        };
        Err(Refusal::Infeasible(reason))
    }

    /// Whether `n` more tasks fit under `queue_capacity`. Reads the
    /// per-node completion counters (written by executors on every task)
    /// only when a stale lower bound on finished tasks says they might not.
    pub(super) fn has_room(&self, n: u64) -> bool {
        let cap = self.shared.queue_capacity;
        let submitted = self.shared.plane.ledger.totals_fast().submitted;
        let floor = self.shared.finished_floor.load(Ordering::Relaxed);
        if submitted.saturating_sub(floor) + n <= cap {
            return true;
        }
        let t = self.shared.plane.ledger.totals_fast();
        let done: u64 = self.shared.plane.nodes.iter().map(|n| n.completed()).sum();
        let finished = done + t.failed + t.cancelled;
        self.shared
            .finished_floor
            .fetch_max(finished, Ordering::Relaxed);
        t.submitted.saturating_sub(finished) + n <= cap
    }

    /// Whether submissions are refused: shutting down, or stopped by
    /// escalation.
    pub(super) fn is_closed(&self, state: &RunState) -> bool {
        *state != RunState::Running || self.shared.plane.health.get() == Health::Stopped
    }

    pub(super) fn admit_one<T: Send + 'static>(
        &self,
        task: Task<T>,
        pin: Option<NodeId>,
    ) -> Result<TaskHandle<T>, SubmitError<Task<T>>> {
        if self.shared.plane.ledger.has_dead() {
            // Frees finished jobs the ledger kept (`Ledger::bury`), before
            // the state lock (their drops run the caller's code): the next
            // task built on this thread reuses the memory while it is hot.
            // Two, so a stream of single submissions keeps up with its
            // executors.
            let mut dead = Reaper::take();
            self.shared.plane.ledger.exhume(2, &mut dead.0);
        }
        let state = self.shared.state.read();
        if self.is_closed(&state) {
            return Err(SubmitError::Refused {
                task,
                reason: Refusal::ShuttingDown,
            });
        }
        if let Err(reason) = self.check(&*task.job, pin) {
            return Err(SubmitError::Refused { task, reason });
        }
        if !self.has_room(1) {
            return Err(SubmitError::Full(task));
        }
        let id = TaskId(self.shared.plane.ledger.reserve_ids(1));
        #[cfg(feature = "journal")]
        if let Some(j) = &self.shared.journal {
            if let Err(reason) =
                super::durable::commit(j, id.0, std::iter::once(&*task.job as &dyn ErasedJob))
            {
                return Err(SubmitError::Refused { task, reason });
            }
        }
        let inner = self.stamp(id, crate::clock::now_nanos(), task);
        let job: JobRef = Arc::clone(&inner) as JobRef;
        self.shared
            .plane
            .ledger
            .admit(std::iter::once(JobRef::clone(&job)));
        match pin {
            Some(node) => self.push_fresh(node, std::iter::once(job)),
            None => self.place(std::iter::once(job)),
        }
        drop(state);
        Ok(TaskHandle { inner })
    }

    /// Gives an accepted task its id, order key and submission time.
    pub(super) fn stamp<T: Send + 'static>(
        &self,
        id: TaskId,
        now_nanos: u64,
        task: Task<T>,
    ) -> Arc<dyn TypedJob<T>> {
        let mut job = task.job;
        unsubmitted_core(&mut job).submit(id, now_nanos, false);
        job
    }

    pub(super) fn admit<T: Send + 'static>(
        &self,
        tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
    ) -> Result<Vec<TaskHandle<T>>, SubmitBatchError<Task<T>>> {
        // The vector of handles: the only per-batch allocation on this path.
        let mut handles = Vec::with_capacity(tasks.size_hint().0);
        self.admit_batch(tasks, pin, &mut handles)?;
        Ok(handles)
    }

    /// The batch pipeline every batch entry point runs, parameterised by
    /// what it collects the jobs into (`J`: handles, or bare references for
    /// detached batches). Appends the batch to `out`, which is left as it
    /// was on refusal.
    ///
    /// 1. refuse at once if the runtime is closed;
    /// 2. [`collect_batch`](Self::collect_batch): check each task as it is
    ///    pulled from the caller's iterator, then the queue bound (before
    ///    any lock: the caller's code runs here);
    /// 3. [`commit`](Self::commit): under the state lock, stamp ids and
    ///    the submission time, record one ledger cohort, and send the jobs
    ///    on (`pin`'s inbox, or placed).
    pub(super) fn admit_batch<T: Send + 'static, J: Collected<T>>(
        &self,
        tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
        out: &mut Vec<J>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        if self.is_closed(&self.shared.state.read()) {
            return Err(SubmitBatchError::whole(tasks, Refusal::ShuttingDown));
        }
        let base = out.len();
        out.reserve(tasks.size_hint().0);
        self.collect_batch(tasks, pin, out)?;
        self.commit(out, base, pin)
            .map_err(|reason| SubmitBatchError::whole(out.drain(base..).map(J::unwrap), reason))
    }

    /// Step 3 of the pipeline: the jobs in `out[base..]`, checked and
    /// within the bound, are stamped, recorded and sent on, unless the
    /// runtime closed meanwhile.
    pub(super) fn commit<J: Staged>(
        &self,
        out: &mut Vec<J>,
        base: usize,
        pin: Option<NodeId>,
    ) -> Result<(), Refusal> {
        if out.len() == base {
            return Ok(());
        }
        let state = self.shared.state.read();
        if self.is_closed(&state) {
            return Err(Refusal::ShuttingDown);
        }
        let first = self
            .shared
            .plane
            .ledger
            .reserve_ids((out.len() - base) as u64);
        #[cfg(feature = "journal")]
        if let Some(j) = &self.shared.journal {
            super::durable::commit(j, first, out[base..].iter().map(J::job))?;
        }
        self.stamp_batch(first, out[base..].iter_mut().map(J::core_mut), J::DETACHED);
        J::send(self, out, base, pin);
        drop(state);
        Ok(())
    }

    /// Appends a batch to `out`, checking each task, and checks that it
    /// fits under the bound. Frees finished jobs the ledger kept for a
    /// submitter (`Ledger::bury`) as it goes. On refusal every task goes
    /// back, in order, with the index of the first bad one, and `out` is
    /// as it was.
    ///
    /// Runs the caller's code (the iterator, and the drops of finished
    /// closures), so callers call it before they take the state lock: that
    /// code may call back into the runtime, even `shutdown`, which takes
    /// the lock for writing (and a read lock taken again on one thread
    /// waits behind a waiting writer).
    pub(super) fn collect_batch<T: Send + 'static, J: Collected<T>>(
        &self,
        mut tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
        out: &mut Vec<J>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        let base = out.len();
        let mut dead = Reaper::take();
        self.shared
            .plane
            .ledger
            .exhume(tasks.size_hint().0.min(DEAD_CAP), &mut dead.0);
        loop {
            // A finished job freed just before the next task is built: its
            // memory is reused while it is hot in this thread's cache.
            drop(dead.0.pop());
            let Some(task) = tasks.next() else { break };
            if let Err(reason) = self.check(&*task.job, pin) {
                let index = out.len() - base;
                let mut all: Vec<Task<T>> = out.drain(base..).map(J::unwrap).collect();
                all.push(task);
                all.extend(tasks);
                return Err(SubmitBatchError::Refused {
                    tasks: all,
                    index,
                    reason,
                });
            }
            out.push(J::wrap(task.job));
        }
        if out.len() > base && !self.has_room((out.len() - base) as u64) {
            return Err(SubmitBatchError::Full(
                out.drain(base..).map(J::unwrap).collect(),
            ));
        }
        Ok(())
    }

    /// Gives accepted jobs consecutive ids and one submission time, and
    /// marks them `detached` (no handles) or not.
    pub(super) fn stamp_batch<'a>(
        &self,
        first: u64,
        cores: impl ExactSizeIterator<Item = &'a mut JobCore>,
        detached: bool,
    ) {
        let now = crate::clock::now_nanos();
        for (k, core) in cores.enumerate() {
            core.submit(TaskId(first + k as u64), now, detached);
        }
    }

    /// Records stamped jobs in the ledger (one cohort) and sends them on
    /// their way: into `pin`'s queue, or placed.
    pub(super) fn enqueue(
        &self,
        refs: impl ExactSizeIterator<Item = JobRef> + Clone,
        pin: Option<NodeId>,
    ) {
        self.shared.plane.ledger.admit(refs.clone());
        match pin {
            Some(node) => self.push_fresh(node, refs),
            None => self.place(refs),
        }
    }

    /// Pushes a just-submitted batch into `node`; a refused batch goes to
    /// the supervisor, still `Pending`.
    ///
    /// Why no compare-and-swap per job is needed to mark it `Queued`: until
    /// the push, no one else can reach these jobs. Their handles are not
    /// returned yet, `shutdown_now` drains the ledger only after taking the
    /// state lock the caller reads under, and no queue holds them. The
    /// same holds for a batch the submitter places itself (`place`).
    pub(super) fn push_fresh(&self, node: NodeId, jobs: impl Iterator<Item = JobRef>) {
        if let Err(back) = self.shared.plane.nodes[node.0].push_fresh(jobs) {
            self.send_to_supervisor(back.collect());
        }
    }

    /// A detached batch: the pipeline into this thread's scratch buffer of
    /// bare references.
    pub(super) fn admit_detached<T: Send + 'static>(
        &self,
        tasks: impl Iterator<Item = Task<T>>,
        pin: Option<NodeId>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        thread_local! {
            /// The batch being admitted: its buffer is kept for the next.
            static SCRATCH: std::cell::RefCell<Vec<Detached>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.admit_batch(tasks, pin, &mut scratch),
            // Re-entered (from a task's drop?): a fresh buffer.
            Err(_) => self.admit_batch(tasks, pin, &mut Vec::<Detached>::new()),
        })
    }

    /// Admits jobs already built (fork-join's subtasks, type-erased) as one
    /// batch with handles: steps 1 and 2 of the pipeline on references,
    /// then its step 3. On refusal `jobs` is as it was.
    pub(super) fn admit_built(&self, jobs: &mut Vec<JobRef>) -> Result<(), Rejection> {
        let shutting_down = Rejection::Refused {
            index: 0,
            reason: Refusal::ShuttingDown,
        };
        if self.is_closed(&self.shared.state.read()) {
            return Err(shutting_down);
        }
        for (index, job) in jobs.iter().enumerate() {
            self.check(&**job, None)
                .map_err(|reason| Rejection::Refused { index, reason })?;
        }
        if !jobs.is_empty() && !self.has_room(jobs.len() as u64) {
            return Err(Rejection::Full);
        }
        self.commit(jobs, 0, None)
            .map_err(|reason| Rejection::Refused { index: 0, reason })
    }

    /// Places jobs just submitted (`Pending`, in order, reachable by no one
    /// else yet) on nodes: here and now when nothing waits at the
    /// supervisor and no one else is placing, through the supervisor
    /// otherwise (and for whatever cannot be placed now).
    pub(super) fn place(&self, jobs: impl Iterator<Item = JobRef>) {
        thread_local! {
            /// The batch being placed: its buffer is kept for the next one.
            static BATCH: std::cell::RefCell<Vec<JobRef>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let direct = if self.shared.plane.backlog.is_empty() {
            self.shared.plane.dispatcher.try_lock()
        } else {
            None
        };
        let jobs: Vec<JobRef> = match direct {
            Some(mut d) => BATCH.with(|b| {
                // Re-entered (a policy that submits?): a fresh buffer.
                let mut fresh = Vec::new();
                let mut scratch = b.try_borrow_mut();
                let batch = match scratch.as_deref_mut() {
                    Ok(batch) => batch,
                    Err(_) => &mut fresh,
                };
                batch.extend(jobs);
                let mut held = Vec::new();
                let plane = &self.shared.plane;
                d.place(&plane.nodes, &plane.ledger, batch, &mut held, true);
                held
            }),
            None => jobs.collect(),
        };
        if !jobs.is_empty() {
            self.send_to_supervisor(jobs);
        }
    }

    pub(super) fn send_to_supervisor(&self, jobs: Inbound) {
        let n = jobs.len();
        // Counted before it is visible, so no submitter places around it.
        self.shared.plane.backlog.add(n);
        // The receiver lives as long as the supervisor; if it is gone the
        // runtime is stopping and shutdown settles these from the ledger.
        let _ = self.shared.inbox.send(jobs);
        if !self
            .shared
            .plane
            .drain_scheduled
            .swap(true, Ordering::SeqCst)
        {
            self.shared.supervisor.do_send(Drain);
        }
    }
}

fn excess(demand: &Resources, capacity: &Resources) -> Infeasibility {
    let (resource, want, have) = demand.first_excess(capacity).unwrap_or(("resources", 0, 0));
    Infeasibility {
        resource,
        demand: want,
        largest_capacity: have,
    }
}

/// The core of a job not yet submitted, which no one else holds yet.
pub(super) fn unsubmitted_core<J: ErasedJob + ?Sized>(job: &mut Arc<J>) -> &mut JobCore {
    Arc::get_mut(job)
        .expect("a task is not shared before it is submitted")
        .core_mut()
}

/// What a batch's jobs are held in between checking and committing.
pub(super) trait Staged: Sized {
    /// Whether the jobs have no handles (`JobCore::submit`'s `detached`).
    const DETACHED: bool;

    /// The job's core, still unshared.
    fn core_mut(&mut self) -> &mut JobCore;

    /// The job.
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    fn job(&self) -> &dyn ErasedJob;

    /// Records `out[base..]` in the ledger as one cohort and sends the jobs
    /// into `pin`'s inbox or to placement.
    fn send(h: &RuntimeHandle, out: &mut Vec<Self>, base: usize, pin: Option<NodeId>);
}

/// A [`Staged`] form a typed task goes into and comes back out of.
pub(super) trait Collected<T>: Staged {
    fn wrap(job: Arc<dyn TypedJob<T>>) -> Self;
    fn unwrap(self) -> Task<T>;
}

/// Handles: the caller keeps them; the ledger and the queues get clones.
impl<T: Send + 'static> Staged for TaskHandle<T> {
    const DETACHED: bool = false;

    #[inline]
    fn core_mut(&mut self) -> &mut JobCore {
        unsubmitted_core(&mut self.inner)
    }

    fn job(&self) -> &dyn ErasedJob {
        &*self.inner
    }

    #[inline]
    fn send(h: &RuntimeHandle, out: &mut Vec<Self>, base: usize, pin: Option<NodeId>) {
        h.enqueue(
            out[base..].iter().map(|t| Arc::clone(&t.inner) as JobRef),
            pin,
        );
    }
}

impl<T: Send + 'static> Collected<T> for TaskHandle<T> {
    #[inline]
    fn wrap(inner: Arc<dyn TypedJob<T>>) -> Self {
        TaskHandle { inner }
    }

    #[inline]
    fn unwrap(self) -> Task<T> {
        Task { job: self.inner }
    }
}

/// Built jobs whose caller keeps the references (fork-join's subtasks).
impl Staged for JobRef {
    const DETACHED: bool = false;

    #[inline]
    fn core_mut(&mut self) -> &mut JobCore {
        unsubmitted_core(self)
    }

    fn job(&self) -> &dyn ErasedJob {
        &**self
    }

    #[inline]
    fn send(h: &RuntimeHandle, out: &mut Vec<Self>, base: usize, pin: Option<NodeId>) {
        h.enqueue(out[base..].iter().cloned(), pin);
    }
}

/// A job of a detached batch: no handle, so the queues take the buffer's
/// references themselves (only the ledger gets clones).
pub(super) struct Detached(JobRef);

impl Staged for Detached {
    const DETACHED: bool = true;

    #[inline]
    fn core_mut(&mut self) -> &mut JobCore {
        unsubmitted_core(&mut self.0)
    }

    fn job(&self) -> &dyn ErasedJob {
        &*self.0
    }

    #[inline]
    fn send(h: &RuntimeHandle, out: &mut Vec<Self>, base: usize, pin: Option<NodeId>) {
        h.shared
            .plane
            .ledger
            .admit(out[base..].iter().map(|d| JobRef::clone(&d.0)));
        let jobs = out.drain(base..).map(|d| d.0);
        match pin {
            Some(node) => h.push_fresh(node, jobs),
            None => h.place(jobs),
        }
    }
}

impl<T: Send + 'static> Collected<T> for Detached {
    #[inline]
    fn wrap(job: Arc<dyn TypedJob<T>>) -> Self {
        Detached(job)
    }

    /// Back to a typed task on refusal: the same allocation, boxed once.
    #[inline]
    fn unwrap(self) -> Task<T> {
        Task {
            job: *self
                .0
                .into_typed()
                .downcast::<Arc<dyn TypedJob<T>>>()
                .expect("a batch holds tasks of one type"),
        }
    }
}
