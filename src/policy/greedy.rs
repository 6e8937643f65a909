//! The two simple online policies: round-robin and greedy least-loaded.

use super::{NodeView, Policy, TaskView};

/// Cycles through the nodes, skipping those that cannot host the task.
#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    /// Starts at the first node.
    pub fn new() -> Self {
        RoundRobin::default()
    }
}

impl Policy for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        let n = nodes.len();
        for step in 0..n {
            let j = (self.next + step) % n;
            if nodes[j].can_host(task) {
                self.next = (j + 1) % n;
                return Some(j);
            }
        }
        None
    }
}

/// Greedy: the node that would drain its work soonest
/// ([`NodeView::drain_time`]) among those that can host the task; ties go
/// to the lowest index.
#[derive(Debug, Default, Clone)]
pub struct LeastLoaded {
    _private: (),
}

impl LeastLoaded {
    /// The policy.
    pub fn new() -> Self {
        LeastLoaded::default()
    }
}

impl Policy for LeastLoaded {
    fn name(&self) -> &'static str {
        "least-loaded"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        // Time to finish this task there, counting the work ahead of it:
        // (load + cost) / throughput. Compared as cross products, without
        // dividing (throughputs are positive).
        // Ties (zero-cost tasks, idle nodes) go to the node with the fewest
        // tasks per unit of throughput, then to the lowest index.
        let mut best = usize::MAX;
        let (mut best_work, mut best_rate, mut best_count) = (0.0, 1.0, 0.0);
        for (j, node) in nodes.iter().enumerate() {
            if !node.can_host(task) {
                continue;
            }
            let work = node.load + task.cost;
            let rate = node.speed.max(1e-9) * node.slots.max(1) as f64;
            let count = (node.queued + node.running) as f64;
            let (lhs, rhs) = (work * best_rate, best_work * rate);
            if best == usize::MAX
                || lhs < rhs
                || (lhs == rhs && count * best_rate < best_count * rate)
            {
                best = j;
                best_work = work;
                best_rate = rate;
                best_count = count;
            }
        }
        (best != usize::MAX).then_some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{NodeId, TaskId};
    use crate::resources::Resources;
    use crate::spec::TaskKind;

    fn nodes() -> Vec<NodeView> {
        vec![
            NodeView::idle(NodeId(0), Resources::cpu(1000), 1.0, 1),
            NodeView::idle(NodeId(1), Resources::cpu(4000), 2.0, 1),
            NodeView::idle(NodeId(2), Resources::cpu(1000), 1.0, 1),
        ]
    }

    fn task(cost: f64, cpu: u64) -> TaskView<'static> {
        static KIND: TaskKind = TaskKind::Unspecified;
        TaskView {
            id: TaskId(0),
            kind: &KIND,
            cost,
            demand: Resources::cpu(cpu),
            priority: 0,
        }
    }

    #[test]
    fn round_robin_cycles_and_skips_nodes_that_cannot_host() {
        let mut rr = RoundRobin::new();
        let ns = nodes();
        let picks: Vec<_> = (0..4)
            .map(|_| rr.place(&task(1.0, 0), &ns).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0]);
        assert_eq!(rr.place(&task(1.0, 2000), &ns), Some(1));
        assert_eq!(rr.place(&task(1.0, 8000), &ns), None);
    }

    #[test]
    fn least_loaded_balances_by_speed_in_batches() {
        let mut ll = LeastLoaded::new();
        let mut ns = nodes();
        let tasks = vec![task(1.0, 0); 8];
        let mut out = Vec::new();
        ll.allocate(&tasks, &mut ns, &mut out);
        let on_fast = out.iter().filter(|c| **c == Some(1)).count();
        // Node 1 is twice as fast: it should take half of the work.
        assert_eq!(on_fast, 4);
        assert!(out.iter().all(Option::is_some));
    }

    #[test]
    fn zero_cost_tasks_spread_by_count() {
        let mut ll = LeastLoaded::new();
        let mut ns = nodes();
        let tasks = vec![task(0.0, 0); 8];
        let mut out = Vec::new();
        ll.allocate(&tasks, &mut ns, &mut out);
        let on = |j| out.iter().filter(|c| **c == Some(j)).count();
        // Node 1 is twice as fast: half the tasks, the others a quarter each.
        assert_eq!((on(0), on(1), on(2)), (2, 4, 2));
    }

    #[test]
    fn unavailable_nodes_are_skipped() {
        let mut ll = LeastLoaded::new();
        let mut ns = nodes();
        ns[1].available = false;
        ns[0].load = 5.0;
        assert_eq!(ll.place(&task(1.0, 0), &ns), Some(2));
    }
}
