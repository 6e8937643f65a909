//! Weighted greedy matching: the heaviest task to the strongest node.

use super::{largest_first, least_finish, NodeView, Policy, TaskView};

/// Greedy weighted matching between tasks and nodes.
///
/// A batch is matched in rounds: tasks in decreasing order of cost, nodes in
/// decreasing order of strength (`speed · slots`); in each round the
/// heaviest remaining task goes to the strongest node not yet used in the
/// round that can host it, the next heaviest to the next strongest, and so
/// on, until every node has had one task, then a new round starts. This is
/// the greedy answer to "maximise Σ cost × strength over a matching", made
/// to cover more tasks than nodes; unlike [`Lpt`](super::Lpt) it ignores
/// how much work each node already holds within a round, so it balances
/// worse on skewed batches. A single task goes to the strongest node with a
/// free slot, or else to the node that would finish it soonest.
#[derive(Debug, Default, Clone)]
pub struct WeightedGreedy {
    tasks: Vec<usize>,
    nodes: Vec<usize>,
    used: Vec<bool>,
}

impl WeightedGreedy {
    /// The policy.
    pub fn new() -> Self {
        WeightedGreedy::default()
    }
}

impl Policy for WeightedGreedy {
    fn name(&self) -> &'static str {
        "weighted-greedy"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (j, n) in nodes.iter().enumerate() {
            if n.can_host(task) && n.queued + n.running < n.slots.max(1) {
                let s = n.throughput();
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((j, s));
                }
            }
        }
        best.map(|(j, _)| j).or_else(|| least_finish(task, nodes))
    }

    fn allocate(
        &mut self,
        tasks: &[TaskView<'_>],
        nodes: &mut [NodeView],
        out: &mut Vec<Option<usize>>,
    ) {
        out.clear();
        out.resize(tasks.len(), None);
        largest_first(&mut self.tasks, tasks);
        self.nodes.clear();
        self.nodes
            .extend((0..nodes.len()).filter(|&j| nodes[j].available));
        self.nodes.sort_by(|&a, &b| {
            nodes[b]
                .throughput()
                .total_cmp(&nodes[a].throughput())
                .then(a.cmp(&b))
        });
        self.used.clear();
        self.used.resize(nodes.len(), false);
        let mut used_in_round = 0;
        for &i in &self.tasks {
            if used_in_round == self.nodes.len() {
                self.used.iter_mut().for_each(|u| *u = false);
                used_in_round = 0;
            }
            let pick = self
                .nodes
                .iter()
                .copied()
                .find(|&j| !self.used[j] && nodes[j].can_host(&tasks[i]))
                .or_else(|| {
                    self.nodes
                        .iter()
                        .copied()
                        .find(|&j| nodes[j].can_host(&tasks[i]))
                });
            if let Some(j) = pick {
                if !self.used[j] {
                    self.used[j] = true;
                    used_in_round += 1;
                }
                nodes[j].assign(&tasks[i]);
            }
            out[i] = pick;
        }
    }
}
