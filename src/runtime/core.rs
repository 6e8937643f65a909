//! The state every [`RuntimeHandle`](super::RuntimeHandle) shares.

use crate::balancer::Balancer;
use crate::plane::Plane;
use crate::supervisor::{Inbound, Supervisor};
use crate::sync::{Mutex, RwLock};
use actix::prelude::*;
use crossbeam_channel::Sender;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunState {
    Running,
    Draining,
    Stopped,
}

/// What every handle of one runtime shares: the ledger, the nodes, the
/// placement state, the actors' addresses and the run state.
pub(crate) struct Core {
    /// What the supervisor and the balancer share with the handles.
    pub(super) plane: Arc<Plane>,
    /// Batches for the supervisor to place.
    pub(super) inbox: Sender<Inbound>,
    pub(super) supervisor: Addr<Supervisor>,
    pub(super) balancer: Addr<Balancer>,
    pub(super) system: System,
    pub(super) state: RwLock<RunState>,
    pub(super) rng_seed: u64,
    /// Fault indices used so far (plans injected later get new ones).
    pub(super) fault_index: AtomicU64,
    pub(super) queue_capacity: u64,
    /// A lower bound on finished tasks (completed, failed, cancelled),
    /// refreshed only when the cheap bound says the queue may be full.
    pub(super) finished_floor: AtomicU64,
    pub(super) thread: Mutex<Option<JoinHandle<()>>>,
    /// The coordinator's connection, in cluster mode.
    #[cfg(feature = "cluster")]
    pub(super) cluster: Option<Arc<crate::transport::Cluster>>,
    /// The journal, when submissions are journalled.
    #[cfg(feature = "journal")]
    pub(super) journal: Option<Arc<crate::journal::Journal>>,
    /// What the journal gave back at build, until taken.
    #[cfg(feature = "journal")]
    pub(super) recovered: Mutex<Vec<super::recovered::RecoveredTask>>,
    /// The dashboard, while it serves.
    #[cfg(feature = "dashboard")]
    pub(super) dashboard: Mutex<Option<Box<dyn Attached>>>,
}

/// A service started beside the runtime and stopped by its shutdown (the
/// dashboard). A trait, so that the runtime need not import the module
/// above it that uses the runtime's own handle.
#[cfg(feature = "dashboard")]
pub(crate) trait Attached: Send + Sync {
    /// Where it listens.
    fn addr(&self) -> std::net::SocketAddr;
    /// Stops it and waits for it to end.
    fn stop(self: Box<Self>);
}
