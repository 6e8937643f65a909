//! The makespan problem: tasks with known work on nodes with speeds
//! (P‖Cmax when the speeds are equal, Q‖Cmax otherwise).

/// A makespan instance: assign every task to one node so that the last node
/// to finish finishes as early as possible.
///
/// Task `i` takes `work[i] / speeds[j]` on node `j`; node `j` is busy until
/// `ready[j]` with earlier work. `eligible`, when set, says which nodes each
/// task may go to (`eligible[i][j]`).
///
/// # Examples
///
/// ```
/// use allot::policy::Makespan;
///
/// let p = Makespan::identical(vec![3.0, 3.0, 2.0, 2.0, 2.0], 2);
/// assert_eq!(p.makespan(&[0, 0, 1, 1, 1]), 6.0);
/// assert_eq!(p.lower_bound(), 6.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Makespan {
    /// Work of each task, in seconds on a node of speed 1.0.
    pub work: Vec<f64>,
    /// Speed of each node.
    pub speeds: Vec<f64>,
    /// When each node is free of earlier work (seconds from now).
    pub ready: Vec<f64>,
    /// Which nodes each task may use; `None` for all.
    pub eligible: Option<Vec<Vec<bool>>>,
}

/// An assignment of tasks to nodes and how good it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Node index of each task.
    pub assignment: Vec<usize>,
    /// When the last node finishes.
    pub makespan: f64,
    /// Whether the solver proved that no assignment finishes earlier.
    pub proved_optimal: bool,
}

impl Makespan {
    /// `work` on `nodes` identical nodes of speed 1.0 (P‖Cmax).
    pub fn identical(work: Vec<f64>, nodes: usize) -> Self {
        Makespan::with_speeds(work, vec![1.0; nodes])
    }

    /// `work` on nodes of the given speeds (Q‖Cmax).
    pub fn with_speeds(work: Vec<f64>, speeds: Vec<f64>) -> Self {
        let ready = vec![0.0; speeds.len()];
        Makespan {
            work,
            speeds,
            ready,
            eligible: None,
        }
    }

    /// Number of tasks.
    pub fn tasks(&self) -> usize {
        self.work.len()
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.speeds.len()
    }

    /// Whether task `i` may run on node `j`.
    pub fn is_eligible(&self, i: usize, j: usize) -> bool {
        self.eligible.as_ref().is_none_or(|e| e[i][j])
    }

    /// Whether every node has the same speed and no earlier work.
    pub fn is_identical(&self) -> bool {
        self.speeds.iter().all(|&s| s == self.speeds[0]) && self.ready.iter().all(|&r| r == 0.0)
    }

    /// When each node finishes under `assignment`.
    pub fn finish_times(&self, assignment: &[usize]) -> Vec<f64> {
        let mut load = vec![0.0; self.nodes()];
        for (i, &j) in assignment.iter().enumerate() {
            load[j] += self.work[i];
        }
        load.iter()
            .enumerate()
            .map(|(j, l)| self.ready[j] + l / self.speeds[j])
            .collect()
    }

    /// When the last node finishes under `assignment`.
    ///
    /// # Panics
    ///
    /// If `assignment` names a node that does not exist.
    pub fn makespan(&self, assignment: &[usize]) -> f64 {
        self.finish_times(assignment)
            .into_iter()
            .fold(0.0, f64::max)
    }

    /// A lower bound on the optimal makespan.
    ///
    /// For identical nodes with no earlier work this is the classic
    /// `max(Σp / m, p_max, p_m + p_(m+1))` (with `p` sorted in decreasing
    /// order: two of the `m + 1` largest tasks share a node). In general it
    /// is the largest of the fluid bound (the earliest time by which the
    /// nodes could have done all the work if it were divisible) and, for
    /// each task, the earliest it could finish anywhere.
    pub fn lower_bound(&self) -> f64 {
        let m = self.nodes();
        if m == 0 {
            return f64::INFINITY;
        }
        let earliest = |i: usize| {
            (0..m)
                .filter(|&j| self.is_eligible(i, j))
                .map(|j| self.ready[j] + self.work[i] / self.speeds[j])
                .fold(f64::INFINITY, f64::min)
        };
        let mut lb: f64 = 0.0;
        if self.eligible.is_some() {
            for i in 0..self.tasks() {
                lb = lb.max(earliest(i));
            }
        } else if let Some(longest) =
            (0..self.tasks()).max_by(|&a, &b| self.work[a].total_cmp(&self.work[b]))
        {
            // Where every task may go anywhere, the earliest finish grows
            // with the work: the longest task's is the largest.
            lb = earliest(longest);
        }
        lb = lb.max(self.fluid_bound(self.work.iter().sum()));
        if self.is_identical() && self.tasks() > m {
            let mut p = self.work.clone();
            p.sort_by(|a, b| b.total_cmp(a));
            lb = lb.max((p[m - 1] + p[m]) / self.speeds[0]);
        }
        lb
    }

    /// The earliest time `T` with `Σ_j max(0, T − ready_j) · speed_j ≥ work`.
    pub(crate) fn fluid_bound(&self, work: f64) -> f64 {
        fluid_bound(&self.speeds, &self.ready, work)
    }
}

/// The earliest time `T` with `Σ_j max(0, T − ready_j) · speed_j ≥ work`.
pub(crate) fn fluid_bound(speeds: &[f64], ready: &[f64], work: f64) -> f64 {
    let mut order: Vec<usize> = (0..speeds.len()).collect();
    order.sort_by(|&a, &b| ready[a].total_cmp(&ready[b]));
    let mut speed_sum = 0.0;
    let mut covered = 0.0; // work doable by time ready[order[k]]
    for (k, &j) in order.iter().enumerate() {
        if k > 0 {
            let prev = ready[order[k - 1]];
            covered += speed_sum * (ready[j] - prev);
            if covered >= work {
                return ready[j] - (covered - work) / speed_sum;
            }
        }
        speed_sum += speeds[j];
    }
    let last = order.last().map_or(0.0, |&j| ready[j]);
    last + (work - covered) / speed_sum
}
