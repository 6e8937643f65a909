//! The node's control actor: heartbeats, stop, injected actor faults,
//! migration requests. Tasks never pass through its mailbox.

use super::messages::{ActorFault, NodeEvent};
use super::shared::NodeShared;
use crate::clock;
use crate::job::{JobRef, Phase};
use crate::ledger::Ledger;
use crate::supervision::DownReason;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use super::executor::spawn_executor;

/// Starts executors for a new incarnation of `shared` and its control actor
/// on `arbiter`. Returns the actor's address.
pub(crate) fn start_node(
    shared: &Arc<NodeShared>,
    arbiter: &ArbiterHandle,
    events: Recipient<NodeEvent>,
) -> std::io::Result<Addr<NodeActor>> {
    *shared.events.lock() = Some(events.clone());
    let generation = shared.reopen();
    for slot in 0..shared.executors() {
        spawn_executor(Arc::clone(shared), slot, generation)?;
    }
    let node = Arc::clone(shared);
    let addr = NodeActor::start_in_arbiter(arbiter, move |_| NodeActor {
        shared: node,
        generation,
        events,
        stop_requested: false,
        crashed: false,
    });
    *shared.actor.lock() = Some(addr.clone().recipient());
    Ok(addr)
}

/// The node's control actor.
pub(crate) struct NodeActor {
    pub(super) shared: Arc<NodeShared>,
    pub(super) generation: u64,
    pub(super) events: Recipient<NodeEvent>,
    pub(super) stop_requested: bool,
    pub(super) crashed: bool,
}

impl std::fmt::Debug for NodeActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeActor")
            .field("node", &self.shared.id)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(
            node = self.shared.name(),
            node_id = self.shared.id.0,
            generation = self.generation,
            "node.start"
        );
    }
}

impl Drop for NodeActor {
    fn drop(&mut self) {
        if self.stop_requested {
            return;
        }
        let reason = if std::thread::panicking() {
            DownReason::Panicked
        } else if self.crashed {
            DownReason::Crashed
        } else {
            DownReason::Stopped
        };
        self.events.do_send(NodeEvent::Down {
            node: self.shared.id,
            generation: self.generation,
            reason,
        });
    }
}

/// Heartbeat: answered by the actor, reporting on its executors.
#[derive(Message)]
#[rtype(result = "Pong")]
pub(crate) struct Ping;

/// The answer to [`Ping`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pong {
    pub(crate) generation: u64,
    /// How long the longest-running current attempt has run.
    pub(crate) oldest_running: Option<Duration>,
}

impl<A: Actor, M: Message<Result = Pong>> actix::dev::MessageResponse<A, M> for Pong {
    fn handle(self, _ctx: &mut A::Context, tx: Option<actix::dev::OneshotSender<M::Result>>) {
        if let Some(tx) = tx {
            let _ = tx.send(self);
        }
    }
}

impl Handler<Ping> for NodeActor {
    type Result = Pong;

    fn handle(&mut self, _msg: Ping, _ctx: &mut Self::Context) -> Pong {
        let now = clock::now_nanos();
        let st = self.shared.state.lock();
        let oldest_running = st
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .map(|e| clock::between(e.started, now))
            .max();
        Pong {
            generation: self.generation,
            oldest_running,
        }
    }
}

/// Control: stop this incarnation because the supervisor asked.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopNode;

impl Handler<StopNode> for NodeActor {
    type Result = ();

    fn handle(&mut self, _msg: StopNode, ctx: &mut Self::Context) {
        self.stop_requested = true;
        ctx.stop();
    }
}

impl Handler<ActorFault> for NodeActor {
    type Result = ();

    fn handle(&mut self, msg: ActorFault, ctx: &mut Self::Context) {
        match msg {
            ActorFault::Panic => panic!(
                "{} in {} actor",
                crate::fault::INJECTED_PANIC,
                self.shared.id
            ),
            ActorFault::Stop => ctx.stop(),
            ActorFault::Crash => {
                self.crashed = true;
                ctx.stop();
            }
            ActorFault::Noise => {}
        }
    }
}

/// Migration request: give up to `max_tasks` queued tasks worth up to
/// `max_cost`.
#[derive(Message)]
#[rtype(result = "Vec<JobRef>")]
pub(crate) struct TakeQueued {
    pub(crate) max_tasks: usize,
    pub(crate) max_cost: f64,
}

impl Handler<TakeQueued> for NodeActor {
    type Result = MessageResult<TakeQueued>;

    fn handle(&mut self, msg: TakeQueued, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.shared.take_queued(msg.max_tasks, msg.max_cost))
    }
}

/// Marks queued jobs taken from a node `Pending` again (no attempt used).
pub(crate) fn requeue_evicted(ledger: &Ledger, jobs: Vec<JobRef>) -> Vec<JobRef> {
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let core = job.core();
        let attempt = core.attempt();
        if core.transition(Phase::Queued, attempt, Phase::Pending, attempt) {
            out.push(job);
        } else {
            ledger.reap_if_cancelled(core);
        }
    }
    out
}
