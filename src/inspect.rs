//! What the state API returns: tasks by state, one task in detail with
//! its attempts and why it is not running, the nodes, supervisor events
//! and rates. Plain data; the queries are on
//! [`RuntimeHandle`](crate::RuntimeHandle) (`tasks`, `task`, `node_status`,
//! `events`, `rates`, `state_counts`).

use crate::ids::{NodeId, TaskId};
use crate::resources::Resources;
use crate::spec::{TaskKind, TaskSpec};
use crate::supervision::SupervisorEvent;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// Where a task is in its life, as the state API lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskState {
    /// Accepted, on no node yet: waiting at the supervisor to be placed.
    Pending,
    /// In a node's queue.
    Queued,
    /// An attempt is running on a node.
    Running,
    /// An attempt failed and the next one waits out its backoff.
    BackingOff,
    /// Ended with a value.
    Completed,
    /// Ended with an error, every attempt spent.
    Failed,
    /// Cancelled (by its handle, a timeout of its parent, or a shutdown).
    Cancelled,
}

impl TaskState {
    /// Every state, in life order.
    pub const ALL: [TaskState; 7] = [
        TaskState::Pending,
        TaskState::Queued,
        TaskState::Running,
        TaskState::BackingOff,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Cancelled,
    ];

    /// Whether the task has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled
        )
    }

    /// The state's name, as [`Display`](fmt::Display) writes it and
    /// [`FromStr`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::BackingOff => "backing_off",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A task state's name that is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownState(pub String);

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown task state `{}` (expected one of pending, queued, running, backing_off, completed, failed, cancelled)",
            self.0
        )
    }
}

impl std::error::Error for UnknownState {}

impl FromStr for TaskState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// Where a page of tasks ends: the next page starts after it.
///
/// Pages are in task id order, so a cursor stays valid while tasks come
/// and go: a task that ends between two pages moves from its live state
/// to its terminal one, and is listed under the state asked for at the
/// time of each page. Written as `t<id>` ([`Display`](fmt::Display),
/// [`FromStr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub TaskId);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0 .0)
    }
}

/// A cursor that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadCursor(pub String);

impl fmt::Display for BadCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed cursor `{}` (expected `t` and a task id, as a page's `next` gives)",
            self.0
        )
    }
}

impl std::error::Error for BadCursor {}

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('t')
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| Cursor(TaskId(n)))
            .ok_or_else(|| BadCursor(s.to_owned()))
    }
}

/// Which tasks to list, and how many.
///
/// # Default
///
/// Every state, kind, node and name; from the first task; a page of
/// [`TaskQuery::DEFAULT_LIMIT`].
#[derive(Clone, Debug, PartialEq)]
pub struct TaskQuery {
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Only tasks of this kind.
    pub kind: Option<TaskKind>,
    /// Only tasks on this node (queued or running there, or whose last
    /// attempt ran there).
    pub node: Option<NodeId>,
    /// Only tasks of this name: given with [`Task::name`](crate::Task::name),
    /// else a named task's ([`Registry`](crate::Registry)) function.
    pub name: Option<String>,
    /// Start after this task (a page's [`next`](TaskPage::next)).
    pub after: Option<Cursor>,
    /// The most tasks on the page: 1 to [`TaskQuery::MAX_LIMIT`].
    pub limit: usize,
}

impl TaskQuery {
    /// The page size when none is given.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest page.
    pub const MAX_LIMIT: usize = 10_000;
}

impl Default for TaskQuery {
    fn default() -> Self {
        TaskQuery {
            state: None,
            kind: None,
            node: None,
            name: None,
            after: None,
            limit: TaskQuery::DEFAULT_LIMIT,
        }
    }
}

/// Why a [`TaskQuery`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// `limit` is 0 or above [`TaskQuery::MAX_LIMIT`].
    Limit(usize),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Limit(n) => write!(
                f,
                "page size {n} is out of range (1 to {})",
                TaskQuery::MAX_LIMIT
            ),
        }
    }
}

impl std::error::Error for QueryError {}

/// One task in a list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskSummary {
    /// The task.
    pub id: TaskId,
    /// Where it is.
    pub state: TaskState,
    /// Its kind.
    pub kind: TaskKind,
    /// The name given with [`Task::name`](crate::Task::name), else a named
    /// task's function name; `None` for an unnamed closure.
    pub name: Option<String>,
    /// The node it is queued or running on, or its last attempt ran on.
    pub node: Option<NodeId>,
    /// Its current (or last) attempt, from 0.
    pub attempt: u32,
    /// When it was submitted.
    #[serde(serialize_with = "unix_ms")]
    pub submitted: SystemTime,
    /// When it ended, if it has.
    #[serde(serialize_with = "unix_ms_opt")]
    pub ended: Option<SystemTime>,
}

