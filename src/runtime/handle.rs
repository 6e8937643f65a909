//! [`RuntimeHandle`]: submitting tasks, injecting faults, reading
//! metrics.

use super::core::{Core, RunState};
use crate::clock;
use crate::error::{
    InjectError, SubmitBatchError, SubmitError, SubmitTimeoutError, SubmitWaitError,
};
use crate::fault::{self, Fault, FaultPlan};
use crate::ids::NodeId;
use crate::metrics::{AbandonedAttempt, LatencySummary, Metrics, Totals};
use crate::node::NodeSpec;
use crate::supervision::Health;
use crate::supervisor::{Inject, ScheduleSpeed};
use crate::task::Task;
use crate::task_handle::TaskHandle;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Submits tasks and controls a [`Runtime`](crate::Runtime).
///
/// # The submit methods
///
/// Named by one rule, `submit[_batch[_into | _detached]][_to]`, plus
/// `submit_wait[_timeout]`:
///
/// | part | means |
/// |---|---|
/// | `submit` | one task, a [`TaskHandle`] back; never blocks: a full queue is [`SubmitError::Full`](crate::SubmitError::Full) |
/// | `_batch` | many tasks, accepted whole or refused whole (every task handed back) |
/// | `_into` | the handles appended to the caller's vector (reused batch after batch) |
/// | `_detached` | no handles: each task still ends exactly once, counted in the metrics |
/// | `_to` | first placement pinned to a node (skips the policy) |
/// | `submit_wait` | blocks while the queue is full instead of refusing |
/// | `_timeout` | … for at most that long |
///
/// Each has its own error type, which says only what can happen and hands
/// back what was not accepted: [`SubmitError`](crate::SubmitError),
/// [`SubmitBatchError`](crate::SubmitBatchError),
/// [`SubmitWaitError`](crate::SubmitWaitError),
/// [`SubmitTimeoutError`](crate::SubmitTimeoutError). `Clone + Send + Sync`; usable
/// from plain threads and from async code (no call here blocks except
/// [`shutdown`](RuntimeHandle::shutdown)).
#[derive(Clone)]
pub struct RuntimeHandle {
    pub(super) shared: Arc<Core>,
}

impl fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeHandle")
            .field("nodes", &self.shared.plane.nodes.len())
            .finish_non_exhaustive()
    }
}

