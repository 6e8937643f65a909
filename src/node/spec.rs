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
    /// What the node offers. In a config file, a resource left out of
    /// `capacity` keeps its default (`capacity = { cpu_milli = 8000 }`
    /// still has 16 GiB of memory), not zero.
    #[serde(deserialize_with = "capacity_with_defaults")]
    pub capacity: Resources,
    /// Relative speed; 1.0 is nominal. A node slower than 1.0 is emulated by
    /// holding the slot idle for the extra time after each task.
    pub speed: f64,
    /// How many tasks run at once (executor threads).
    pub slots: usize,
}

/// A node's `capacity` from a config file: each resource given, the
/// default capacity's for each one left out.
fn capacity_with_defaults<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Resources, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Partial {
        cpu_milli: Option<u64>,
        memory_mib: Option<u64>,
        gpu_milli: Option<u64>,
        bandwidth_mbps: Option<u64>,
    }
    let p = Partial::deserialize(d)?;
    let def = NodeSpec::default().capacity;
    Ok(Resources::new(
        p.cpu_milli.unwrap_or(def.cpu_milli),
        p.memory_mib.unwrap_or(def.memory_mib),
        p.gpu_milli.unwrap_or(def.gpu_milli),
        p.bandwidth_mbps.unwrap_or(def.bandwidth_mbps),
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_capacity_keeps_the_defaults_of_what_it_leaves_out() {
        let n: NodeSpec = serde_json::from_str(r#"{"capacity":{"cpu_milli":8000}}"#).unwrap();
        let def = NodeSpec::default().capacity;
        assert_eq!(n.capacity.cpu_milli, 8_000);
        assert_eq!(n.capacity.memory_mib, def.memory_mib);
        assert_eq!(n.capacity.gpu_milli, def.gpu_milli);
        assert_eq!(n.capacity.bandwidth_mbps, def.bandwidth_mbps);
        let zero: NodeSpec =
            serde_json::from_str(r#"{"capacity":{"memory_mib":0,"gpu_milli":500}}"#).unwrap();
        assert_eq!(
            zero.capacity,
            Resources::new(def.cpu_milli, 0, 500, def.bandwidth_mbps)
        );
        assert!(serde_json::from_str::<NodeSpec>(r#"{"capacity":{"cpus":1}}"#).is_err());
        // Written out and read back: the same node.
        let back: NodeSpec = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
    }
}
