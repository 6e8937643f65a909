//! Power of d choices: sample d nodes, take the lighter.

use super::{NodeView, Policy, TaskView};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Samples `d` distinct nodes that can host the task, uniformly, and takes
/// the one that would finish it soonest ([`NodeView::finish_time`]).
///
/// With `d = 2` the most loaded node carries `O(log log n)` more than the
/// average instead of `O(log n / log log n)` for one random choice
/// (Mitzenmacher), at the cost of reading two views instead of all.
#[derive(Debug, Clone)]
pub struct PowerOfTwo {
    choices: usize,
    rng: StdRng,
    scratch: Vec<usize>,
}

impl PowerOfTwo {
    /// Default number of nodes sampled: 2.
    pub const DEFAULT_CHOICES: usize = 2;

    /// [`DEFAULT_CHOICES`](Self::DEFAULT_CHOICES) choices, seeded.
    pub fn new(seed: u64) -> Self {
        PowerOfTwo::with_choices(Self::DEFAULT_CHOICES, seed)
    }

    /// `d` choices (at least 1), seeded.
    pub fn with_choices(d: usize, seed: u64) -> Self {
        PowerOfTwo {
            choices: d.max(1),
            rng: StdRng::seed_from_u64(seed),
            scratch: Vec::new(),
        }
    }
}

impl Policy for PowerOfTwo {
    fn name(&self) -> &'static str {
        "power-of-two"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        let n = nodes.len();
        if n == 0 {
            return None;
        }
        // Sample distinct hosts by rejection: cheap when most nodes can host.
        self.scratch.clear();
        let mut tries = 0;
        while self.scratch.len() < self.choices && tries < 4 * self.choices {
            tries += 1;
            let j = self.rng.random_range(0..n);
            if nodes[j].can_host(task) && !self.scratch.contains(&j) {
                self.scratch.push(j);
            }
        }
        if self.scratch.len() < self.choices {
            // Few nodes can host the task: sample among those explicitly.
            self.scratch.clear();
            self.scratch
                .extend((0..n).filter(|&j| nodes[j].can_host(task)));
            let k = self.choices.min(self.scratch.len());
            for i in 0..k {
                let r = self.rng.random_range(i..self.scratch.len());
                self.scratch.swap(i, r);
            }
            self.scratch.truncate(k);
        }
        let mut best: Option<(usize, f64)> = None;
        for &j in &self.scratch {
            let f = nodes[j].finish_time(task);
            if best.is_none_or(|(b, bf)| f < bf || (f == bf && j < b)) {
                best = Some((j, f));
            }
        }
        best.map(|(j, _)| j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{NodeId, TaskId};
    use crate::resources::Resources;
    use crate::spec::TaskKind;

    #[test]
    fn takes_the_lighter_of_the_sampled_nodes_and_skips_nodes_that_cannot_host() {
        static KIND: TaskKind = TaskKind::Unspecified;
        let task = TaskView {
            id: TaskId(0),
            kind: &KIND,
            cost: 1.0,
            demand: Resources::cpu(2_000),
            priority: 0,
        };
        let mut nodes: Vec<NodeView> = (0..2)
            .map(|i| NodeView::idle(NodeId(i), Resources::cpu(4_000), 1.0, 1))
            .collect();
        nodes[0].load = 5.0;
        let mut p = PowerOfTwo::new(3);
        for _ in 0..20 {
            assert_eq!(p.place(&task, &nodes), Some(1));
        }
        nodes[1].capacity = Resources::cpu(1_000);
        assert_eq!(p.place(&task, &nodes), Some(0));
        nodes[0].available = false;
        assert_eq!(p.place(&task, &nodes), None);
    }
}
