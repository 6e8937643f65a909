//! Uniformly random placement: the floor every policy should beat.

use super::{NodeView, Policy, TaskView};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Places each task on a node chosen uniformly among those that can host it.
#[derive(Debug, Clone)]
pub struct Random {
    rng: StdRng,
}

impl Random {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Random {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Policy for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        // Reservoir sampling over the nodes that can host: one pass.
        let mut seen = 0u32;
        let mut pick = None;
        for (j, node) in nodes.iter().enumerate() {
            if node.can_host(task) {
                seen += 1;
                if self.rng.random_range(0..seen) == 0 {
                    pick = Some(j);
                }
            }
        }
        pick
    }
}
