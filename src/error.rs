//! Error types, one per operation. Errors that refuse a task hand it back.

use crate::ids::NodeId;
use crate::spec::SpecError;
use crate::task::Task;
use std::fmt;

/// Why no node could ever run a task: its demand exceeds every node's
/// capacity.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Infeasibility {
    /// The resource that does not fit on the largest node for it.
    pub resource: &'static str,
    /// What the task asks for.
    pub demand: u64,
    /// The most any single node offers.
    pub largest_capacity: u64,
}

impl fmt::Display for Infeasibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demand {}={} exceeds every node (largest offers {})",
            self.resource, self.demand, self.largest_capacity
        )
    }
}

/// Why [`submit`](crate::RuntimeHandle::submit) refused a task. Every variant
/// hands the task back: see [`into_inner`](SubmitError::into_inner).
#[non_exhaustive]
pub enum SubmitError<T> {
    /// The submission queue is at its bound; try again later.
    Full(Task<T>),
    /// The runtime is shutting down or has stopped.
    ShuttingDown(Task<T>),
    /// A subtask was spawned from an attempt that has already been
    /// abandoned (cancelled, timed out, or lost with its node).
    ParentAbandoned(Task<T>),
    /// No node could ever fit the task.
    Infeasible {
        /// The refused task.
        task: Task<T>,
        /// Which resource does not fit.
        reason: Infeasibility,
    },
    /// A field of the task's spec is invalid.
    Invalid {
        /// The refused task.
        task: Task<T>,
        /// Which field, and why.
        error: SpecError,
    },
}

impl<T> SubmitError<T> {
    /// The task that was not accepted.
    pub fn into_inner(self) -> Task<T> {
        match self {
            SubmitError::Full(task)
            | SubmitError::ShuttingDown(task)
            | SubmitError::ParentAbandoned(task)
            | SubmitError::Infeasible { task, .. }
            | SubmitError::Invalid { task, .. } => task,
        }
    }

    /// Whether the queue was full (backpressure: retrying later may work).
    pub fn is_full(&self) -> bool {
        matches!(self, SubmitError::Full(_))
    }

    /// Whether the runtime is shutting down.
    pub fn is_shutting_down(&self) -> bool {
        matches!(self, SubmitError::ShuttingDown(_))
    }

    /// Whether no node could ever fit the task.
    pub fn is_infeasible(&self) -> bool {
        matches!(self, SubmitError::Infeasible { .. })
    }

    /// Whether the task's spec was invalid.
    pub fn is_invalid(&self) -> bool {
        matches!(self, SubmitError::Invalid { .. })
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("Full(..)"),
            SubmitError::ShuttingDown(_) => f.write_str("ShuttingDown(..)"),
            SubmitError::ParentAbandoned(_) => f.write_str("ParentAbandoned(..)"),
            SubmitError::Infeasible { reason, .. } => f
                .debug_struct("Infeasible")
                .field("reason", reason)
                .finish_non_exhaustive(),
            SubmitError::Invalid { error, .. } => f
                .debug_struct("Invalid")
                .field("error", error)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("submission queue is full"),
            SubmitError::ShuttingDown(_) => f.write_str("runtime is shutting down"),
            SubmitError::ParentAbandoned(_) => f.write_str("parent attempt was abandoned"),
            SubmitError::Infeasible { reason, .. } => write!(f, "task is infeasible: {reason}"),
            SubmitError::Invalid { error, .. } => write!(f, "task is invalid: {error}"),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubmitError::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why [`submit_batch`](crate::RuntimeHandle::submit_batch) refused a batch.
///
/// A batch is accepted whole or not at all; on refusal every task comes back,
/// in order, and `index` points at the first task that caused it.
pub struct SubmitBatchError<T> {
    /// Every task of the batch, in submission order.
    pub tasks: Vec<Task<T>>,
    /// The index of the first task that could not be accepted.
    pub index: usize,
    /// Why the task at `index` was refused.
    pub kind: SubmitErrorKind,
}

/// The kind of a submission failure, without the task.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SubmitErrorKind {
    /// The submission queue is at its bound.
    Full,
    /// The runtime is shutting down.
    ShuttingDown,
    /// No node could ever fit the task.
    Infeasible(Infeasibility),
    /// A field of the spec is invalid.
    Invalid(SpecError),
}

impl fmt::Display for SubmitErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitErrorKind::Full => f.write_str("submission queue is full"),
            SubmitErrorKind::ShuttingDown => f.write_str("runtime is shutting down"),
            SubmitErrorKind::Infeasible(r) => write!(f, "task is infeasible: {r}"),
            SubmitErrorKind::Invalid(e) => write!(f, "task is invalid: {e}"),
        }
    }
}

impl<T> SubmitBatchError<T> {
    /// The whole batch refused for one reason, none of it looked at.
    pub(crate) fn whole(tasks: impl Iterator<Item = Task<T>>, kind: SubmitErrorKind) -> Self {
        SubmitBatchError {
            tasks: tasks.collect(),
            index: 0,
            kind,
        }
    }

    /// Every task of the batch, in order.
    pub fn into_inner(self) -> Vec<Task<T>> {
        self.tasks
    }

    /// Whether the batch was refused because the queue is full.
    pub fn is_full(&self) -> bool {
        self.kind == SubmitErrorKind::Full
    }
}

impl<T> fmt::Debug for SubmitBatchError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitBatchError")
            .field("len", &self.tasks.len())
            .field("index", &self.index)
            .field("kind", &self.kind)
            .finish()
    }
}

impl<T> fmt::Display for SubmitBatchError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch refused at task {}: {}", self.index, self.kind)
    }
}

