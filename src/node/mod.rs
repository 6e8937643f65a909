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
//! # Parking and waking
//!
//! Pushers never take the state lock to hand over work, and executors
//! sleep on a condition variable when there is none. That no push is ever
//! missed by a sleeping executor rests on these steps (`inbox.rs` has the
//! code, `executor.rs` the callers, `loom_models.rs` the model checks):
//!
//! 1. **Push.** A pusher appends to the inbox under the inbox's own lock
//!    and stores the inbox length (`SeqCst`), lets the lock go, then reads
//!    `parked` with a read-modify-write (`fetch_add(0)`), which reads the
//!    latest value. If it is 0, no executor waits: done. An executor
//!    watching the length (step 2) sees the store and needs no wake.
//! 2. **Watch.** An executor out of work first publishes its gauge and,
//!    when executors do not outnumber cores, one executor per node spins
//!    briefly on the inbox length with the state lock let go; a push ends
//!    the spin and the executor takes the work with no futex call on
//!    either side. It then settles finished tasks before sleeping, so the
//!    ledger never waits on a sleeper.
//! 3. **Park.** Under the state lock, the executor increments `parked`
//!    (read-modify-write), then loads the inbox length (`SeqCst`). Non-zero:
//!    it does not sleep. Zero: it waits on the condition variable, which
//!    lets the state lock go atomically with going to sleep.
//! 4. **Wake.** A pusher that read `parked > 0` in step 1 takes the state
//!    lock and lets it go (so the executor that counted itself is asleep,
//!    not between its count and its wait), then notifies one waiter for a
//!    push of one job, all for more.
//! 5. **Why nothing is missed.** Each side writes its word (the length;
//!    `parked`) and then reads the other's, both in the single `SeqCst`
//!    order: either the pusher's read of `parked` comes after the
//!    executor's increment (and it wakes it, step 4), or the executor's
//!    read of the length comes after the pusher's store (and it does not
//!    sleep, step 3).
//! 6. **Ending.** An incarnation ends (eviction, shutdown) under the state
//!    lock by bumping the generation and notifying all; a woken executor
//!    sees the new generation before it picks, settles what it holds and
//!    exits. A lingering park (step 3 with a deadline) only frees the
//!    ledger's dead jobs once per idle spell.
//!
//! Files: [`spec`] (plain data), [`messages`], [`shared`] (the state all
//! sides share) with [`inbox`] (pushing and parking) and [`lifecycle`]
//! (incarnations), [`executor`] (the threads that run tasks) and
//! [`actor`] (control). Imports point from the actor to the executors to
//! the shared state, never back.

mod actor;
mod executor;
mod inbox;
mod inspect;
mod lifecycle;
mod messages;
mod reported;
mod shared;
mod spec;

pub(crate) use actor::{requeue_evicted, start_node, NodeActor, Ping, StopNode, TakeQueued};
pub(crate) use executor::{count_failed, run_inline};
pub(crate) use messages::{ActorFault, NodeEvent};
pub(crate) use reported::Reported;
pub(crate) use shared::NodeShared;
pub use spec::NodeSpec;

use crate::sync::Mutex;
use actix::Addr;
use std::sync::Arc;

/// The current actor address of every node, for whoever needs to message
/// them (supervisor, balancer). Updated on every (re)start.
pub(crate) type NodeDirectory = Arc<Mutex<Vec<Option<Addr<NodeActor>>>>>;

#[cfg(all(test, loom))]
mod loom_models;
