//! Resource vectors: what a node offers and what a task asks for.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of each resource allot accounts for.
///
/// Used both for a node's capacity and for a task's demand. GPUs are counted
/// in milli-GPUs so that fractional (shared) GPUs are exact: `1000` is one
/// whole GPU, `250` a quarter of one.
///
/// # Examples
///
/// ```
/// use allot::Resources;
///
/// let node = Resources::new(8_000, 32_768, 2_000, 10_000);
/// let task = Resources::cpu(2_000).with_gpu_milli(500);
/// assert!(task.fits_in(&node));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    /// CPU in milli-cores (`1000` = one core).
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// GPU in milli-GPUs (`1000` = one whole GPU).
    pub gpu_milli: u64,
    /// Network bandwidth in Mbit/s.
    pub bandwidth_mbps: u64,
}

impl Resources {
    /// No resources at all; a task with this demand fits on every node.
    pub const ZERO: Resources = Resources {
        cpu_milli: 0,
        memory_mib: 0,
        gpu_milli: 0,
        bandwidth_mbps: 0,
    };

    /// All four amounts at once.
    pub const fn new(cpu_milli: u64, memory_mib: u64, gpu_milli: u64, bandwidth_mbps: u64) -> Self {
        Resources {
            cpu_milli,
            memory_mib,
            gpu_milli,
            bandwidth_mbps,
        }
    }

    /// Only CPU, in milli-cores.
    pub const fn cpu(cpu_milli: u64) -> Self {
        Resources::new(cpu_milli, 0, 0, 0)
    }

    /// This amount with `memory_mib` MiB of memory.
    pub const fn with_memory_mib(mut self, memory_mib: u64) -> Self {
        self.memory_mib = memory_mib;
        self
    }

    /// This amount with `gpu_milli` milli-GPUs.
    pub const fn with_gpu_milli(mut self, gpu_milli: u64) -> Self {
        self.gpu_milli = gpu_milli;
        self
    }

    /// This amount with `bandwidth_mbps` Mbit/s of bandwidth.
    pub const fn with_bandwidth_mbps(mut self, bandwidth_mbps: u64) -> Self {
        self.bandwidth_mbps = bandwidth_mbps;
        self
    }

    /// Whether every amount in `self` is at most the same amount in `capacity`.
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.first_excess(capacity).is_none()
    }

    /// The first resource (by name) for which `self` exceeds `capacity`, with
    /// both amounts, or `None` when `self` fits.
    pub fn first_excess(&self, capacity: &Resources) -> Option<(&'static str, u64, u64)> {
        let pairs = [
            ("cpu_milli", self.cpu_milli, capacity.cpu_milli),
            ("memory_mib", self.memory_mib, capacity.memory_mib),
            ("gpu_milli", self.gpu_milli, capacity.gpu_milli),
            (
                "bandwidth_mbps",
                self.bandwidth_mbps,
                capacity.bandwidth_mbps,
            ),
        ];
        pairs.into_iter().find(|&(_, want, have)| want > have)
    }

    /// Component-wise sum, saturating.
    pub fn saturating_add(&self, other: &Resources) -> Resources {
        Resources {
            cpu_milli: self.cpu_milli.saturating_add(other.cpu_milli),
            memory_mib: self.memory_mib.saturating_add(other.memory_mib),
            gpu_milli: self.gpu_milli.saturating_add(other.gpu_milli),
            bandwidth_mbps: self.bandwidth_mbps.saturating_add(other.bandwidth_mbps),
        }
    }

    /// Component-wise difference, saturating at zero.
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpu_milli: self.cpu_milli.saturating_sub(other.cpu_milli),
            memory_mib: self.memory_mib.saturating_sub(other.memory_mib),
            gpu_milli: self.gpu_milli.saturating_sub(other.gpu_milli),
            bandwidth_mbps: self.bandwidth_mbps.saturating_sub(other.bandwidth_mbps),
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu_milli={} memory_mib={} gpu_milli={} bandwidth_mbps={}",
            self.cpu_milli, self.memory_mib, self.gpu_milli, self.bandwidth_mbps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_excess_names_the_resource_that_does_not_fit() {
        let cap = Resources::new(1000, 1024, 0, 100);
        assert_eq!(Resources::cpu(500).first_excess(&cap), None);
        assert_eq!(
            Resources::cpu(500).with_gpu_milli(250).first_excess(&cap),
            Some(("gpu_milli", 250, 0))
        );
        assert_eq!(
            Resources::cpu(2000).first_excess(&cap),
            Some(("cpu_milli", 2000, 1000))
        );
    }

    #[test]
    fn arithmetic_saturates() {
        let a = Resources::new(1, 2, 3, 4);
        let b = Resources::new(2, 2, 2, 2);
        assert_eq!(a.saturating_sub(&b), Resources::new(0, 0, 1, 2));
        assert_eq!(a.saturating_add(&b), Resources::new(3, 4, 5, 6));
    }
}