/// The tasks in every state, exact (counted, not listed: finished tasks
/// the runtime no longer retains still count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    /// Waiting at the supervisor.
    pub pending: u64,
    /// In node queues.
    pub queued: u64,
    /// Running.
    pub running: u64,
    /// Waiting out a retry backoff.
    pub backing_off: u64,
    /// Ended with a value.
    pub completed: u64,
    /// Ended with an error.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Finished tasks whose records are retained (listable).
    pub retained: u64,
    /// Finished tasks whose records were let go of to keep within the
    /// retention bound (still counted above).
    pub forgotten: u64,
}

impl StateCounts {
    /// The count of one state.
    pub fn of(&self, state: TaskState) -> u64 {
        match state {
            TaskState::Pending => self.pending,
            TaskState::Queued => self.queued,
            TaskState::Running => self.running,
            TaskState::BackingOff => self.backing_off,
            TaskState::Completed => self.completed,
            TaskState::Failed => self.failed,
            TaskState::Cancelled => self.cancelled,
        }
    }
}

/// A page of tasks, in id order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskPage {
    /// The tasks.
    pub tasks: Vec<TaskSummary>,
    /// Where the next page starts; `None` on the last page.
    #[serde(serialize_with = "cursor_opt")]
    pub next: Option<Cursor>,
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// Still running.
    Running,
    /// Returned a value.
    Completed,
    /// Returned an error.
    Failed,
    /// Panicked.
    Panicked,
    /// Ran past its timeout.
    TimedOut,
    /// Its node went down under it.
    NodeLost,
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttemptOutcome::Running => "running",
            AttemptOutcome::Completed => "completed",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Panicked => "panicked",
            AttemptOutcome::TimedOut => "timed out",
            AttemptOutcome::NodeLost => "node lost",
        })
    }
}

/// One attempt of a task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attempt {
    /// Its number, from 0.
    pub number: u32,
    /// The node it ran on.
    pub node: Option<NodeId>,
    /// When it started, where known (an attempt lost with its node
    /// before the runtime recorded the failure has none).
    #[serde(serialize_with = "unix_ms_opt")]
    pub started: Option<SystemTime>,
    /// When it ended; `None` while it runs.
    #[serde(serialize_with = "unix_ms_opt")]
    pub ended: Option<SystemTime>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// Its error, for a failed attempt.
    pub error: Option<String>,
}

/// What a node offers a task that it does not fit: the closest any node
/// in service comes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeOffer {
    /// The node.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// All it has.
    pub capacity: Resources,
    /// Whether it accepts work now.
    pub available: bool,
}

/// Why a task that has not ended is not running.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Why {
    /// No node accepting work can meet the demand (submission refuses a
    /// demand no node in service could ever meet, so the nodes that could
    /// are down): `best` is the node in service whose capacity comes
    /// closest, nodes accepting work first.
    Unplaceable {
        /// What the task asks for.
        demand: Resources,
        /// The closest offer, if any node is in service.
        best: Option<NodeOffer>,
        /// The nodes that could take it, down and to be restarted.
        restarting: Vec<NodeId>,
    },
    /// Every node in service is down; these could take it once they
    /// restart.
    WaitingForRestart {
        /// Those nodes.
        nodes: Vec<NodeId>,
    },
    /// In a node's queue, behind `position` others.
    Queued {
        /// The node.
        node: NodeId,
        /// Tasks ahead of it (0: next to start).
        position: usize,
        /// Tasks queued there in all.
        length: usize,
    },
    /// A failed attempt's retry waits out its backoff.
    BackingOff {
        /// When the next attempt is placed.
        #[serde(serialize_with = "unix_ms")]
        until: SystemTime,
        /// The attempt that will run.
        attempt: u32,
    },
    /// Its attempt runs and waits in `join` for subtasks it forked.
    WaitingForChildren {
        /// Subtasks not yet ended.
        unfinished: usize,
    },
    /// Accepted and waiting for the supervisor to place it (a node can
    /// take it).
    AwaitingPlacement,
    /// Cluster mode: no node in service can meet the demand (or there is
    /// no node yet), and none that could is restarting; it waits for a
    /// worker with a node that fits to join.
    AwaitingWorker {
        /// What the task asks for.
        demand: Resources,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Unplaceable {
                demand,
                best,
                restarting,
            } => {
                write!(f, "no node accepting work can meet its demand {demand}")?;
                if let Some(b) = best {
                    write!(
                        f,
                        "; the best any node offers is {} on {}",
                        b.capacity, b.name
                    )?;
                    if !b.available {
                        f.write_str(" (down)")?;
                    }
                }
                if !restarting.is_empty() {
                    f.write_str("; waiting for ")?;
                    write_nodes(f, restarting)?;
                    f.write_str(" to restart")?;
                }
                Ok(())
            }
            Why::WaitingForRestart { nodes } => {
                f.write_str("every node is down: waiting for ")?;
                write_nodes(f, nodes)?;
                f.write_str(" to restart")
            }
            Why::Queued {
                node,
                position,
                length,
            } => write!(f, "queued on {node} at position {position} of {length}"),
            Why::BackingOff { until, attempt } => {
                let left = until
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                write!(
                    f,
                    "backing off before attempt {attempt}, for {:.3} s more",
                    left.as_secs_f64()
                )
            }
            Why::WaitingForChildren { unfinished } => {
                write!(f, "running, waiting for {unfinished} fork-join children")
            }
            Why::AwaitingPlacement => f.write_str("waiting for the supervisor to place it"),
            Why::AwaitingWorker { demand } => write!(
                f,
                "no node in service can meet its demand {demand}: waiting for a worker \
                 with a node that fits to join the cluster"
            ),
        }
    }
}

