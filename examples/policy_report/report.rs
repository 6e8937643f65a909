//! What every section shares: summary statistics, progress notes, the goals
//! table's rows and the record of each budgeted run.

use std::time::Duration;

pub(crate) fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub(crate) fn sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

pub(crate) fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// Progress on stderr (the library never prints; this binary does).
pub(crate) fn note(msg: &str) {
    eprintln!("[policy_report] {msg}");
}

// ------------------------------------------------------------- budgets --

/// One timed call of a solver or policy with a time budget.
pub(crate) struct BudgetRun {
    /// `hybrid`, `exact`, `hybrid (GAP)`, `exact (GAP)`.
    pub(crate) policy: &'static str,
    /// Where it was measured (section and case).
    pub(crate) case: String,
    pub(crate) budget: Duration,
    pub(crate) elapsed: Duration,
}

impl BudgetRun {
    pub(crate) fn ratio(&self) -> f64 {
        self.elapsed.as_secs_f64() / self.budget.as_secs_f64()
    }

    /// The promise: `2 × budget + 1 ms`.
    pub(crate) fn within(&self) -> bool {
        self.elapsed <= 2 * self.budget + Duration::from_millis(1)
    }
}

pub(crate) struct Goal {
    pub(crate) goal: String,
    pub(crate) measured: String,
    pub(crate) met: bool,
}

impl Goal {
    pub(crate) fn new(goal: &str, measured: String, met: bool) -> Self {
        Goal {
            goal: goal.into(),
            measured,
            met,
        }
    }
}
