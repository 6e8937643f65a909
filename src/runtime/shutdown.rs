//! Shutdown: draining, stopping the actors, ending every node's
//! incarnation, and reporting what was handed back or abandoned.

use super::core::RunState;
use super::handle::RuntimeHandle;
use crate::balancer::StopBalancer;
use crate::clock;
use crate::error::CancelReason;
use crate::ids::TaskId;
use crate::job::{self, HandedBack, JobRef, Rerun, TaskInner};
use crate::metrics::{AbandonReason, AbandonedAttempt, Metrics};
use crate::spec::TaskSpec;
use crate::supervisor::Stop;
use crate::task::Task;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a shutdown waits for the executor threads it ended to exit.
/// Executors not running task code exit within microseconds; those running
/// abandoned code are not waited for at all.
const EXECUTOR_EXIT_GRACE: Duration = Duration::from_secs(5);

/// What [`shutdown_now`](RuntimeHandle::shutdown_now) and
/// [`shutdown_timeout`](RuntimeHandle::shutdown_timeout) leave behind.
///
/// `unfinished` are the tasks they cancelled, handed back whole; `abandoned`
/// the attempts whose code was still running when the runtime stopped and
/// which it did not wait for (a thread cannot be killed). Every executor
/// thread not running such code has exited when the call returns.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Tasks cancelled by the shutdown, in submission order.
    pub unfinished: Vec<UnfinishedTask>,
    /// Attempts still running code the runtime let go of, in task id order
    /// (the same list as [`Metrics::abandoned`] at that moment).
    pub abandoned: Vec<AbandonedAttempt>,
}

impl ShutdownReport {
    /// Whether nothing was cancelled and no code was left running.
    pub fn is_clean(&self) -> bool {
        self.unfinished.is_empty() && self.abandoned.is_empty()
    }
}

impl RuntimeHandle {
    /// Tasks accepted and not ended, as the ledger counts them: its entries
    /// less the completions executors hold for a batched release (an
    /// executor let go of may hold them for as long as its code runs).
    /// What [`Totals::live`] reports and what `shutdown` waits for. Never
    /// understates: the ledger is read first, and a node counts a release
    /// before it makes it.
    pub(super) fn live(&self) -> u64 {
        let entries = self.shared.plane.ledger.live() as u64;
        let unsettled: u64 = self.shared.plane.nodes.iter().map(|n| n.unsettled()).sum();
        entries.saturating_sub(unsettled)
    }

    /// Stops accepting tasks, waits until every accepted task has reached a
    /// terminal state, then stops every actor and thread. Returns the final
    /// metrics. Calling it again returns at once.
    ///
    /// Blocks the calling thread; do not call it from inside a task.
    pub fn shutdown(&self) -> Metrics {
        let report = self.drain_then_stop(None);
        debug_assert!(
            report.unfinished.is_empty() || *self.shared.state.read() == RunState::Stopped
        );
        self.metrics()
    }