impl RuntimeHandle {
    /// Submits one task.
    ///
    /// # Errors
    ///
    /// Hands the task back in a [`SubmitError`]: `Full` when
    /// [`Builder::queue_capacity`](crate::Builder::queue_capacity) tasks are in flight, `ShuttingDown`,
    /// `Infeasible` when no node could ever fit its demand, or `Invalid`
    /// naming a bad spec field.
    pub fn submit<T: Send + 'static>(
        &self,
        task: Task<T>,
    ) -> Result<TaskHandle<T>, SubmitError<Task<T>>> {
        self.admit_one(task, None)
    }

    /// Submits a task whose first placement is on `node` (soft affinity:
    /// after a failure it may run anywhere). Skips the policy and the
    /// supervisor's queue when the node is available.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit); `Infeasible` also when `node` does not
    /// exist or cannot fit the task.
    pub fn submit_to<T: Send + 'static>(
        &self,
        node: NodeId,
        task: Task<T>,
    ) -> Result<TaskHandle<T>, SubmitError<Task<T>>> {
        self.admit_one(task, Some(node))
    }

    /// Submits many tasks at once: accepted whole or refused whole. This is
    /// the fast path: one message to the supervisor, one allocation, one
    /// push per node.
    ///
    /// # Errors
    ///
    /// A [`SubmitBatchError`] holding every task, the index of the first one
    /// that could not be accepted and why.
    pub fn submit_batch<T: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<Vec<TaskHandle<T>>, SubmitBatchError<Task<T>>> {
        self.admit(tasks.into_iter(), None)
    }

    /// Submits many tasks without handles: fire and forget. Each still
    /// ends in exactly one terminal state, counted in [`metrics`](Self::metrics),
    /// and its value is dropped. Cheaper than [`submit_batch`](Self::submit_batch)
    /// by the vector of handles.
    ///
    /// # Errors
    ///
    /// As [`submit_batch`](Self::submit_batch): every task is handed back.
    pub fn submit_batch_detached<T: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        self.admit_detached(tasks.into_iter(), None)
    }

    /// [`submit_batch_detached`](Self::submit_batch_detached) with every
    /// task's first placement on `node`.
    ///
    /// # Errors
    ///
    /// As [`submit_batch_to`](Self::submit_batch_to).
    pub fn submit_batch_detached_to<T: Send + 'static>(
        &self,
        node: NodeId,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<(), SubmitBatchError<Task<T>>> {
        self.admit_detached(tasks.into_iter(), Some(node))
    }

    /// [`submit_batch`](Self::submit_batch), appending the handles to
    /// `handles` instead of returning a new vector: for callers that submit
    /// batch after batch and keep (or reuse) one buffer. Returns how many
    /// handles it appended.
    ///
    /// # Errors
    ///
    /// As [`submit_batch`](Self::submit_batch); `handles` is then as it was.
    pub fn submit_batch_into<T: Send + 'static>(
        &self,
        tasks: impl IntoIterator<Item = Task<T>>,
        handles: &mut Vec<TaskHandle<T>>,
    ) -> Result<usize, SubmitBatchError<Task<T>>> {
        let before = handles.len();
        self.admit_batch(tasks.into_iter(), None, handles)?;
        Ok(handles.len() - before)
    }

    /// Submits many tasks whose first placement is on `node`.
    ///
    /// # Errors
    ///
    /// As [`submit_batch`](Self::submit_batch).
    pub fn submit_batch_to<T: Send + 'static>(
        &self,
        node: NodeId,
        tasks: impl IntoIterator<Item = Task<T>>,
    ) -> Result<Vec<TaskHandle<T>>, SubmitBatchError<Task<T>>> {
        self.admit(tasks.into_iter(), Some(node))
    }

    /// [`submit_batch_into`](Self::submit_batch_into) with every task's
    /// first placement on `node`.
    ///
    /// # Errors
    ///
    /// As [`submit_batch`](Self::submit_batch); `handles` is then as it was.
    pub fn submit_batch_into_to<T: Send + 'static>(
        &self,
        node: NodeId,
        tasks: impl IntoIterator<Item = Task<T>>,
        handles: &mut Vec<TaskHandle<T>>,
    ) -> Result<usize, SubmitBatchError<Task<T>>> {
        let before = handles.len();
        self.admit_batch(tasks.into_iter(), Some(node), handles)?;
        Ok(handles.len() - before)
    }

    /// Injects a fault now.
    ///
    /// # Errors
    ///
    /// [`InjectError`] for an unknown node, a bad parameter, or a runtime
    /// that is shutting down.
    pub fn inject(&self, fault: Fault) -> Result<(), InjectError> {
        let node = match &fault {
            Fault::PanicNode { node } | Fault::StopNode { node } | Fault::CrashNode { node } => {
                *node
            }
            Fault::SlowNode { node, factor } => {
                if !(factor.is_finite() && *factor > 0.0) {
                    return Err(InjectError::InvalidParameter {
                        field: "factor",
                        value: *factor,
                    });
                }
                *node
            }
        };
        if node.0 >= self.shared.plane.nodes.len() {
            return Err(InjectError::UnknownNode(node));
        }
        if *self.shared.state.read() == RunState::Stopped {
            return Err(InjectError::ShuttingDown);
        }
        tracing::info!(%fault, "fault.inject");
        self.shared.supervisor.do_send(Inject(fault));
        Ok(())
    }

    /// Adds a fault plan to the running runtime. Count triggers count each
    /// node's tasks since the runtime started; time triggers count from the
    /// runtime's start too (a time already past fires at once).
    ///
    /// # Errors
    ///
    /// [`InjectError::InvalidPlan`] naming the first bad entry, or
    /// [`InjectError::ShuttingDown`].
    pub fn inject_plan(&self, plan: &FaultPlan) -> Result<(), InjectError> {
        let n = self.shared.plane.nodes.len();
        plan.validate(n)
            .map_err(|(index, reason)| InjectError::InvalidPlan { index, reason })?;
        if *self.shared.state.read() == RunState::Stopped {
            return Err(InjectError::ShuttingDown);
        }
        let base = self
            .shared
            .fault_index
            .fetch_add(plan.faults.len() as u64, Ordering::Relaxed);
        let (per_node, speed) = fault::compile(plan, self.shared.rng_seed, n, base);
        for (node, f) in self.shared.plane.nodes.iter().zip(&per_node) {
            node.add_faults(f);
        }
        if !speed.is_empty() {
            self.shared.supervisor.do_send(ScheduleSpeed(speed));
        }
        tracing::info!(faults = plan.faults.len(), "fault.plan");
        Ok(())
    }

    /// The runtime's health: `Degraded` once a node is retired, `Stopped`
    /// after an escalation stopped it.
    pub fn health(&self) -> Health {
        self.shared.plane.health.get()
    }

    /// Like [`submit`](Self::submit), but while the queue is full it blocks
    /// until there is room (backpressure instead of an error).
    ///
    /// # Errors
    ///
    /// A [`SubmitWaitError`] with the task and the [`Refusal`](crate::Refusal).
    pub fn submit_wait<T: Send + 'static>(
        &self,
        task: Task<T>,
    ) -> Result<TaskHandle<T>, SubmitWaitError<Task<T>>> {
        let mut task = task;
        loop {
            match self.admit_one(task, None) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(t)) => {
                    task = t;
                    self.shared
                        .plane
                        .ledger
                        .wait_for_space(Duration::from_millis(5));
                }
                Err(SubmitError::Refused { task, reason }) => {
                    return Err(SubmitWaitError { task, reason })
                }
            }
        }
    }

    /// Like [`submit_wait`](Self::submit_wait), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`SubmitTimeoutError::Timeout`] once `timeout` has passed with the
    /// queue still full, or `Refused` with the [`Refusal`](crate::Refusal).
    pub fn submit_wait_timeout<T: Send + 'static>(
        &self,
        task: Task<T>,
        timeout: Duration,
    ) -> Result<TaskHandle<T>, SubmitTimeoutError<Task<T>>> {
        // A deadline past the clock's range is no deadline.
        let deadline = clock::deadline_after(timeout);
        let mut task = task;
        loop {
            match self.admit_one(task, None) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(t)) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(SubmitTimeoutError::Timeout(t));
                    }
                    task = t;
                    let left = deadline.map_or(Duration::MAX, |d| d - now);
                    let wait = left.min(Duration::from_millis(5));
                    self.shared.plane.ledger.wait_for_space(wait);
                }
                Err(SubmitError::Refused { task, reason }) => {
                    return Err(SubmitTimeoutError::Refused { task, reason })
                }
            }
        }
    }

    /// The nodes' specs, in id order.
    pub fn nodes(&self) -> Vec<NodeSpec> {
        self.shared
            .plane
            .nodes
            .iter()
            .map(|n| n.spec.clone())
            .collect()
    }

    /// Where the dashboard listens (feature `dashboard`), while it serves.
    #[cfg(feature = "dashboard")]
    pub fn dashboard_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.dashboard.lock().as_ref().map(|d| d.addr())
    }

    /// Every node's latency histogram (microseconds, submission to
    /// completion), merged.
    #[cfg(feature = "dashboard")]
    pub(crate) fn latency_histogram(&self) -> hdrhistogram::Histogram<u64> {
        let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2)
            .expect("valid histogram bounds");
        for n in &self.shared.plane.nodes {
            let _ = hist.add(n.metrics().1);
        }
        hist
    }

    /// A snapshot of every counter. Reads shared counters; sends no message.
    pub fn metrics(&self) -> Metrics {
        let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2)
            .expect("valid histogram bounds");
        // The ledger first: a task counted complete below was submitted
        // before this read, so `in_flight` never overstates.
        let t = self.shared.plane.ledger.totals();
        let unsettled: u64 = self.shared.plane.nodes.iter().map(|n| n.unsettled()).sum();
        let mut nodes = Vec::with_capacity(self.shared.plane.nodes.len());
        for n in &self.shared.plane.nodes {
            let (m, h) = n.metrics();
            let _ = hist.add(h);
            nodes.push(m);
        }
        let node_completed: u64 = nodes.iter().map(|m| m.completed).sum();
        let totals = Totals {
            submitted: t.submitted,
            completed: node_completed,
            failed: t.failed,
            cancelled: t.cancelled,
            retried: t.retried,
            in_flight: t
                .submitted
                .saturating_sub(node_completed + t.failed + t.cancelled),
            // The ledger holds completed tasks until their node settles
            // them in a batch; they are no longer in flight.
            live: t.live.saturating_sub(unsettled),
            restarts: self.shared.plane.restarts.load(Ordering::Relaxed),
            migrations: nodes.iter().map(|m| m.migrations_in).sum(),
        };
        let now = clock::now_nanos();
        let mut abandoned: Vec<AbandonedAttempt> = self
            .shared
            .plane
            .nodes
            .iter()
            .flat_map(|n| n.abandoned(now))
            .collect();
        abandoned.sort_by_key(|a| a.task);
        Metrics {
            nodes,
            totals,
            latency: LatencySummary::from_histogram(&hist),
            balancer_rounds: self.shared.plane.rounds.load(Ordering::Relaxed),
            health: self.shared.plane.health.get(),
            abandoned,
            #[cfg(feature = "cluster")]
            cluster: self.shared.cluster.as_ref().map(|c| c.metrics()),
            #[cfg(not(feature = "cluster"))]
            cluster: None,
        }
    }
}
