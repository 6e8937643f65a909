//! The state a coordinator's connection tasks and its proxy executors
//! share ([`Shared`]), and the records it keeps of workers and of the wire.

use super::wire::Subjects;
use crate::job::RemoteReply;
use crate::node::{NodeSpec, Reported};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::{Condvar, Mutex};
use async_nats::jetstream;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Room left for a message's headers under the server's `max_payload`.
pub(crate) const HEADROOM: usize = 1_024;

/// A restarted coordinator's recovered tasks (journal), which take a
/// result of theirs from before the restart, whatever its attempt: the
/// worker kept working while the coordinator was down, and JetStream held
/// the results.
#[derive(Default)]
pub(super) struct Adoption {
    /// Tasks not yet answered.
    pub(super) tasks: rustc_hash::FxHashSet<u64>,
    /// Results that came before their task asked: taken by its attempt.
    pub(super) parked: FxHashMap<u64, RemoteReply>,
    /// The attempt of each task that waits.
    pub(super) waiting: FxHashMap<u64, u32>,
}

impl Adoption {
    /// `task` is answered; `adopting` goes down once no task is left.
    pub(super) fn done(&mut self, task: u64, adopting: &AtomicBool) {
        self.tasks.remove(&task);
        self.parked.remove(&task);
        self.waiting.remove(&task);
        if self.tasks.is_empty() {
            adopting.store(false, Ordering::Release);
        }
    }
}

/// What a coordinator restarted on its journal brings to the wire: the
/// session it had, and the recovered tasks that had not finished.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    pub(crate) session: u64,
    pub(crate) unfinished: Vec<u64>,
}

/// What the coordinator last heard from a worker.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSeen {
    pub(crate) last: Instant,
    pub(crate) incarnation: u64,
    pub(crate) leaving: bool,
    pub(crate) nodes: Vec<NodeSpec>,
    pub(crate) bad_messages: u64,
}

/// Counters of what the coordinator saw on the wire.
#[derive(Debug, Default)]
pub(crate) struct WireCounters {
    /// Attempts published (and acknowledged by the server).
    pub(crate) published: AtomicU64,
    /// Work messages that carried them.
    pub(crate) messages: AtomicU64,
    /// Result messages that decoded.
    pub(crate) result_messages: AtomicU64,
    /// Publishes sent again after no acknowledgement.
    pub(crate) republished: AtomicU64,
    /// Replies delivered to a waiting attempt.
    pub(crate) delivered: AtomicU64,
    /// Replies from before a restart taken by recovered tasks.
    pub(crate) adopted: AtomicU64,
    /// Replies no attempt waited for (superseded, abandoned, another
    /// session's), acknowledged and dropped.
    pub(crate) ignored: AtomicU64,
    /// Messages on the result stream that did not decode.
    pub(crate) bad: AtomicU64,
    /// Times a stalled consumer was noticed and restarted.
    pub(crate) stalls: AtomicU64,
}

/// Where the result router leaves one attempt's reply for the proxy
/// executor waiting on it (a futex wait, no spinning: a remote node has
/// many executors waiting at once).
#[derive(Default)]
pub(super) struct ReplySlot {
    pub(super) reply: Mutex<Option<RemoteReply>>,
    pub(super) ready: Condvar,
}

impl ReplySlot {
    pub(super) fn put(&self, reply: RemoteReply) {
        *self.reply.lock() = Some(reply);
        self.ready.notify_one();
    }

    /// The reply, or `None` after `timeout`.
    pub(super) fn take(&self, timeout: Duration) -> Option<RemoteReply> {
        let mut r = self.reply.lock();
        if r.is_none() {
            let _ = self.ready.wait_for(&mut r, timeout);
        }
        r.take()
    }
}

/// The state the connection's tasks share with the proxy executors.
pub(crate) struct Shared {
    pub(super) client: async_nats::Client,
    pub(super) js: jetstream::Context,
    pub(super) subjects: Subjects,
    /// This coordinator's session: part of every message id, so that a
    /// restarted coordinator's task ids do not collide with an earlier
    /// one's in the server's de-duplication window.
    pub(super) session: u64,
    pub(super) poll: Duration,
    pub(super) waiters: Mutex<FxHashMap<(u64, u32), Arc<ReplySlot>>>,
    /// This process among the session's (a restarted coordinator keeps its
    /// session): part of work message ids, with `batch_seq`.
    pub(super) incarnation: u64,
    /// Numbers this process's work messages (their message ids).
    pub(super) batch_seq: AtomicU64,
    /// Whether `adopt` holds any task (the hot path skips its lock).
    pub(super) adopting: AtomicBool,
    /// Recovered tasks that take a result of theirs from before the
    /// restart. Lock order: `waiters` before `adopt`.
    pub(super) adopt: Mutex<Adoption>,
    pub(super) workers: Mutex<HashMap<String, WorkerSeen>>,
    pub(super) joined: Condvar,
    /// Each remote node's heartbeat figures, by worker and node index:
    /// the heartbeat listener writes them, the nodes' views read them.
    pub(super) reports: Mutex<HashMap<String, Vec<Arc<Reported>>>>,
    /// Told of each worker that joins or comes back in a new process,
    /// once the runtime is built (`Cluster::on_join`).
    pub(super) on_join: std::sync::OnceLock<JoinHook>,
    /// Workers whose nodes the runtime refused, and why.
    pub(super) refused: Mutex<HashMap<String, String>>,
    /// How long a heartbeat's figures stay fresh.
    pub(super) report_age: Duration,
    pub(crate) counters: WireCounters,
}

/// What the runtime does with a worker that joins after build, or comes
/// back in a new process: its name and its nodes.
pub(crate) type JoinHook = Box<dyn Fn(&str, Vec<NodeSpec>) + Send + Sync>;
