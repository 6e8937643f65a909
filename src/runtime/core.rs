//! The state every [`RuntimeHandle`](super::RuntimeHandle) shares.

use crate::balancer::Balancer;
use crate::dispatch::{Backlog, Dispatcher};
use crate::ledger::Ledger;
use crate::node::NodeShared;
use crate::supervisor::{HealthCell, Inbound, Supervisor};
use crate::sync::{Mutex, RwLock};
use actix::prelude::*;
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunState {
    Running,
    Draining,
    Stopped,
}

impl Core {
    pub(super) fn all_retired(&self) -> bool {
        self.nodes.iter().all(|n| n.is_retired())
    }
}

/// What every handle of one runtime shares: the ledger, the nodes, the
/// placement state, the actors' addresses and the run state.
pub(crate) struct Core {
    pub(super) ledger: Arc<Ledger>,
    pub(super) nodes: Vec<Arc<NodeShared>>,
    pub(super) inbox: Sender<Inbound>,
    pub(super) drain_scheduled: Arc<AtomicBool>,
    pub(super) dispatcher: Arc<Mutex<Dispatcher>>,
    pub(super) backlog: Arc<Backlog>,
    pub(super) supervisor: Addr<Supervisor>,
    pub(super) balancer: Addr<Balancer>,
    pub(super) system: System,
    pub(super) state: RwLock<RunState>,
    pub(super) health: Arc<HealthCell>,
    pub(super) rng_seed: u64,
    /// Fault indices used so far (plans injected later get new ones).
    pub(super) fault_index: AtomicU64,
    pub(super) queue_capacity: u64,
    /// A lower bound on finished tasks (completed, failed, cancelled),
    /// refreshed only when the cheap bound says the queue may be full.
    pub(super) finished_floor: AtomicU64,
    pub(super) restarts: Arc<AtomicU64>,
    pub(super) rounds: Arc<AtomicU64>,
    pub(super) thread: Mutex<Option<JoinHandle<()>>>,
}
