//! Nodes: an actix actor for control beside executor threads for work.
//!
//! The actor's mailbox takes control messages (heartbeat pings, migration
//! requests, stop, injected faults). Tasks do not pass through it: the
//! supervisor, submitters and the balancer push batches straight into the
//! node's inbox (a vector under its own lock) and wake a waiting executor
//! once per run; whoever holds the node's state lock moves the inbox into
//! the [`DisciplineQueue`] before picking from it (an executor with work
//! queued does so every 10 µs at most). What placement reads of a node
//! (its [`NodeView`]) comes from atomics, never from behind the state lock. Executor threads pick,
//! run and account. A task that runs for a long time therefore never makes
//! the actor deaf.
//!
//! Files: [`spec`] (plain data), [`messages`], [`shared`] (the state all
//! sides share) with [`inbox`] (pushing and parking) and [`lifecycle`]
//! (incarnations), [`executor`] (the threads that run tasks) and
//! [`actor`] (control). Imports point from the actor to the executors to
//! the shared state, never back.

mod actor;
mod executor;
mod inbox;
mod lifecycle;
mod messages;
mod shared;
mod spec;

pub(crate) use actor::{requeue_evicted, start_node, NodeActor, Ping, StopNode, TakeQueued};
pub(crate) use executor::{count_failed, run_inline};
pub(crate) use messages::{ActorFault, NodeEvent};
pub(crate) use shared::NodeShared;
pub use spec::{NodeSpec, DEFAULT_NODE_SLOTS};

use crate::sync::Mutex;
use actix::Addr;
use std::sync::Arc;

/// The current actor address of every node, for whoever needs to message
/// them (supervisor, balancer). Updated on every (re)start.
pub(crate) type NodeDirectory = Arc<Mutex<Vec<Option<Addr<NodeActor>>>>>;

#[cfg(all(test, loom))]
mod loom_models;