impl<T> std::error::Error for SubmitBatchError<T> {}

/// Why [`Builder::build`](crate::Builder::build) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range; names the setting and the value.
    InvalidConfig {
        /// The setting at fault, e.g. `queue_capacity` or `nodes.speed`.
        field: &'static str,
        /// For a per-node setting (`nodes.*`), the node's index.
        index: Option<usize>,
        /// What is wrong with it.
        reason: String,
    },
    /// A thread could not be started.
    Spawn(std::io::Error),
    /// The runtime needs more threads than this machine lets the process
    /// start: one per executor slot and one per node, plus two. Checked
    /// before any thread starts.
    TooManyThreads {
        /// Threads the configuration needs.
        needed: usize,
        /// Threads the process may still start (the smallest of the
        /// kernel's `threads-max`, the process limit and half the kernel's
        /// `max_map_count`, less the threads running now).
        limit: usize,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidConfig {
                field,
                index: Some(i),
                reason,
            } => {
                // `nodes.speed` of node 3 reads `nodes[3].speed`.
                let (list, rest) = field.split_once('.').unwrap_or((field, ""));
                let dot = if rest.is_empty() { "" } else { "." };
                write!(f, "invalid `{list}[{i}]{dot}{rest}`: {reason}")
            }
            BuildError::InvalidConfig {
                field,
                index: None,
                reason,
            } => write!(f, "invalid `{field}`: {reason}"),
            BuildError::Spawn(_) => f.write_str("failed to start a runtime thread"),
            BuildError::TooManyThreads { needed, limit } => write!(
                f,
                "the nodes need {needed} threads (one per slot and one per node, plus 2), \
                 but this machine lets the process start at most {limit} more"
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            BuildError::InvalidConfig { .. } | BuildError::TooManyThreads { .. } => None,
        }
    }
}

/// How one attempt of a task failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptFailure {
    /// The task returned an error.
    Error(crate::spec::BoxError),
    /// The task panicked; holds the panic message.
    Panicked(String),
    /// The attempt ran past the task's timeout.
    TimedOut,
    /// The node running or holding the task failed.
    NodeLost,
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptFailure::Error(e) => write!(f, "task error: {e}"),
            AttemptFailure::Panicked(msg) => write!(f, "task panicked: {msg}"),
            AttemptFailure::TimedOut => f.write_str("attempt timed out"),
            AttemptFailure::NodeLost => f.write_str("node lost"),
        }
    }
}

/// One failed attempt: which, where, and how.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptError {
    /// The attempt number (0 is the first run).
    pub attempt: u32,
    /// The node it ran on, if it had started.
    pub node: Option<NodeId>,
    /// What went wrong.
    pub failure: AttemptFailure,
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(node) => write!(f, "attempt {} on {node}: {}", self.attempt, self.failure),
            None => write!(f, "attempt {}: {}", self.attempt, self.failure),
        }
    }
}

/// Why a task was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelReason {
    /// [`TaskHandle::cancel`](crate::TaskHandle::cancel) was called.
    Caller,
    /// [`RuntimeHandle::shutdown_now`](crate::RuntimeHandle::shutdown_now)
    /// handed the task back unfinished.
    Shutdown,
    /// The parent attempt that forked this subtask ended (finished, failed,
    /// or was superseded after a node loss) before the subtask did.
    ParentEnded,
}

/// Why a task ended without a value. Delivered once, through its handle.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError {
    /// Every allowed attempt failed; holds each attempt's error, in order.
    Failed {
        /// The failed attempts, oldest first.
        attempts: Vec<AttemptError>,
    },
    /// The task was cancelled before it finished.
    Cancelled(CancelReason),
    /// No live node can run the task any more (all that fit are retired).
    Unschedulable {
        /// Why.
        reason: String,
    },
}

impl TaskError {
    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled(_))
    }

    /// The last attempt's failure, if the task failed after running.
    pub fn last_failure(&self) -> Option<&AttemptFailure> {
        match self {
            TaskError::Failed { attempts } => attempts.last().map(|a| &a.failure),
            _ => None,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed { attempts } => {
                write!(f, "task failed after {} attempt(s)", attempts.len())?;
                if let Some(last) = attempts.last() {
                    write!(f, "; last: {last}")?;
                }
                Ok(())
            }
            TaskError::Cancelled(CancelReason::Caller) => f.write_str("task cancelled"),
            TaskError::Cancelled(CancelReason::Shutdown) => {
                f.write_str("task cancelled by shutdown_now")
            }
            TaskError::Cancelled(CancelReason::ParentEnded) => {
                f.write_str("subtask cancelled: its parent attempt ended")
            }
            TaskError::Unschedulable { reason } => write!(f, "task unschedulable: {reason}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// Why [`RuntimeHandle::inject`](crate::RuntimeHandle::inject) refused a fault.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum InjectError {
    /// No node has this id.
    UnknownNode(NodeId),
    /// A parameter is out of range; names it and the value.
    InvalidParameter {
        /// The parameter at fault.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// An entry of a fault plan is invalid.
    InvalidPlan {
        /// Its index in the plan.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The runtime is shutting down or has stopped.
    ShuttingDown,
}

impl fmt::Display for InjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectError::UnknownNode(n) => write!(f, "no node {n}"),
            InjectError::InvalidParameter { field, value } => {
                write!(f, "invalid `{field}`: {value}")
            }
            InjectError::InvalidPlan { index, reason } => {
                write!(f, "invalid fault plan entry {index}: {reason}")
            }
            InjectError::ShuttingDown => f.write_str("runtime is shutting down"),
        }
    }
}

impl std::error::Error for InjectError {}