/// One task in detail.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskDetail {
    /// What a list shows.
    #[serde(flatten)]
    pub summary: TaskSummary,
    /// Its spec.
    pub spec: TaskSpec,
    /// Its attempts, oldest first; the running one last, with no end.
    pub attempts: Vec<Attempt>,
    /// For a task that has not ended and is not simply running: why.
    pub why: Option<Why>,
}

/// A node's health as the supervisor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeHealth {
    /// Accepting and running work.
    Up,
    /// Down, to be restarted.
    Down,
    /// Never to run anything again.
    Retired,
}

/// One node, now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// Its name.
    pub name: String,
    /// Its speed (after any injected slow-down).
    pub speed: f64,
    /// Executor slots.
    pub slots: usize,
    /// All it has.
    pub capacity: Resources,
    /// Held by running tasks.
    pub held: Resources,
    /// `capacity − held`.
    pub free: Resources,
    /// Estimated cost queued and running (seconds at speed 1.0).
    pub load: f64,
    /// Tasks in its queue.
    pub queued: u64,
    /// Tasks running.
    pub running: u64,
    /// Tasks completed here.
    pub completed: u64,
    /// Tasks that failed for good here.
    pub failed: u64,
    /// Restarts so far.
    pub restarts: u64,
    /// Queued tasks the balancer moved here.
    pub migrations_in: u64,
    /// Queued tasks the balancer moved away.
    pub migrations_out: u64,
    /// Up, down or retired.
    pub health: NodeHealth,
    /// For a node with GPUs: the share of its free GPU capacity in partly
    /// used GPUs (0: every free GPU whole; 1: none whole). `None` without
    /// GPUs.
    pub gpu_fragmentation: Option<f64>,
}

/// A supervisor event and when it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// When.
    #[serde(serialize_with = "unix_ms")]
    pub at: SystemTime,
    /// What.
    pub event: SupervisorEvent,
}

/// Completions, failures and retries per second over a recent window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rates {
    /// The window the rates are over (shorter just after start).
    #[serde(serialize_with = "secs")]
    pub window: Duration,
    /// Tasks completed per second.
    pub completed: f64,
    /// Tasks failed for good per second.
    pub failed: f64,
    /// Attempts retried per second.
    pub retried: f64,
}

fn write_nodes(f: &mut fmt::Formatter<'_>, nodes: &[NodeId]) -> fmt::Result {
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{n}")?;
    }
    Ok(())
}

fn unix_millis(t: &SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unix_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(unix_millis(t))
}

fn unix_ms_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&unix_millis(t)),
        None => s.serialize_none(),
    }
}

fn cursor_opt<S: serde::Serializer>(c: &Option<Cursor>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_some(&c.to_string()),
        None => s.serialize_none(),
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_cursors_read_back_what_they_write() {
        for s in TaskState::ALL {
            assert_eq!(s.to_string().parse::<TaskState>(), Ok(s));
        }
        assert!("sleeping".parse::<TaskState>().is_err());
        let c = Cursor(TaskId(42));
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        for bad in ["", "t", "42", "t-1", "tx", "t18446744073709551616"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn why_reads_as_a_sentence() {
        let w = Why::Queued {
            node: NodeId(2),
            position: 7,
            length: 9,
        };
        assert_eq!(w.to_string(), "queued on node-2 at position 7 of 9");
        let w = Why::Unplaceable {
            demand: Resources::cpu(1_000).with_gpu_milli(2_000),
            best: Some(NodeOffer {
                node: NodeId(0),
                name: "cpu".into(),
                capacity: Resources::cpu(4_000),
                available: true,
            }),
            restarting: vec![NodeId(1)],
        };
        let s = w.to_string();
        assert!(
            s.starts_with("no node accepting work can meet its demand"),
            "{s}"
        );
        assert!(s.contains("on cpu"), "{s}");
        assert!(s.ends_with("waiting for node-1 to restart"), "{s}");
    }
}
