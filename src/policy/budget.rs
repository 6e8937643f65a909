//! How long a solver may search: a clock limit and a step limit.

use std::time::{Duration, Instant};

/// A search budget: the solver stops at whichever limit comes first.
///
/// The step limit (search nodes for [`Exact`](super::Exact), improvement
/// rounds for [`Hybrid`](super::Hybrid)) makes a run reproducible; the
/// clock limit bounds its latency. A run stopped by the clock may differ
/// from machine to machine.
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

    /// A meter for fine-grained steps: looks at the clock every 256 steps.
    pub(crate) fn start(&self) -> Meter {
        Meter {
            deadline: Instant::now().checked_add(self.time),
            steps_left: self.steps,
            checks: 0,
            stride: 256,
            out: false,
        }
    }

    /// A meter for coarse steps: looks at the clock at every step.
    pub(crate) fn start_coarse(&self) -> Meter {
        Meter {
            stride: 1,
            ..self.start()
        }
    }
}

/// A running budget: counts steps, looks at the clock now and then.
#[derive(Debug)]
pub(crate) struct Meter {
    deadline: Option<Instant>,
    steps_left: u64,
    checks: u32,
    stride: u32,
    out: bool,
}

impl Meter {
    /// Takes one step; `false` once the budget is spent.
    pub(crate) fn step(&mut self) -> bool {
        if self.out {
            return false;
        }
        if self.steps_left == 0 {
            self.out = true;
            return false;
        }
        self.steps_left -= 1;
        self.checks = self.checks.wrapping_add(1);
        if self.checks.is_multiple_of(self.stride) {
            if let Some(d) = self.deadline {
                if Instant::now() >= d {
                    self.out = true;
                    return false;
                }
            }
        }
        true
    }
}
