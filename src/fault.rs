//! Faults that can be injected into a running runtime.

use crate::ids::NodeId;
use serde::{Deserialize, Serialize};

/// One fault to inject now, through
/// [`RuntimeHandle::inject`](crate::RuntimeHandle::inject).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// A real `panic!` inside the node actor's message handler.
    PanicNode {
        /// The node.
        node: NodeId,
    },
    /// The node actor stops without being asked to.
    StopNode {
        /// The node.
        node: NodeId,
    },
    /// Sets the node's speed to `factor` × its nominal speed (`1.0`
    /// restores it).
    SlowNode {
        /// The node.
        node: NodeId,
        /// Multiplier of the nominal speed, `> 0`.
        factor: f64,
    },
}
