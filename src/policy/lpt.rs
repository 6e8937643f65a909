//! Longest processing time first, and plain list scheduling.

use super::{largest_first, least_finish, Makespan, NodeView, Policy, Schedule, TaskView};

/// Longest processing time first (Graham): in a batch, the longest task is
/// placed first, each on the node that would finish it soonest.
///
/// On identical nodes its makespan is at most `4/3 − 1/(3m)` times the
/// optimum. A single task goes to the node that would finish it soonest.
#[derive(Debug, Default, Clone)]
pub struct Lpt {
    order: Vec<usize>,
}

impl Lpt {
    /// The policy.
    pub fn new() -> Self {
        Lpt::default()
    }
}

impl Policy for Lpt {
    fn name(&self) -> &'static str {
        "lpt"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        least_finish(task, nodes)
    }

    fn allocate(
        &mut self,
        tasks: &[TaskView<'_>],
        nodes: &mut [NodeView],
        out: &mut Vec<Option<usize>>,
    ) {
        out.clear();
        out.resize(tasks.len(), None);
        largest_first(&mut self.order, tasks);
        for &i in &self.order {
            let choice = least_finish(&tasks[i], nodes);
            if let Some(j) = choice {
                nodes[j].assign(&tasks[i]);
            }
            out[i] = choice;
        }
    }
}

/// List scheduling in the given order: each task to the eligible node that
/// would finish it soonest (ties to the lowest index). This is what an
/// online least-loaded policy does.
///
/// # Panics
///
/// If some task has no eligible node.
#[allow(clippy::needless_range_loop)] // index loops over a matrix read clearer
pub fn list_schedule(problem: &Makespan, order: &[usize]) -> Schedule {
    let m = problem.nodes();
    let mut finish = problem.ready.clone();
    let mut assignment = vec![usize::MAX; problem.tasks()];
    for &i in order {
        let mut best = (usize::MAX, f64::INFINITY);
        let eligible = problem.eligible.as_ref().map(|e| &e[i]);
        for j in 0..m {
            if eligible.is_some_and(|e| !e[j]) {
                continue;
            }
            let f = finish[j] + problem.work[i] / problem.speeds[j];
            if f < best.1 {
                best = (j, f);
            }
        }
        assert!(best.0 != usize::MAX, "task {i} has no eligible node");
        assignment[i] = best.0;
        finish[best.0] = best.1;
    }
    let makespan = finish.into_iter().fold(0.0, f64::max);
    Schedule {
        assignment,
        makespan,
        proved_optimal: false,
    }
}

/// Longest processing time first: [`list_schedule`] with the tasks in
/// decreasing order of work (ties by index).
///
/// # Panics
///
/// If some task has no eligible node.
pub fn lpt_schedule(problem: &Makespan) -> Schedule {
    let mut order: Vec<usize> = (0..problem.tasks()).collect();
    order.sort_by(|&a, &b| problem.work[b].total_cmp(&problem.work[a]).then(a.cmp(&b)));
    list_schedule(problem, &order)
}