    /// [`shutdown`](Self::shutdown) with a bound on the wait: stops
    /// accepting tasks, waits up to `timeout` for every accepted task to
    /// reach a terminal state, then does what
    /// [`shutdown_now`](Self::shutdown_now) does with whatever is left: each
    /// unfinished task is cancelled ([`CancelReason::Shutdown`]) and handed
    /// back, in submission order. Returns them (none if everything ended in
    /// time); [`metrics`](Self::metrics) still answers afterwards.
    ///
    /// Blocks the calling thread for at most about `timeout` (plus the time
    /// the actor threads take to stop); do not call it from inside a task.
    ///
    /// # Examples
    ///
    /// ```
    /// use allot::{NodeSpec, Resources, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let runtime = Runtime::builder()
    ///     .nodes([NodeSpec::new(Resources::cpu(1_000))])
    ///     .build()?;
    /// let task = runtime.handle().submit(Task::new(|_| Ok::<_, String>(2 + 2)))?;
    /// let report = runtime.shutdown_timeout(Duration::from_secs(10));
    /// assert!(report.is_clean());
    /// assert_eq!(task.wait()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> ShutdownReport {
        // A timeout too long to represent waits as `shutdown` does.
        self.drain_then_stop(clock::deadline_after(timeout))
    }

    /// Stops accepting tasks, waits until none is live (or `deadline`, or
    /// a stop by someone else), then stops.
    fn drain_then_stop(&self, deadline: Option<Instant>) -> ShutdownReport {
        {
            let mut st = self.shared.state.write();
            if *st == RunState::Running {
                *st = RunState::Draining;
            }
        }
        // Woken as tasks leave the ledger; the timeout covers a wake-up
        // that raced with going to sleep.
        const LOOK_AGAIN: Duration = Duration::from_millis(5);
        let ledger = &self.shared.plane.ledger;
        while self.live() > 0 && *self.shared.state.read() == RunState::Draining {
            let wait = match deadline {
                None => LOOK_AGAIN,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(LOOK_AGAIN),
                    _ => break,
                },
            };
            ledger.wait_for_space(wait);
        }
        self.shutdown_now()
    }

    /// Stops now. Every task not yet finished is cancelled (its handle sees
    /// [`TaskError::Cancelled`](crate::TaskError::Cancelled) with [`CancelReason::Shutdown`]) and handed
    /// back, in submission order. Attempts still running are abandoned; their
    /// results are ignored.
    pub fn shutdown_now(&self) -> ShutdownReport {
        {
            let mut st = self.shared.state.write();
            if *st == RunState::Stopped {
                return ShutdownReport::default();
            }
            *st = RunState::Stopped;
        }
        #[cfg(feature = "dashboard")]
        {
            let dashboard = self.shared.dashboard.lock().take();
            if let Some(d) = dashboard {
                d.stop();
            }
        }
        let ledger = &self.shared.plane.ledger;
        let mut out = Vec::new();
        for job in ledger.drain_live() {
            if job::cancel(&*job, CancelReason::Shutdown) {
                out.push(UnfinishedTask { job });
            } else {
                // It reached a terminal state while we drained: count it here,
                // since whoever finished it found it gone from the ledger.
                ledger.count_terminal(job.core().phase());
            }
        }
        ledger.add_cancelled(out.len() as u64);
        self.shared.balancer.do_send(StopBalancer);
        self.shared.supervisor.do_send(Stop);
        self.shared.system.stop();
        let thread = self.shared.thread.lock().take();
        if let Some(t) = thread {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        // The supervisor may have stopped before its `Stop`: end every
        // node's incarnation here too (a second eviction finds nothing),
        // so that every executor not running abandoned code exits, and
        // wait for those.
        for node in &self.shared.plane.nodes {
            drop(node.evict_all(AbandonReason::Shutdown));
        }
        let deadline = Instant::now() + EXECUTOR_EXIT_GRACE;
        let inside = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("allot-"));
        let left: usize = if inside {
            // Called from a task: this executor cannot wait for itself.
            0
        } else {
            self.shared
                .plane
                .nodes
                .iter()
                .map(|n| n.join_executors(deadline))
                .sum()
        };
        let abandoned = self.metrics().abandoned;
        if !abandoned.is_empty() {
            let tasks: Vec<String> = abandoned.iter().map(|a| a.task.0.to_string()).collect();
            tracing::warn!(
                count = abandoned.len(),
                tasks = %tasks.join(","),
                threads = left,
                "runtime.abandoned"
            );
        }
        // Outcomes queued for the journal are on disk when this returns,
        // and the file is closed (another runtime may open it).
        #[cfg(feature = "journal")]
        if let Some(j) = &self.shared.journal {
            j.close();
        }
        tracing::info!(
            unfinished = out.len(),
            abandoned = abandoned.len(),
            "runtime.stop"
        );
        ShutdownReport {
            unfinished: out,
            abandoned,
        }
    }
}

/// A task that [`shutdown_now`](RuntimeHandle::shutdown_now) handed back.
pub struct UnfinishedTask {
    pub(super) job: JobRef,
}

impl fmt::Debug for UnfinishedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnfinishedTask")
            .field("id", &self.job.core().id)
            .finish_non_exhaustive()
    }
}

impl UnfinishedTask {
    /// Its id in the stopped runtime.
    pub fn id(&self) -> TaskId {
        self.job.core().id
    }

    /// Its spec.
    pub fn spec(&self) -> TaskSpec {
        self.job.core().spec.unpack()
    }

    /// The task itself, ready to submit elsewhere, if its result type is `T`.
    ///
    /// # Errors
    ///
    /// `self` back when `T` is not the task's result type.
    pub fn into_task<T: Send + 'static>(self) -> Result<Task<T>, UnfinishedTask> {
        let job = JobRef::clone(&self.job);
        match job.handed_back().downcast::<HandedBack<T>>() {
            Ok(back) => {
                let (spec, source) = *back;
                let core = crate::job::JobCore::unsubmitted(spec);
                Ok(Task {
                    job: Arc::new(TaskInner::new(core, Rerun(source))),
                })
            }
            Err(_) => Err(self),
        }
    }
}
