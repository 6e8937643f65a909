//! [`NodeSpec`]: what a node is (capacity, speed, slots, labels), plain
//! data apart from the actors that run it.

use crate::resources::Resources;
use serde::{Deserialize, Serialize};

impl NodeSpec {
    /// Default for [`NodeSpec::slots`]: one task at a time.
    pub const DEFAULT_SLOTS: usize = 1;
}

/// A node's description: its capacity, speed and parallelism.
///
/// # Default
///
/// 4 CPUs, 16 GiB, no GPU, 10 Gbit/s, speed 1.0, [`NodeSpec::DEFAULT_SLOTS`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSpec {
    /// A name for reports; `node-<id>` if empty.
    pub name: String,
    /// What the node offers.
    pub capacity: Resources,
    /// Relative speed; 1.0 is nominal. A node slower than 1.0 is emulated by
    /// holding the slot idle for the extra time after each task.
    pub speed: f64,
    /// How many tasks run at once (executor threads).
    pub slots: usize,
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            name: String::new(),
            capacity: Resources::new(4_000, 16_384, 0, 10_000),
            speed: 1.0,
            slots: NodeSpec::DEFAULT_SLOTS,
        }
    }
}

impl NodeSpec {
    /// A node with this capacity and defaults otherwise.
    pub fn new(capacity: Resources) -> Self {
        NodeSpec {
            capacity,
            ..NodeSpec::default()
        }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the speed.
    pub fn speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }

    /// Sets the number of slots.
    pub fn slots(mut self, slots: usize) -> Self {
        self.slots = slots;
        self
    }
}

impl NodeSpec {
    /// Checks the settings a runtime needs of a node: the first bad one's
    /// field name (as in config files, `nodes.*`) and why.
    ///
    /// # Errors
    ///
    /// `(field, reason)` for the first setting out of range.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err((
                "nodes.speed",
                format!("must be finite and > 0, got {}", self.speed),
            ));
        }
        if self.slots == 0 {
            return Err(("nodes.slots", "must be at least 1".into()));
        }
        Ok(())
    }
}
