//! Error types, one per operation. Errors that refuse a task hand it back.

use crate::ids::NodeId;
use crate::spec::SpecError;
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

/// Why a task (or a batch) was refused for good: retrying the same
/// submission cannot succeed, unlike [`SubmitError::Full`]. Shared by every
/// submit operation's error.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Refusal {
    /// The runtime is shutting down or has stopped.
    ShuttingDown,
    /// A subtask was spawned from an attempt that has already been
    /// abandoned (cancelled, timed out, or lost with its node).
    ParentAbandoned,
    /// No node in service could ever fit the task.
    Infeasible(Infeasibility),
    /// A field of the task's spec is invalid.
    Invalid(SpecError),
    /// A pinned submission named a node the runtime does not have.
    UnknownNode {
        /// The node asked for.
        node: NodeId,
        /// How many nodes the runtime has (ids `0..nodes`).
        nodes: usize,
    },
    /// A pinned submission named a node that has been retired (it failed
    /// more often than its restart intensity allows).
    NodeRetired(NodeId),
    /// The runtime keeps a journal and the task is a closure: only named
    /// tasks ([`Registry`](crate::Registry)) can be journalled.
    NotDurable,
    /// The journal could not commit the submission (a full disk, say):
    /// nothing was accepted.
    Journal(crate::journal_error::JournalError),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ShuttingDown => f.write_str("runtime is shutting down"),
            Refusal::ParentAbandoned => f.write_str("parent attempt was abandoned"),
            Refusal::Infeasible(r) => write!(f, "task is infeasible: {r}"),
            Refusal::Invalid(e) => write!(f, "task is invalid: {e}"),
            Refusal::UnknownNode { node, nodes } => {
                write!(f, "no node {node} (the runtime has {nodes})")
            }
            Refusal::NodeRetired(node) => write!(f, "node {node} is retired"),
            Refusal::NotDurable => f.write_str(
                "the runtime keeps a journal and this task is a closure: submit a named task",
            ),
            Refusal::Journal(e) => write!(f, "not journalled: {e}"),
        }
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Refusal::Infeasible(r) => Some(r),
            Refusal::Invalid(e) => Some(e),
            Refusal::Journal(e) => Some(e),
            _ => None,
        }
    }
}

impl std::error::Error for Infeasibility {}

/// Why [`submit`](crate::RuntimeHandle::submit),
/// [`submit_to`](crate::RuntimeHandle::submit_to) or
/// [`TaskContext::spawn`](crate::TaskContext::spawn) refused a task. Hands
/// back what was submitted (`T`, a [`Task`](crate::Task)): see
/// [`into_inner`](SubmitError::into_inner).
#[non_exhaustive]
pub enum SubmitError<T> {
    /// [`queue_capacity`](crate::Builder::queue_capacity) tasks are in
    /// flight: backpressure, retrying later may work (or use
    /// [`submit_wait`](crate::RuntimeHandle::submit_wait)).
    Full(T),
    /// Refused for good.
    Refused {
        /// What was submitted.
        task: T,
        /// Why.
        reason: Refusal,
    },
}

impl<T> SubmitError<T> {
    /// What was submitted.
    pub fn into_inner(self) -> T {
        match self {
            SubmitError::Full(task) | SubmitError::Refused { task, .. } => task,
        }
    }

    /// Whether the queue was full (retrying later may work).
    pub fn is_full(&self) -> bool {
        matches!(self, SubmitError::Full(_))
    }

    /// Why it was refused for good; `None` when the queue was full.
    pub fn reason(&self) -> Option<&Refusal> {
        match self {
            SubmitError::Full(_) => None,
            SubmitError::Refused { reason, .. } => Some(reason),
        }
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("Full(..)"),
            SubmitError::Refused { reason, .. } => f
                .debug_struct("Refused")
                .field("reason", reason)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("submission queue is full"),
            SubmitError::Refused { reason, .. } => fmt::Display::fmt(reason, f),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason().and_then(std::error::Error::source)
    }
}

/// Why [`submit_wait`](crate::RuntimeHandle::submit_wait) refused a task:
/// it waits out a full queue, so only a [`Refusal`] ends it. Hands the task
/// back.
pub struct SubmitWaitError<T> {
    /// What was submitted.
    pub task: T,
    /// Why it was refused.
    pub reason: Refusal,
}

impl<T> SubmitWaitError<T> {
    /// What was submitted.
    pub fn into_inner(self) -> T {
        self.task
    }
}

impl<T> fmt::Debug for SubmitWaitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitWaitError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SubmitWaitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.reason, f)
    }
}

impl<T> std::error::Error for SubmitWaitError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason.source()
    }
}

/// Why [`submit_wait_timeout`](crate::RuntimeHandle::submit_wait_timeout)
/// did not submit a task. Hands the task back.
#[non_exhaustive]
pub enum SubmitTimeoutError<T> {
    /// The queue stayed full for the whole timeout.
    Timeout(T),
    /// Refused for good.
    Refused {
        /// What was submitted.
        task: T,
        /// Why.
        reason: Refusal,
    },
}

impl<T> SubmitTimeoutError<T> {
    /// What was submitted.
    pub fn into_inner(self) -> T {
        match self {
            SubmitTimeoutError::Timeout(task) | SubmitTimeoutError::Refused { task, .. } => task,
        }
    }

    /// Whether the timeout passed with the queue still full.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SubmitTimeoutError::Timeout(_))
    }

    /// Why it was refused for good; `None` on a timeout.
    pub fn reason(&self) -> Option<&Refusal> {
        match self {
            SubmitTimeoutError::Timeout(_) => None,
            SubmitTimeoutError::Refused { reason, .. } => Some(reason),
        }
    }
}

