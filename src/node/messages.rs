//! What a node sends its supervisor ([`NodeEvent`]) and the one message
//! its shared state sends its own actor ([`ActorFault`]).

use crate::ids::NodeId;
use crate::job::JobRef;
use crate::supervision::DownReason;
use actix::prelude::*;

/// Sent by nodes to their supervisor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum NodeEvent {
    /// The node actor of `generation` died.
    Down {
        node: NodeId,
        generation: u64,
        reason: DownReason,
    },
    /// A failed attempt is to be retried; the supervisor now holds the job.
    Retry(JobRef),
    /// Jobs (each `Pending`) that could not be placed where they were
    /// headed; the supervisor now holds them.
    Redispatch(Vec<JobRef>),
}

/// An injected fault in the actor itself.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum ActorFault {
    /// `panic!` inside this handler.
    Panic,
    /// Stop without having been asked (a normal exit).
    Stop,
    /// Crash: stop abnormally, without a panic.
    Crash,
    /// Nothing: what a mailbox flood is made of.
    Noise,
}
