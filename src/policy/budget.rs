//! How long a solver may search: a clock limit and a step limit, and the
//! meter that enforces them (see [`Budget`] for the promise).

use std::time::{Duration, Instant};

/// Units of work (inner-loop iterations) between two readings of the
/// clock: a few microseconds of work in an optimised build, a few tens in a
/// debug build, against ~25 ns for a reading.
const CLOCK_STRIDE: u64 = 4_096;

/// A search budget: the solver stops at whichever limit comes first.
///
/// The step limit (search nodes for [`Exact`](super::Exact), improvement
/// rounds for [`Hybrid`](super::Hybrid)) makes a run reproducible; the
/// clock limit bounds its latency. A run stopped by the clock may differ
/// from machine to machine.
///
/// # The promise
///
/// A solver or policy given a budget of `time` returns within
/// `2 × time + 1 ms` of being called, on any number of tasks and nodes,
/// unless its greedy construction alone takes longer; then it returns
/// right after it. The clock runs from the call: the construction (LPT
/// for makespan, the regret-greedy assignments for GAP) counts against the
/// budget. LPT always completes, because it is what makes the answer
/// complete; it is `O(n·m)` for `n` tasks on `m` nodes, as for the greedy
/// policies. A GAP construction reads the clock as it goes and, when the
/// time is up, places the tasks left each on its most desired node with
/// room, one scan of the nodes per task (`O(n·m)`, the cost of reading
/// the instance); if no construction is feasible by then, one more cheap
/// one (by relative weight) is tried, and only then does the solver give
/// up. Everything after the constructions (re-splits, local search,
/// branch-and-bound, subgradient steps) reports its work as it goes, and
/// the clock is read after about 4 096 inner-loop iterations
/// (microseconds); when the time is up, the step in progress is dropped
/// and the best complete answer so far is returned.
/// `tests/policy_budget.rs` checks this on batches of 1 000 and 5 000
/// tasks, and `examples/policy_report/` reports the worst overshoot it
/// measures.
///
/// # Default
///
/// One second and no step limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Longest the search may run.
    pub time: Duration,
    /// Most search steps; `u64::MAX` for no limit.
    pub steps: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            time: Duration::from_secs(1),
            steps: u64::MAX,
        }
    }
}

impl Budget {
    /// A budget of `time` and no step limit.
    pub const fn time(time: Duration) -> Self {
        Budget {
            time,
            steps: u64::MAX,
        }
    }

    /// A budget of `steps` steps, with a clock limit of one hour as a guard.
    pub const fn steps(steps: u64) -> Self {
        Budget {
            time: Duration::from_secs(3600),
            steps,
        }
    }

    /// This budget with the step limit set.
    pub const fn with_steps(mut self, steps: u64) -> Self {
        self.steps = steps;
        self
    }

    /// A meter that starts now. A `time` past the clock's range means no
    /// clock limit.
    pub(crate) fn start(&self) -> Meter {
        Meter {
            deadline: Instant::now().checked_add(self.time),
            steps_left: self.steps,
            since_clock: 0,
            out: false,
        }
    }
}

/// A running budget: counts steps against the step limit, and work against
/// [`CLOCK_STRIDE`] to know when to look at the clock.
#[derive(Debug)]
pub(crate) struct Meter {
    deadline: Option<Instant>,
    steps_left: u64,
    /// Work done since the clock was last read.
    since_clock: u64,
    out: bool,
}

impl Meter {
    /// A meter that never runs out.
    #[cfg(test)]
    pub(crate) fn unlimited() -> Meter {
        Budget::time(Duration::MAX).start()
    }

    /// Takes one step that costs about `work` units; `false` once the
    /// budget is spent (then and ever after).
    pub(crate) fn step(&mut self, work: u64) -> bool {
        if self.out {
            return false;
        }
        if self.steps_left == 0 {
            self.out = true;
            return false;
        }
        self.steps_left -= 1;
        self.work(work)
    }

    /// Records `units` of work that is not a step of its own (an inner
    /// loop); `false` once the budget is spent. Reads the clock when
    /// [`CLOCK_STRIDE`] units have passed since the last reading.
    pub(crate) fn work(&mut self, units: u64) -> bool {
        if self.out {
            return false;
        }
        self.since_clock = self.since_clock.saturating_add(units);
        if self.since_clock >= CLOCK_STRIDE {
            self.since_clock = 0;
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.out = true;
            }
        }
        !self.out
    }

    /// Reads the clock now (before a stretch of work that does not report
    /// as it goes); `false` once the budget is spent.
    pub(crate) fn check(&mut self) -> bool {
        self.work(CLOCK_STRIDE)
    }

    /// Whether the budget is spent (as of the last reading of the clock).
    pub(crate) fn is_spent(&self) -> bool {
        self.out
    }

    /// A meter for a sub-search of at most `steps` steps that also stops at
    /// this meter's deadline. Its work is not counted here.
    pub(crate) fn sub(&self, steps: u64) -> Meter {
        Meter {
            deadline: self.deadline,
            steps_left: steps,
            since_clock: 0,
            out: self.out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_stops_at_its_step_limit_and_stays_stopped() {
        let mut m = Budget::steps(3).start();
        assert!(m.step(1) && m.step(1) && m.step(1));
        assert!(!m.step(1));
        assert!(m.is_spent());
        assert!(!m.work(1));
    }

    #[test]
    fn a_meter_reads_the_clock_once_enough_work_has_passed() {
        let mut m = Budget::time(Duration::ZERO).start();
        // Below the stride the clock is not read.
        assert!(m.work(CLOCK_STRIDE - 1));
        assert!(!m.work(1));
        // One big step reads it at once.
        let mut m = Budget::time(Duration::ZERO).start();
        assert!(!m.step(CLOCK_STRIDE));
    }

    #[test]
    fn a_budget_past_the_clocks_range_has_no_deadline() {
        let mut m = Budget::time(Duration::MAX).start();
        assert!(m.step(u64::MAX) && m.work(u64::MAX));
    }

    #[test]
    fn a_sub_meter_has_its_own_steps_and_the_parents_deadline() {
        let parent = Budget::time(Duration::ZERO).start();
        let mut sub = parent.sub(10);
        assert!(!sub.work(CLOCK_STRIDE));
        let parent = Budget::steps(1).start();
        let mut sub = parent.sub(2);
        assert!(sub.step(1) && sub.step(1) && !sub.step(1));
    }
}