impl<T> fmt::Debug for SubmitTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SubmitTimeoutError::Refused { reason, .. } => f
                .debug_struct("Refused")
                .field("reason", reason)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SubmitTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitTimeoutError::Timeout(_) => {
                f.write_str("timed out waiting for room in the submission queue")
            }
            SubmitTimeoutError::Refused { reason, .. } => fmt::Display::fmt(reason, f),
        }
    }
}

impl<T> std::error::Error for SubmitTimeoutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason().and_then(std::error::Error::source)
    }
}

/// Why a batch submission ([`submit_batch`](crate::RuntimeHandle::submit_batch)
/// and its `_into`/`_detached` forms, `_to` too, and
/// [`TaskContext::spawn_batch`](crate::TaskContext::spawn_batch)) was
/// refused.
///
/// A batch is accepted whole or not at all; on refusal every task comes
/// back, in submission order.
#[non_exhaustive]
pub enum SubmitBatchError<T> {
    /// The batch does not fit under
    /// [`queue_capacity`](crate::Builder::queue_capacity) now.
    Full(Vec<T>),
    /// A task of the batch was refused for good.
    Refused {
        /// Every task of the batch, in submission order.
        tasks: Vec<T>,
        /// The index of the first task refused (0 when the whole batch
        /// was, e.g. at shutdown).
        index: usize,
        /// Why.
        reason: Refusal,
    },
}

impl<T> SubmitBatchError<T> {
    /// The whole batch refused for one reason, none of it looked at.
    pub(crate) fn whole(tasks: impl Iterator<Item = T>, reason: Refusal) -> Self {
        SubmitBatchError::Refused {
            tasks: tasks.collect(),
            index: 0,
            reason,
        }
    }

    /// Every task of the batch, in order.
    pub fn into_inner(self) -> Vec<T> {
        match self {
            SubmitBatchError::Full(tasks) | SubmitBatchError::Refused { tasks, .. } => tasks,
        }
    }

    /// Whether the batch was refused because the queue is full.
    pub fn is_full(&self) -> bool {
        matches!(self, SubmitBatchError::Full(_))
    }

    /// Why it was refused for good; `None` when the queue was full.
    pub fn reason(&self) -> Option<&Refusal> {
        match self {
            SubmitBatchError::Full(_) => None,
            SubmitBatchError::Refused { reason, .. } => Some(reason),
        }
    }

    /// The index of the first task refused; `None` when the queue was full.
    pub fn index(&self) -> Option<usize> {
        match self {
            SubmitBatchError::Full(_) => None,
            SubmitBatchError::Refused { index, .. } => Some(*index),
        }
    }
}

impl<T> fmt::Debug for SubmitBatchError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitBatchError::Full(tasks) => f
                .debug_struct("Full")
                .field("len", &tasks.len())
                .finish_non_exhaustive(),
            SubmitBatchError::Refused {
                tasks,
                index,
                reason,
            } => f
                .debug_struct("Refused")
                .field("len", &tasks.len())
                .field("index", index)
                .field("reason", reason)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SubmitBatchError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitBatchError::Full(tasks) => write!(
                f,
                "batch of {} refused: submission queue is full",
                tasks.len()
            ),
            SubmitBatchError::Refused { index, reason, .. } => {
                write!(f, "batch refused at task {index}: {reason}")
            }
        }
    }
}

impl<T> std::error::Error for SubmitBatchError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason().and_then(std::error::Error::source)
    }
}

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
    /// Cluster mode could not start: NATS unreachable, streams refused,
    /// workers missing.
    #[cfg(feature = "cluster")]
    Cluster(crate::cluster_error::ClusterError),
    /// The journal could not be opened: locked, damaged, newer, or naming
    /// a function the registry does not have.
    Journal(crate::journal_error::JournalError),
    /// The dashboard could not listen on its address (taken, or not this
    /// machine's).
    #[cfg(feature = "dashboard")]
    Dashboard {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
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
            #[cfg(feature = "cluster")]
            BuildError::Cluster(e) => write!(f, "cluster: {e}"),
            BuildError::Journal(e) => e.fmt(f),
            #[cfg(feature = "dashboard")]
            BuildError::Dashboard { addr, .. } => {
                write!(f, "the dashboard cannot listen on {addr}")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            BuildError::InvalidConfig { .. } | BuildError::TooManyThreads { .. } => None,
            #[cfg(feature = "cluster")]
            BuildError::Cluster(e) => Some(e),
            BuildError::Journal(e) => Some(e),
            #[cfg(feature = "dashboard")]
            BuildError::Dashboard { source, .. } => Some(source),
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

impl std::error::Error for AttemptFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AttemptFailure::Error(e) => Some(&**e),
            _ => None,
        }
    }
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
    /// That node's name ([`NodeSpec::name`](crate::NodeSpec::name), or
    /// `node-<id>`).
    pub node_name: Option<std::sync::Arc<str>>,
    /// What went wrong.
    pub failure: AttemptFailure,
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.node_name, self.node) {
            (Some(name), _) => write!(f, "attempt {} on {name}: {}", self.attempt, self.failure),
            (None, Some(node)) => write!(f, "attempt {} on {node}: {}", self.attempt, self.failure),
            (None, None) => write!(f, "attempt {}: {}", self.attempt, self.failure),
        }
    }
}

impl std::error::Error for AttemptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.failure)
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

impl std::error::Error for TaskError {
    /// The last failed attempt, for a task that failed after running.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Failed { attempts } => attempts
                .last()
                .map(|a| a as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

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
