//! The state a runtime's handles, its supervisor and its balancer share,
//! in one place: the ledger, the nodes and their actors' addresses, the
//! placement step, and the counters and health every side reads.
//!
//! One `Arc<Plane>` goes to each of them, instead of an `Arc` per part.

mod nodes;

pub(crate) use nodes::NodeTable;

use crate::dispatch::{Backlog, Dispatcher};
use crate::ledger::Ledger;
use crate::node::{NodeDirectory, NodeShared};
use crate::supervision::Health;
use crate::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// What every side of one runtime shares.
pub(crate) struct Plane {
    /// Every accepted task not yet ended, and the totals.
    pub(crate) ledger: Arc<Ledger>,
    /// The nodes, by index: those of the build, then those that joined
    /// since (cluster mode).
    pub(crate) nodes: NodeTable,
    /// Whether nodes may join after build (cluster mode): a task that no
    /// node in service fits then waits for one instead of failing.
    pub(crate) joinable: bool,
    /// The current actor address of every node.
    pub(crate) directory: NodeDirectory,
    /// The policy and its scratch space (see [`dispatch`](crate::dispatch)).
    pub(crate) dispatcher: Mutex<Dispatcher>,
    /// Jobs sent to the supervisor and not yet placed.
    pub(crate) backlog: Backlog,
    /// Whether a `Drain` message to the supervisor is outstanding.
    pub(crate) drain_scheduled: AtomicBool,
    /// Node restarts so far.
    pub(crate) restarts: AtomicU64,
    /// Balancer rounds so far.
    pub(crate) rounds: AtomicU64,
    /// The runtime's health.
    pub(crate) health: HealthCell,
}

impl Plane {
    /// A plane over `nodes` sharing `ledger`, placing with `dispatcher`,
    /// with room for `room` more nodes to join later.
    pub(crate) fn new(
        ledger: Arc<Ledger>,
        nodes: Vec<Arc<NodeShared>>,
        room: Option<usize>,
        dispatcher: Dispatcher,
    ) -> Self {
        let capacity = nodes.len().saturating_add(room.unwrap_or(0));
        Plane {
            ledger,
            nodes: NodeTable::new(nodes, capacity),
            joinable: room.is_some(),
            // Sized for every node the table can hold: an index is valid
            // here as soon as its node exists.
            directory: Arc::new(Mutex::new(vec![None; capacity])),
            dispatcher: Mutex::new(dispatcher),
            backlog: Backlog::default(),
            drain_scheduled: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            health: HealthCell::default(),
        }
    }

    /// Whether every node is retired (or there is none yet).
    pub(crate) fn all_retired(&self) -> bool {
        self.nodes.iter().all(|n| n.is_retired())
    }

    /// Whether no node can ever run anything again: every node is retired
    /// and none may join.
    pub(crate) fn is_dead(&self) -> bool {
        !self.joinable && self.all_retired()
    }
}

/// The runtime's health as one shared byte (see [`Health`]).
#[derive(Debug, Default)]
pub(crate) struct HealthCell(AtomicU8);

impl HealthCell {
    pub(crate) fn get(&self) -> Health {
        match self.0.load(Ordering::Acquire) {
            0 => Health::Healthy,
            1 => Health::Degraded,
            _ => Health::Stopped,
        }
    }

    /// Moves to `h` unless already in a worse state.
    pub(crate) fn worsen(&self, h: Health) {
        let v = match h {
            Health::Healthy => 0,
            Health::Degraded => 1,
            Health::Stopped => 2,
        };
        self.0.fetch_max(v, Ordering::AcqRel);
    }
}
